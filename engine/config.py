"""The engine's settings: config.yaml validated into frozen dataclasses.

The file's shape follows the project's user guide (``performance.gpu``, ``performance.cache``,
``performance.queue``, ``tts.primary_backend`` ...) plus a ``server`` section. Every key is
documented in config.yaml itself and in the README.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import validate
from .backends import REGISTRY, backend_class
from .errors import ConfigError
from .http.speakerbot_options import SpeakerbotOptions
from .pipeline.normalize import EMOJI_MODES, NormalizeOptions
from .pipeline.options import ChatOptions, EventOptions, SpeechOptions
from .sources import REGISTRY as SOURCES
from .sources import source_class

PRIORITIES = ("announcement", "event", "chat")
"""Request kinds, most urgent first."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """TCP address. Keep it on loopback: beyond it every route needs the install's token."""
    port: int = field(default=8000, metadata={"min": 0, "max": 65535})
    """TCP port; 0 picks a free one (tests)."""
    unix_socket: str = "auto"
    """Unix socket path; ``auto`` = ``$XDG_RUNTIME_DIR/streamer-tts/engine.sock`` (or a
    user-only folder under /tmp); ``""`` disables the socket."""
    max_text_chars: int = field(default=1000, metadata={"min": 1, "max": 100_000})
    """Longest text accepted in one request, in characters."""
    max_body_bytes: int = field(default=65_536, metadata={"min": 1024, "max": 16 * 2**20})
    """Largest request body accepted, in bytes."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (e.g. a local dashboard). Empty: none."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra names accepted in the ``Host`` header (``tts.lan``, or ``tts.lan:8000`` for one
    port), besides 127.0.0.1, localhost, [::1] and ``host``. Any other name is refused with 403,
    so a page that rebinds its DNS name to 127.0.0.1 cannot reach the API."""
    idle_timeout_s: float = field(default=30.0, metadata={"min": 0.1, "max": 3600})
    """Seconds a connection may stay open without sending a complete request head: idle
    keep-alive connections and headers that never finish are closed after this."""
    body_timeout_s: float = field(default=30.0, metadata={"min": 0.1, "max": 3600})
    """Seconds allowed to receive a request body; a slower one is answered 408."""
    max_connections_per_client: int = field(default=200, metadata={"min": 1, "max": 100_000})
    """Connections one client (a TCP address, or the Unix socket) may have open; the next one is
    answered 503 and closed, so one client cannot use up the engine's descriptors."""


@dataclass(frozen=True)
class GpuConfig:
    enabled: bool = False
    device: str = "cuda:0"
    memory_fraction: float = field(default=0.7, metadata={"min": 0.05, "max": 1.0})
    """Share of the GPU's memory this process may use (torch's per-process fraction)."""
    max_temperature_c: float = field(default=80.0, metadata={"min": 30, "max": 110})
    """Above this GPU temperature (°C) GPU backends are skipped until it cools."""
    max_memory_percent: float = field(default=90.0, metadata={"min": 1, "max": 100})
    """Above this share of GPU memory in use (%) GPU backends are skipped."""
    fallback_to_cpu: bool = True
    """With no usable GPU, run GPU backends on the CPU (True) or disable them (False)."""


@dataclass(frozen=True)
class AlertsConfig:
    """Alert thresholds (``engine/monitor/alerts.py``): raised above the limit, cleared once the value is
    back the margin under it; shown in ``/v1/status``, ``/health`` and ``/metrics``."""

    gpu_temperature_c: float = field(default=80.0, metadata={"min": 30, "max": 120})
    gpu_temperature_margin_c: float = field(default=5.0, metadata={"min": 0, "max": 50})
    gpu_memory_percent: float = field(default=90.0, metadata={"min": 1, "max": 100})
    gpu_memory_margin_percent: float = field(default=5.0, metadata={"min": 0, "max": 50})
    queue_length: int = field(default=20, metadata={"min": 1, "max": 100_000})
    """Utterances waiting in the speech queue plus requests waiting for synthesis."""
    queue_length_margin: int = field(default=5, metadata={"min": 0, "max": 100_000})
    latency_p95_ms: float = field(default=1500.0, metadata={"min": 1, "max": 600_000})
    """95th percentile of time to first audio over the last minute."""
    latency_p95_margin_ms: float = field(default=300.0, metadata={"min": 0, "max": 600_000})


