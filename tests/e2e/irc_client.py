"""Viewers in the end-to-end tests: plain IRC users on the real ngircd (``tests/ircd.py``) that
join the channel and say lines, one connection per login. Blocking, every wait bounded."""

from __future__ import annotations

import contextlib
import socket
import time

from .xserver import HarnessError


class IrcUser:
    """One registered IRC user in ``#channel``."""

    def __init__(self, port: int, nick: str, channel: str, *, timeout_s: float = 10.0) -> None:
        self.nick, self.channel = nick, channel
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self._buf = b""
        self.send(f"NICK {nick}", f"USER {nick.lower()} 0 * :{nick}")
        self._wait_for(" 001 ", timeout_s)
        self.send(f"JOIN #{channel}")
        self._wait_for(" 366 ", timeout_s)  # end of NAMES: joined

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def say(self, text: str) -> float:
        """PRIVMSG the channel; returns ``time.monotonic()`` once the line is written."""
        self.send(f"PRIVMSG #{self.channel} :{text}")
        return time.monotonic()

    def members(self, *, timeout_s: float = 5.0) -> list[str]:
        """The channel's nicks (NAMES)."""
        self.send(f"NAMES #{self.channel}")
        names: list[str] = []
        for line in self._lines_until(" 366 ", timeout_s):
            if " 353 " in line:
                names += [n.lstrip("@+") for n in line.split(" :", 1)[1].split()]
        return names

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        self.sock.close()

    def _wait_for(self, marker: str, timeout_s: float) -> None:
        self._lines_until(marker, timeout_s)

    def _lines_until(self, marker: str, timeout_s: float) -> list[str]:
        deadline, seen = time.monotonic() + timeout_s, []
        while time.monotonic() < deadline:
            while b"\r\n" in self._buf:
                raw, self._buf = self._buf.split(b"\r\n", 1)
                line = raw.decode("utf-8", "replace")
                if line.startswith("PING"):
                    self.send("PONG" + line[4:])
                    continue
                seen.append(line)
                if marker in line:
                    return seen
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                raise HarnessError(f"the IRC server closed {self.nick}'s connection: {seen[-3:]}")
            self._buf += data
        raise HarnessError(f"IRC: no {marker.strip()!r} for {self.nick} within {timeout_s:g} s: {seen[-5:]}")


class Viewers:
    """The chat: a connection per login, made on first use."""

    def __init__(self, port: int, channel: str) -> None:
        self.port, self.channel = port, channel
        self._users: dict[str, IrcUser] = {}

    def user(self, nick: str) -> IrcUser:
        if nick not in self._users:
            self._users[nick] = IrcUser(self.port, nick, self.channel)
        return self._users[nick]

    def say(self, nick: str, text: str) -> float:
        return self.user(nick).say(text)

    def wait_engine_joined(self, *, timeout_s: float) -> None:
        """Until someone besides our viewers is in the channel: the engine's Twitch source."""
        watcher = self.user("Watcher")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            others = set(watcher.members()) - set(self._users)
            if others:
                return
            time.sleep(0.2)
        raise HarnessError(f"the engine's Twitch source did not join #{self.channel} within {timeout_s:g} s")

    def close(self) -> None:
        for user in self._users.values():
            user.close()
        self._users.clear()
