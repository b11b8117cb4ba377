"""YouTube ``liveChatMessage`` resources (Data API v3) as typed events.

``textMessageEvent`` becomes a ``ChatMessage``; Super Chats, Super Stickers, new members,
membership milestones and gifted memberships become ``StreamEvent``s. Deletions, bans, polls and
the other kinds are not spoken (``None``). ``chatEndedEvent`` is reported by ``is_chat_end``.
An item of the wrong shape raises ``BadItem``.
"""

from __future__ import annotations

from typing import Any

from ..pipeline.events import ChatMessage, StreamEvent, new_id

SOURCE = "youtube"
MICROS = 1_000_000
MAX_NUMBER = 1e15
"""Largest magnitude an event's number field may carry (as ``events.from_dict`` checks)."""


class BadItem(ValueError):
    """A message resource with missing or mistyped fields."""


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadItem(f"{what} is not an object")
    return value


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadItem(f"{what} is not a string")
    return value


def _num(value: Any, what: str) -> float:
    """A finite number within the events' range; ``amountMicros`` comes as a string (uint64)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadItem(f"{what} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not -MAX_NUMBER <= value <= MAX_NUMBER:  # also refuses NaN and infinities
        raise BadItem(f"{what} is not a number in range")
    return float(value)


def roles(author: dict[str, Any]) -> frozenset[str]:
    found = set()
    if author.get("isChatOwner"):
        found.add("broadcaster")
    if author.get("isChatModerator"):
        found.add("moderator")
    if author.get("isChatSponsor"):
        found.add("subscriber")
    return frozenset(found)


def is_chat_end(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("snippet"), dict) \
        and item["snippet"].get("type") == "chatEndedEvent"


def to_event(item: Any, *, chat_id: str) -> ChatMessage | StreamEvent | None:
    """The event one ``liveChatMessage`` stands for, or ``None`` when it is not spoken."""
    item = _dict(item, "item")
    snippet = _dict(item.get("snippet"), "snippet")
    author = _dict(item.get("authorDetails"), "authorDetails")
    kind = snippet.get("type")
    name = _str(author.get("displayName", ""), "authorDetails.displayName")
    item_id = _str(item.get("id", ""), "id") or new_id()
    if kind == "textMessageEvent":
        details = _dict(snippet.get("textMessageDetails"), "textMessageDetails")
        return ChatMessage(source=SOURCE, text=_str(details.get("messageText"), "messageText"),
                           login=name, display_name=name,
                           user_id=_str(author.get("channelId", ""), "authorDetails.channelId"),
                           channel=chat_id, roles=roles(author), id=item_id)
    if kind == "superChatEvent":
        details = _dict(snippet.get("superChatDetails"), "superChatDetails")
        return StreamEvent(source=SOURCE, kind="superchat", user=name,
                           message=_str(details.get("userComment", ""), "userComment"),
                           amount=_num(details.get("amountMicros", 0), "amountMicros") / MICROS,
                           currency=_str(details.get("currency", ""), "currency"), id=item_id)
    if kind == "superStickerEvent":
        details = _dict(snippet.get("superStickerDetails"), "superStickerDetails")
        meta = _dict(details.get("superStickerMetadata", {}), "superStickerMetadata")
        return StreamEvent(source=SOURCE, kind="supersticker", user=name,
                           message=_str(meta.get("altText", ""), "altText"),
                           amount=_num(details.get("amountMicros", 0), "amountMicros") / MICROS,
                           currency=_str(details.get("currency", ""), "currency"), id=item_id)
    if kind == "newSponsorEvent":
        details = _dict(snippet.get("newSponsorDetails", {}), "newSponsorDetails")
        return StreamEvent(source=SOURCE, kind="member", user=name,
                           message=_str(details.get("memberLevelName", ""), "memberLevelName"), id=item_id)
    if kind == "memberMilestoneChatEvent":
        details = _dict(snippet.get("memberMilestoneChatDetails"), "memberMilestoneChatDetails")
        return StreamEvent(source=SOURCE, kind="member", user=name,
                           message=_str(details.get("userComment", ""), "userComment"),
                           count=int(_num(details.get("memberMonth", 0), "memberMonth")), id=item_id)
    if kind == "membershipGiftingEvent":
        details = _dict(snippet.get("membershipGiftingDetails"), "membershipGiftingDetails")
        return StreamEvent(source=SOURCE, kind="gift", user=name,
                           message=_str(details.get("giftMembershipsLevelName", ""), "levelName"),
                           count=int(_num(details.get("giftMembershipsCount", 0), "count")), id=item_id)
    if not isinstance(kind, str):
        raise BadItem("snippet.type is not a string")
    return None