@dataclass(frozen=True)
class CostConfig:
    """Electricity cost (``engine/monitor/cost.py``): measured energy (NVML, RAPL) where readable,
    else the idle/load wattages (the user guide's RTX 4090 table)."""

    price_per_kwh: float = field(default=0.12, metadata={"min": 0, "max": 100})
    currency: str = "$"
    idle_watts: float = field(default=30.0, metadata={"min": 0, "max": 5000})
    """Draw when idle, used only when no energy reading is available."""
    load_watts: float = field(default=400.0, metadata={"min": 0, "max": 5000})
    """Draw while synthesizing, used only when no energy reading is available."""
    rapl_dir: str = "/sys/class/powercap"
    """Where the CPU package energy counters are (``intel-rapl:N/energy_uj``)."""


@dataclass(frozen=True)
class CacheConfig:
    enabled: bool = True
    dir: str = "~/.cache/streamer-tts/audio"
    max_size_mb: float = field(default=1024, metadata={"min": 1})
    """Least-recently-used clips are evicted beyond this size (MiB)."""
    ttl_seconds: int = field(default=7200, metadata={"min": 0})
    """Clips expire after this many seconds; 0 keeps them until evicted (also Redis's TTL)."""
    memory_mb: float = field(default=64, metadata={"min": 0, "max": 65_536})
    """Hot clips kept in memory, least recently used dropped first (MiB; 0: no memory tier)."""
    check_interval_s: float = field(default=60, metadata={"min": 1, "max": 86_400})
    """How often a cache that failed to open is retried and stray files are swept (seconds)."""
    redis_url: str = ""
    """A Redis shared by several engines (``redis://host:6379/0``); empty: no shared tier."""
    redis_timeout_s: float = field(default=0.5, metadata={"min": 0.01, "max": 30})
    """Connect and reply timeout of each Redis call; past it the clip is a miss (seconds)."""


@dataclass(frozen=True)
class QueueConfig:
    max_concurrent: int = field(default=2, metadata={"min": 1, "max": 256})
    """Syntheses running at once."""
    max_queued: int = field(default=64, metadata={"min": 1, "max": 100_000})
    """Requests waiting beyond the running ones; more are refused at once with ``busy``."""


@dataclass(frozen=True)
class PerformanceConfig:
    gpu: GpuConfig = field(default_factory=GpuConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)


@dataclass(frozen=True)
class RoutingConfig:
    """Backend chosen by the kind of request, before the primary backend."""

    announcement: str | None = None
    event: str | None = None
    chat: str | None = None


DEFAULT_LANGUAGES: dict[str, dict[str, str]] = {
    "zh": {"piper": "zh_CN-huayan-medium", "edge": "zh-CN-XiaoxiaoNeural"},
    "ja": {"edge": "ja-JP-NanamiNeural"},
    "ko": {"edge": "ko-KR-SunHiNeural"},
    "ru": {"piper": "ru_RU-irina-medium", "edge": "ru-RU-SvetlanaNeural"},
    "es": {"piper": "es_ES-davefx-medium", "edge": "es-ES-ElviraNeural"},
    "de": {"piper": "de_DE-thorsten-medium", "edge": "de-DE-KatjaNeural"},
    "fr": {"piper": "fr_FR-siwis-medium", "edge": "fr-FR-DeniseNeural"},
    "ar": {"piper": "ar_JO-kareem-medium", "edge": "ar-SA-ZariyahNeural"},
}
"""Voices per language and backend. Piper's are catalogue names (``python -m engine
download-voice NAME``); Edge's need the internet. English is spoken by the default voices."""
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class TtsConfig:
    primary_backend: str = "piper"
    fallback_backends: tuple[str, ...] = ()
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    backends: dict[str, Any] = field(default_factory=dict)
    """Backend name -> that backend's ``Options`` dataclass."""
    default_language: str = "en"
    """ISO 639-1 code of the backends' default voices, and of text whose language is unclear."""
    languages: dict[str, dict[str, str]] = field(default_factory=lambda: {
        lang: dict(voices) for lang, voices in DEFAULT_LANGUAGES.items()})
    """Language code -> backend name -> the voice that speaks it (``DEFAULT_LANGUAGES`` merged
    with the file's ``tts.languages``)."""
    openai_voices: dict[str, str] = field(default_factory=dict)
    """``POST /v1/audio/speech``: voice name (OpenAI's ``alloy`` ... ``verse``, or any alias) ->
    our voice. OpenAI's names not listed here speak with the default voice."""
    missing_language_voice: str = field(default="skip", metadata={"choices": ("skip", "default")})
    """No backend has a voice for a message's language: ``skip`` refuses it with the reason and
    how to get a voice; ``default`` reads it with the default voice anyway."""
    language_pause_ms: int = field(default=120, metadata={"min": 0, "max": 2000})
    """Silence between the language runs of a mixed-language message (milliseconds)."""
    first_audio_timeout_s: float = field(default=30.0, metadata={"min": 0.1, "max": 3600})
    """A backend that has sent no audio this many seconds after it started on a request is
    given up (it hangs) and the request falls back to the next backend."""
    request_timeout_s: float = field(default=300.0, metadata={"min": 0.1, "max": 86_400})
    """A backend still streaming one request after this many seconds is cut off (the request
    fails, or falls back when no audio has left yet)."""

    def options(self, name: str) -> Any:
        """The options of backend ``name`` (its defaults when the file has none)."""
        if name in self.backends:
            return self.backends[name]
        return backend_class(name).Options()


