"""Secrets (tokens, API keys, cookies) kept out of config.yaml, logs, status and metrics.

They come from environment variables (``STREAMER_TTS_<NAME>``, which win) or from a YAML file
that only its owner can read: ``$XDG_CONFIG_HOME/streamer-tts/secrets.yaml`` (by default
``~/.config/streamer-tts/secrets.yaml``), or the file named by ``STREAMER_TTS_SECRETS_FILE``::

    # chmod 600 ~/.config/streamer-tts/secrets.yaml
    twitch_oauth: "oauth:abcdef..."

A file that group or others may access, that someone else owns, or that is a symlink owned by
someone else is refused with ``SecretsError``. ``Secrets`` never shows a value in its ``repr``,
and ``redact`` masks every known value in a string (``log_filter`` does it for log records).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml

from .errors import ConfigError

_LOGGER = logging.getLogger(__name__)

KNOWN_SECRETS: dict[str, str] = {
    "twitch_oauth": "Twitch chat OAuth token, for reading as a named account (anonymous without)",
    "streamlabs_token": "StreamLabs socket API token",
    "youtube_api_key": "YouTube Data API key",
    "bilibili_sessdata": "Bilibili SESSDATA cookie",
    "bilibili_buvid3": "Bilibili buvid3 cookie (the browser id sent with SESSDATA)",
}
"""Every secret the engine knows, by name. A new source adds its secrets here."""
ENV_PREFIX = "STREAMER_TTS_"
FILE_ENV = "STREAMER_TTS_SECRETS_FILE"
"""Environment variable naming another secrets file."""
MASK = "***"
MAX_FILE_BYTES = 64 * 1024
MIN_REDACT_CHARS = 4
"""Shorter values are not searched for in text (they would mask ordinary words)."""


class SecretsError(ConfigError):
    """The secrets file is unsafe or invalid; the message says what to fix (never a value)."""

    code = "bad_secrets"


def env_name(name: str) -> str:
    """The environment variable of secret ``name`` (``twitch_oauth`` -> ``STREAMER_TTS_TWITCH_OAUTH``)."""
    return ENV_PREFIX + name.upper()


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(FILE_ENV):
        return Path(os.path.expanduser(env[FILE_ENV]))
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "streamer-tts" / "secrets.yaml"


class Secrets:
    """Known secrets by name; build it with ``Secrets.load()`` (or ``Secrets({...})`` in tests)."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        values = dict(values or {})
        unknown = sorted(set(values) - set(KNOWN_SECRETS))
        if unknown:
            raise SecretsError(f"unknown secret {unknown[0]!r}; known: {', '.join(KNOWN_SECRETS)}")
        self._values = {k: v for k, v in values.items() if v}

    @classmethod
    def load(cls, *, path: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> Secrets:
        """File values, overridden by environment variables. With ``path=None`` the default file
        is used when it exists; a ``path`` given explicitly must exist."""
        env = os.environ if environ is None else environ
        explicit = path is not None or bool(env.get(FILE_ENV))
        file_path = Path(path) if path is not None else default_path(env)
        values: dict[str, str] = {}
        if explicit or os.path.lexists(file_path):
            values = read_file(file_path)
        for name in KNOWN_SECRETS:
            if env.get(env_name(name)):
                values[name] = env[env_name(name)]
        secrets = cls(values)
        _LOGGER.debug("secrets loaded: %s", secrets)
        return secrets

    def get(self, name: str) -> str | None:
        """The value of secret ``name``, or ``None`` when it is not set."""
        if name not in KNOWN_SECRETS:
            raise KeyError(f"unknown secret {name!r}; known: {', '.join(KNOWN_SECRETS)}")
        return self._values.get(name)

    def names(self) -> list[str]:
        """Names of the secrets that are set (safe to show)."""
        return sorted(self._values)

    def redact(self, text: str) -> str:
        """``text`` with every known secret value replaced by ``***``."""
        for value in sorted(self._values.values(), key=len, reverse=True):
            if len(value) >= MIN_REDACT_CHARS and value in text:
                text = text.replace(value, MASK)
        return text

    def log_filter(self) -> logging.Filter:
        """A logging filter that redacts these secrets from every record it sees."""
        return _RedactFilter(self)

    def __repr__(self) -> str:
        return "Secrets(" + ", ".join(f"{n}={MASK}" for n in self.names()) + ")"

    __str__ = __repr__


class _RedactFilter(logging.Filter):
    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._secrets.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def read_file(path: Path, *, uid: int | None = None) -> dict[str, str]:
    """Parse a secrets file after checking that only its owner (``uid``, by default ours)
    can reach it."""
    uid = os.getuid() if uid is None else uid
    try:
        link = os.lstat(path)
    except OSError as exc:
        raise SecretsError(f"cannot read secrets file {path}: {exc.strerror}") from None
    if stat.S_ISLNK(link.st_mode) and link.st_uid != uid:
        raise SecretsError(f"secrets file {path} is a symlink owned by someone else; refusing it")
    try:  # O_NONBLOCK: a FIFO planted here must not hang the engine
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretsError(f"cannot read secrets file {path}: {exc.strerror}") from None
    try:
        _check_mode(path, os.fstat(fd), uid)
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SecretsError(f"secrets file {path} is over {MAX_FILE_BYTES} bytes")
    return _parse(path, data)


def _check_mode(path: Path, info: os.stat_result, uid: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SecretsError(f"secrets file {path} is not a regular file")
    if info.st_uid != uid:
        raise SecretsError(f"secrets file {path} belongs to uid {info.st_uid}, not to you ({uid})")
    if info.st_mode & 0o077:
        raise SecretsError(f"secrets file {path} can be accessed by group or others "
                           f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}")


def _parse(path: Path, data: bytes) -> dict[str, str]:
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        # the parser's message may quote the file, so it is not repeated here
        raise SecretsError(f"secrets file {path} is not valid UTF-8 YAML") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SecretsError(f"secrets file {path}: expected a mapping of secret name to value")
    values: dict[str, str] = {}
    for key, value in doc.items():
        if key not in KNOWN_SECRETS:
            raise SecretsError(f"secrets file {path}: unknown secret {str(key)[:40]!r}; "
                               f"known: {', '.join(KNOWN_SECRETS)}")
        if not isinstance(value, str):
            raise SecretsError(f"secrets file {path}: {key} must be a string (put it in quotes)")
        values[key] = value.strip()
    return values
