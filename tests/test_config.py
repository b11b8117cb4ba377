"""config.yaml is validated into typed objects; bad values name their dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import config
from engine.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_loads_with_the_seed_shape() -> None:
    cfg = config.load(REPO / "config.yaml")
    assert cfg.performance.gpu.memory_fraction == 0.7
    assert cfg.performance.cache.max_size_mb == 1024
    assert cfg.performance.queue.max_concurrent >= 1
    assert cfg.tts.primary_backend == "piper"
    assert cfg.tts.options("piper").voice == "en_US-joe-medium"
    assert cfg.server.host == "127.0.0.1"


def test_every_key_in_the_shipped_config_has_a_comment() -> None:
    for n, line in enumerate((REPO / "config.yaml").read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and ":" in stripped:
            key_only = stripped.endswith(":")  # a section header: comment on it or its first child
            assert "#" in stripped or key_only, f"config.yaml line {n} has no comment: {line!r}"


@pytest.mark.parametrize("data, message", [
    ({"performance": {"gpu": {"memory_fraction": 1.7}}},
     "performance.gpu.memory_fraction: 1.7 is out of range; expected a number from 0.05 to 1.0"),
    ({"performance": {"cache": {"max_size_mb": -5}}}, "performance.cache.max_size_mb"),
    ({"performance": {"queue": {"max_concurrent": "eight"}}},
     "performance.queue.max_concurrent: expected a whole number"),
    ({"performance": {"gpu": {"enabled": "yes"}}}, "performance.gpu.enabled: expected true or false"),
    ({"performance": {"cahce": {}}}, "performance.cahce: unknown key; valid keys here are cache, gpu, queue"),
    ({"tts": {"backends": {"piper": {"voise": "x"}}}}, "tts.backends.piper.voise: unknown key"),
    ({"tts": {"backends": {"festival": {}}}}, "tts.backends.festival: unknown backend"),
    ({"tts": {"primary_backend": "nope"}}, "tts.primary_backend: unknown backend 'nope'"),
    ({"tts": {"fallback_backends": "piper"}}, "tts.fallback_backends: expected a list"),
    ({"server": {"port": 70000}}, "server.port: 70000 is out of range"),
    ({"log_level": "LOUD"}, "log_level: 'LOUD' is not valid; expected one of DEBUG, INFO"),
])
def test_bad_values_are_refused_with_their_dotted_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse(data)
    assert message in err.value.message


def test_enabled_backend_without_its_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.backends.xtts import XttsBackend

    monkeypatch.setattr(XttsBackend, "requires", ("surely_not_installed_module",))
    with pytest.raises(ConfigError) as err:
        config.parse({"tts": {"backends": {"xtts": {"enabled": True}}}})
    assert "install.py --with xtts" in err.value.message
    assert "surely_not_installed_module" in err.value.message


def test_invalid_yaml_and_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("performance: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        config.load(tmp_path / "missing.yaml")


def test_enabled_backends_follow_primary_then_fallbacks() -> None:
    cfg = config.parse({"tts": {"primary_backend": "edge", "fallback_backends": ["piper"],
                                "backends": {"edge": {"enabled": True}, "piper": {"enabled": True}}}})
    assert cfg.enabled_backends() == ["edge", "piper"]
