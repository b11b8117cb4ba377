"""A donation announcement is money: the engine is killed with SIGKILL mid-announcement, and after
a restart the rest of it plays, from the first part OBS had not finished, exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from engine.http.auth import read_token
from tests.test_hub import next_event, play_through

REPO = Path(__file__).resolve().parents[1]
TEXT = ("Thank you so much for the donation, it means a lot to all of us here. "
        "Every single dollar goes straight into making this stream even better for you. "
        "And now back to the game we were playing before this lovely interruption.")


def token_headers(workdir: Path) -> dict[str, str]:
    """The bearer header of the engine in ``workdir`` (its token is made at its first start)."""
    token = read_token(workdir / "data")
    assert token is not None, "the engine made no API token"
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def engine_process(workdir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(workdir / "run" / "engine.sock")},
        "performance": {"cache": {"dir": str(workdir / "cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voices_dir": str(workdir / "voices")}}},
        "data_dir": str(workdir / "data"),
    }
    path = workdir / "engine.yaml"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--config", str(path)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the engine prints 'ready' or exits
        assert line.startswith("ready "), f"engine did not start: {line!r}"
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        yield proc, "http://" + fields["tcp"]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def test_sigkill_mid_announcement_loses_nothing(tmp_path: Path) -> None:
    body = {"type": "announcement", "source": "hotkey", "id": uuid.uuid4().hex, "text": TEXT}
    with engine_process(tmp_path) as (proc, url):
        async with aiohttp.ClientSession(headers=token_headers(tmp_path)) as http, \
                http.get(f"{url}/v1/subscribe") as sub:
            async with http.post(f"{url}/v1/events", json=body) as resp:
                assert resp.status == 202  # acknowledged only once it is on disk
            first = await next_event(sub)
            assert first["part"] == 0 and first["parts"] >= 3
            await play_through(http, url, first)
            second = await next_event(sub)  # part 1 is playing when the engine dies
            assert second["part"] == 1
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
    with engine_process(tmp_path) as (proc, url):
        async with aiohttp.ClientSession(headers=token_headers(tmp_path)) as http, \
                http.get(f"{url}/v1/subscribe") as sub:
            parts = []
            while True:
                event = await next_event(sub)
                assert event["utterance"] == body["id"]
                parts.append(event["part"])
                await play_through(http, url, event)
                if event["part"] == event["parts"] - 1:
                    break
            assert parts == list(range(1, first["parts"]))
            async with http.post(f"{url}/v1/events", json=body) as resp:
                assert (await resp.json())["duplicate"] is True
        assert proc.poll() is None
