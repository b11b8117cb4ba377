"""A real headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol.

One browser per ``Browser.launch()``: a private profile in a temp folder, no network besides
the pages it is sent to, a WebSocket to its DevTools endpoint (aiohttp) with every target
attached in flat mode. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-proxy-server", "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0"]
LAUNCH_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 20.0


class BrowserError(AssertionError):
    """The browser did not do what the test asked, in time."""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("no Chromium: apt-get install chromium (python3 install.py --system-deps)")


@dataclass(frozen=True)
class PixelStats:
    """A screenshot's size, luminance spread and transparency, measured by the browser itself."""

    width: int
    height: int
    mean: float
    stdev: float
    transparent_share: float
    """Share of pixels with alpha 0."""


class Page:
    def __init__(self, browser: Browser, session: str, target: str) -> None:
        self.browser, self.session, self.target = browser, session, target

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session)

    async def goto(self, url: str, *, timeout: float = CALL_TIMEOUT_S) -> None:
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        reply = await self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        await asyncio.wait_for(loaded, timeout)

    async def eval(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression[:80]!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, *, timeout: float = 15.0, what: str = "") -> None:
        """Evaluate until the value is truthy in JavaScript; ``BrowserError`` after ``timeout`` s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if await self.eval(f"!!({expression})"):
                return
            await asyncio.sleep(0.1)
        raise BrowserError(f"waited {timeout:.0f} s for {what or expression}")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view)."""
        box = await self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                            button="left", clickCount=1)

    async def type_into(self, selector: str, text: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def size(self, width: int, height: int) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)

    async def screenshot(self, path: Path | None = None) -> bytes:
        png = base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        return png

    async def pixel_stats(self, png: bytes) -> PixelStats:
        """Decode ``png`` in a blank page of this browser and measure it."""
        scratch = await self.browser.new_page()
        try:
            data = base64.b64encode(png).decode()
            stats = await scratch.eval(
                "(async () => { const img = new Image(); img.src = 'data:image/png;base64," + data + "';"
                " await img.decode(); const c = new OffscreenCanvas(img.width, img.height);"
                " const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
                " const d = g.getImageData(0, 0, img.width, img.height).data;"
                " let n = 0, s = 0, s2 = 0, clear = 0;"
                " for (let i = 0; i < d.length; i += 4) { const y = 0.299 * d[i] + 0.587 * d[i + 1]"
                " + 0.114 * d[i + 2]; n++; s += y; s2 += y * y; if (d[i + 3] === 0) clear++; }"
                " const mean = s / n; return [img.width, img.height, mean,"
                " Math.sqrt(Math.max(0, s2 / n - mean * mean)), clear / n]; })()")
        finally:
            await scratch.close()
        return PixelStats(int(stats[0]), int(stats[1]), *map(float, stats[2:]))

    async def close(self) -> None:
        with contextlib.suppress(BrowserError, asyncio.TimeoutError, ConnectionError):
            await self.browser.send("Target.closeTarget", {"targetId": self.target})


class Browser:
    def __init__(self, proc: subprocess.Popen[bytes], profile: tempfile.TemporaryDirectory[str],
                 http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.proc, self._profile, self._http, self._ws = proc, profile, http, ws
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self.console: list[str] = []
        """Console messages and uncaught exceptions of every page (for failure reports)."""
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls) -> AsyncIterator[Browser]:
        # Chromium's helper processes may still write to the profile for a moment after the
        # browser exits, so a leftover file there is not an error
        profile = tempfile.TemporaryDirectory(prefix="tts-chromium-", ignore_cleanup_errors=True)
        proc = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={profile.name}",
                                 "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        http = aiohttp.ClientSession()
        browser: Browser | None = None
        try:
            port_file = Path(profile.name) / "DevToolsActivePort"
            end = time.monotonic() + LAUNCH_TIMEOUT_S
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if proc.poll() is not None or time.monotonic() > end:
                    raise BrowserError(f"Chromium did not start (exit code {proc.poll()})")
                await asyncio.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=64 * 2**20)
            browser = cls(proc, profile, http, ws)
            yield browser
        finally:
            if browser is not None:
                await browser._close()
            await http.close()
            try:  # Browser.close asked it to quit; give it a moment before terminating it
                await asyncio.to_thread(proc.wait, 5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    await asyncio.to_thread(proc.wait, 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait, 10)
            await asyncio.sleep(0.2)
            profile.cleanup()

    async def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        page = Page(self, session, target)
        for domain in ("Page.enable", "Runtime.enable"):
            await page.send(domain)
        await page.size(width, height)
        return page

    async def send(self, method: str, params: dict[str, Any] | None = None, *,
                   session: str | None = None, timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self._ws.send_json(message)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._calls.pop(call_id, None)

    def expect(self, event: str, session: str | None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``event`` of ``session`` (create it before causing the event)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, session, future))
        return future

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                future = self._calls.get(data["id"])
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(BrowserError(f"CDP error: {data['error']}"))
                    else:
                        future.set_result(data.get("result", {}))
                continue
            self._note(data)
            for waiter in list(self._waiters):
                event, session, future = waiter
                if event == data.get("method") and session in (None, data.get("sessionId")):
                    self._waiters.remove(waiter)
                    if not future.done():
                        future.set_result(data.get("params", {}))

    def _note(self, data: dict[str, Any]) -> None:
        params = data.get("params", {})
        if data.get("method") == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                         for a in params.get("args", [])))
        elif data.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append("exception: " + str(details.get("exception", {}).get("description",
                                                                                     details.get("text"))))

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.send_json({"id": next(self._ids), "method": "Browser.close"}), 5)
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
