"""The plugin's state, changed only on the timer's thread: settings, the engine link, the parts
being played, the status.

OBS's callbacks and the plugin's worker threads only ``post()`` typed messages (``messages.py``);
``tick()`` drains them through ``HANDLERS`` (message class -> method) and drives playback, so all
state changes happen on one thread and no OBS thread ever waits on the network or a join.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
import webbrowser
from collections.abc import Callable
from typing import Any

import engine_token
import obs_media
from engine_client import EngineAddress
from engine_link import EngineLink
from messages import (Announcement, CancelReceived, Control, ControlDone, ControlFailed, EngineDown,
                      EngineUp, EventDelivered, EventDropped, Fetched, FetchFailed, FrontendLoaded,
                      HealthReport, HotkeyPressed, Note, OpenPageClicked, PlaybackReport, PlayReceived,
                      SceneChanged, SettingsChanged, Subscribed, SubscribeFailed, TestClicked,
                      VoicesListed)
from playback import Outcome, PartQueue
from settings import PluginSettings
from status import status_text
from templates import render

_LOGGER = logging.getLogger("streamer_tts.controller")
MAX_INBOX_PER_TICK = 200
CONTROLS = {"skip": "skip", "clear": "clear", "pause": "toggle_pause"}
"""Hotkey action -> ``POST /v1/control`` command."""


class Controller:
    def __init__(self) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.settings = PluginSettings()
        self.player = obs_media.MediaPlayer(self.settings.media_source)
        self.parts = PartQueue(self.player)
        self.link: EngineLink | None = None
        self.early: list[Announcement] = []
        """Events made before the first settings arrived (no link yet)."""
        self.engine_state = "not checked yet"
        self.engine_health: dict[str, Any] = {}
        self.subscription = "not open yet"
        self.subscribe_refusal = 0
        """HTTP status of the subscription's last refusal (0: none), logged once per status."""
        self.last_failure = ""
        self.loaded = False
        self.scene = ""
        self.voices: tuple[dict[str, Any], ...] = ()
        self.sent = {"delivered": 0, "duplicate": 0, "dropped": 0}
        self._lock = threading.Lock()
        self._closed = False
        self.handlers: dict[type, Callable[[Any], None]] = {
            SettingsChanged: self._on_settings, FrontendLoaded: self._on_loaded,
            SceneChanged: self._on_scene, HotkeyPressed: self._on_hotkey, TestClicked: self._on_test,
            OpenPageClicked: self._on_open_page, EngineUp: self._on_engine_up,
            EngineDown: self._on_engine_down, HealthReport: self._on_health,
            VoicesListed: self._on_voices, Subscribed: self._on_subscribed,
            SubscribeFailed: self._on_subscribe_failed, PlayReceived: self._on_play,
            CancelReceived: self._on_cancel, Fetched: self._on_fetched, FetchFailed: self._on_fetch_failed,
            EventDelivered: self._on_delivered, EventDropped: self._on_dropped,
            ControlDone: self._on_control_done, ControlFailed: self._on_control_failed, Note: self._on_note,
        }

    def post(self, message: object) -> None:
        """Any thread: hand a message to the timer's thread."""
        self.inbox.put(message)

    # -- the timer's thread ----------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            if self._closed:
                return
            for _ in range(MAX_INBOX_PER_TICK):
                try:
                    message = self.inbox.get_nowait()
                except queue.Empty:
                    break
                try:
                    self.handlers[type(message)](message)
                except Exception:  # one bad message must not stop the timer
                    _LOGGER.exception("Could not handle %s", type(message).__name__)
            if self.loaded:  # the Media Source exists only once OBS has loaded the scenes
                self._report(self.parts.tick(time.monotonic()))

    def close(self) -> threading.Event | None:
        """At unload (the timer is removed first): stop playing and hand the link's threads to a
        reaper; returns at once."""
        with self._lock:
            self._closed = True
            self.parts.clear()
            obs_media.disconnect_signals()
            link, self.link = self.link, None
            return link.close() if link is not None else None

    # -- settings and OBS events -----------------------------------------------------------------
    def _on_settings(self, message: SettingsChanged) -> None:
        old, new = self.settings, message.settings
        self.settings = new
        self.player.name = new.media_source
        try:
            address = EngineAddress.parse(new.engine_address)
        except ValueError as exc:
            self._fail(str(exc))
            address = EngineAddress.parse("")
        if self.link is None or address != self.link.address or old.autostart_engine != new.autostart_engine:
            previous = self.link
            self.link = EngineLink(address, self.inbox, autostart=new.autostart_engine)
            pending = list(self.early)
            self.early.clear()
            if previous is not None:
                self.link.engine_proc = previous.engine_proc  # an engine we started stays ours
                pending = previous.sender.take_events() + pending
                previous.close(stop_engine=False)
            for event in pending:
                self.link.sender.send_event(event)
            self.link.start()

    def _on_loaded(self, message: FrontendLoaded) -> None:
        self.loaded = True
        self.scene = message.scene

    def _on_scene(self, message: SceneChanged) -> None:
        previous, self.scene = self.scene, message.scene
        s = self.settings
        if not self.loaded or not previous or message.scene == previous or not s.scene_messages_enabled:
            return  # the first scene we learn of (start-up) is not a switch
        template = s.scene_template(message.scene)
        if template:
            text = render(template, scene=message.scene, previous=previous, time=time.strftime("%H:%M"))
            self._announce("scene", text, s.scene_voice, s.scene_backend)

    def _on_hotkey(self, message: HotkeyPressed) -> None:
        action = message.action
        if action in CONTROLS:
            if self.link is None:
                self._fail(f"{action} not sent: no engine link yet")
            else:
                self.link.sender.control(Control(CONTROLS[action]))
            return
        slot = self.settings.slots[int(action.rsplit("_", 1)[1]) - 1]
        if not slot.text:
            _LOGGER.info("Announcement %s has no text: set it in the script's settings", action[-1])
            return
        text = render(slot.text, scene=self.scene, time=time.strftime("%H:%M"))
        self._announce("hotkey", text, slot.voice, slot.backend)

    def _on_test(self, message: TestClicked) -> None:
        self._announce("test", self.settings.test_text or "This is a test.", "", "")

    def _announce(self, source: str, text: str, voice: str, backend: str) -> None:
        event = Announcement(uuid.uuid4().hex, source, text, voice, backend)
        if self.link is None:
            self.early.append(event)
        else:
            self.link.sender.send_event(event)

    def _on_open_page(self, message: OpenPageClicked) -> None:
        url = self.engine_page()
        if not url:
            self._fail("the engine's page: no TCP address known yet (is the engine running?)")
            return
        threading.Thread(target=webbrowser.open, args=(url,), name="tts-browser", daemon=True).start()

    def engine_page(self) -> str:
        """``http://<engine TCP address>/``, with the install's token when it can be read (the
        dashboard then sets its cookie and drops the token from the address)."""
        listen = self.engine_health.get("listen")
        tcp = listen.get("tcp") if isinstance(listen, dict) else None
        if not tcp and self.link is not None and not self.link.address.is_unix:
            tcp = f"{self.link.address.host}:{self.link.address.port}"
        if not tcp:
            return ""
        token = engine_token.read_token()
        return f"http://{tcp}/" + (f"?token={token}" if token else "")

    # -- the engine ------------------------------------------------------------------------------
    def _on_engine_up(self, message: EngineUp) -> None:
        was_down = self.engine_state.startswith("not reachable")
        self.engine_state = f"reachable at {message.address}"
        _LOGGER.info("Engine %s at %s", "reachable again" if was_down else "connected", message.address)

    def _on_engine_down(self, message: EngineDown) -> None:
        self.engine_state = f"not reachable ({message.reason})"
        self.last_failure = f"{time.strftime('%H:%M:%S')} engine not reachable"
        _LOGGER.warning("Engine not reachable: %s. Retrying; events wait in the outbox.", message.reason)

    def _on_health(self, message: HealthReport) -> None:
        self.engine_health = message.health

    def _on_voices(self, message: VoicesListed) -> None:
        self.voices = message.voices

    def _on_subscribed(self, message: Subscribed) -> None:
        if self.subscribe_refusal:
            _LOGGER.info("The engine's event stream is open again")
        self.subscription, self.subscribe_refusal = "open", 0

    def _on_subscribe_failed(self, message: SubscribeFailed) -> None:
        if message.status < 400:  # no answer, or a stream that broke: not a refusal
            self.subscription = f"waiting for the engine ({message.reason})"
            return
        self.subscription = f"REFUSED: {message.reason}"
        if message.status != self.subscribe_refusal:  # lasting: one log line, not one per retry
            self.subscribe_refusal = message.status
            self._fail(f"the engine refused GET /v1/subscribe: {message.reason}; nothing can play")

    def _on_play(self, message: PlayReceived) -> None:
        self._report(self.parts.add(message.part))

    def _on_cancel(self, message: CancelReceived) -> None:
        gone = self.parts.cancel(message.cancel.utterance)
        if gone:
            _LOGGER.info("Utterance %s cancelled by the engine (%s)", message.cancel.utterance,
                         message.cancel.reason or "no reason given")

    def _on_fetched(self, message: Fetched) -> None:
        self.parts.fetched(message.key, message.job, message.path)

    def _on_fetch_failed(self, message: FetchFailed) -> None:
        self._report(self.parts.fetch_failed(message.key, message.job, message.reason))

    def _on_delivered(self, message: EventDelivered) -> None:
        self.sent["duplicate" if message.duplicate else "delivered"] += 1

    def _on_dropped(self, message: EventDropped) -> None:
        self.sent["dropped"] += 1
        self._fail(f"announcement not delivered: {message.reason}")

    def _on_control_done(self, message: ControlDone) -> None:
        paused = message.state.get("paused")
        if isinstance(paused, bool):
            self.parts.set_paused(paused)
        _LOGGER.info("Engine: %s done", message.command)

    def _on_control_failed(self, message: ControlFailed) -> None:
        self._fail(f"{message.command} not sent: {message.reason}")

    def _on_note(self, message: Note) -> None:
        if message.failure:
            self._fail(message.text)
        else:
            _LOGGER.info("%s", message.text)

    # -- playback reports ------------------------------------------------------------------------
    def _report(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            p = o.part
            if o.state == "started":
                _LOGGER.info("Playing %s utterance %s part %d/%d (job %s): Media Source playing %.0f ms "
                             "after the engine published it", p.source or "?", p.utterance, p.part + 1,
                             p.parts, p.job, (o.at - p.received) * 1000)
            elif o.state == "failed":
                self._fail(f"part {p.part + 1}/{p.parts} of {p.source or '?'} utterance {p.utterance}: "
                           f"{o.reason}")
            if self.link is not None:
                self.link.sender.report(PlaybackReport(p.utterance, p.part, o.state, o.reason, p.epoch))

    def _fail(self, text: str) -> None:
        self.last_failure = f"{time.strftime('%H:%M:%S')} {text}"
        _LOGGER.warning("%s", text)

    # -- status (read from any thread) -----------------------------------------------------------
    def status_text(self) -> str:
        return status_text(self)

    def voice_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a voice picker: the engine's voices once it has answered."""
        return [(f"{v['name']} ({v.get('backend', '?')}, {v.get('language', '?')})", str(v["name"]))
                for v in self.voices]

    def backend_choices(self) -> list[str]:
        backends = self.engine_health.get("backends")
        return sorted(backends) if isinstance(backends, dict) else []
