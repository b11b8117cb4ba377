"""Documentation made from ``settings.DECLARED``: the table in ``tts_plugin``'s docstring and
``obs_plugin/README-settings.md``, plus where each removed setting now lives (``MOVED``).

``python3 obs_plugin/settings_doc.py`` rewrites README-settings.md; ``--check`` exits 1 when it
is out of date (a unit test runs the same check).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from settings import DECLARED, GROUPS, SLOTS, Setting

README = Path(__file__).resolve().parent / "README-settings.md"

MOVED: tuple[tuple[str, str], ...] = (
    ("chat_enabled", "`sources.twitch.enabled`"),
    ("twitch_channel", "`sources.twitch.channel`"),
    ("irc_host", "`sources.twitch.host`"),
    ("irc_port", "`sources.twitch.port`"),
    ("irc_tls", "`sources.twitch.tls`"),
    ("chat_mode", "`chat.mode`"),
    ("command_prefix", "`chat.command_prefix`"),
    ("min_length", "`chat.min_length`"),
    ("max_length", "`chat.max_length`"),
    ("remove_links", "`chat.remove_links`"),
    ("skip_emote_only", "`chat.skip_emote_only`"),
    ("blocked_words", "`chat.blocked_words`"),
    ("blocked_users", "`chat.blocked_users`"),
    ("allowed_users", "`chat.allowed_users`"),
    ("roles_only", "`chat.roles_only`"),
    ("user_cooldown_s", "`chat.user_cooldown_s`"),
    ("chat_template", "`chat.template`"),
    ("chat_backend", "`chat.backend`"),
    ("voice_pool", "`chat.voice_pool`"),
    ("voice_map", "`chat.voice_map`"),
    ("chat_deadline_s", "`speech.chat_deadline_s`"),
    ("max_queue", "`speech.max_queue`"),
    ("playback_mode", "none: the engine splits long texts into parts itself (`speech`), always"),
    ("max_playback_s", "none: skip a long message with the skip hotkey or `POST /v1/control`"),
    ("default_voice", "`tts.backends.<backend>.voice` (the engine's default voice)"),
    ("default_backend", "`tts.primary_backend` and `tts.routing`"),
    ("subscribe_announcements", "none: the plugin always plays what the engine publishes"),
)
"""(old plugin key, where it lives now): the keys removed from the plugin."""


def _row_setting(s: Setting) -> Setting:
    """A slot setting as one README row (``slot{N}_text``)."""
    if "{n}" not in s.key:
        return s
    return Setting(s.key.replace("{n}", "{N}"), s.kind, s.default, s.label.format(n="N"),
                   s.help.format(n="N"), s.group, s.widget)


def _default(s: Setting) -> str:
    if s.kind == "bool":
        return "true" if s.default else "false"
    return str(s.default) if s.kind == "int" else f'"{s.default}"'


_COLUMN = 47
"""Where the meaning column starts in the docstring table."""


def docstring_table() -> str:
    """The settings table for ``tts_plugin``'s docstring (plain text, 100 columns)."""
    lines = ["Settings keys (stable: scene collections may pre-seed them under "
             "modules.scripts-tool[].settings)::", "",
             "    key                      type default      meaning"]
    for s in map(_row_setting, DECLARED):
        head = f"    {s.key:<24} {s.kind:<4} {_default(s):<12} "
        wrapped = textwrap.wrap(s.help, width=100 - _COLUMN) or [""]
        if len(head) > _COLUMN:  # a long default: the meaning starts on the next line
            lines.append(head.rstrip())
            head = ""
        lines.append(head + wrapped[0] if head else " " * _COLUMN + wrapped[0])
        lines += [" " * _COLUMN + more for more in wrapped[1:]]
    lines += ["    hotkey_{action}          array (OBS hotkey bindings) saved by script_save, "
              "restored in script_load", "",
              f"    N = 1..{SLOTS}. Settings that moved to the engine's config.yaml: see "
              "README-settings.md."]
    return "\n".join(lines) + "\n"


