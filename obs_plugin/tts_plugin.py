"""Streamer TTS for OBS Studio: speaks Twitch chat, hotkey announcements, scene messages and
``POST /v1/say`` announcements through a Media Source, using the local streamer-tts engine.

Add this file in OBS under Tools -> Scripts. Standard library only; Python 3.9+.

Settings keys (stable: scene collections may pre-seed them under modules.scripts-tool[].settings)::

    key                      type default                     meaning
    engine_address           str  ""                          Unix socket path or host:port; empty = the
                                                              default socket if it exists, else 127.0.0.1:8000
    autostart_engine         bool false                       Start <repo>/.venv/bin/python -m engine serve
                                                              when no engine answers
    subscribe_announcements  bool true                        Hold GET /v1/subscribe open and speak what POST
                                                              /v1/say sends
    media_source             str  "TTS Audio"                 Name of the Media Source that plays the speech
    create_media_source      bool true                        Create the Media Source (ffmpeg_source) if
                                                              missing
    media_in_all_scenes      bool true                        Add the Media Source to every scene so speech is
                                                              heard in all
    playback_mode            str  "stream"                    stream = long texts are split into sentences, so
                                                              playback starts once the first is ready; file =
                                                              one WAV per message
    max_playback_s           int  30                          Cut a message that plays longer than this
                                                              (seconds, 0 = no limit)
    default_voice            str  ""                          Voice for everything without its own (empty =
                                                              engine default)
    default_backend          str  ""                          Backend for everything without its own (empty =
                                                              engine routing)
    test_text                str  "This is a test of text to speech in OBS." Line spoken by the test button
    chat_deadline_s          int  30                          Chat not started within this many seconds is
                                                              dropped (counted)
    max_queue                int  50                          Messages waiting at most; chat beyond it is
                                                              dropped
    chat_enabled             bool false                       Read Twitch chat
    twitch_channel           str  ""                          Channel to read (without #)
    irc_host                 str  "irc.chat.twitch.tv"        IRC server host
    irc_port                 int  6697                        IRC server port
    irc_tls                  bool true                        Connect with TLS
    chat_mode                str  "command"                   command = only lines starting with the prefix;
                                                              all = every line
    command_prefix           str  "!tts"                      Prefix in command mode (removed before speaking)
    min_length               int  2                           Shortest message spoken (characters, after
                                                              cleaning)
    max_length               int  300                         Longest message spoken (characters, after
                                                              cleaning)
    remove_links             bool true                        Remove URLs from messages
    skip_emote_only          bool true                        Skip messages made only of emotes (Twitch emote
                                                              tags)
    blocked_words            str  ""                          Comma-separated words; a message containing one
                                                              is skipped
    blocked_users            str  ""                          Comma-separated logins never spoken
    allowed_users            str  ""                          Comma-separated logins; when set, only they are
                                                              spoken
    roles_only               bool false                       Only subscribers, moderators, VIPs and the
                                                              broadcaster
    user_cooldown_s          int  10                          Seconds before the same user is spoken again (0
                                                              = none)
    chat_template            str  "{user} says {message}"     What is spoken; {user}, {message}, {bits},
                                                              {channel}
    chat_backend             str  ""                          Backend for chat (empty = default backend)
    voice_pool               str  ""                          Comma-separated voices; each user gets a stable
                                                              one by name hash
    voice_map                str  ""                          Lines or commas of user=voice, overriding the
                                                              pool
    scene_messages_enabled   bool true                        Speak a message when the program scene changes
    scene_messages           str  ""                          Lines of 'Scene name=text' ({scene},
                                                              {previous}); '*=text' for every other scene
    scene_voice              str  ""                          Voice for scene messages (empty = default voice)
    scene_backend            str  ""                          Backend for scene messages (empty = default
                                                              backend)
    slot{N}_text             str  ""                          Announcement N: text ({time}, {scene})
    slot{N}_voice            str  ""                          Announcement N: voice (empty = default voice)
    slot{N}_backend          str  ""                          Announcement N: backend (empty = default
                                                              backend, else the engine's routing:
                                                              announcements go to XTTS when it is enabled)
    hotkey_{action}          array (OBS hotkey bindings)      saved by script_save, restored in script_load

    N = 1..5. Hotkeys (Settings -> Hotkeys, names for obs-websocket TriggerHotkeyByName):
    streamer_tts.announce_1 .. streamer_tts.announce_5, streamer_tts.skip, streamer_tts.clear,
    streamer_tts.pause (toggles pause / resume). Their bindings live under hotkey_announce_1 ..
    hotkey_announce_5, hotkey_skip, hotkey_clear, hotkey_pause.

The engine is found at ``engine_address``; empty means the engine's own default Unix socket
($XDG_RUNTIME_DIR/streamer-tts/engine.sock, else <tempdir>/streamer-tts-<uid>/engine.sock) if it
exists, else 127.0.0.1:8000. Streamed playback reads the engine's TCP address from GET /health.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # OBS adds it; plain imports (tests, other hosts) may not
    sys.path.insert(0, _HERE)

import obspython as obs  # noqa: E402

import hotkeys  # noqa: E402
import properties  # noqa: E402
from controller import Controller  # noqa: E402
from settings import SETTINGS, PluginSettings  # noqa: E402

_LOGGER = logging.getLogger("streamer_tts.plugin")
TICK_MS = 25
"""The timer that drains results and drives playback (OBS's graphics thread; never blocks)."""
_STATE: dict[str, Any] = {}


class _ScriptLog(logging.Handler):
    """Plugin log records -> OBS's script log (Tools -> Scripts -> Script Log, and OBS's log file).

    Only OBS's own threads may call ``script_log`` (a call from one of our worker threads can crash
    OBS): records from Python-created threads wait in ``pending`` until the next timer tick."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()

    def emit(self, record: logging.LogRecord) -> None:
        thread = threading.current_thread()
        if thread is not threading.main_thread() and type(thread).__name__ != "_DummyThread":
            self.pending.put(record)
            return
        self._write(record)

    def flush_pending(self) -> None:
        for _ in range(100):
            try:
                record = self.pending.get_nowait()
            except queue.Empty:
                return
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        level = obs.LOG_WARNING if record.levelno >= logging.WARNING else obs.LOG_INFO
        if record.levelno >= logging.ERROR:
            level = obs.LOG_ERROR
        with contextlib.suppress(Exception):  # logging must never raise into OBS
            obs.script_log(level, "[streamer-tts] " + self.format(record))


_LOG_HANDLER = _ScriptLog()


def _setup_logging() -> None:
    logger = logging.getLogger("streamer_tts")
    if _LOG_HANDLER not in logger.handlers:
        logger.addHandler(_LOG_HANDLER)
    logger.setLevel(logging.DEBUG if os.environ.get("STREAMER_TTS_DEBUG") else logging.INFO)
    logger.propagate = False


def controller() -> Controller | None:
    return _STATE.get("controller")


# -- script lifecycle ------------------------------------------------------------------------------
def script_description() -> str:
    return (
        "<b>Streamer TTS</b><br>Speaks Twitch chat, hotkey announcements, scene messages and "
        "engine announcements through a Media Source. Needs the streamer-tts engine "
        "(<code>.venv/bin/python -m engine serve</code>)."
    )


def script_defaults(settings: Any) -> None:
    for s in SETTINGS:
        if s.kind == "bool":
            obs.obs_data_set_default_bool(settings, s.key, s.default)
        elif s.kind == "int":
            obs.obs_data_set_default_int(settings, s.key, s.default)
        else:
            obs.obs_data_set_default_string(settings, s.key, s.default)


def script_load(settings: Any) -> None:
    _setup_logging()
    ctl = Controller()
    _STATE["controller"] = ctl
    _STATE["settings"] = settings
    hotkeys.register(settings, ctl.hotkey)
    obs.obs_frontend_add_event_callback(on_frontend_event)
    obs.timer_remove(on_tick)
    obs.timer_add(on_tick, TICK_MS)


def script_update(settings: Any) -> None:
    ctl = controller()
    if ctl is None:
        return
    ctl.update(read_settings(settings))
    if not ctl.loaded:
        scene = obs.obs_frontend_get_current_scene()
        if scene is not None:  # added while OBS was already running: no FINISHED_LOADING will come
            obs.obs_source_release(scene)
            ctl.frontend_loaded()
            ctl.scene_changed(_current_scene_name())


def script_save(settings: Any) -> None:
    hotkeys.save(settings)


def script_unload() -> None:
    obs.timer_remove(on_tick)
    remove = getattr(obs, "obs_frontend_remove_event_callback", None)
    if remove is not None:
        remove(on_frontend_event)
    ctl = _STATE.pop("controller", None)
    _STATE.clear()
    if ctl is not None:
        ctl.shutdown()
    hotkeys.forget()


def read_settings(settings: Any) -> PluginSettings:
    def get(key: str, kind: str) -> Any:
        if kind == "bool":
            return obs.obs_data_get_bool(settings, key)
        if kind == "int":
            return obs.obs_data_get_int(settings, key)
        return obs.obs_data_get_string(settings, key)

    return PluginSettings.from_getter(get)


# -- callbacks (module level: OBS matches them by identity) ----------------------------------------
def on_tick() -> None:
    ctl = controller()
    if ctl is not None:
        ctl.tick()
    _LOG_HANDLER.flush_pending()


def on_frontend_event(event: int) -> None:
    ctl = controller()
    if ctl is None:
        return
    if event == obs.OBS_FRONTEND_EVENT_FINISHED_LOADING:
        ctl.frontend_loaded()
        ctl.scene_changed(_current_scene_name())
    elif event == obs.OBS_FRONTEND_EVENT_SCENE_CHANGED:
        ctl.scene_changed(_current_scene_name())
    elif event in (obs.OBS_FRONTEND_EVENT_SCRIPTING_SHUTDOWN, obs.OBS_FRONTEND_EVENT_EXIT):
        ctl.shutdown()


def _current_scene_name() -> str:
    scene = obs.obs_frontend_get_current_scene()
    if scene is None:
        return ""
    try:
        return str(obs.obs_source_get_name(scene))
    finally:
        obs.obs_source_release(scene)


def on_test_clicked(props: Any, prop: Any) -> bool:
    ctl = controller()
    if ctl is not None:
        ctl.speak(ctl.settings.test_text or "This is a test.", priority="announcement", origin="test")
    return on_refresh_clicked(props, prop)


def on_refresh_clicked(props: Any, prop: Any) -> bool:
    ctl = controller()
    status = obs.obs_properties_get(props, "status")
    if ctl is not None and status is not None:
        obs.obs_property_set_description(status, ctl.status_text())
    return True


# -- properties ------------------------------------------------------------------------------------
def script_properties() -> Any:
    return properties.build(controller(), on_test=on_test_clicked, on_refresh=on_refresh_clicked)
