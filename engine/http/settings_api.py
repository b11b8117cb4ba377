"""``GET``/``PUT /v1/settings``: the sources' and the chat filters' settings, from the dashboard.

Saved settings go to ``<data_dir>/config.local.yaml`` (``chat:`` and ``sources:`` only), an
override merged over config.yaml when the server's app is created, so config.yaml and its
comments stay as the streamer wrote them. A change is validated through ``engine.config.parse``
before anything is written (a bad value is a 400 naming the key), then applied at once: the chat
filters take effect for the next line, and a source whose settings or secrets changed is
restarted.

Secrets (tokens, keys, cookies) are write-only: ``GET`` says only whether each is set (and
whether an environment variable overrides the file); ``PUT`` stores them in the secrets file of
``engine.secrets`` (mode 0600), never in the config and never in a reply or a log line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .. import config as config_mod
from .. import secrets as secrets_mod
from .. import validate
from ..errors import BadRequest, ConfigError, EngineError
from ..pipeline.moderation import write_atomic
from ..pipeline.options import ChatOptions
from ..pipeline.pipeline import Pipeline
from .body import read_json
from .keys import CONFIG_KEY, HUB_KEY
from ..sources import REGISTRY as SOURCES
from ..sources import source_class
from . import auth

_LOGGER = logging.getLogger(__name__)
LOCAL_FILE = "config.local.yaml"
SECTIONS = ("chat", "sources")


def local_path(config: config_mod.EngineConfig) -> Path:
    return config.data_path() / LOCAL_FILE


def read_local(path: Path) -> dict[str, Any]:
    """The override's mapping (``{}`` when there is none)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the dashboard's settings ({type(exc).__name__}); "
                          "fix or delete the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - set(SECTIONS):
        raise ConfigError(f"{path}: expected only {' and '.join(SECTIONS)} sections")
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mapping by mapping (a copy)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def with_local(config: config_mod.EngineConfig) -> config_mod.EngineConfig:
    """``config`` with ``config.local.yaml`` merged over its ``chat`` and ``sources``."""
    local = read_local(local_path(config))
    if not local:
        return config
    checked = _parse({"chat": merge(validate.to_mapping(config.chat), local.get("chat") or {}),
                      "sources": merge(_sources_mapping(config), local.get("sources") or {})})
    return replace(config, chat=checked.chat, sources=checked.sources)


def _sources_mapping(config: config_mod.EngineConfig) -> dict[str, Any]:
    return {name: validate.to_mapping(options) for name, options in config.sources.items()}


def _parse(data: dict[str, Any]) -> config_mod.EngineConfig:
    """``engine.config.parse`` of the two sections alone (no backend is checked)."""
    return config_mod.parse({**data, "tts": {"backends": {"piper": {"enabled": False}}}})