def settings_table() -> list[str]:
    out = ["| key | type | default | label | meaning |", "|---|---|---|---|---|"]
    titles = dict(GROUPS)
    for group, _ in GROUPS:
        for s in (_row_setting(d) for d in DECLARED if d.group == group):
            out.append(f"| `{s.key}` | {s.kind} | `{_default(s)}` | {titles[group]}: {s.label} "
                       f"| {s.help} |")
    out.append("| `hotkey_{action}` | array | (none) | Settings -> Hotkeys | OBS hotkey bindings, "
               "written by `script_save` and restored in `script_load` |")
    return out


def moved_table() -> list[str]:
    out = ["| old plugin key | now in the engine's `config.yaml` |", "|---|---|"]
    out += [f"| `{key}` | {where} |" for key, where in MOVED]
    return out


def readme_text() -> str:
    parts = [_INTRO, "## Settings", "", *settings_table(), "", _AFTER_TABLE,
             "## Moved to the engine", "", _MOVED_INTRO, "", *moved_table(), "", _HOW_TO_MOVE,
             _REST.replace("{hotkeys}", "\n".join(_HOTKEY_ROWS))]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = readme_text()
    if "--check" in argv:
        if README.read_text("utf-8") != text:
            print(f"{README} is out of date: run python3 obs_plugin/settings_doc.py")
            return 1
        return 0
    README.write_text(text, "utf-8")
    print(f"wrote {README}")
    return 0


_INTRO = """\
# OBS plugin: settings keys, hotkeys, and how it plays what the engine says

<!-- Generated from obs_plugin/settings.py by `python3 obs_plugin/settings_doc.py`: edit those. -->

The entry script is `obs_plugin/tts_plugin.py` (Tools -> Scripts -> +). Its sibling modules are
imported from the same folder. Every key below can be pre-seeded in a scene collection under
`"modules": {"scripts-tool": [{"path": "/abs/path/obs_plugin/tts_plugin.py", "settings": {...}}]}`;
OBS hands them to `script_update` at start-up. The keys are stable.

The plugin is OBS's face of the engine (docs/hub.md): the engine reads chat, filters it, keeps the
one speech queue and synthesizes; the plugin sends hotkey announcements and scene messages to the
engine as events, plays the parts the engine publishes through its Media Source, and reports when
each part really starts and ends.
"""

_AFTER_TABLE = f"""\
`N` is 1 to {SLOTS} (five announcement slots). Not stored: the read-only **status** line
(`status`), and the buttons **Refresh status** (`refresh_status`), **Speak a test line**
(`speak_test`) and **Open the engine's page** (`open_engine_page`, opens
`http://<engine TCP address>/` in the browser). Templates use `{{scene}}`, `{{previous}}` and
`{{time}}`; an unknown field becomes empty.
"""

_MOVED_INTRO = """\
Chat reading, chat filters, templates, voices per user and the queue's limits left the plugin:
the engine owns them, for every source at once. Each old plugin key and where it lives now:"""

_HOW_TO_MOVE = """\
How to move an old setup over: open OBS's Tools -> Scripts, select `tts_plugin.py` and copy each
value you had set (channel, IRC host and port, prefix, filters, template, voice pool and map, ...)
into the engine's `config.yaml` under the key in the table (for example `twitch_channel: mychannel`
becomes `sources: {twitch: {enabled: true, channel: mychannel}}`, `chat_template` becomes
`chat: {template: "{user} says {message}"}`; comma-separated lists become YAML lists). Then
restart the engine. OBS keeps the old keys in the scene collection; the plugin ignores them.
"""

_HOTKEY_ROWS = (
    "| hotkey name | settings key of its binding | action |",
    "|---|---|---|",
    "| `streamer_tts.announce_1` ... `streamer_tts.announce_5` | `hotkey_announce_1` ... "
    "`hotkey_announce_5` | send slot N to the engine (`POST /v1/events`, source `hotkey`) |",
    '| `streamer_tts.skip` | `hotkey_skip` | `POST /v1/control {"command": "skip"}` |',
    '| `streamer_tts.clear` | `hotkey_clear` | `POST /v1/control {"command": "clear"}` |',
    '| `streamer_tts.pause` | `hotkey_pause` | `POST /v1/control {"command": "toggle_pause"}` '
    "(the Media Source pauses too) |",
)

