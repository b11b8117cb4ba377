"""Secrets: a user-only file or environment variables; values never shown."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.secrets import FILE_ENV, Secrets, SecretsError, default_path, env_name, read_file

TOKEN = "oauth:filetoken0123456789"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose default secrets file lives under tmp_path."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_default_file_is_read_and_the_environment_wins(tmp_path: Path, home: dict[str, str]) -> None:
    assert default_path(home) == tmp_path / "config" / "streamer-tts" / "secrets.yaml"
    write(default_path(home), f'twitch_oauth: "{TOKEN}"\nyoutube_api_key: "yt-key-1234"\n')
    secrets = Secrets.load(environ=home)
    assert secrets.get("twitch_oauth") == TOKEN and secrets.get("youtube_api_key") == "yt-key-1234"
    assert secrets.get("bilibili_sessdata") is None
    env = {**home, env_name("twitch_oauth"): "oauth:fromenv999", env_name("youtube_api_key"): ""}
    assert env_name("twitch_oauth") == "STREAMER_TTS_TWITCH_OAUTH"
    secrets = Secrets.load(environ=env)
    assert secrets.get("twitch_oauth") == "oauth:fromenv999"  # environment first
    assert secrets.get("youtube_api_key") == "yt-key-1234"  # an empty variable is not set
    assert secrets.names() == ["twitch_oauth", "youtube_api_key"]


def test_no_file_means_no_secrets_but_a_named_file_must_exist(tmp_path: Path, home: dict[str, str]) -> None:
    assert Secrets.load(environ=home).names() == []
    assert Secrets.load(environ={**home, "STREAMER_TTS_BILIBILI_SESSDATA": "cookie123"}).names() == [
        "bilibili_sessdata"]
    with pytest.raises(SecretsError, match="cannot read"):
        Secrets.load(path=tmp_path / "nope.yaml", environ=home)
    with pytest.raises(SecretsError, match="cannot read"):
        Secrets.load(environ={**home, FILE_ENV: str(tmp_path / "nope.yaml")})
    named = write(tmp_path / "elsewhere.yaml", "streamlabs_token: 'sl-token-42'\n")
    assert Secrets.load(environ={**home, FILE_ENV: str(named)}).get("streamlabs_token") == "sl-token-42"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660])
def test_a_file_others_can_reach_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "secrets.yaml", f"twitch_oauth: '{TOKEN}'\n", mode)
    with pytest.raises(SecretsError, match="chmod 600") as caught:
        Secrets.load(path=path, environ={})
    assert TOKEN not in str(caught.value) and isinstance(caught.value, ConfigError)
    path.chmod(0o600)
    assert Secrets.load(path=path, environ={}).get("twitch_oauth") == TOKEN


def test_symlinks_and_owners(tmp_path: Path) -> None:
    target = write(tmp_path / "real.yaml", f"twitch_oauth: '{TOKEN}'\n")
    link = tmp_path / "secrets.yaml"
    link.symlink_to(target)
    assert read_file(link) == {"twitch_oauth": TOKEN}  # our own link to our own file
    someone_else = os.getuid() + 1
    with pytest.raises(SecretsError, match="symlink owned by someone else"):
        read_file(link, uid=someone_else)  # seen from another user, the link is not theirs
    with pytest.raises(SecretsError, match="belongs to uid"):
        read_file(target, uid=someone_else)
    (tmp_path / "dir.yaml").mkdir(mode=0o700)
    with pytest.raises(SecretsError, match="not a regular file"):
        read_file(tmp_path / "dir.yaml")


@pytest.mark.parametrize(("text", "error"), [
    ("twitch_oath: 'oauth:typo12345'\n", "unknown secret 'twitch_oath'"),
    ("twitch_oauth: 123456\n", "must be a string"),
    ("- oauth:alist12345\n", "expected a mapping"),
    ("twitch_oauth: 'oauth:unclosed12345\n", "not valid UTF-8 YAML"),
])
def test_bad_files_are_explained_without_their_values(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path / "secrets.yaml", text)
    with pytest.raises(SecretsError, match=error) as caught:
        Secrets.load(path=path, environ={})
    assert "12345" not in str(caught.value)


def test_values_are_masked_in_repr_redact_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secrets = Secrets({"twitch_oauth": TOKEN, "streamlabs_token": "abc"})
    for shown in (repr(secrets), str(secrets), f"{secrets}", f"{secrets!r}"):
        assert TOKEN not in shown and "abc" not in shown and "twitch_oauth=***" in shown
    assert secrets.redact(f"PASS {TOKEN} and {TOKEN}") == "PASS *** and ***"
    assert secrets.redact("abc stays: too short to search for") == "abc stays: too short to search for"
    logger = logging.getLogger("engine.test_secrets")
    logger.addFilter(secrets.log_filter())
    try:
        with caplog.at_level(logging.INFO, logger="engine.test_secrets"):
            logger.info("server said %s", TOKEN)
            logger.info("nothing secret here: %d", 5)
    finally:
        logger.filters.clear()
    assert TOKEN not in caplog.text and "server said ***" in caplog.text and "here: 5" in caplog.text
    with pytest.raises(KeyError):
        secrets.get("no_such_secret")
    with pytest.raises(SecretsError, match="unknown secret"):
        Secrets({"no_such_secret": "x"})
