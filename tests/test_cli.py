"""``python -m engine``: say writes 48 kHz mono speech; errors are one line, not a traceback."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"performance:\n  cache:\n    dir: {tmp_path / 'cache'}\n{extra}")
    return cfg


def test_say_writes_48khz_mono_speech(tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    result = run_cli("--config", str(write_config(tmp_path)), "say", "Thanks for the follow!",
                     "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "48000 Hz mono" in result.stdout and "piper" in result.stdout
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert 0.6 < len(audio) / 48000 < 3.0
    assert np.abs(audio).max() > 3000


def test_voices_lists_the_bundled_voice(tmp_path: Path) -> None:
    result = run_cli("--config", str(write_config(tmp_path)), "voices")
    assert result.returncode == 0 and "en_US-joe-medium" in result.stdout


def test_errors_are_one_readable_line(tmp_path: Path) -> None:
    cases = [
        (["say", "", "-o", str(tmp_path / "y.wav")], "text is empty"),
        (["say", "hi", "--voice", "nobody", "-o", str(tmp_path / "y.wav")],
         "no enabled backend has the voice"),
        (["--config", str(tmp_path / "missing.yaml"), "voices"], "cannot read config"),
    ]
    for args, message in cases:
        if "--config" not in args:
            args = ["--config", str(write_config(tmp_path)), *args]
        result = run_cli(*args)
        assert result.returncode != 0
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, result.stderr
        assert "Traceback" not in result.stderr
    bad = write_config(tmp_path, "  gpu:\n    memory_fraction: 1.7\n")
    result = run_cli("--config", str(bad), "voices")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: performance.gpu.memory_fraction: 1.7 is out of range; "
                                     "expected a number from 0.05 to 1.0")
