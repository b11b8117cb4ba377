"""The playback queue against a scripted Media Source: one message at a time, priorities,
sentence parts, skip/clear/pause, the length limit, late chat, failures and temp files."""

from __future__ import annotations

from pathlib import Path

from playback import ENDED, ERROR, OPENING, PAUSED, PLAYING, Message, PlaybackQueue, split_sentences


class ScriptedPlayer:
    """Records what it was asked to play; a test moves its state like OBS would."""

    def __init__(self) -> None:
        self.played: list[Message] = []
        self.media_state = 0
        self.ended = 0
        self.stops = 0
        self.paused: list[bool] = []
        self.accept = True

    def play(self, message: Message) -> bool:
        if self.accept:
            self.played.append(message)
            self.media_state = PLAYING
        return self.accept

    def state(self) -> int:
        return self.media_state

    def stop(self) -> None:
        self.stops += 1
        self.media_state = 5

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)
        self.media_state = PAUSED if paused else PLAYING

    def ended_count(self) -> int:
        return self.ended

    def finish(self) -> None:
        self.media_state = ENDED
        self.ended += 1


def ready(text: str, priority: str = "chat", **kw: object) -> Message:
    msg = Message(text, priority=priority, **kw)  # type: ignore[arg-type]
    msg.state = "ready"
    return msg


def make(**kw: object) -> tuple[PlaybackQueue, ScriptedPlayer, list[tuple[str, int, str]]]:
    player = ScriptedPlayer()
    events: list[tuple[str, int, str]] = []
    q = PlaybackQueue(player, on_event=lambda kind, m, d: events.append((kind, m.id, d)), **kw)  # type: ignore[arg-type]
    return q, player, events


def test_messages_play_one_at_a_time_in_order() -> None:
    q, player, _ = make()
    a, b = ready("a"), ready("b")
    q.enqueue(a)
    q.enqueue(b)
    for t in range(5):
        q.tick(float(t))
    assert player.played == [a]  # b waits while a plays
    player.finish()
    q.tick(6.0)
    assert player.played == [a, b]
    assert q.counters.played == 1


def test_announcements_go_before_waiting_chat_but_never_interrupt() -> None:
    q, player, _ = make()
    c1, c2, ann = ready("c1"), ready("c2"), ready("ann", "announcement")
    q.enqueue(c1)
    q.tick(0.0)
    q.enqueue(c2)
    q.enqueue(ann)
    assert [m.text for m in q.items] == ["ann", "c2"]
    player.finish()
    q.tick(1.0)
    assert player.played[-1] is ann


def test_a_message_waits_until_its_audio_is_ready() -> None:
    q, player, _ = make()
    msg = Message("later")
    q.enqueue(msg)
    assert q.to_submit(0.0) == [msg] and msg.state == "submitting"
    assert q.to_submit(0.0) == []  # not twice
    q.tick(0.1)
    assert player.played == []
    q.submitted(msg.id, job_id="j", wav_url="/v1/jobs/j.wav", local_path="")
    q.tick(0.2)
    assert player.played == [msg]


def test_submit_failure_retries_later_or_gives_up() -> None:
    q, _, events = make()
    msg = Message("x", priority="announcement")
    q.enqueue(msg)
    q.to_submit(0.0)
    q.submit_failed(msg.id, "down", retry_in=2.0, now=0.0)
    assert q.to_submit(1.0) == [] and q.to_submit(2.5) == [msg]
    q.submit_failed(msg.id, "unknown voice", retry_in=None, now=3.0)
    assert not q.items and q.counters.failed == 1 and events[-1][0] == "failed"


def test_late_chat_is_dropped_and_counted_but_announcements_wait() -> None:
    q, _, events = make(chat_deadline_s=5.0)
    chat, ann = Message("chat", created=0.0), Message("ann", priority="announcement", created=0.0)
    q.enqueue(chat)
    q.enqueue(ann)
    q.tick(4.0)
    assert len(q) == 2
    q.tick(6.0)
    assert [m.text for m in q.items] == ["ann"]
    assert q.counters.dropped_late == 1 and ("dropped", chat.id, "older than 5 s") in events


