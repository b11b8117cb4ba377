"""The part queue against a scripted Media Source: parts play one at a time in the engine's order,
each once its WAV is here; started/ended/failed come out for the engine; cancel, a republished
part, a failed download, a Media Source that never starts; temp files always go."""

from __future__ import annotations

from pathlib import Path

from messages import PlayPart
from playback import ENDED, ERROR, OPENING, PAUSED, PLAYING, STOPPED, PartQueue


class ScriptedPlayer:
    """Records what it was asked to play; a test moves its state like OBS would."""

    def __init__(self) -> None:
        self.played: list[str] = []
        self.media_state = 0
        self.ended = 0
        self.stops = 0
        self.paused: list[bool] = []
        self.accept = True

    def play(self, path: str) -> bool:
        if self.accept:
            self.played.append(path)
            self.media_state = PLAYING
        return self.accept

    def state(self) -> int:
        return self.media_state

    def stop(self) -> None:
        self.stops += 1
        self.media_state = STOPPED

    def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)
        self.media_state = PAUSED if paused else PLAYING

    def ended_count(self) -> int:
        return self.ended

    def finish(self) -> None:
        self.media_state = ENDED
        self.ended += 1


def part(utterance: str, index: int = 0, parts: int = 1, job: str = "") -> PlayPart:
    return PlayPart(utterance, index, parts, job or f"{utterance}{index}", f"/v1/jobs/{utterance}{index}.wav")


def wav(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.wav"
    path.write_bytes(b"RIFF")
    return str(path)


def states(outcomes: list) -> list[tuple[str, int, str]]:  # type: ignore[type-arg]
    return [(o.part.utterance, o.part.part, o.state) for o in outcomes]


def test_parts_play_in_order_each_once_its_file_is_here(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player)
    a0, a1, b0 = part("a", 0, 2), part("a", 1, 2), part("b")
    for p in (a0, a1, b0):
        assert q.add(p) == []
    q.fetched(a1.key, a1.job, wav(tmp_path, "a1"))  # the second part is here first: it waits
    assert q.tick(0.0) == [] and player.played == []
    q.fetched(a0.key, a0.job, wav(tmp_path, "a0"))
    assert q.tick(0.1) == []  # started this tick; PLAYING is seen on the next
    assert states(q.tick(0.2)) == [("a", 0, "started")]
    q.fetched(b0.key, b0.job, wav(tmp_path, "b0"))
    assert q.tick(0.3) == [] and len(player.played) == 1  # nothing overlaps
    player.finish()
    assert states(q.tick(0.4)) == [("a", 0, "ended")]
    assert not Path(player.played[0]).exists()  # its file went with it
    assert states(q.tick(0.5)) == [("a", 1, "started")]
    player.finish()
    assert states(q.tick(0.6)) == [("a", 1, "ended")]  # and b starts
    player.finish()  # b ended between two ticks: it is reported started, then ended
    assert states(q.tick(0.7)) == [("b", 0, "started"), ("b", 0, "ended")]
    assert q.counters.played == 3 and len(player.played) == 3


def test_a_failed_download_is_reported_and_never_played(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player)
    a0, a1 = part("a", 0, 2), part("a", 1, 2)
    q.add(a0)
    q.add(a1)
    out = q.fetch_failed(a0.key, a0.job, "the engine cut it off")
    assert states(out) == [("a", 0, "failed")] and "cut it off" in out[0].reason
    q.fetched(a1.key, a1.job, wav(tmp_path, "a1"))
    q.tick(0.0)
    assert player.played == [str(tmp_path / "a1.wav")] and q.counters.failed == 1


def test_cancel_drops_waiting_parts_and_stops_the_playing_one(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player)
    for i in range(3):
        q.add(part("a", i, 3))
    q.add(part("b"))
    q.fetched(("a", 0), "a0", wav(tmp_path, "a0"))
    late = wav(tmp_path, "a2")
    q.tick(0.0)
    assert q.cancel("a") == 3 and player.stops == 1 and q.current is None
    q.fetched(("a", 2), "a2", late)  # its download finished after the cancel: deleted
    assert not Path(late).exists() and [p.part.utterance for p in q.waiting] == ["b"]


def test_a_part_published_again_replaces_the_waiting_one_or_is_not_played_twice(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player)
    q.add(part("a", 0, 2, job="old"))
    old = wav(tmp_path, "old")
    q.fetched(("a", 0), "old", old)
    q.add(part("a", 0, 2, job="new"))  # the engine restarted and published it again
    assert not Path(old).exists() and q.waiting[0].part.job == "new"
    q.fetched(("a", 0), "new", wav(tmp_path, "new"))
    q.tick(0.0)
    q.tick(0.1)
    player.finish()
    q.tick(0.2)
    assert states(q.add(part("a", 0, 2, job="again"))) == [("a", 0, "ended")]  # played already
    assert len(q.waiting) == 0


def test_pause_holds_the_next_part(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player)
    q.add(part("a"))
    q.add(part("b"))
    q.fetched(("a", 0), "a0", wav(tmp_path, "a"))
    q.fetched(("b", 0), "b0", wav(tmp_path, "b"))
    q.tick(0.0)
    q.set_paused(True)
    assert player.paused == [True]
    player.finish()
    q.tick(0.1)
    q.tick(0.2)
    assert len(player.played) == 1  # nothing new while paused
    q.set_paused(False)
    q.tick(0.3)
    assert len(player.played) == 2


def test_a_media_error_or_a_source_that_never_starts_is_a_failure(tmp_path: Path) -> None:
    player = ScriptedPlayer()
    q = PartQueue(player, open_timeout_s=2.0)
    q.add(part("broken"))
    q.fetched(("broken", 0), "broken0", wav(tmp_path, "broken"))
    q.tick(0.0)
    player.media_state = ERROR
    out = q.tick(3.0)
    assert states(out) == [("broken", 0, "failed")]
    q.add(part("never"))
    q.fetched(("never", 0), "never0", wav(tmp_path, "never"))
    player.accept = True
    q.tick(4.0)
    player.media_state = OPENING
    q.tick(4.1)
    player.media_state = 0  # back to NONE after opening: it did start (seen active) -> ended
    assert [o.state for o in q.tick(4.2)] == ["started", "ended"]
    player.accept = False
    q.add(part("nowhere"))
    q.fetched(("nowhere", 0), "nowhere0", wav(tmp_path, "nowhere"))
    out = q.tick(5.0)
    assert states(out) == [("nowhere", 0, "failed")] and "no Media Source" in out[0].reason
    assert q.counters.failed == 2


def test_clear_deletes_every_file(tmp_path: Path) -> None:
    q = PartQueue(ScriptedPlayer())
    files = [wav(tmp_path, n) for n in ("a", "b")]
    q.add(part("a"))
    q.add(part("b"))
    q.fetched(("a", 0), "a0", files[0])
    q.fetched(("b", 0), "b0", files[1])
    q.tick(0.0)
    q.clear()
    assert not any(Path(f).exists() for f in files) and q.current is None
