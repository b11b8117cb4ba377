"""The plugin in the fake OBS against the contract engine on loopback: published parts are
downloaded at once (the next while the current plays), played in order and reported; a WAV cut
off mid-way is a reported failure, never played; ``cancel`` stops an utterance; the outbox keeps
events while the engine is down and resends them in order with their ids; a lasting 403 on the
subscription shows in the status line and in one log line."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from conftest import free_port, load, tick_until
from contract_engine import ContractEngine, Wav, wav_bytes
from messages import Announcement
from sender import Sender


def media(obs: Any) -> Any:
    return obs.WORLD.sources["TTS Audio"]


def warnings(obs: Any) -> list[str]:
    return [text for level, text in obs.LOG if level == obs.LOG_WARNING]


def subscribed(obs: Any, engine: ContractEngine) -> Any:
    ctl = load(obs, engine.address)
    tick_until(obs, lambda: engine.subscribers() == 1 and ctl.subscription == "open", what="subscription")
    return ctl


def test_published_parts_play_in_order_and_are_reported(obs: Any, engine: ContractEngine) -> None:
    """Also: the Media Source is driven only from OBS's graphics thread (the timer)."""
    ctl = subscribed(obs, engine)
    engine.play("u1", 0, 2, text="First part.")
    engine.play("u1", 1, 2, wav=Wav(wav_bytes(streamed=True), delay_s=0.3), text="Second part.")
    src = media(obs)
    tick_until(obs, lambda: bool(src.settings.get("local_file")), what="the first part playing")
    first = src.settings["local_file"]
    tick_until(obs, lambda: ("u1", 0, "started") in engine.reports(), what="started reported")
    # the second part downloads while the first plays; it does not start before the first ends
    tick_until(obs, lambda: ctl.parts.waiting and ctl.parts.waiting[0].path != "", what="prefetch")
    assert src.settings["local_file"] == first and len(engine.recorded.downloads) == 2
    src.end()
    tick_until(obs, lambda: src.settings["local_file"] != first, what="the second part")
    second = src.settings["local_file"]
    with open(second, "rb") as f:  # the streamed header got its real sizes
        head = f.read(44)
    assert int.from_bytes(head[40:44], "little") == len(wav_bytes()) - 44
    src.end()
    tick_until(obs, lambda: engine.reports("ended") == [("u1", 0, "ended"), ("u1", 1, "ended")])
    assert engine.reports() == [("u1", 0, "started"), ("u1", 0, "ended"), ("u1", 1, "started"),
                                ("u1", 1, "ended")]
    assert any("Playing chat utterance u1 part 1/2" in text for _, text in obs.LOG)
    tick_until(obs, lambda: ctl.parts.current is None)
    media_calls = {thread for name, thread in obs.THREADS
                   if name in ("obs_source_update", "obs_source_media_stop", "signal_handler_connect")}
    assert media_calls == {obs.GRAPHICS}, obs.THREADS
    placed = {thread for name, thread in obs.THREADS if name in ("obs_source_create", "obs_scene_add")}
    assert placed == {obs.UI}  # the Media Source is made where frontend calls belong


