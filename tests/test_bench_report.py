"""bench/RESULTS.md is shared: writing the engine-core section keeps every other section."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.core import Row, Section


def sample(value: float) -> str:
    row = Row("3. cache hit", "p50", value, 0.05, "file read", "p50 <= 5 ms", True)
    section = Section("Cache hit", [row], ["a note"])
    return report.section_text([section], [("CPU", "test cpu")], ".venv/bin/python -m bench.run", ["end"])


def test_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    other_a = "## XTTS (tiny random-weight model, CPU)\n\nxtts table\n"
    other_b = "## OBS end-to-end latency\n\nobs table\n"
    path.write_text(f"# Benchmark results\n\n{other_a}\n{other_b}")
    report.write_results(path, sample(2.5))
    first = path.read_text()
    assert other_a in first and other_b in first and "| 2.50 ms |" in first
    report.write_results(path, sample(3.25))
    second = path.read_text()
    assert other_a in second and other_b in second
    assert "| 3.25 ms |" in second and "| 2.50 ms |" not in second
    assert second.count(report.SECTION_TITLE) == 1
    assert "| 0.05 ms (file read) | 65.00x | p50 <= 5 ms | yes |" in second
    assert "`.venv/bin/python -m bench.run`" in second and "- CPU: test cpu" in second


def test_section_in_the_middle_keeps_what_follows(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# Benchmark results\n\n{sample(1.0)}\n## Edge down: fallback cost\n\nedge\n")
    report.write_results(path, sample(4.0))
    text = path.read_text()
    assert text.index(report.SECTION_TITLE) < text.index("## Edge down") and text.endswith("edge\n")
    assert "| 4.00 ms |" in text and "| 1.00 ms |" not in text


def test_a_new_file_gets_a_title(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    report.write_results(path, sample(1.0))
    assert path.read_text().startswith("# Benchmark results\n\n" + report.SECTION_TITLE)