def test_full_queue_refuses_chat_and_makes_room_for_announcements() -> None:
    q, _, _ = make(max_queue=2)
    assert q.enqueue(Message("c1")) and q.enqueue(Message("c2"))
    assert not q.enqueue(Message("c3"))
    assert q.enqueue(Message("ann", priority="announcement"))
    assert [m.text for m in q.items] == ["ann", "c1"] and q.counters.dropped_full == 2


def test_skip_clear_and_pause() -> None:
    q, player, events = make()
    for text in ("a", "b", "c"):
        q.enqueue(ready(text))
    q.tick(0.0)
    assert q.skip() and player.stops == 1
    q.tick(0.1)
    assert player.played[-1].text == "b"
    q.set_paused(True)
    player.finish()
    q.tick(0.2)
    assert player.paused == [True] and player.played[-1].text == "b"  # nothing new while paused
    q.set_paused(False)
    q.tick(0.3)
    assert player.played[-1].text == "c"
    q.enqueue(ready("d"))
    assert q.clear() == 1 and not q.items and q.current is None
    assert [e[0] for e in events].count("skipped") == 2


def test_the_length_limit_cuts_a_long_message() -> None:
    q, player, events = make(max_playback_s=2.0)
    q.enqueue(ready("long"))
    for t in range(0, 40):
        q.tick(t * 0.1)
    assert q.counters.cut == 1 and player.stops == 1 and events[-1][0] == "cut"


def test_a_media_error_or_a_source_that_never_starts_is_a_failure() -> None:
    q, player, events = make()
    q.enqueue(ready("broken"))
    q.tick(0.0)
    player.media_state = ERROR
    q.tick(3.0)
    assert q.current is None and q.counters.failed == 1
    q.enqueue(ready("never"))
    q.tick(4.0)
    player.media_state = OPENING
    q.tick(5.0)
    player.media_state = 0  # back to NONE after opening: it did start (seen active) -> ended
    q.tick(5.1)
    assert q.current is None
    player.accept = False
    q.enqueue(ready("nowhere"))
    q.tick(6.0)
    assert events[-1][0::2] == ("failed", "no Media Source to play into") and q.counters.failed == 2


def test_sentence_parts_stay_together_and_are_skipped_together() -> None:
    q, _player, _ = make()
    parts = [ready(f"p{i}", group=0, part=i, parts=3) for i in range(3)]
    for p in parts[1:]:
        p.group = parts[0].group
    assert q.enqueue_parts(parts)
    q.tick(0.0)
    q.enqueue(ready("ann", "announcement"))
    assert [m.text for m in q.items] == ["p1", "p2", "ann"]  # never between parts of the playing text
    q.skip()
    assert [m.text for m in q.items] == ["ann"]


def test_split_sentences_joins_short_ones() -> None:
    assert split_sentences("Hi. I am here now and talking to all of you. Bye!") == [
        "Hi. I am here now and talking to all of you.",
        "Bye!",
    ]
    assert split_sentences("Hi. Short. Bye!") == ["Hi. Short. Bye!"]
    assert split_sentences("One sentence only") == ["One sentence only"]
    text = "This sentence is long enough to stand alone. " * 5
    assert len(split_sentences(text)) == 5


def test_temp_files_are_removed_whatever_the_end(tmp_path: Path) -> None:
    q, player, _ = make(chat_deadline_s=1.0)
    files = []
    for name in ("played", "skipped", "late"):
        path = tmp_path / f"{name}.wav"
        path.write_bytes(b"RIFF")
        files.append(path)
    played = ready("a", local_path=str(files[0]))
    skipped = ready("b", local_path=str(files[1]))
    late = Message("c", local_path=str(files[2]), created=0.0)
    q.enqueue(played)
    q.tick(0.0)
    assert files[0].exists()  # still playing
    player.finish()
    q.tick(0.1)
    assert not files[0].exists()
    q.enqueue(skipped)
    q.tick(0.2)
    q.skip()
    q.enqueue(late)
    q.tick(2.0)
    assert not any(f.exists() for f in files)
    orphan = tmp_path / "orphan.wav"  # its message was cleared while it downloaded
    orphan.write_bytes(b"RIFF")
    q.submitted(999, job_id="x", wav_url="", local_path=str(orphan))
    assert not orphan.exists()
