"""IRC parsing with IRCv3 tags, and the reader against a real IRC server on loopback."""

from __future__ import annotations

import queue
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filters import ChatLine
from twitch_irc import IrcReader, chat_line, parse_badges, parse_emotes, parse_line, unescape_tag

from .irc_server import IrcClientConn, IrcServer

PRIVMSG = (
    "@badge-info=subscriber/8;badges=moderator/1,subscriber/6;bits=100;color=#1E90FF;"
    "display-name=Some\\sUser;emotes=25:0-4,12-16/1902:6-10;id=abc;mod=1;subscriber=1 "
    ":someuser!someuser@someuser.tmi.twitch.tv PRIVMSG #chan :Kappa Keepo Kappa hello"
)


def test_parse_a_tagged_privmsg() -> None:
    msg = parse_line(PRIVMSG)
    assert msg.command == "PRIVMSG" and msg.params == ["#chan", "Kappa Keepo Kappa hello"]
    assert msg.nick == "someuser" and msg.tags["display-name"] == "Some User"
    line = chat_line(msg)
    assert line is not None
    assert (line.login, line.user, line.channel, line.bits) == ("someuser", "Some User", "chan", 100)
    assert line.badges == {"moderator": "1", "subscriber": "6"}
    assert line.emotes == [(0, 4), (6, 10), (12, 16)]
    assert line.text == "Kappa Keepo Kappa hello"


def test_tag_escapes_badges_emotes_and_odd_lines() -> None:
    assert unescape_tag(r"a\:b\sc\\d\re\nf\x") == "a;b c\\d\re\nfx"
    assert unescape_tag("end\\") == "end"
    assert parse_badges("") == {} and parse_badges("vip/1") == {"vip": "1"}
    assert parse_emotes("") == [] and parse_emotes("1:9-3,x-2,4-5") == [(4, 5)]
    assert parse_line("PING :tmi.twitch.tv").params == ["tmi.twitch.tv"]
    assert parse_line(":srv 001 me :Welcome: to IRC").params == ["me", "Welcome: to IRC"]
    me = chat_line(parse_line(":a!a@a PRIVMSG #c :\x01ACTION waves\x01"))
    assert me is not None and me.action and me.text == "waves" and me.user == "a"
    assert chat_line(parse_line(":tmi.twitch.tv NOTICE #c :hi")) is None
    with pytest.raises(ValueError):
        parse_line("@tags=1 ")


def IrcServerConn(listener: socket.socket) -> IrcClientConn:
    sock, _ = listener.accept()
    return IrcClientConn(sock)


class Reader:
    """An IrcReader whose callbacks land in queues."""

    def __init__(self, port: int, **kw: Any) -> None:
        self.lines: queue.Queue[ChatLine] = queue.Queue()
        self.status: queue.Queue[str] = queue.Queue()
        self.reader = IrcReader(
            host="127.0.0.1",
            port=port,
            channel="#Chan",
            on_line=self.lines.put,
            on_status=self.status.put,
            **kw,
        )  # type: ignore[arg-type]
        self.reader.start()

    def status_with(self, text: str, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                item = self.status.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if text in item:
                return item
        raise AssertionError(f"no status containing {text!r}")


@pytest.fixture
def server() -> Iterator[IrcServer]:
    srv = IrcServer()
    yield srv
    srv.close()


def test_reader_joins_answers_ping_and_delivers_tagged_lines(server: IrcServer) -> None:
    r = Reader(server.port, tls=False)
    try:
        conn = server.next_client()
        nick = server.welcome(conn, "chan")
        assert nick.startswith("justinfan")  # anonymous login, no PASS
        assert "reading #chan" in r.status_with("reading")
        conn.send("PING :tmi.twitch.tv")
        assert conn.expect("PONG") == "PONG :tmi.twitch.tv"
        conn.send(PRIVMSG)
        line = r.lines.get(timeout=5)
        assert line.user == "Some User" and line.bits == 100 and line.emotes[0] == (0, 4)
    finally:
        r.reader.close()


def test_reader_reconnects_after_a_drop_and_on_reconnect(server: IrcServer) -> None:
    r = Reader(server.port, tls=False)
    try:
        first = server.next_client()
        server.welcome(first, "chan")
        first.close()  # the server drops us
        second = server.next_client(timeout=10)
        server.welcome(second, "chan")
        second.send(":tmi.twitch.tv RECONNECT")
        third = server.next_client(timeout=10)
        server.welcome(third, "chan")
        third.send(":v!v@v PRIVMSG #chan :still here")
        assert r.lines.get(timeout=5).text == "still here"
        assert r.reader.connects == 3
    finally:
        r.reader.close()


def test_reader_pings_a_silent_server_and_reconnects_without_a_pong(server: IrcServer) -> None:
    r = Reader(server.port, tls=False, idle_ping_s=0.5)
    try:
        conn = server.next_client()
        server.welcome(conn, "chan")
        assert conn.expect("PING", timeout=5).startswith("PING :")
        server.next_client(timeout=10)  # no PONG came: it reconnected
    finally:
        r.reader.close()


def test_reader_reports_a_dead_port_and_keeps_retrying_until_a_server_appears() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = holder.getsockname()[1]
    r = Reader(port, tls=False, max_backoff_s=1.0)
    try:
        assert "refused" in r.status_with("disconnected", timeout=5).lower()
        assert r.status_with("disconnected", timeout=5)  # retried
        assert r.reader.connects == 0
        holder.listen()
        holder.settimeout(10)
        conn = IrcServerConn(holder)
        assert conn.expect("NICK ", timeout=10)
    finally:
        r.reader.close()
        holder.close()


def test_reader_uses_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    srv = IrcServer(tls=server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    r = Reader(srv.port, tls=True, ssl_context=client_ctx)
    try:
        conn = srv.next_client()
        server_ctx_conn_version = conn.sock.version()  # type: ignore[attr-defined]
        assert server_ctx_conn_version is not None and server_ctx_conn_version.startswith("TLS")
        srv.welcome(conn, "chan")
        conn.send(":v!v@v PRIVMSG #chan :over tls")
        assert r.lines.get(timeout=5).text == "over tls"
    finally:
        r.reader.close()
        srv.close()
