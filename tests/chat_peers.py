"""Every chat platform's real peer on loopback at once, for tests that run one engine with all its
sources: a real ngircd for Twitch (IRC users post PRIVMSG), the YouTube Data API fake, the
Bilibili live API and danmu WebSocket fake, and the StreamLabs Socket.IO v2 server.

``ChatPeers.say(source, user, text)`` posts a chat line as ``user`` on one platform, over that
platform's own wire protocol; ``ChatPeers.login(source, user)`` is the login the engine's source
gives that user (``ChatMessage.login``). Every wait is bounded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bilibili_fake import SHORT_ID, FakeBilibili, danmu
from .ircd import IrcClient, Ngircd
from .streamlabs_fake import FakeStreamLabs, alert
from .youtube_fake import KEY, VIDEO_ID, FakeYouTube, author, item

CHANNEL = "#chan"
STREAMLABS_TOKEN = "sl-socket-token-0123456789abcdef"
YOUTUBE_KEY = KEY
CHAT_SOURCES = ("twitch", "youtube", "bilibili")

_NAMES = {
    "twitch": lambda user: f"tw_{user}",             # an IRC nick; the login is it, lower case
    "youtube": lambda user: f"YT {user.title()}",     # the author's display name is the login
    "bilibili": lambda user: f"哔哩{user}",           # the danmu's uname is the login
}


@dataclass
class ChatPeers:
    workdir: Path
    ircd: Ngircd | None = None
    youtube: FakeYouTube = field(default_factory=FakeYouTube)
    bilibili: FakeBilibili = field(default_factory=lambda: FakeBilibili(hosts=1))
    streamlabs: FakeStreamLabs = field(default_factory=lambda: FakeStreamLabs(STREAMLABS_TOKEN))
    _irc: dict[str, IrcClient] = field(default_factory=dict)
    _uids: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        self.ircd = Ngircd(self.workdir)
        self.ircd.start()
        await self.youtube.start()
        await self.bilibili.start()
        await self.streamlabs.start()

    async def close(self) -> None:
        for client in self._irc.values():
            await client.close()
        await self.streamlabs.stop()
        await self.bilibili.close()
        await self.youtube.close()
        if self.ircd is not None:
            self.ircd.stop()

    def sources_config(self) -> dict[str, Any]:
        """``sources:`` of config.yaml pointing each source at its peer (fast retries)."""
        assert self.ircd is not None
        return {
            "twitch": {"enabled": True, "channel": CHANNEL, "host": "127.0.0.1",
                       "port": self.ircd.port, "tls": False, "reconnect_max_s": 0.5},
            "youtube": {"enabled": True, "video_id": VIDEO_ID, "api_base": self.youtube.base,
                        "min_poll_s": 0.05},
            "bilibili": {"enabled": True, "room_id": SHORT_ID, "api_base": self.bilibili.base,
                         "account_api_base": self.bilibili.base, "tls": False, "fallback_url": "",
                         "heartbeat_s": 1.0},
            "streamlabs": {"enabled": True, "url": self.streamlabs.url, "reconnect_max_s": 0.5},
        }

    @staticmethod
    def name(source: str, user: str) -> str:
        """How ``user`` is called on ``source`` (nick, display name, uname)."""
        return _NAMES[source](user)

    @staticmethod
    def login(source: str, user: str) -> str:
        """The login the engine compares (lower case), as ``ChatMessage.login`` gives it."""
        return _NAMES[source](user).lower()

    async def say(self, source: str, user: str, text: str) -> None:
        name = self.name(source, user)
        if source == "twitch":
            client = await self._irc_user(name)
            await client.send(f"PRIVMSG {CHANNEL} :{text}")
        elif source == "youtube":
            self.youtube.add(item("textMessageEvent", author(name), messageText=text))
        elif source == "bilibili":
            uid = self._uids.setdefault(name, 2000 + len(self._uids))
            await self.bilibili.send([danmu(text, uid=uid, uname=name)])
        else:
            raise ValueError(f"no chat on {source}")

    async def donate(self, name: str, amount: float, message: str, *, currency: str = "USD") -> None:
        """A StreamLabs donation alert."""
        await self.streamlabs.emit(alert("donation", "streamlabs", _id=f"d{next(self._ids)}",
                                         name=name, amount=amount, currency=currency,
                                         message=message))

    async def _irc_user(self, nick: str) -> IrcClient:
        client = self._irc.get(nick)
        if client is None:
            assert self.ircd is not None
            client = await IrcClient.connect(self.ircd.port, nick)
            await client.send(f"JOIN {CHANNEL}")
            await client.expect(lambda m: m.command == "366")  # end of NAMES: we are in
            self._irc[nick] = client
        return client
