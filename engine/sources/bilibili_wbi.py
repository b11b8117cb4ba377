"""Bilibili's "WBI" request signature, which ``getDanmuInfo`` wants (unsigned calls get -352).

The account ``nav`` answer (logged in or not) carries two image addresses in ``wbi_img``; their
file names are the day's keys. The signature is ``md5(sorted query + wts + mixin key)``, where
the mixin key is the two keys' characters reordered by a fixed public table.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse
from typing import Any

MIXIN_KEY_ORDER = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29,
    28, 14, 39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22,
    25, 54, 21, 56, 59, 6, 63, 57, 62, 11, 36, 20, 34, 44, 52)
_DROPPED = str.maketrans("", "", "!'()*")


def keys_from_nav(nav: Any) -> tuple[str, str] | None:
    """(img key, sub key) from a ``nav`` answer, or ``None`` when it has none."""
    data = nav.get("data") if isinstance(nav, dict) else None
    img = data.get("wbi_img") if isinstance(data, dict) else None
    if not isinstance(img, dict):
        return None
    keys = [str(img.get(k) or "").rsplit("/", 1)[-1].split(".", 1)[0] for k in ("img_url", "sub_url")]
    return (keys[0], keys[1]) if all(keys) else None


def mixin_key(img_key: str, sub_key: str) -> str:
    orig = img_key + sub_key
    return "".join(orig[i] for i in MIXIN_KEY_ORDER if i < len(orig))[:32]


def sign(params: dict[str, Any], keys: tuple[str, str], *, wts: int | None = None) -> str:
    """The signed query string: ``params`` plus ``wts``, sorted, then ``&w_rid=...``."""
    values = {k: str(v).translate(_DROPPED) for k, v in params.items()}
    values["wts"] = str(int(time.time()) if wts is None else wts)
    query = urllib.parse.urlencode(sorted(values.items()), quote_via=urllib.parse.quote)
    digest = hashlib.md5((query + mixin_key(*keys)).encode(), usedforsecurity=False).hexdigest()
    return f"{query}&w_rid={digest}"
