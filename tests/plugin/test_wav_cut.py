"""A WAV whose job fails mid-way: the engine's real ``stream_audio`` (aiohttp, loopback) cuts the
connection instead of ending the body, and the plugin's download reports it broken; a complete
stream downloads whole. The job is a scripted stand-in that yields audio, then fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from engine_client import DownloadBroken, EngineAddress, EngineClient

from engine.http import synth as routes
from engine.errors import BackendError


class ScriptedJob:
    """What ``stream_audio`` reads of a job: a first chunk, then a backend failure (or the end)."""

    id, backend, voice, cached, skipped, error = "abc", "piper", "v", False, (), None
    done, state = False, "running"

    def __init__(self, *, fail: bool) -> None:
        self.fail = fail

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"\0" * 9600
        await asyncio.sleep(0.05)
        if self.fail:
            self.state = "failed"
            raise BackendError("the backend crashed mid-way")
        yield b"\0" * 9600
        self.done, self.state = True, "done"


async def serve(fail: bool) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await routes.stream_audio(request, ScriptedJob(fail=fail), wav=True)  # type: ignore[arg-type]

    app = web.Application()
    app.router.add_get("/v1/jobs/abc.wav", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"127.0.0.1:{port}"


@pytest.mark.parametrize("fail", [True, False])
async def test_a_wav_stream_whose_job_fails_is_cut_and_the_plugin_sees_it(tmp_path: Path, fail: bool) -> None:
    runner, address = await serve(fail)
    try:
        client = EngineClient(EngineAddress.parse(address), timeout_s=5)
        path = str(tmp_path / "part.wav")
        if fail:
            with pytest.raises(DownloadBroken, match=r"cut|broke off"):
                await asyncio.to_thread(client.download, "/v1/jobs/abc.wav", path)
        else:
            size = await asyncio.to_thread(client.download, "/v1/jobs/abc.wav", path)
            assert size == 44 + 2 * 9600
    finally:
        await runner.cleanup()
