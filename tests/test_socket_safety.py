"""The Unix socket: a second engine on the same path refuses to start and never touches the live
one's socket; only this user's real folders are used; nothing but the engine's own socket is
ever deleted; the plugin checks the socket's owner before it connects."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.http import unix_socket
from engine.http.app import create_app, start_sites
from bench.common import UnixHTTPConnection
from tests.conftest import make_config, running_engine

REPO = Path(__file__).resolve().parent.parent


def inode(path: str | Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_dev, info.st_ino


async def answers(path: str) -> bool:
    """The engine on ``path`` answers ``GET /health`` with its status."""

    def get() -> tuple[int, bytes]:
        conn = UnixHTTPConnection(path, timeout=10)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    status, body = await asyncio.to_thread(get)
    return status == 200 and json.loads(body)["status"] == "ok"


async def test_a_second_engine_process_refuses_and_leaves_the_live_socket(start_engine: Any,
                                                                          tmp_path: Path) -> None:
    a = await start_engine()
    before = inode(a.unix)
    cfg = tmp_path / "b.yaml"
    cfg.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": a.unix},
        "performance": {"cache": {"dir": str(tmp_path / "b-cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {}},
        "data_dir": str(tmp_path / "b-data"),
    }))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "serve", "--config", str(cfg), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode != 0 and b"ready" not in out
    assert b"another engine is already listening on " + a.unix.encode() in err, err
    assert inode(a.unix) == before and await answers(a.unix)


async def test_a_second_engine_in_process_refuses_and_its_exit_removes_nothing(start_engine: Any,
                                                                               tmp_path: Path) -> None:
    a = await start_engine()
    before = inode(a.unix)
    with pytest.raises(unix_socket.SocketInUse, match="already listening"):
        async with running_engine(make_config(tmp_path / "b", server={"unix_socket": a.unix})):
            pass
    assert inode(a.unix) == before and await answers(a.unix)
    # B on its own socket but A's TCP port: B fails after binding its socket, removes only its own
    port = int(a.tcp.rsplit(":", 1)[1])
    own = tmp_path / "b-run" / "engine.sock"
    with pytest.raises(OSError):
        async with running_engine(make_config(tmp_path / "b", server={"unix_socket": str(own),
                                                                       "port": port})):
            pass
    assert not own.exists() and inode(a.unix) == before and await answers(a.unix)


async def test_on_exit_only_the_engines_own_socket_is_removed(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    path = Path(config.server.unix_socket)
    async with running_engine(config) as a:
        assert await answers(a.unix)
        path.unlink()  # someone replaced the socket while the engine ran
        path.write_text("not yours")
    assert path.read_text() == "not yours"  # left in place: it is not the socket the engine bound
    path.unlink()
    async with running_engine(config):
        pass
    assert not path.exists()  # its own socket is removed


async def test_a_stale_socket_is_replaced_but_a_file_a_link_or_a_folder_is_not(tmp_path: Path) -> None:
    path = tmp_path / "run" / "engine.sock"
    path.parent.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # bound, never listening: what a killed engine leaves behind
    stale.close()
    config = make_config(tmp_path)
    async with running_engine(config) as a:
        assert await answers(a.unix)
    for make in (lambda: path.write_text("precious"), lambda: path.symlink_to(tmp_path / "elsewhere"),
                 lambda: path.mkdir()):
        make()
        with pytest.raises(unix_socket.SocketInUse, match="is not a socket"):
            async with running_engine(config):
                pass
        assert path.exists() or path.is_symlink()  # untouched
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            assert path.is_symlink() or path.read_text() == "precious"
            path.unlink()


async def test_the_socket_folder_must_be_a_real_folder_of_this_user(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(unix_socket.SocketInUse, match="symbolic link"):
        async with running_engine(make_config(tmp_path, server={"unix_socket": str(link / "e.sock")})):
            pass
    assert not (real / "e.sock").exists()
    other = tmp_path / "streamer-tts-other"
    other.mkdir(mode=0o700)
    if os.getuid() == 0:
        os.chown(other, 4321, 4321)
    else:  # a folder of another user that always exists
        other = Path("/")
    with pytest.raises(unix_socket.SocketInUse, match="belongs to another user"):
        async with running_engine(make_config(tmp_path, server={"unix_socket": str(other / "e.sock")})):
            pass
    assert not (other / "e.sock").exists()
    made = tmp_path / "fresh" / "streamer-tts"
    async with running_engine(make_config(tmp_path, server={"unix_socket": str(made / "e.sock")})) as a:
        assert await answers(a.unix)
        assert os.stat(made).st_mode & 0o777 == 0o700 and os.stat(a.unix).st_mode & 0o777 == 0o600


async def test_the_unix_site_is_checked_before_tcp_and_engines_start(tmp_path: Path) -> None:
    """``start_sites`` with something at the path fails before listening on TCP."""
    config = make_config(tmp_path)
    Path(config.server.unix_socket).parent.mkdir(mode=0o700)
    Path(config.server.unix_socket).write_text("x")
    from aiohttp import web

    from engine.service import Engine

    engine = Engine(config)  # never started: start_sites must refuse before needing it
    runner = web.AppRunner(create_app(config, engine=engine))
    await runner.setup()
    try:
        with pytest.raises(unix_socket.SocketInUse):
            await start_sites(runner, config)
        assert not runner.sites  # TCP was never opened
    finally:
        await runner.cleanup()
    assert Path(config.server.unix_socket).read_text() == "x"


async def test_the_plugin_refuses_a_socket_of_another_user(start_engine: Any) -> None:
    plugin = str(REPO / "obs_plugin")
    if plugin not in sys.path:
        sys.path.insert(0, plugin)
    from engine_client import EngineAddress, EngineClient, EngineUntrusted

    a = await start_engine()
    address = EngineAddress(path=a.unix)
    assert (await asyncio.to_thread(EngineClient(address).health))["status"] == "ok"
    stranger = EngineClient(address, socket_owner=os.getuid() + 1)  # as a user who does not own it
    with pytest.raises(EngineUntrusted, match="belongs to another user"):
        await asyncio.to_thread(stranger.health)
    if os.getuid() == 0:  # a socket really owned by someone else
        os.chown(a.unix, 4321, -1)
        try:
            with pytest.raises(EngineUntrusted, match="uid 4321"):
                await asyncio.to_thread(EngineClient(address).health)
        finally:
            os.chown(a.unix, 0, -1)