# -- the API -------------------------------------------------------------------------------------
def describe(config: config_mod.EngineConfig, secrets: secrets_mod.Secrets,
             environ: typing.Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the settings form shows: each field's key, type and value; secrets only as set or not."""
    env = os.environ if environ is None else environ
    sources = {}
    for name in SOURCES:
        sources[name] = {
            "fields": _fields(config.source_options(name)),
            "secrets": [{"name": s, "label": label, "set": secrets.get(s) is not None,
                         "from_env": bool(env.get(secrets_mod.env_name(s)))}
                        for s, label in secrets_mod.KNOWN_SECRETS.items() if _owner(s) == name]}
    return {"chat": {"fields": _fields(config.chat)}, "sources": sources,
            "saved_to": str(local_path(config)), "secrets_file": str(secrets_mod.default_path(env))}


def _fields(options: Any) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(type(options))
    out = []
    for f in dataclasses.fields(options):
        out.append({"key": f.name, "type": _kind(hints[f.name]),
                    "value": validate.to_mapping(getattr(options, f.name)),
                    **({"choices": list(f.metadata["choices"])} if "choices" in f.metadata else {})})
    return out


def _kind(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "list"
    if origin is dict:
        return "map"
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if args else tp
    return {bool: "bool", int: "int", float: "float"}.get(base, "str")


def _owner(secret: str) -> str:
    return secret.split("_", 1)[0]


async def get_settings(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    return web.json_response(describe(hub.config, hub.secrets), headers={"Cache-Control": "no-store"})


async def put_settings(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    body = await read_json(request)
    unknown = set(body) - {"chat", "sources", "secrets"}
    if unknown:
        raise BadRequest(f"unknown settings section {sorted(unknown)[0]!r}; "
                         "expected chat, sources, secrets")
    chat, sources, new_secrets = (_mapping(body, k) for k in ("chat", "sources", "secrets"))
    path = local_path(hub.config)
    local = read_local(path)
    local = merge(local, {k: v for k, v in (("chat", chat), ("sources", sources)) if v})
    try:
        checked = _parse({"chat": merge(validate.to_mapping(hub.config.chat), chat),
                          "sources": merge(_sources_mapping(hub.config), sources)})
        _check_secrets(new_secrets)
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    if chat or sources:
        write_atomic(path, "# Saved by the dashboard; merged over config.yaml at start.\n"
                     + yaml.safe_dump(local, allow_unicode=True, sort_keys=False))
    changed_secrets = _save_secrets(new_secrets) if new_secrets else set()
    await apply(request.app, checked.chat, checked.sources, changed_secrets)
    _LOGGER.info("Settings saved from the dashboard (%s)",
                 ", ".join(k for k in ("chat", "sources", "secrets") if body.get(k)) or "nothing")
    return web.json_response(describe(hub.config, hub.secrets), headers={"Cache-Control": "no-store"})


def _mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise BadRequest(f"'{key}' must be an object")
    return value


def _check_secrets(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name not in secrets_mod.KNOWN_SECRETS:
            raise ConfigError(f"secrets: unknown secret {str(name)[:40]!r}")
        if value is not None and (not isinstance(value, str) or len(value) > 4096
                                  or "\n" in value):
            raise ConfigError(f"secrets.{name}: expected one line of text, or null to remove it")


def _save_secrets(values: dict[str, Any]) -> set[str]:
    """Write the secrets file (0600); ``""`` keeps a value, ``null`` removes it."""
    path = secrets_mod.default_path()
    current = secrets_mod.read_file(path) if path.exists() else {}
    changed = set()
    for name, value in values.items():
        if value == "":
            continue
        changed.add(name)
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value.strip()
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, yaml.safe_dump(current, allow_unicode=True))
    return changed


async def apply(app: web.Application, chat: ChatOptions, sources: dict[str, Any],
                changed_secrets: set[str]) -> None:
    """Use new settings now: a new pipeline (chat filters), restarted sources."""
    hub = app[HUB_KEY]
    old = hub.config
    hub.config = replace(old, chat=chat, sources=sources)
    hub.pipeline = Pipeline(chat=chat, events=old.events, speech=old.speech,
                            moderation=hub.moderation)
    if changed_secrets:
        hub.secrets = secrets_mod.Secrets.load()
    for name in SOURCES:
        before, after = old.source_options(name), hub.config.source_options(name)
        touched = any(_owner(s) == name for s in changed_secrets)
        if before == after and not touched:
            continue
        running = hub.sources.pop(name, None)
        if running is not None:
            await running.close()
        if after.enabled:
            source = source_class(name)(after, emit=hub.emit, secrets=hub.secrets)
            hub.sources[name] = source
            try:
                await source.start()
            except EngineError as exc:  # one source must not stop the others
                _LOGGER.error("Source %s cannot start: %s", name, exc.message)


def setup(app: web.Application) -> None:
    """Merge config.local.yaml into the app's config (before the hub starts); add the routes."""
    try:
        app[CONFIG_KEY] = with_local(app[CONFIG_KEY])
    except ConfigError as exc:
        _LOGGER.error("Ignoring the dashboard's saved settings: %s", exc.message)
    app.router.add_get("/v1/settings", get_settings)
    app.router.add_put("/v1/settings", put_settings)
    auth.protect(app, "GET", "/v1/settings")
    auth.protect(app, "PUT", "/v1/settings")