def test_a_wav_cut_off_mid_way_is_reported_failed_and_never_played(obs: Any, engine: ContractEngine) -> None:
    ctl = subscribed(obs, engine)
    body = wav_bytes(1.0, streamed=True)
    engine.play("u2", 0, 2, wav=Wav(body, cut_after=len(body) // 2))
    engine.play("u2", 1, 2)
    src = media(obs)
    tick_until(obs, lambda: ("u2", 0, "failed") in engine.reports(), what="the failure reported")
    reason = next(r["reason"] for r in engine.recorded.playback if r["state"] == "failed")
    assert "cut" in reason or "broke off" in reason
    tick_until(obs, lambda: bool(src.settings.get("local_file")), what="the second part playing")
    update = next(c for c in obs.CALLS if c[0] == "obs_source_update")
    assert update[1][1]["local_file"].split("/")[-1].startswith("part1-")  # the broken part never played
    assert ctl.parts.counters.failed == 1 and "download failed" in ctl.last_failure


def test_cancel_stops_the_playing_utterance_and_drops_its_rest(obs: Any, engine: ContractEngine) -> None:
    ctl = subscribed(obs, engine)
    engine.play("u3", 0, 3)
    engine.play("u3", 1, 3)
    src = media(obs)
    tick_until(obs, lambda: ("u3", 0, "started") in engine.reports())
    engine.publish({"type": "cancel", "utterance": "u3", "reason": "skip"})
    tick_until(obs, lambda: ctl.parts.current is None and not ctl.parts.waiting, what="cancelled")
    assert src.media_state == obs.OBS_MEDIA_STATE_STOPPED
    engine.play("u4", 0, 1)
    tick_until(obs, lambda: ("u4", 0, "started") in engine.reports(), what="the next utterance")
    assert ("u3", 1, "started") not in engine.reports()


def test_the_outbox_resends_in_order_with_the_same_ids_when_the_engine_returns(obs: Any) -> None:
    port = free_port()
    ctl = load(obs, f"127.0.0.1:{port}", slot1_text="One", slot2_text="Two")
    tick_until(obs, lambda: ctl.engine_state.startswith("not reachable"), what="engine down")
    obs.press("streamer_tts.announce_1")
    obs.press("streamer_tts.announce_2")
    obs.press("streamer_tts.announce_1")
    tick_until(obs, lambda: ctl.link.sender.waiting_events() == 3, what="3 events held")
    assert "Outbox: 3 event(s) waiting" in ctl.status_text()
    engine = ContractEngine(port=port)
    try:
        tick_until(obs, lambda: len(engine.recorded.events) >= 3, timeout=15, what="the resend")
        texts = [e["text"] for e in engine.recorded.events]
        assert texts == ["One", "Two", "One"] and len({e["id"] for e in engine.recorded.events}) == 3
        tick_until(obs, lambda: ctl.sent["delivered"] == 3)
    finally:
        engine.close()


def test_a_busy_engine_gets_the_event_again_and_a_resend_is_a_duplicate(engine: ContractEngine) -> None:
    import queue

    from engine_client import EngineAddress, EngineClient
    from messages import EventDelivered

    inbox: queue.Queue[Any] = queue.Queue()
    sender = Sender(EngineClient(EngineAddress.parse(engine.address), timeout_s=2), inbox, retry_cap_s=0.05)
    sender.thread.start()
    try:
        engine.events_status = 503  # busy: the event stays and is retried
        event = Announcement("abc123", "hotkey", "Hello")
        sender.send_event(event)
        wait(lambda: len(engine.recorded.events) >= 2)
        engine.events_status = 0
        wait(lambda: sender.waiting_events() == 0)
        sender.send_event(event)  # sent again (as after a crash): the engine says duplicate
        wait(lambda: sender.waiting_events() == 0 and inbox.qsize() >= 2)
        delivered = [m for m in (inbox.get_nowait() for _ in range(inbox.qsize()))
                     if isinstance(m, EventDelivered)]
        assert [(d.id, d.duplicate) for d in delivered] == [("abc123", False), ("abc123", True)]
        assert {e["id"] for e in engine.recorded.events} == {"abc123"}
    finally:
        sender.stop()
        sender.thread.join(5)


def wait(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_the_outbox_is_bounded_and_drops_the_oldest_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    import queue

    from engine_client import EngineAddress, EngineClient
    from messages import EventDropped

    inbox: queue.Queue[Any] = queue.Queue()
    sender = Sender(EngineClient(EngineAddress(host="127.0.0.1", port=free_port())), inbox, limit=3)
    with caplog.at_level(logging.WARNING, logger="streamer_tts.sender"):
        for n in range(5):
            sender.send_event(Announcement(f"id{n}", "hotkey", f"text {n}"))
    assert [e.id for e in sender.take_events()] == ["id2", "id3", "id4"]
    dropped = [inbox.get_nowait() for _ in range(inbox.qsize())]
    assert [d.id for d in dropped if isinstance(d, EventDropped)] == ["id0", "id1"]
    assert len([r for r in caplog.records if "Outbox full" in r.getMessage()]) == 2


@pytest.mark.parametrize("status", [403, 404])
def test_a_lasting_refusal_of_the_subscription_shows_in_the_status_and_one_log_line(
    obs: Any, engine: ContractEngine, status: int
) -> None:
    engine.subscribe_status = status
    ctl = load(obs, engine.address)
    tick_until(obs, lambda: "REFUSED" in ctl.subscription, what="the refusal")
    time.sleep(1.6)  # the subscriber retries (backoff 0.5 s, 1 s): still one log line
    obs.run_timers()
    text = ctl.status_text()
    assert "Subscription: REFUSED" in text and f"HTTP {status}" in text
    assert "refused GET /v1/subscribe" in text.split("Last failure:")[1]
    assert len([w for w in warnings(obs) if "refused GET /v1/subscribe" in w]) == 1
    engine.subscribe_status = 200
    tick_until(obs, lambda: ctl.subscription == "open", timeout=10, what="open again")


def test_the_status_line_shows_the_engines_queue_and_alerts(obs: Any, engine: ContractEngine) -> None:
    engine.health["speech"] = {"queue": {"items": 4, "paused": True, "drops": {"deadline": 2}},
                               "stage": {"listeners": 1}}
    engine.health["alerts"] = [{"code": "backend_down", "message": "edge is failing"}]
    ctl = load(obs, engine.address)
    tick_until(obs, lambda: "Alerts:" in ctl.status_text(), what="alerts")
    status = ctl.status_text()
    assert "Engine: reachable at" in status and "edge is failing" in status
    assert "Engine queue: 4 waiting (PAUSED); dropped 2 deadline; 1 player(s) listening" in status
