"""A bounded run of each coverage-guided harness in fuzz/ (atheris, libFuzzer): a few thousand
inputs each, from an empty corpus, must end without a crash. Longer runs: fuzz/README.md."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
HARNESSES = sorted(p.name for p in FUZZ.glob("fuzz_*.py"))
RUNS = 3000
RSS_HEADROOM_MB = 2048
"""libFuzzer's memory limit above what the child starts with. Linux keeps a process's peak RSS
across fork and exec, so a harness started from a test run that once held a large model reads
that peak as its own: the limit is set above the parent's peak instead of at a flat 2 GiB."""


def test_every_target_has_a_harness() -> None:
    assert HARNESSES == ["fuzz_bilibili.py", "fuzz_config.py", "fuzz_events.py", "fuzz_framing.py",
                         "fuzz_irc.py"]


@pytest.mark.parametrize("harness", HARNESSES)
def test_harness_runs_clean(harness: str, tmp_path: Path) -> None:
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    run = subprocess.run([sys.executable, str(FUZZ / harness), f"-runs={RUNS}", "-max_len=4096",
                          "-seed=12", f"-rss_limit_mb={inherited_mb + RSS_HEADROOM_MB}",
                          f"-artifact_prefix={tmp_path}/"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert f"Done {RUNS} runs" in output
    assert not list(tmp_path.glob("crash-*"))
