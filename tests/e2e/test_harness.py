"""The e2e harness's own pieces, without OBS: the envelope analysis finds a clip where it was put
and rejects silence and a different clip; the loopback IRC server speaks Twitch's dialect."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from . import recording
from .irc_server import IrcServer
from .xserver import HarnessError, require

RATE = recording.RATE


def _speechlike(seed: int, seconds: float) -> np.ndarray:
    """Noise shaped by a random syllable-rate envelope: loud and quiet stretches like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    syllables = np.repeat(rng.uniform(0, 1, int(seconds * 8) + 1) ** 2, RATE // 8)[:n]
    return (0.5 * syllables * rng.standard_normal(n)).astype(np.float32)


def test_best_match_finds_the_clip_where_it_was_placed() -> None:
    clip = _speechlike(1, 2.0)
    track = np.zeros(6 * RATE, dtype=np.float32)
    track[int(1.5 * RATE): int(1.5 * RATE) + len(clip)] += 0.5 * clip  # quieter, like OBS's mix
    track += 1e-4 * np.random.default_rng(9).standard_normal(len(track)).astype(np.float32)
    match = recording.best_match(recording.envelope(track), recording.envelope(clip))
    assert match.correlation > 0.95
    assert abs(match.start_s - 1.5) < 0.05
    other = recording.best_match(recording.envelope(track), recording.envelope(_speechlike(2, 2.0)))
    assert other.correlation < match.correlation - 0.2


def test_silence_has_no_speech_segments() -> None:
    env = recording.envelope(np.zeros(3 * RATE, dtype=np.float32))
    assert recording.segments(env) == []
    assert recording.voiced_seconds(env) == 0.0
    assert recording.best_match(env, recording.envelope(_speechlike(3, 1.0))).level_dbfs < -100


def test_segments_bridge_short_pauses_and_split_long_ones() -> None:
    loud = _speechlike(4, 1.0) + 0.05
    gap_short, gap_long = np.zeros(RATE // 5, np.float32), np.zeros(RATE, np.float32)
    env = recording.envelope(np.concatenate([loud, gap_short, loud, gap_long, loud]))
    spans = recording.segments(env)
    assert len(spans) == 2
    assert spans[0][0] == pytest.approx(0.0, abs=0.02)
    assert spans[1][0] == pytest.approx(3.2, abs=0.02)


def test_missing_tool_is_an_error_naming_the_package() -> None:
    with pytest.raises(HarnessError, match="apt-get install -y some-package"):
        require("no-such-tool-here", "some-package")


def _read_until(sock: socket.socket, needle: bytes) -> bytes:
    data = b""
    while needle not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before {needle!r}; got {data!r}"
        data += chunk
    return data


def test_irc_server_handshake_tags_and_ping() -> None:
    server = IrcServer(ping_interval_s=0.2)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"CAP REQ :twitch.tv/tags twitch.tv/commands\r\nPASS SCHMOOPIIE\r\n"
                         b"NICK justinfan123\r\nUSER justinfan123 8 * :justinfan123\r\nJOIN #chan\r\n")
            hello = _read_until(sock, b"366")
            assert b"CAP * ACK :twitch.tv/tags twitch.tv/commands" in hello
            assert b" 001 justinfan123 " in hello
            server.wait_joined("chan", timeout_s=5)
            server.privmsg("chan", login="alice", display_name="Al ice;", text="hello there",
                           tags={"badges": "subscriber/12", "bits": "100"})
            line = _read_until(sock, b"PRIVMSG").split(b"\r\n")
            msg = next(x for x in line if b"PRIVMSG" in x).decode()
            assert msg.startswith("@") and "display-name=Al\\sice\\:" in msg and "bits=100" in msg
            assert msg.endswith(":alice!alice@alice.tmi.twitch.tv PRIVMSG #chan :hello there")
            _read_until(sock, b"PING :tmi.twitch.tv")
            sock.sendall(b"PONG :tmi.twitch.tv\r\n")
            deadline = time.monotonic() + 5
            while "PONG :tmi.twitch.tv" not in server.received and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        server.close()
    assert "PONG :tmi.twitch.tv" in server.received