@dataclass(frozen=True)
class TextConfig:
    """How text is normalized before synthesis and the cache key (``engine/pipeline/normalize.py``)."""

    emoji: str = field(default="name", metadata={"choices": EMOJI_MODES})
    """``name``: each distinct emoji in a message is spoken once by its CLDR name (in Chinese
    for Chinese lines); ``drop``: emoji are removed, and a message of only emoji is refused."""
    max_emoji_names: int = field(default=3, metadata={"min": 0, "max": 50})
    """At most this many emoji names are spoken per message; further emoji are dropped."""
    max_chat_seconds: float = field(default=20.0, metadata={"min": 0, "max": 3600})
    """Chat text is cut at a word to about this many spoken seconds (estimated at ~15 characters/s,
    ~5/s for Chinese, Japanese, Korean) before synthesis; 0: no cap. Other priorities are not cut."""

    def options(self, *, chat: bool) -> NormalizeOptions:
        return NormalizeOptions(emoji=self.emoji, max_emoji_names=self.max_emoji_names,
                                max_seconds=self.max_chat_seconds if chat else 0.0)


@dataclass(frozen=True)
class EngineConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    text: TextConfig = field(default_factory=TextConfig)
    chat: ChatOptions = field(default_factory=ChatOptions)
    """Which chat lines are spoken and how (filters, template, voices)."""
    events: EventOptions = field(default_factory=EventOptions)
    """Stream events (subs, raids, bits, donations, ...): on/off, templates, minimum amounts."""
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    """The speech queue: deadlines, size, dedupe, parts, journal."""
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    speakerbot: SpeakerbotOptions = field(default_factory=SpeakerbotOptions)
    """The Speaker.bot-compatible API for Streamer.bot (``engine.http.speakerbot``)."""
    data_dir: str = "~/.local/share/streamer-tts"
    """Downloaded voices and other engine data."""
    log_level: str = field(default="INFO", metadata={"choices": ("DEBUG", "INFO", "WARNING", "ERROR")})
    sources: dict[str, Any] = field(default_factory=dict)
    """Source name -> that source's ``Options`` dataclass (``sources.<name>`` in config.yaml)."""

    def source_options(self, name: str) -> Any:
        """The options of source ``name`` (its defaults, disabled, when the file has none)."""
        return self.sources[name] if name in self.sources else source_class(name).Options()

    def enabled_sources(self) -> list[str]:
        """Sources switched on, in the file's order."""
        return [name for name, options in self.sources.items() if options.enabled]

    def cache_dir(self) -> Path:
        return Path(os.path.expanduser(self.performance.cache.dir))

    def data_path(self) -> Path:
        return Path(os.path.expanduser(self.data_dir))

    def enabled_backends(self) -> list[str]:
        """Backends switched on, in the order the router tries them by default."""
        order = [self.tts.primary_backend, *self.tts.fallback_backends]
        order += [n for n in self.tts.backends if n not in order]
        return [n for n in dict.fromkeys(order) if self.tts.options(n).enabled]


