"""``python -m engine status``: a live terminal view of a running engine, for a streamer without Grafana.

It polls ``GET /v1/status`` over the engine's Unix socket (or ``--url``) and draws, with rich:
what is speaking now, the queues, the sources, the backends, the cache, the GPU, latency, the
active alerts and the electricity cost. ``--once`` prints one frame and exits (scripts, tests).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..config import EngineConfig
from ..errors import EngineError

REQUEST_TIMEOUT_S = 5.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


@dataclass(frozen=True)
class Target:
    """Where the engine is: a Unix socket path or an http:// base URL."""

    unix: str = ""
    url: str = ""

    def describe(self) -> str:
        return f"unix:{self.unix}" if self.unix else self.url

    def fetch_status(self, *, timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        """``GET /v1/status``; ``EngineError`` when the engine cannot be reached or answers badly."""
        if self.unix:
            conn: http.client.HTTPConnection = _UnixConnection(self.unix, timeout=timeout)
            path = "/v1/status"
        else:
            parts = urlsplit(self.url)
            if parts.scheme != "http" or not parts.hostname:
                raise EngineError(f"--url must be http://host:port, got {self.url!r}")
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
            path = parts.path.rstrip("/") + "/v1/status"
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
        except OSError as exc:
            raise EngineError(f"no engine at {self.describe()} ({exc})") from None
        finally:
            conn.close()
        if resp.status != 200:
            raise EngineError(f"{self.describe()} answered {resp.status} to /v1/status")
        try:
            data = json.loads(body)
        except ValueError:
            raise EngineError(f"{self.describe()} sent a status that is not JSON") from None
        if not isinstance(data, dict):
            raise EngineError(f"{self.describe()} sent a status that is not a JSON object")
        return data


def target_for(config: EngineConfig, url: str | None) -> Target:
    if url:
        return Target(url=url)
    from ..http.app import socket_path

    path = socket_path(config)
    if path is None:
        return Target(url=f"http://127.0.0.1:{config.server.port}")
    return Target(unix=str(path))


# -- drawing ----------------------------------------------------------------------------------------
def render(status: dict[str, Any]) -> Group:
    """One frame from a ``/v1/status`` body."""
    return Group(_header(status), _speech(status), _sources(status), _backends(status),
                 _machine(status), _alerts(status))


def _header(s: dict[str, Any]) -> Text:
    return Text.assemble(("Streamer TTS ", "bold"), f"{s.get('version', '?')}  ",
                         (s.get("status", "?"), "green" if s.get("status") == "ok" else "red"),
                         f"  up {_duration(s.get('uptime_s'))}")


def _speech(s: dict[str, Any]) -> Panel:
    speech, queue = s.get("speech") or {}, s.get("queue") or {}
    stage = speech.get("stage") or {}
    playing = stage.get("now_playing")
    now = (f"[{playing.get('source', '')}] {playing.get('user') or ''}: {playing.get('text', '')}"
           if playing else "nothing")
    lines = [Text.assemble(("Now playing: ", "bold"), _clip(now, 110)),
             Text(f"Speech queue: {(speech.get('queue') or {}).get('items', 0)}"
                  f"{' (paused)' if stage.get('paused') else ''}   "
                  f"Synthesis: {queue.get('running', 0)} running, {queue.get('queued', 0)} waiting   "
                  f"OBS listeners: {stage.get('listeners', 0)}")]
    latency = s.get("latency") or {}
    lines.append(Text("Time to first audio (last minute): "
                      f"p50 {_num(latency.get('first_audio_p50_ms'), 'ms')}  "
                      f"p95 {_num(latency.get('first_audio_p95_ms'), 'ms')}"))
    return Panel(Group(*lines), title="Speech", title_align="left")


def _sources(s: dict[str, Any]) -> Panel:
    table = Table(expand=True, box=None)
    for col in ("source", "state", "events", "errors", "detail"):
        table.add_column(col)
    for name, src in sorted(((s.get("speech") or {}).get("sources") or {}).items()):
        state = src.get("state", "?")
        table.add_row(name, Text(state, "green" if state == "connected" else "yellow"),
                      str(src.get("events", 0)), str(src.get("errors", 0)), _clip(src.get("detail", ""), 50))
    body = table if table.row_count else Text("no sources enabled")
    return Panel(body, title="Sources", title_align="left")


def _backends(s: dict[str, Any]) -> Panel:
    cost = (s.get("cost") or {}).get("backends") or {}
    currency = (s.get("cost") or {}).get("currency", "")
    table = Table(expand=True, box=None)
    for col in ("backend", "available", "served", "failed", "skipped", "cost/1000 msgs"):
        table.add_column(col)
    for name, b in sorted((s.get("backends") or {}).items()):
        per_1000 = (cost.get(name) or {}).get("cost_per_1000_messages")
        table.add_row(name, Text("yes", "green") if b.get("available") else Text("no", "red"),
                      str(b.get("served", 0)), str(b.get("failed", 0)), str(b.get("skipped", 0)),
                      "-" if per_1000 is None else f"{currency}{per_1000:.4f}")
    return Panel(table, title="Backends", title_align="left")


def _machine(s: dict[str, Any]) -> Panel:
    cache, gpu, cost = s.get("cache") or {}, s.get("gpu") or {}, s.get("cost") or {}
    lines = []
    if cache.get("enabled"):
        lines.append(f"Cache: hit rate {cache.get('hit_rate', 0) * 100:.0f} %  ({cache.get('hits', 0)} hits, "
                     f"{cache.get('misses', 0)} misses), {cache.get('entries', 0)} clips, "
                     f"{cache.get('size_bytes', 0) / 2**20:.1f} MiB")
    else:
        lines.append("Cache: off")
    if gpu.get("mode") == "gpu" and "temperature_c" in gpu:
        lines.append(f"GPU: {gpu.get('name', '')} {gpu['temperature_c']:.0f} °C, VRAM "
                     f"{gpu.get('memory_used_mb', 0)}/{gpu.get('memory_total_mb', 0)} MiB "
                     f"({gpu.get('memory_percent', 0):.0f} %), {_num(gpu.get('power_w'), 'W')}, "
                     f"busy {_num(gpu.get('utilization_percent'), '%')}")
    else:
        lines.append(f"GPU: {gpu.get('mode', 'off') if gpu.get('enabled') else 'off'}"
                     f"{' (' + gpu['reason'] + ')' if gpu.get('reason') else ''}")
    if cost:
        c = cost.get("currency", "")
        measured = cost.get("measured") or {}
        how = ", ".join(f"{k}: {v}" for k, v in measured.items() if v and k != "model") or \
            "estimated from cost.idle_watts/load_watts"
        lines.append(f"Power: {_num(cost.get('power_w'), 'W')}   Today: "
                     f"{cost.get('energy_today_kwh', 0):.4f} kWh = {c}{cost.get('cost_today') or 0:.4f}   "
                     f"Projected per day: {c}{cost.get('cost_per_day_projected') or 0:.2f} "
                     f"at {c}{cost.get('price_per_kwh', 0)}/kWh ({how})")
    process = s.get("process") or {}
    if process.get("rss_bytes"):
        lines.append(f"Engine process: {process['rss_bytes'] / 2**20:.0f} MiB, "
                     f"{process.get('cpu_seconds', 0):.1f} CPU s")
    return Panel(Group(*(Text(line) for line in lines)), title="Machine", title_align="left")


def _alerts(s: dict[str, Any]) -> Panel:
    alerts = s.get("alerts") or []
    if not alerts:
        return Panel(Text("none", "green"), title="Alerts", title_align="left")
    return Panel(Group(*(Text(f"! {a.get('message', a.get('name'))}", "bold red") for a in alerts)),
                 title="Alerts", title_align="left", border_style="red")


def _num(value: Any, unit: str) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value:.0f} {unit}"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- running ----------------------------------------------------------------------------------------
def run(target: Target, *, once: bool, interval_s: float = 2.0, console: Console | None = None) -> int:
    """Draw the status: one frame (``once``) or live until Ctrl-C. Returns the exit code."""
    console = console or Console()
    if once:
        try:
            console.print(render(target.fetch_status()))
        except EngineError as exc:
            console.print(f"error: {exc.message}")
            return 1
        return 0
    with Live(_frame(target), console=console, auto_refresh=False, screen=console.is_terminal) as live:
        while True:
            time.sleep(interval_s)
            live.update(_frame(target), refresh=True)


def _frame(target: Target) -> Group | Panel:
    try:
        return render(target.fetch_status())
    except EngineError as exc:
        return Panel(Text(f"{exc.message}; retrying", "red"), title="Streamer TTS", title_align="left")
