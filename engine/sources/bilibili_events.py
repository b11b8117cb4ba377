"""Bilibili danmu commands (the JSON of op 5 packets) as typed events, and gift-burst merging.

``DANMU_MSG`` becomes a ``ChatMessage``; ``SUPER_CHAT_MESSAGE``, ``GUARD_BUY`` and
``INTERACT_WORD`` (follow) become ``StreamEvent``s; ``SEND_GIFT`` and ``COMBO_SEND`` go to a
``GiftMerger``, which emits one ``gift_item`` per user and gift once the burst is over.
Every other command is ignored. A command whose fields have the wrong shape raises
``BadCommand`` (the source counts it and skips it).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..pipeline.events import ChatMessage, StreamEvent

SOURCE = "bilibili"
CURRENCY = "CNY"
GUARD_NAMES = {1: "总督", 2: "提督", 3: "舰长"}
GOLD_PER_YUAN = 1000
MAX_NUMBER = 10**15
"""Largest magnitude a number field may carry (as ``events.from_dict`` checks)."""
"""Gift prices are in gold seeds (battery): 1000 to the yuan."""


class BadCommand(ValueError):
    """A command with missing or mistyped fields."""


@dataclass(frozen=True)
class Gift:
    """One ``SEND_GIFT`` (``count`` added) or ``COMBO_SEND`` (``combo_total`` so far)."""

    uid: int
    user: str
    gift: str
    count: int
    value_yuan: float = 0.0
    """Value of ``count`` gifts (0 for free, silver-seed gifts)."""
    combo_id: str = ""
    combo_total: int = 0


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadCommand(f"{what} is not a number")
    try:
        number = int(value)
    except ValueError:
        raise BadCommand(f"{what} is not a number") from None
    if not -MAX_NUMBER <= number <= MAX_NUMBER:
        raise BadCommand(f"{what} is out of range")
    return number


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadCommand(f"{what} is not a string")
    return value


def parse(command: Any, *, room_id: int, owner_uid: int = 0) -> ChatMessage | StreamEvent | Gift | None:
    """The event one command stands for, a ``Gift`` to merge, or ``None`` when it is not spoken."""
    if not isinstance(command, dict):
        raise BadCommand("a command must be a JSON object")
    cmd = str(command.get("cmd", "")).split(":", 1)[0]
    try:
        if cmd == "DANMU_MSG":
            return _danmu(command["info"], room_id, owner_uid)
        data = command.get("data")
        if cmd in ("SEND_GIFT", "COMBO_SEND", "SUPER_CHAT_MESSAGE", "GUARD_BUY", "INTERACT_WORD"):
            if not isinstance(data, dict):
                raise BadCommand(f"{cmd}: data is not an object")
            return _PARSERS[cmd](data)
    except (KeyError, IndexError, TypeError) as exc:
        raise BadCommand(f"{cmd}: missing or mistyped field {exc}") from None
    return None


def _danmu(info: Any, room_id: int, owner_uid: int) -> ChatMessage:
    user = info[2]
    uid = _int(user[0], "DANMU_MSG uid")
    name = _str(user[1], "DANMU_MSG uname")
    roles = set()
    if owner_uid and uid == owner_uid:
        roles.add("broadcaster")
    if len(user) > 2 and user[2] == 1:
        roles.add("moderator")
    if len(info) > 7 and isinstance(info[7], int) and info[7] > 0:
        roles.add("subscriber")  # a guard (captain or above) of this room
    meta = info[0]
    emote = isinstance(meta, list) and len(meta) > 12 and meta[12] == 1
    return ChatMessage(source=SOURCE, text=_str(info[1], "DANMU_MSG text"), login=name,
                       display_name=name, user_id=str(uid), channel=str(room_id),
                       roles=frozenset(roles), emote_only=emote)


def _gift(data: dict[str, Any]) -> Gift:
    count = _int(data["num"], "SEND_GIFT num")
    value = 0.0
    if data.get("coin_type") == "gold":
        value = min(MAX_NUMBER, _int(data.get("price", 0), "SEND_GIFT price") * count / GOLD_PER_YUAN)
    return Gift(_int(data["uid"], "SEND_GIFT uid"), _str(data["uname"], "SEND_GIFT uname"),
                _str(data["giftName"], "SEND_GIFT giftName"), count, value,
                str(data.get("batch_combo_id") or ""))


def _combo(data: dict[str, Any]) -> Gift:
    total = _int(data["total_num"], "COMBO_SEND total_num")
    return Gift(_int(data["uid"], "COMBO_SEND uid"), _str(data["uname"], "COMBO_SEND uname"),
                _str(data["gift_name"], "COMBO_SEND gift_name"), 0, 0.0,
                str(data.get("batch_combo_id") or ""), total)


def _superchat(data: dict[str, Any]) -> StreamEvent:
    price = data["price"]
    if isinstance(price, bool) or not isinstance(price, (int, float)) \
            or not 0 <= price <= MAX_NUMBER:  # also refuses NaN and infinities
        raise BadCommand("SUPER_CHAT_MESSAGE price is not a number in range")
    return StreamEvent(source=SOURCE, kind="superchat",
                       user=_str(data["user_info"]["uname"], "SUPER_CHAT_MESSAGE uname"),
                       message=_str(data.get("message", ""), "SUPER_CHAT_MESSAGE message"),
                       amount=float(price), currency=CURRENCY)


def _guard(data: dict[str, Any]) -> StreamEvent:
    level = _int(data["guard_level"], "GUARD_BUY guard_level")
    price = _int(data.get("price", 0), "GUARD_BUY price")
    count = _int(data.get("num", 1), "GUARD_BUY num")
    name = str(data.get("gift_name") or GUARD_NAMES.get(level, "guard"))
    return StreamEvent(source=SOURCE, kind="guard", user=_str(data["username"], "GUARD_BUY username"),
                       message=name, count=count, amount=min(MAX_NUMBER, price * count / GOLD_PER_YUAN),
                       currency=CURRENCY)


def _interact(data: dict[str, Any]) -> StreamEvent | None:
    if _int(data.get("msg_type", 0), "INTERACT_WORD msg_type") != 2:
        return None  # 1 is someone entering the room: not spoken
    return StreamEvent(source=SOURCE, kind="follow", user=_str(data["uname"], "INTERACT_WORD uname"))


_PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "SEND_GIFT": _gift, "COMBO_SEND": _combo, "SUPER_CHAT_MESSAGE": _superchat,
    "GUARD_BUY": _guard, "INTERACT_WORD": _interact}


@dataclass
class _Burst:
    user: str
    gift: str
    count: int = 0
    value_yuan: float = 0.0
    started: float = field(default_factory=time.monotonic)
    combos: dict[str, int] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class GiftMerger:
    """Sums the same gift from one user until ``window_s`` passes without another one (at most
    ``3 * window_s`` from the first), then emits one ``gift_item``. ``COMBO_SEND`` totals never
    count a gift twice. ``window_s = 0`` emits every gift at once."""

    MAX_COMBOS = 512

    def __init__(self, *, window_s: float, emit: Callable[[StreamEvent], None]) -> None:
        self.window_s = window_s
        self._emit = emit
        self._bursts: dict[tuple[int, str], _Burst] = {}
        self._flushed: OrderedDict[str, int] = OrderedDict()
        """Combo id -> gifts already emitted for it, so a late ``COMBO_SEND`` adds only the rest."""

    def add(self, gift: Gift) -> None:
        key = (gift.uid, gift.gift)
        burst = self._bursts.get(key)
        if burst is None:
            burst = self._bursts[key] = _Burst(gift.user, gift.gift)
        burst.count += gift.count
        burst.value_yuan += gift.value_yuan
        if gift.combo_id:
            done = self._flushed.get(gift.combo_id, 0)
            seen = burst.combos.get(gift.combo_id, 0) + gift.count
            if gift.combo_total > done + seen:  # the combo total knows of gifts we missed
                burst.count += gift.combo_total - done - seen
                seen = gift.combo_total - done
            burst.combos[gift.combo_id] = seen
        if self.window_s <= 0:
            self.flush(key)
            return
        if burst.timer is not None:
            burst.timer.cancel()
        left = burst.started + 3 * self.window_s - time.monotonic()
        burst.timer = asyncio.get_running_loop().call_later(
            max(0.0, min(self.window_s, left)), self.flush, key)

    def flush(self, key: tuple[int, str]) -> None:
        burst = self._bursts.pop(key, None)
        if burst is None:
            return
        if burst.timer is not None:
            burst.timer.cancel()
        for combo_id, n in burst.combos.items():
            self._flushed[combo_id] = self._flushed.get(combo_id, 0) + n
            self._flushed.move_to_end(combo_id)
        while len(self._flushed) > self.MAX_COMBOS:
            self._flushed.popitem(last=False)
        if burst.count > 0:
            self._emit(StreamEvent(source=SOURCE, kind="gift_item", user=burst.user,
                                   message=burst.gift, count=min(MAX_NUMBER, burst.count),
                                   amount=round(min(MAX_NUMBER, burst.value_yuan), 3),
                                   currency=CURRENCY if burst.value_yuan else ""))

    def flush_all(self) -> None:
        """Emit every pending burst now (on close)."""
        for key in list(self._bursts):
            self.flush(key)

    @property
    def pending(self) -> int:
        return len(self._bursts)