def parse(data: Any) -> EngineConfig:
    """Validate a parsed config mapping; raise ``ConfigError`` naming the bad key."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError("config: expected a mapping of sections (server:, tts:, ...), got "
                          f"{type(data).__name__}")
    data = dict(data or {})
    if not isinstance(data.get("tts") or {}, dict):
        raise ConfigError(f"tts: expected a mapping of keys, got {type(data['tts']).__name__}")
    tts = dict(data.get("tts") or {})
    raw_backends = tts.pop("backends", None) or {}
    if not isinstance(raw_backends, dict):
        raise ConfigError("tts.backends: expected a mapping of backend name to settings")
    languages = _languages(tts.pop("languages", None))
    data["tts"] = tts
    raw_sources = data.pop("sources", None) or {}
    config = validate.from_mapping(EngineConfig, data)
    config = replace(config, sources=_sources(raw_sources))
    config = replace(config, tts=replace(config.tts, languages=languages))
    if not _LANGUAGE_CODE.fullmatch(config.tts.default_language):
        raise ConfigError(f"tts.default_language: {config.tts.default_language!r} is not a "
                          "language code; expected an ISO 639-1 code such as en")
    backends: dict[str, Any] = {}
    for name, options in raw_backends.items():
        if name not in REGISTRY:
            raise ConfigError(f"tts.backends.{name}: unknown backend; known: {', '.join(REGISTRY)}")
        backends[name] = validate.from_mapping(backend_class(name).Options, options,
                                               f"tts.backends.{name}")
    config = _replace_tts(config, backends)
    _check_backend_names(config)
    return config


def _sources(raw: Any) -> dict[str, Any]:
    """Each ``sources.<name>`` mapping through that source's ``Options`` and ``check_options``."""
    if not isinstance(raw, dict):
        raise ConfigError("sources: expected a mapping of source name to settings")
    sources: dict[str, Any] = {}
    for name, options in raw.items():
        if name not in SOURCES:
            raise ConfigError(f"sources.{name}: unknown source; known: {', '.join(SOURCES)}")
        cls = source_class(name)
        sources[name] = validate.from_mapping(cls.Options, options, f"sources.{name}")
        cls.check_options(sources[name], f"sources.{name}")
    return sources


def _languages(raw: Any) -> dict[str, dict[str, str]]:
    """``DEFAULT_LANGUAGES`` with the file's ``tts.languages`` merged in per backend; a language
    set to null is dropped, a backend set to null or "" has no voice for it."""
    merged = {lang: dict(voices) for lang, voices in DEFAULT_LANGUAGES.items()}
    if raw is None:
        return merged
    if not isinstance(raw, dict):
        raise ConfigError("tts.languages: expected a mapping of language code to voices, "
                          "e.g. {zh: {piper: zh_CN-huayan-medium, edge: zh-CN-XiaoxiaoNeural}}")
    for lang, voices in raw.items():
        key = f"tts.languages.{lang}"
        if not isinstance(lang, str) or not _LANGUAGE_CODE.fullmatch(lang):
            raise ConfigError(f"{key}: not a language code; expected an ISO 639-1 code such as zh")
        if voices is None:
            merged.pop(lang, None)
            continue
        if not isinstance(voices, dict):
            raise ConfigError(f"{key}: expected a mapping of backend name to voice")
        entry = merged.setdefault(lang, {})
        for backend, voice in voices.items():
            if backend not in REGISTRY:
                raise ConfigError(f"{key}.{backend}: unknown backend; known: {', '.join(REGISTRY)}")
            if voice is None or voice == "":
                entry.pop(backend, None)
            elif not isinstance(voice, str):
                raise ConfigError(f"{key}.{backend}: expected a voice name, got {voice!r}"[:120])
            else:
                entry[backend] = voice
    return merged


def _replace_tts(config: EngineConfig, backends: dict[str, Any]) -> EngineConfig:
    return replace(config, tts=replace(config.tts, backends=backends))


def _check_backend_names(config: EngineConfig) -> None:
    named = [("tts.primary_backend", config.tts.primary_backend)]
    named += [(f"tts.fallback_backends[{i}]", n) for i, n in enumerate(config.tts.fallback_backends)]
    named += [(f"tts.routing.{k}", getattr(config.tts.routing, k)) for k in PRIORITIES]
    for key, name in named:
        if name is not None and name not in REGISTRY:
            raise ConfigError(f"{key}: unknown backend {name!r}; known: {', '.join(REGISTRY)}")
    for name in config.enabled_backends():
        cls = backend_class(name)
        missing = cls.missing_packages()
        if missing:
            raise ConfigError(
                f"tts.backends.{name}: enabled, but {', '.join(missing)} is not installed; run "
                f"`python3 install.py --with {cls.extra or name}` or set enabled: false")


def load(path: str | os.PathLike[str] | None) -> EngineConfig:
    """Read and validate a config file (``None``: built-in defaults)."""
    if path is None:
        return parse({})
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        return parse(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None


def default_config_path() -> Path | None:
    """config.yaml at the repository root, when the engine runs from a checkout."""
    candidate = Path(__file__).resolve().parent.parent / "config.yaml"
    return candidate if candidate.exists() else None
