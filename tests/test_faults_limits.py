"""Faults of the process around the engine: a broken config.yaml on reload (SIGHUP), running out
of file descriptors, one client opening too many connections, clients that vanish or send
garbage. Real engines: ``python -m engine serve`` in a subprocess, or served in-process."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.common import UnixHTTPConnection
from bench.soak import start_engine
from tests.conftest import RunningEngine

STEP_S = 20.0
"""Longest wait for any one thing the engine should do."""


def get_unix(sock: str, route: str) -> tuple[int, dict[str, Any]]:
    conn = UnixHTTPConnection(sock, timeout=10)
    try:
        conn.request("GET", route)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def post_unix(sock: str, route: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    conn = UnixHTTPConnection(sock, timeout=30)
    try:
        conn.request("POST", route, json.dumps(body).encode(), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def wait_for(check: Callable[[], Any], what: str, timeout: float = STEP_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_a_broken_config_on_reload_keeps_the_last_good_one(tmp_path: Path) -> None:
    proc, bound = start_engine(tmp_path)
    path, sock = tmp_path / "config.yaml", bound["unix"]
    good = yaml.safe_load(path.read_text())
    try:
        assert get_unix(sock, "/health")[1]["config"]["error"] is None
        path.write_text(yaml.safe_dump({**good, "chat": {"mode": "loud"}}))
        proc.send_signal(signal.SIGHUP)
        config = wait_for(lambda: (c := get_unix(sock, "/health")[1]["config"])["failed"] and c, "refusal")
        assert config["error"].startswith("chat.mode: 'loud' is not valid") and config["reloads"] == 0
        chat = {"type": "chat", "source": "twitch", "login": "viewer", "text": "still read aloud"}
        assert post_unix(sock, "/v1/events", chat)[0] == 202  # the last good config: mode all

        path.write_text(yaml.safe_dump({**good, "chat": {"mode": "command"},
                                        "server": {**good["server"], "port": 1}}))
        proc.send_signal(signal.SIGHUP)
        config = wait_for(lambda: (c := get_unix(sock, "/health")[1]["config"])["reloads"] and c, "reload")
        assert config["error"] is None and config["restart_needed"] == ["server"]
        status, reply = post_unix(sock, "/v1/events", {**chat, "text": "no prefix now"})
        assert status == 200 and reply["accepted"] is False  # chat.mode command applied at once
    finally:
        stop(proc)
    log = (tmp_path / "engine.log").read_text()
    assert "Config reload refused, keeping the last good config: chat.mode" in log
    assert "Traceback" not in log


def test_running_out_of_descriptors_degrades_and_recovers(tmp_path: Path) -> None:
    limit = 96

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    proc, bound = start_engine(tmp_path, overrides={"server": {
        "max_connections_per_client": 10_000, "idle_timeout_s": 300}}, preexec_fn=low_limit)
    host, port = bound["tcp"].rsplit(":", 1)
    idle: list[socket.socket] = []
    try:
        for _ in range(limit + 40):  # more than the engine can hold: the rest wait in the backlog
            s = socket.socket()
            s.settimeout(1)
            try:
                s.connect((host, int(port)))
            except OSError:
                s.close()
                break
            idle.append(s)
        log_path = tmp_path / "engine.log"
        wait_for(lambda: "Cannot accept connections" in log_path.read_text(), "the accept error")
        time.sleep(3)  # the loop retries accept() every second: still one line
        log = log_path.read_text()
        assert log.count("Cannot accept connections") == 1 and "Traceback" not in log, log[-2000:]
        assert proc.poll() is None
        for s in idle:
            s.close()
        idle.clear()

        def healthy() -> bool:
            with socket.create_connection((host, int(port)), timeout=2) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return s.recv(12) == b"HTTP/1.1 200"

        wait_for(healthy, "the engine to accept again")
        assert get_unix(bound["unix"], "/health")[0] == 200
    finally:
        for s in idle:
            s.close()
        stop(proc)


async def raw_request(running: RunningEngine) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    host, port = running.tcp.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_S)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    body = await asyncio.wait_for(reader.readexactly(length), STEP_S)
    return reader, writer, head + body


async def test_connections_per_client_are_capped(start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_engine(server={"max_connections_per_client": 4})
    held = [await raw_request(running) for _ in range(4)]  # four keep-alive connections, answered
    assert all(reply.startswith(b"HTTP/1.1 200") for _r, _w, reply in held)
    with caplog.at_level(logging.WARNING, logger="engine.http.connlimits"):
        for _ in range(3):  # answered 503 at once (before the request is read), then closed
            reader, writer, refusal = await raw_request(running)
            assert await asyncio.wait_for(reader.read(), STEP_S) == b""
            writer.close()
            assert refusal.startswith(b"HTTP/1.1 503") and b"too_many_connections" in refusal
    refused = [r for r in caplog.records if r.name == "engine.http.connlimits"]
    assert len(refused) == 1, [r.getMessage() for r in refused]  # rate-limited: one line
    held.pop()[1].close()
    deadline = time.monotonic() + STEP_S
    while True:  # the freed slot is usable again
        _r, writer, reply = await raw_request(running)
        if reply.startswith(b"HTTP/1.1 200"):
            break
        writer.close()
        assert time.monotonic() < deadline, "the closed connection was never counted off"
        await asyncio.sleep(0.1)
    assert reply.startswith(b"HTTP/1.1 200")
    writer.close()
    for _r, w, _reply in held:
        w.close()


async def test_no_traceback_for_clients_that_vanish_or_send_garbage(
        start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    running = await start_engine()
    host, port = running.tcp.rsplit(":", 1)
    caplog.set_level(logging.DEBUG)

    async def send(data: bytes, *, reset: bool = False, read: bool = True) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(data)
        await writer.drain()
        if read:
            await asyncio.wait_for(reader.read(100), STEP_S)
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    await send(b"", read=False)  # connect, then leave
    await send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200))  # a TLS hello
    await send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n")
    await send(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n{\"te",
               reset=True, read=False)  # a body cut by a reset
    await send(b"GARBAGE\x00\xff / HTTP/9.9\r\n\r\n")
    body = json.dumps({"text": "A long line, to be cut off while it streams. " * 3, "format": "wav"})
    await send(b"POST /v1/synthesize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               + f"Content-Length: {len(body)}\r\n\r\n{body}".encode(), reset=True)  # leaves mid-audio
    text = b'{"type": "tts", "text": "Leaving before the answer."}'
    frame = b"\x81" + bytes([0x80 | len(text)]) + b"\0\0\0\0" + text  # masked with zeros
    await send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
               + frame, reset=True)  # a WebSocket that vanishes while its answer is made
    await send(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
               b"\x8f\xff" + bytes(30))  # then a frame no WebSocket allows
    await asyncio.sleep(1.5)  # the engine notices each of them
    loud = [r for r in caplog.records  # at the engine's levels (DEBUG is aiohttp's own detail)
            if r.levelno >= logging.WARNING or (r.levelno >= logging.INFO and r.exc_info)]
    assert loud == [], [f"{r.name}: {r.getMessage()}" for r in loud]
