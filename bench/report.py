"""The results table (stdout) and this benchmark's section of ``bench/RESULTS.md``.

RESULTS.md is shared with other benchmarks: only the section under ``SECTION_TITLE`` (up to the
next ``## `` header) is replaced; every other section is kept as it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .core import Row, Section

SECTION_TITLE = "## Engine core (issue 2)"
FILE_TITLE = "# Benchmark results"


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit in ("", "req/s"):
        return f"{value:.1f}".removesuffix(".0") + (f" {unit}" if unit else "")
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"


ENGINE_COLUMNS = ("Engine", "Baseline", "Engine / baseline")
"""The value columns of the engine-core table; other benchmarks name theirs ``MEASURED_COLUMNS``."""
MEASURED_COLUMNS = ("Measured", "Baseline", "Ratio")


def table(sections: list[Section], columns: tuple[str, str, str] = ENGINE_COLUMNS) -> list[str]:
    lines = [f"| Benchmark | Measure | {' | '.join(columns)} | Goal | Met |",
             "|---|---|---|---|---|---|---|"]
    for section in sections:
        for r in section.rows:
            base = f"{fmt(r.baseline, r.unit)} ({r.baseline_name})" if r.baseline_name else ""
            ratio = f"{r.ratio:.2f}x" if r.ratio is not None and r.unit == "ms" else ""
            met = "" if r.met is None else ("yes" if r.met else "**no**")
            lines.append(f"| {r.bench} | {r.measure} | {fmt(r.ours, r.unit)} | {base} | {ratio} | "
                         f"{r.goal} | {met} |")
    return lines


def section_text(sections: list[Section], machine: list[tuple[str, str]], command: str,
                 extra_notes: list[str], *, title: str = SECTION_TITLE,
                 columns: tuple[str, str, str] = ENGINE_COLUMNS) -> str:
    out = [title, "", f"Command (from the repository root): `{command}`", "",
           "Machine:", ""]
    out += [f"- {k}: {v}" for k, v in machine]
    out += ["", *table(sections, columns), "", "Details:", ""]
    for section in sections:
        out += [f"- {section.title}: " + "; ".join(section.notes)] if section.notes else []
    out += [f"- {n}" for n in extra_notes]
    return "\n".join(out) + "\n"


def write_section(path: Path, title: str, text: str) -> None:
    """Replace (or append) the ``title`` section of RESULTS.md, re-reading the file right before
    writing it, so benchmarks that own other sections never lose each other's results."""
    current = path.read_text(encoding="utf-8") if path.exists() else f"{FILE_TITLE}\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")
    os.replace(tmp, path)


def publish(path: Path, title: str, text: str, *, write: bool) -> None:
    """Print a benchmark's section, and with ``write`` put it into RESULTS.md."""
    print(text)
    if write:
        write_section(path, title, text)
        print(f"wrote {path}")


def write_results(path: Path, text: str) -> None:
    """Write the engine-core section."""
    write_section(path, SECTION_TITLE, text)


def print_table(sections: list[Section]) -> None:
    print("\n".join(table(sections)))
    for section in sections:
        for note in section.notes:
            print(f"  {section.title}: {note}")


__all__ = ["MEASURED_COLUMNS", "Row", "Section", "print_table", "publish", "section_text", "write_results"]