_REST = """\
## Hotkeys

Registered as frontend hotkeys (Settings -> Hotkeys, and obs-websocket `TriggerHotkeyByName`):

{hotkeys}

A binding is an OBS hotkey array, e.g. `"hotkey_announce_1": [{"key": "OBS_KEY_F9"}]`.

## Events, the outbox and playback

- A hotkey announcement, a scene message or the test line is one `POST /v1/events`
  `{"type": "announcement", "id": <uuid4 hex, one per press>, "source": "hotkey"|"scene"|"test",
  "text", "voice", "backend"}`. Events wait in an outbox of at most 100 (the oldest is dropped, with
  a log line) while the engine is down, and are sent again in order when it is back, with the same
  ids: the engine answers a repeated id as a duplicate and speaks it once.
- The plugin holds `GET /v1/subscribe` open. Each `play` event is one part of an utterance, in
  playing order; its WAV (`wav_url`) is downloaded at once into a private temp folder
  (`<tempdir>/streamer-tts-obs-<OBS pid>-XXXX/`), so the next part is fetched while the current one
  plays. A download that breaks off (the engine cuts the stream when the job fails) is reported as
  `failed`, never played. `cancel` drops an utterance's waiting parts and stops it if it plays.
- For every part the plugin reports `POST /v1/playback` `started` (the Media Source reached
  PLAYING), `ended`, or `failed` with the reason.
- OBS's threads never wait: OBS callbacks only put typed messages into the plugin's inbox; one
  timer (every 25 ms, OBS's graphics thread) changes all plugin state; the network runs on the
  plugin's own threads, and a reaper thread joins them when they are closed.

## How the plugin finds the engine

1. `engine_address` set: `unix:/path`, `/path` (a Unix socket), `host:port` or `http://host:port`.
2. Empty: the engine's default Unix socket, the same rule as `engine/http/app.py`:
   `$XDG_RUNTIME_DIR/streamer-tts/engine.sock`, else `<tempdir>/streamer-tts-<uid>/engine.sock`,
   if that file exists; otherwise TCP `127.0.0.1:8000`.
3. `autostart_engine`: when no engine answers, the plugin runs
   `<repo>/.venv/bin/python -m engine serve` (`<repo>` = the folder above `obs_plugin/`), logging to
   `<tempdir>/streamer-tts-engine-<obs pid>.log`, and stops it when the script unloads.
4. Over TCP the engine wants its per-install token for events, controls, playback reports and the
   subscription: the plugin reads it from `~/.local/share/streamer-tts/api-token` (the engine's
   default `data_dir`) and sends it as `Authorization: Bearer ...`; the Unix socket needs none.
   The token is never stored in OBS's settings (scene collections get shared) and never logged.
   Without it the status line shows the subscription REFUSED and events wait in the outbox.

## Status line

`Engine: reachable at ADDRESS` or `not reachable (REASON)`; `Subscription: ...` (a lasting 403 or
404 shows here and in one log line); `Engine queue: ...` (from `/health`); `Playing: ...`,
`Outbox: N waiting`; `Alerts: ...` when `/health` lists any; `Last failure: HH:MM:SS WHAT`.

## What it logs (OBS log / Script Log, prefixed `[streamer-tts]`)

- `Engine connected at ADDRESS` / `Engine not reachable: REASON` (once per outage) /
  `Engine reachable again at ADDRESS`.
- `Playing SOURCE utterance ID part I/N (job JOB): Media Source playing T ms after the engine
  published it`, for every part (the e2e tests and `bench/obs_latency.py` read these lines).
- Outbox drops, refused events, failed downloads and subscription refusals, once each.

Only OBS's own threads write to the log: lines from worker threads wait for the next timer tick
(a `script_log` call from a Python-created thread crashed OBS 29 here).

## Notes

- Why local files and not the engine's URL in the Media Source: measured in OBS 29.0.2, a network
  URL replays the clip after it ends and blocks the next settings update; a non-seekable URL in
  local-file mode crashed OBS's media thread. A local WAV played reliably.
- OBS imports the sibling modules once per OBS run: after editing them, restart OBS.
"""

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
