"""The plugin's state, driven from OBS's timer: settings, the engine link, chat, the queue.

Every other thread (IRC reader, engine workers, hotkeys, frontend events) only puts tuples into
``inbox``; ``tick()`` (OBS's timer) drains it, so all state changes happen on one thread and no
OBS thread ever waits on the network.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

import obs_media
from engine_client import EngineAddress
from engine_link import EngineLink, SubmitRequest
from filters import ChatFilter, ChatLine, render
from playback import Message, PlaybackQueue, split_sentences
from settings import PluginSettings
from twitch_irc import IrcReader

_LOGGER = logging.getLogger("streamer_tts.controller")
MAX_INBOX_PER_TICK = 200


class Controller:
    def __init__(self) -> None:
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.settings = PluginSettings()
        self.player = obs_media.MediaPlayer(self.settings.media_source)
        self.queue = PlaybackQueue(self.player, on_event=self._on_playback)
        self.filter = ChatFilter(self.settings)
        self.link: EngineLink | None = None
        self.irc: IrcReader | None = None
        self.engine_state = "not checked yet"
        self.engine_health: dict[str, Any] = {}
        self.chat_state = "off"
        self.last_failure = ""
        self.loaded = False
        self.scene = ""
        self.voices: list[dict[str, Any]] = []
        """The engine's voices (``GET /v1/voices``), for the pickers."""
        self.chat_seen = 0
        self.chat_filtered = 0

    # -- settings --------------------------------------------------------------------------------
    def update(self, new: PluginSettings) -> None:
        old, self.settings = self.settings, new
        try:
            address = EngineAddress.parse(new.engine_address)
        except ValueError as exc:
            self._fail(str(exc))
            address = EngineAddress.parse("")
        if (
            self.link is None
            or address != self.link.address
            or (old.subscribe_announcements, old.autostart_engine)
            != (new.subscribe_announcements, new.autostart_engine)
        ):
            previous = self.link
            self.link = EngineLink(
                address, self.inbox, subscribe=new.subscribe_announcements, autostart=new.autostart_engine
            )
            if previous is not None:
                self.link.engine_proc = previous.engine_proc  # an engine we started stays ours to stop
                previous.close(stop_engine=False)  # its temp files go: fetch waiting audio again
                for msg in self.queue.items:
                    if msg.state in ("submitting", "ready"):
                        msg.state, msg.local_path, msg.retry_at = "new", "", 0.0
            self.link.start()
        chat_key = (new.chat_enabled, new.twitch_channel, new.irc_host, new.irc_port, new.irc_tls)
        if self.irc is None or chat_key != (
            old.chat_enabled,
            old.twitch_channel,
            old.irc_host,
            old.irc_port,
            old.irc_tls,
        ):
            self._restart_chat()
        self.filter.update(new)
        self.player.name = new.media_source
        q = self.queue
        q.max_queue, q.chat_deadline_s, q.max_playback_s = (
            new.max_queue,
            new.chat_deadline_s,
            new.max_playback_s,
        )
        if self.loaded and new.media_source != old.media_source:
            self.frontend_loaded()

    def _restart_chat(self) -> None:
        if self.irc is not None:
            self.irc.close(timeout_s=0.5)
            self.irc = None
        s = self.settings
        if not s.chat_enabled or not s.twitch_channel:
            self.chat_state = "off" if not s.chat_enabled else "no channel set"
            return
        self.chat_state = f"connecting to {s.irc_host}:{s.irc_port}"
        self.irc = IrcReader(
            host=s.irc_host,
            port=s.irc_port,
            tls=s.irc_tls,
            channel=s.twitch_channel,
            on_line=lambda line: self.inbox.put(("chat", line, time.monotonic(), time.time())),
            on_status=lambda text: self.inbox.put(("chat_status", text)),
        )
        self.irc.start()

    def shutdown(self) -> None:
        if self.irc is not None:
            self.irc.close(timeout_s=0.5)
            self.irc = None
        if self.link is not None:
            self.link.close()
            self.link = None
        self.queue.clear("the script is unloading")
        obs_media.disconnect_signals()

    # -- OBS events (UI / scripting threads) -----------------------------------------------------
    def frontend_loaded(self) -> None:
        """Scenes exist now: find or create the Media Source (UI thread)."""
        self.loaded = True
        s = self.settings
        done = obs_media.ensure_source(
            s.media_source, create=s.create_media_source, all_scenes=s.media_in_all_scenes
        )
        if done:
            _LOGGER.info("%s", done)

    def hotkey(self, action: str) -> None:
        self.inbox.put(("hotkey", action))

    def scene_changed(self, name: str) -> None:
        """UI thread: make sure a scene created since start-up has the Media Source too (frontend
        calls belong on this thread), then let the timer speak the scene's message."""
        if self.loaded and self.settings.media_in_all_scenes:
            self.frontend_loaded()
        self.inbox.put(("scene", name))

    # -- the timer -------------------------------------------------------------------------------
    def tick(self) -> None:
        for _ in range(MAX_INBOX_PER_TICK):
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            try:
                getattr(self, "_on_" + item[0])(*item[1:])
            except Exception:  # one bad event must not stop the timer
                _LOGGER.exception("Could not handle %s", item[0])
        now = time.monotonic()
        if self.link is not None:
            for msg in self.queue.to_submit(now):
                self.link.submit(self._request(msg, now))
        if self.loaded:  # the Media Source exists only once OBS has loaded the scenes
            self.queue.tick(now)

    def _request(self, msg: Message, now: float) -> SubmitRequest:
        deadline = None
        if msg.priority == "chat" and self.settings.chat_deadline_s:
            deadline = max(1000, int((self.settings.chat_deadline_s - (now - msg.created)) * 1000))
        return SubmitRequest(msg.id, msg.text, msg.voice, msg.backend, msg.priority, deadline, msg.attempts)

    def speak(
        self,
        text: str,
        *,
        voice: str = "",
        backend: str = "",
        priority: str = "announcement",
        origin: str = "test",
        created: float | None = None,
    ) -> Message | None:
        """Queue a text; in stream mode a long one becomes one part per sentence group, so it
        starts playing once the first part is synthesized. Returns the first part."""
        text = text.strip()
        if not text:
            return None
        pieces = split_sentences(text) if self.settings.playback_mode == "stream" else [text]
        first = Message(
            pieces[0],
            voice or self.settings.default_voice,
            backend or self.settings.default_backend,
            priority,
            origin,
            parts=len(pieces),
        )
        parts = [first] + [
            Message(
                p, first.voice, first.backend, priority, origin, group=first.group, part=i, parts=len(pieces)
            )
            for i, p in enumerate(pieces[1:], start=1)
        ]
        if created is not None:
            for msg in parts:
                msg.created = created
        return first if self.queue.enqueue_parts(parts) else None

    # -- inbox handlers --------------------------------------------------------------------------
    def _on_chat(self, line: ChatLine, received: float, received_wall: float) -> None:
        self.chat_seen += 1
        decision = self.filter.decide(line, received)
        if not decision.speak:
            self.chat_filtered += 1
            _LOGGER.debug("Chat from %s skipped: %s", line.login, decision.reason)
            return
        msg = self.speak(
            decision.text,
            voice=decision.voice,
            backend=self.settings.chat_backend,
            priority="chat",
            origin="chat",
            created=received,
        )
        if msg is not None:
            msg.received_wall = received_wall

    def _on_chat_status(self, text: str) -> None:
        if text != self.chat_state:
            _LOGGER.info("%s", text)
        self.chat_state = text

    def _on_say(self, event: dict[str, Any]) -> None:
        """A ``/v1/say`` announcement, spoken like everything else (long texts in sentence parts)."""
        text = str(event.get("text") or "").strip()
        priority = str(event.get("priority") or "announcement")
        voice, backend = str(event.get("voice") or ""), str(event.get("backend") or "")
        created = time.monotonic()
        sent = event.get("ts")
        if isinstance(sent, (int, float)) and 0 <= time.time() - sent < 60:
            created -= time.time() - sent  # latency counts from the POST, not from our read
        self.speak(text, voice=voice, backend=backend, priority=priority, origin="say", created=created)

    def _on_hotkey(self, action: str) -> None:
        if action == "skip":
            self.queue.skip()
        elif action == "clear":
            _LOGGER.info("Cleared %d queued message(s)", self.queue.clear())
        elif action == "pause":
            self.queue.set_paused(not self.queue.paused)
            _LOGGER.info("Text to speech %s", "paused" if self.queue.paused else "resumed")
        elif action.startswith("announce_"):
            slot = self.settings.slots[int(action.split("_")[1]) - 1]
            if not slot.text:
                _LOGGER.info("Announcement %s has no text: set it in the script's settings", action[-1])
                return
            text = render(slot.text, scene=self.scene, time=time.strftime("%H:%M"))
            self.speak(text, voice=slot.voice, backend=slot.backend, priority="announcement", origin="hotkey")

    def _on_scene(self, name: str) -> None:
        previous, self.scene = self.scene, name
        s = self.settings
        if not self.loaded or not previous or name == previous or not s.scene_messages_enabled:
            return  # the first scene we learn of (start-up) is not a switch
        template = s.scene_messages.get(name, s.scene_messages.get("*", ""))
        if template:
            text = render(template, scene=name, previous=previous, time=time.strftime("%H:%M"))
            self.speak(text, voice=s.scene_voice, backend=s.scene_backend, priority="event", origin="scene")

    def _on_engine_up(self, address: str) -> None:
        was_down = self.engine_state.startswith("not reachable")
        self.engine_state = f"reachable at {address}"
        _LOGGER.info("Engine %s at %s", "reachable again" if was_down else "connected", address)
        for msg in self.queue.items:
            msg.retry_at = 0.0

    def _on_engine_down(self, reason: str) -> None:
        self.engine_state = f"not reachable ({reason})"
        self.last_failure = f"{time.strftime('%H:%M:%S')} engine not reachable"
        _LOGGER.warning(
            "Engine not reachable: %s. Retrying with backoff; announcements wait, chat older than "
            "%d s is dropped.",
            reason,
            self.settings.chat_deadline_s,
        )

    def _on_health(self, health: dict[str, Any]) -> None:
        self.engine_health = health

    def _on_voices(self, voices: list[dict[str, Any]]) -> None:
        self.voices = voices

    def voice_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a voice picker: the engine's voices once it has answered."""
        return [
            (f"{v['name']} ({v.get('backend', '?')}, {v.get('language', '?')})", str(v["name"]))
            for v in self.voices
        ]

    def backend_choices(self) -> list[str]:
        backends = self.engine_health.get("backends")
        return sorted(backends) if isinstance(backends, dict) else []

    def _on_submitted(self, msg_id: int, job_id: str, wav_url: str, path: str) -> None:
        self.queue.submitted(msg_id, job_id=job_id, wav_url=wav_url, local_path=path)
        if not self.engine_state.startswith("reachable") and self.link is not None:
            self.link.poke()  # it answers again: let the status line know now, not after the backoff

    def _on_submit_failed(self, msg_id: int, reason: str, retry_in: float | None) -> None:
        msg = self.queue.find(msg_id)
        if msg is not None and (retry_in is None or self.engine_state.startswith("reachable")):
            self._fail(f"could not speak {msg.origin} message: {reason}")
        self.queue.submit_failed(msg_id, reason, retry_in=retry_in, now=time.monotonic())

    def _on_log(self, level: str, text: str) -> None:
        _LOGGER.log(logging.WARNING if level == "warning" else logging.INFO, "%s", text)

    def _on_playback(self, kind: str, msg: Message, detail: str) -> None:
        if kind == "playing" and msg.part == 0:
            waited = (time.monotonic() - msg.created) * 1000
            _LOGGER.info(
                "Playing %s message #%d (job %s, %d part(s)): Media Source playing %.0f ms after it arrived",
                msg.origin,
                msg.group,
                msg.job_id,
                msg.parts,
                waited,
            )
        elif kind == "failed":
            self._fail(f"{msg.origin} message #{msg.id}: {detail}")
        elif kind == "state":
            _LOGGER.debug(
                "Message #%d: media state %s at %.0f ms",
                msg.id,
                detail,
                (time.monotonic() - msg.created) * 1000,
            )
        elif kind in ("cut", "skipped") and msg.state == "playing" and "unloading" not in detail:
            _LOGGER.info("Message #%d %s (%s)", msg.id, kind, detail)

    def _fail(self, text: str) -> None:
        self.last_failure = f"{time.strftime('%H:%M:%S')} {text}"
        _LOGGER.warning("%s", text)

    # -- status ----------------------------------------------------------------------------------
    def status_text(self) -> str:
        q, c = self.queue, self.queue.counters
        engine_q = self.engine_health.get("queue") or {}
        parts = [
            f"Engine: {self.engine_state}",
            f"Queue: {len(q)} waiting{', 1 playing' if q.current else ''}{' (PAUSED)' if q.paused else ''}"
            + (
                f", engine {engine_q.get('running', 0)} running / {engine_q.get('queued', 0)} queued"
                if engine_q
                else ""
            ),
            f"Played {c.played}, cut {c.cut}, skipped {c.skipped}, dropped {c.dropped_late} late chat"
            f" + {c.dropped_full} over the limit, failed {c.failed}",
            f"Chat: {self.chat_state} ({self.chat_seen} read, {self.chat_filtered} filtered)",
            f"Last failure: {self.last_failure or 'none'}",
        ]
        return "\n".join(parts)
