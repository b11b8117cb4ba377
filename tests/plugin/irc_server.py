"""A tiny real IRC server on loopback for tests: accepts clients (plain or TLS), records the lines
each one sends, and sends whatever the test scripts. Every wait is bounded."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
import contextlib


class IrcClientConn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\r\n")
                for line in lines:
                    self.lines.put(line.decode("utf-8"))
        except OSError:
            pass

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def expect(self, prefix: str, *, timeout: float = 5.0) -> str:
        """The next line starting with ``prefix`` (others are skipped); fails after ``timeout``."""
        import time

        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} line from the client within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class IrcServer:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: queue.Queue[IrcClientConn] = queue.Queue()
        self.all: list[IrcClientConn] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            conn = IrcClientConn(sock)
            self.all.append(conn)
            self.clients.put(conn)

    def next_client(self, *, timeout: float = 10.0) -> IrcClientConn:
        try:
            return self.clients.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no client connected within {timeout} s") from None

    def welcome(self, conn: IrcClientConn, channel: str) -> str:
        """Answer the handshake like Twitch: CAP ACK, 001, JOIN, ROOMSTATE. Returns the nick."""
        conn.expect("CAP REQ")
        nick = conn.expect("NICK ").split()[1]
        conn.expect(f"JOIN #{channel}")
        conn.send(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
        conn.send(f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!")
        conn.send(f":{nick}!{nick}@{nick}.tmi.twitch.tv JOIN #{channel}")
        conn.send(f"@emote-only=0;room-id=1 :tmi.twitch.tv ROOMSTATE #{channel}")
        return nick

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.all:
            conn.close()
