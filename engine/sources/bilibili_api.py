"""The Bilibili HTTP calls made before each danmu connection: ``room_init`` (short id -> real
room id and owner), ``nav`` (the WBI signing keys, and the uid when a login cookie is set) and
the WBI-signed ``getDanmuInfo`` (token and host list). The login cookies go in the Cookie header
of these calls only; they are never part of a URL, a message or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..secrets import Secrets
from .bilibili_wbi import keys_from_nav, sign

_LOGGER = logging.getLogger(__name__)

ROOM_INIT = "/room/v1/Room/room_init"
DANMU_INFO = "/xlive/web-room/v1/index/getDanmuInfo"
NAV = "/x/web-interface/nav"


class End(Exception):
    """Ends one connection attempt: why, and the state to show until the retry."""

    def __init__(self, reason: str, *, state: str = "reconnecting") -> None:
        super().__init__(reason)
        self.reason, self.state = reason, state


@dataclass(frozen=True)
class Room:
    """What one connection needs: the real room id, its owner, the token and the danmu hosts."""

    room_id: int
    owner_uid: int
    token: str
    """``""`` when connecting to the fallback host without one."""
    hosts: tuple[str, ...]
    """``ws://`` or ``wss://`` addresses, in the order the API gave them."""
    uid: int = 0
    """The logged-in account's uid (0: anonymous)."""


def cookie_header(secrets: Secrets) -> dict[str, str]:
    parts = [f"{name}={value}" for name, value in
             (("SESSDATA", secrets.get("bilibili_sessdata")),
              ("buvid3", secrets.get("bilibili_buvid3"))) if value]
    return {"Cookie": "; ".join(parts)} if parts else {}


async def get_json(http: aiohttp.ClientSession, url: str, what: str, secrets: Secrets) -> dict[str, Any]:
    """One API call's JSON object; anything else ends the attempt with a reason."""
    async with http.get(url, headers=cookie_header(secrets)) as response:
        if response.status != 200:
            raise End(f"{what} answered HTTP {response.status}")
        try:
            doc = await response.json(content_type=None)
        except ValueError:
            raise End(f"{what} answered something that is not JSON") from None
    if not isinstance(doc, dict):
        raise End(f"{what} answered something that is not a JSON object")
    return doc


async def resolve_room(http: aiohttp.ClientSession, secrets: Secrets, *, room_id: int, api_base: str,
                       account_api_base: str, tls: bool, fallback_url: str) -> Room:
    """The ``Room`` to connect to, or ``End`` saying why not (``offline``: no such room;
    ``auth_failed``: the login cookie was refused)."""
    doc = await get_json(http, f"{api_base}{ROOM_INIT}?id={room_id}", "room_init", secrets)
    data = doc.get("data")
    if doc.get("code") != 0 or not isinstance(data, dict) or not data.get("room_id"):
        raise End(f"room {room_id} not found: {str(doc.get('message') or doc.get('msg'))[:100]}",
                  state="offline")
    real_id, owner = int(data["room_id"]), int(data.get("uid") or 0)
    nav = await get_json(http, f"{account_api_base}{NAV}", "nav", secrets)
    account, uid = nav.get("data"), 0
    if secrets.get("bilibili_sessdata"):
        if not isinstance(account, dict) or not account.get("isLogin"):
            raise End("the bilibili_sessdata cookie was refused (logged out?)", state="auth_failed")
        uid = int(account.get("mid") or 0)
    keys = keys_from_nav(nav)
    query = sign({"id": real_id, "type": 0}, keys) if keys else f"id={real_id}&type=0"
    doc = await get_json(http, f"{api_base}{DANMU_INFO}?{query}", "getDanmuInfo", secrets)
    info = doc.get("data")
    if doc.get("code") != 0 or not isinstance(info, dict):
        why = f"getDanmuInfo refused: code {doc.get('code')} {str(doc.get('message'))[:100]}"
        if not fallback_url:
            raise End(why)
        _LOGGER.warning("bilibili: %s; connecting to %s without a token", why, fallback_url)
        return Room(real_id, owner, "", (fallback_url,), uid)
    scheme, port_key = ("wss", "wss_port") if tls else ("ws", "ws_port")
    hosts = tuple(f"{scheme}://{h['host']}:{h[port_key]}/sub" for h in info.get("host_list") or []
                  if isinstance(h, dict) and h.get("host") and h.get(port_key))
    if not hosts:
        raise End("getDanmuInfo gave no hosts")
    return Room(real_id, owner, str(info.get("token") or ""), hosts, uid)
