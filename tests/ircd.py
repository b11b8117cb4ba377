"""IRC servers for source tests: a real ngircd (Debian's plain IRC daemon) on a free loopback port,
a small asyncio IRC client that registers like any user, and a TLS fake that speaks Twitch's
dialect (CAP ACK for tags, tagged JOIN/ROOMSTATE) for what a plain daemon cannot send.
Every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from engine.sources.irc import IrcMessage, parse_line

NGIRCD_CONF = """\
[Global]
\tName = irc.test.local
\tInfo = streamer-tts test server
\tAdminInfo1 = tests
\tAdminInfo2 = loopback
\tAdminEMail = nobody@irc.test.local
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = "test"
[Limits]
\tPingTimeout = {ping_timeout_s}
\tPongTimeout = {ping_timeout_s}
\tMaxNickLength = 30
\tMaxConnectionsIP = 0
\tMaxPenaltyTime = 0
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ngircd_binary() -> str:
    found = shutil.which("ngircd") or shutil.which("ngircd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("ngircd is not installed; run `python3 install.py --system-deps`")
    return found


class Ngircd:
    """A real ngircd on 127.0.0.1:``port`` with a generated config in ``workdir``.

    ``PingTimeout`` (5 s at least) is short so that tests see the server's PING."""

    def __init__(self, workdir: Path, *, ping_timeout_s: int = 5) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.conf = workdir / "ngircd.conf"
        self.conf.write_text(NGIRCD_CONF.format(port=self.port, ping_timeout_s=ping_timeout_s))
        self.log_path = workdir / "ngircd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 10.0) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen([ngircd_binary(), "-n", "-f", str(self.conf)],
                                          stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                raise RuntimeError(f"ngircd exited with {self._proc.returncode}: {self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"ngircd did not listen on port {self.port} within {timeout_s} s")

    def stop(self, *, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class IrcClient:
    """A plain IRC user: NICK/USER, then whatever the test sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, nick: str, *, timeout_s: float = 10.0) -> IrcClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout_s)
        client = cls(reader, writer)
        await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        await client.expect(lambda m: m.command == "001", timeout_s=timeout_s)
        return client

    async def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def expect(self, match: Callable[[IrcMessage], bool], *, timeout_s: float = 10.0) -> IrcMessage:
        """The next message ``match`` accepts (PINGs are answered on the way)."""
        end = time.monotonic() + timeout_s
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), max(0.01, end - time.monotonic()))
            if not raw:
                raise ConnectionError("the IRC server closed the connection")
            msg = parse_line(raw.decode("utf-8", "replace"))
            if msg.command == "PING":
                await self.send(f"PONG :{msg.param(0)}")
            if match(msg):
                return msg

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            await self.send("QUIT :done")
        self.writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


class FakeTwitch:
    """Speaks Twitch's side of registration on 127.0.0.1:0 (optionally over TLS); the test
    pushes tagged lines with ``broadcast``. ``received`` holds every line clients sent."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, refuse_login: bool = False) -> None:
        self.ssl_context, self.refuse_login = ssl_context, refuse_login
        self.received: list[str] = []
        self.port = 0
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._joined: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def wait_joined(self, *, count: int = 1, timeout_s: float = 10.0) -> None:
        end = time.monotonic() + timeout_s
        while len(self._joined) < count:
            if time.monotonic() > end:
                raise TimeoutError(f"no JOIN within {timeout_s} s; received {self.received[-8:]}")
            await asyncio.sleep(0.02)

    async def broadcast(self, *lines: str) -> None:
        for writer in list(self._joined):
            for line in lines:
                writer.write(line.encode() + b"\r\n")
            await writer.drain()

    async def drop_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self._joined.clear()

    async def close(self) -> None:
        await self.drop_all()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        nick, user, password = "", False, ""
        with contextlib.suppress(OSError, ConnectionError):
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                self.received.append(line)
                cmd, _, rest = line.partition(" ")
                out: list[str] = []
                if cmd == "CAP" and rest.startswith("LS"):
                    out = [":tmi.twitch.tv CAP * LS :twitch.tv/tags twitch.tv/commands"]
                elif cmd == "CAP" and rest.startswith("REQ"):
                    out = [f":tmi.twitch.tv CAP * ACK {rest[4:]}"]
                elif cmd == "PASS":
                    password = rest
                elif cmd == "NICK":
                    nick = rest
                elif cmd == "USER":
                    user = True
                elif cmd == "PING":
                    out = [f":tmi.twitch.tv PONG tmi.twitch.tv {rest}"]
                elif cmd == "JOIN":
                    out = [f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN {rest}",
                           f"@emote-only=0;room-id=1 :tmi.twitch.tv ROOMSTATE {rest}"]
                    self._joined.append(writer)
                if cmd == "USER" or (cmd == "NICK" and user):
                    if self.refuse_login:
                        out = [f":tmi.twitch.tv NOTICE * :Login authentication failed for {password}"]
                    elif nick and user:
                        out = [f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!"]
                for reply in out:
                    writer.write(reply.encode() + b"\r\n")
                await writer.drain()
        writer.close()
