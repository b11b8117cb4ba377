"""SpeechQueue: priority order, dedupe, deadlines, full queue, removal, pause, drop accounting."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pipeline.pipeline import Drop
from engine.speech.queue import RECENT_DROPS, SpeechQueue
from engine.speech.utterance import Utterance

NOW = 1_700_000_000.0
_n = 0


def utt(text: str, priority: str = "chat", *, uid: str | None = None, login: str = "",
        voice: str | None = None, created: float = NOW, deadline: float | None = None) -> Utterance:
    global _n
    _n += 1
    return Utterance(id=uid or f"u{_n}", text=text, parts=[text], priority=priority,
                     source="twitch" if priority == "chat" else "hotkey", user=login.title(),
                     login=login, voice=voice, created=created, deadline=deadline)


def queue(max_items: int = 100, window: float = 30.0) -> SpeechQueue:
    return SpeechQueue(max_items=max_items, dedupe_window_s=window)


def texts(q: SpeechQueue) -> list[str]:
    return [u.text for u in q.items()]


def test_priority_order_and_fifo_within_a_class() -> None:
    q = queue()
    for text, prio in [("c1", "chat"), ("e1", "event"), ("a1", "announcement"), ("c2", "chat"),
                       ("a2", "announcement"), ("e2", "event")]:
        assert q.put(utt(text, prio), NOW) is None
    assert texts(q) == ["a1", "a2", "e1", "e2", "c1", "c2"]
    assert len(q) == 6
    assert [q.pop(NOW).text for _ in range(6)] == ["a1", "a2", "e1", "e2", "c1", "c2"]  # type: ignore[union-attr]
    assert q.pop(NOW) is None and len(q) == 0


def test_duplicate_text_and_voice_within_the_window() -> None:
    q = queue(window=30)
    assert q.put(utt("Hello  World"), NOW) is None
    drop = q.put(utt("hello world"), NOW + 12)
    assert isinstance(drop, Drop) and drop.kind == "duplicate"
    assert drop.reason == "duplicate of a line queued 12 s ago"
    assert q.put(utt("hello world", voice="other"), NOW + 12) is None  # another voice
    assert q.put(utt("hello world", "announcement"), NOW + 12) is None  # another priority
    assert [q.pop(NOW + 13).text for _ in range(2)] == ["hello world", "Hello  World"]  # type: ignore[union-attr]
    assert q.put(utt("hello world"), NOW + 20) is not None  # recently put, though played
    assert q.put(utt("hello world"), NOW + 31) is None  # window over
    assert q.drops["duplicate"] == 2


def test_duplicate_of_a_line_still_queued_past_the_window() -> None:
    q = queue(window=5)
    q.pause()
    q.put(utt("same"), NOW)
    drop = q.put(utt("same"), NOW + 20)
    assert drop is not None and drop.reason == "duplicate of a line queued 20 s ago"


def test_duplicate_id_and_events_deduped_by_id_only() -> None:
    q = queue()
    q.put(utt("Dana donated $5.00", "event", uid="d1"), NOW)
    assert q.put(utt("Dana donated $5.00", "event", uid="d2"), NOW) is None  # two donations
    drop = q.put(utt("anything", "event", uid="d1"), NOW)
    assert drop is not None and drop.kind == "duplicate"
    assert len(q) == 2


def test_the_same_utterance_put_back_is_not_a_duplicate() -> None:
    q = queue()
    u = utt("Welcome back", "announcement")
    q.put(u, NOW)
    assert q.pop(NOW) is u
    assert q.put(u, NOW + 1) is None
    assert q.items() == [u]


def test_requeue_goes_to_the_front_of_its_class() -> None:
    q = queue(max_items=2)
    a, b = utt("a", "announcement"), utt("b", "announcement")
    q.put(a, NOW)
    q.put(b, NOW)
    popped = q.pop(NOW)
    assert popped is a
    q.put(utt("c"), NOW)
    q.requeue(a)
    q.requeue(a)  # once only
    assert texts(q) == ["a", "b", "c"]


def test_full_queue_drops_the_oldest_chat() -> None:
    q = queue(max_items=3)
    for t in ("c1", "c2", "c3"):
        q.put(utt(t), NOW)
    assert q.put(utt("c4"), NOW) is None
    assert texts(q) == ["c2", "c3", "c4"]
    assert q.put(utt("e1", "event"), NOW) is None
    assert texts(q) == ["e1", "c3", "c4"]
    assert q.drops["queue_full"] == 2
    assert [d.text for d in q.recent_drops] == ["c1", "c2"]
    assert all(d.reason == "queue full (3 waiting)" for d in q.recent_drops)


def test_announcements_and_events_are_never_dropped_for_a_full_queue() -> None:
    q = queue(max_items=2)
    q.put(utt("a1", "announcement"), NOW)
    q.put(utt("e1", "event"), NOW)
    assert q.put(utt("a2", "announcement"), NOW) is None  # over max_items, still accepted
    drop = q.put(utt("c1"), NOW)
    assert drop is not None and drop.kind == "queue_full" and "none of them chat" in drop.reason
    assert texts(q) == ["a1", "a2", "e1"]


def test_stale_utterances_expire_on_pop() -> None:
    q = queue()
    q.put(utt("old chat", created=NOW, deadline=NOW + 30), NOW)
    q.put(utt("old event", "event", created=NOW, deadline=NOW + 600), NOW)
    q.put(utt("fresh chat", created=NOW + 20, deadline=NOW + 50), NOW + 20)
    q.put(utt("forever", "announcement", deadline=None), NOW)
    assert q.pop(NOW + 45).text == "forever"  # type: ignore[union-attr]
    stale = q.recent_drops[-1]
    assert (stale.text, stale.kind) == ("old chat", "stale")
    assert stale.reason == "stale: waited 45 s, past its deadline of 30 s"
    assert texts(q) == ["old event", "fresh chat"]
    assert q.expire(NOW + 1000) and q.drops["stale"] == 3 and len(q) == 0


def test_pause_and_resume() -> None:
    q = queue()
    q.put(utt("one"), NOW)
    q.pause()
    assert q.paused and q.pop(NOW) is None and len(q) == 1
    q.resume()
    assert not q.paused and q.pop(NOW).text == "one"  # type: ignore[union-attr]


def test_paused_queue_still_expires() -> None:
    q = queue()
    q.pause()
    q.put(utt("late", deadline=NOW + 1), NOW)
    assert q.pop(NOW + 5) is None and len(q) == 0 and q.drops["stale"] == 1


def test_remove_remove_user_and_clear() -> None:
    q = queue()
    target = utt("bye", login="eve")
    q.put(target, NOW)
    q.put(utt("eve again", login="eve"), NOW)
    q.put(utt("other", login="bob"), NOW)
    q.put(utt("announce", "announcement"), NOW)
    assert q.remove(target.id, "removed by a moderator") is target
    assert q.remove(target.id, "again") is None
    gone = q.remove_user("@EVE", "user muted")
    assert [u.text for u in gone] == ["eve again"]
    assert texts(q) == ["announce", "other"]
    cleared = q.clear("cleared by hotkey")
    assert [u.text for u in cleared] == ["announce", "other"] and len(q) == 0
    assert dict(q.drops) == {"removed": 1, "muted": 1, "cleared": 2}
    assert [d.reason for d in q.recent_drops] == ["removed by a moderator", "user muted",
                                                  "cleared by hotkey", "cleared by hotkey"]


def test_every_drop_is_logged_once_counted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Drop] = []
    q = SpeechQueue(max_items=1, dedupe_window_s=30, on_drop=seen.append)
    caplog.set_level(logging.INFO, logger="engine.speech.queue")
    u = utt("hi", login="zed", uid="abc")
    q.put(u, NOW)
    q.put(utt("hi", login="zed"), NOW + 3)
    q.put(utt("next"), NOW)
    q.clear("clear")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 == len(seen) == sum(q.drops.values())
    assert messages[0].startswith("Dropped chat u")
    assert messages[0].endswith(" from Zed: duplicate of a line queued 3 s ago")
    assert messages[1] == "Dropped chat abc from Zed: queue full (1 waiting)"
    assert messages[2].endswith(": clear") and [d.kind for d in seen] == [
        "duplicate", "queue_full", "cleared"]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_recent_drops_is_bounded() -> None:
    q = queue(max_items=1000)
    q.pause()
    for i in range(RECENT_DROPS + 20):
        q.put(utt(f"line {i}"), NOW)
    q.clear("test")
    assert len(q.recent_drops) == RECENT_DROPS and q.drops["cleared"] == RECENT_DROPS + 20
    assert q.recent_drops[-1].text == f"line {RECENT_DROPS + 19}"


def test_utterance_round_trip_and_rank() -> None:
    u = utt("x", "event", deadline=NOW + 1)
    assert Utterance.from_dict(u.to_dict()) == u
    assert [utt("a", p).rank for p in ("announcement", "event", "chat")] == [0, 1, 2]
    assert utt("a", "announcement").journaled and not utt("a").journaled


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SpeechQueue(max_items=0, dedupe_window_s=1)


_OPS = st.lists(st.tuples(
    st.sampled_from(["put", "put", "put", "pop", "remove", "remove_user", "clear", "requeue"]),
    st.sampled_from(["announcement", "event", "chat", "chat"]),
    st.integers(min_value=0, max_value=5),  # id / text / login choice
    st.integers(min_value=0, max_value=60),  # seconds later
), max_size=60)


@settings(max_examples=200, deadline=None, database=None)
@given(ops=_OPS)
def test_random_operations_keep_the_queue_consistent(ops: list[tuple[str, str, int, int]]) -> None:
    q = SpeechQueue(max_items=4, dedupe_window_s=10)
    now, accepted, requeued = NOW, 0, False
    popped: list[Utterance] = []
    for op, priority, n, later in ops:
        now += later
        if op == "put":
            u = Utterance(id=f"id{n}-{priority}", text=f"text {n % 3}", parts=["x"], priority=priority,
                          source="s", login=f"user{n % 2}", created=now, deadline=now + 30)
            accepted += q.put(u, now) is None
        elif op == "pop":
            got = q.pop(now)
            if got is not None:
                popped.append(got)
        elif op == "remove":
            q.remove(f"id{n}-{priority}", "removed")
        elif op == "remove_user":
            q.remove_user(f"user{n % 2}", "muted")
        elif op == "clear":
            q.clear("cleared")
        elif popped:
            back = popped.pop()
            if any(u.id == back.id for u in q.items()):
                accepted -= 1  # its id was put again meanwhile: requeue() leaves it out
            q.requeue(back)
            requeued = True
        items = q.items()
        assert len(items) == len(q)
        assert [u.rank for u in items] == sorted(u.rank for u in items)
        assert len({u.id for u in items}) == len(items)
        if not requeued:  # requeue() puts back regardless of dedupe and size, by design
            texts_waiting = [(u.priority, u.text, u.voice) for u in items if u.priority != "event"]
            assert len(set(texts_waiting)) == len(texts_waiting)
            assert len(items) <= 4 or all(u.priority != "chat" for u in items)
        removed = sum(n for kind, n in q.drops.items() if kind not in ("duplicate",))
        refused_chat = sum(1 for d in q.recent_drops if d.kind == "queue_full"
                           and "none of them chat" in d.reason)
        assert accepted == len(popped) + len(items) + removed - refused_chat
