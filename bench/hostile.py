"""The hostile chat battery (tests/hostile_lines.py) through a real engine with the real Piper
voice: what each line became (spoken, how long; or refused, why), whether any breaker opened,
and whether a normal line is still served afterwards.

    .venv/bin/python -m bench.hostile            # prints the table, updates bench/RESULTS.md

tests/test_hostile.py runs the same battery and asserts each line's expectation.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from engine.http import framing
from tests.hostile_lines import CHAT_CAP_S, CONFIG, LINES, HostileLine

from . import machine, report

SECTION_TITLE = "## Hostile chat battery (issue 8)"
COMMAND = ".venv/bin/python -m bench.hostile"
NORMAL_LINE = "Hello there, this is fine."


@dataclass(frozen=True)
class Outcome:
    line: HostileLine
    status: int
    code: str
    """Error code when refused or failed; ``""`` when spoken."""
    seconds: float
    """Audio spoken (0 when refused)."""

    @property
    def spoken(self) -> bool:
        return self.status == 200 and not self.code

    def problem(self) -> str | None:
        """Why this outcome breaks the line's expectation (``None``: as expected)."""
        exp, where = self.line.expect, f"{self.line.cls}: {self.line.text[:60]!r}"
        if self.spoken:
            if exp.max_seconds is None:
                return f"{where} was spoken ({self.seconds:.2f} s); expected refusal {exp.refused}"
            if not exp.min_seconds <= self.seconds <= exp.max_seconds:
                return (f"{where} spoke {self.seconds:.2f} s; expected "
                        f"{exp.min_seconds}-{exp.max_seconds} s")
            return None
        if self.code not in exp.refused:
            return f"{where} got {self.status} {self.code!r}; expected {exp.refused or 'speech'}"
        if self.status >= 500:
            return f"{where}: a refusal must be a 4xx, got {self.status}"
        return None


async def speak(session: aiohttp.ClientSession, url: str, line: HostileLine) -> Outcome:
    payload = {"text": line.text, "priority": line.priority}
    try:  # raw UTF-8 as chat clients send it; \u escapes only for what UTF-8 cannot carry (surrogates)
        body = json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        body = json.dumps(payload).encode()
    async with session.post(url + "/v1/synthesize", data=body,
                            headers={"Content-Type": "application/json"}) as resp:
        data = await resp.read()
    if resp.status != 200:
        try:
            code = json.loads(data)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = f"http_{resp.status}"
        return Outcome(line, resp.status, code, 0.0)
    seconds, code = 0.0, ""
    for header, _payload in framing.read_frames(io.BytesIO(data)):
        if header["type"] == "error":
            code = header.get("code", "error")
        elif header["type"] == "end":
            seconds = header.get("duration_ms", 0) / 1000
    return Outcome(line, resp.status, code, seconds)


async def run_battery(url: str, lines: list[HostileLine] | None = None, *, concurrency: int = 4,
                      timeout_s: float = 120.0) -> list[Outcome]:
    """Every line through ``POST /v1/synthesize``, ``concurrency`` at a time, in order."""
    todo = LINES if lines is None else lines
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(line: HostileLine) -> Outcome:
            async with gate:
                return await speak(session, url, line)

        return list(await asyncio.gather(*(one(line) for line in todo)))


def breaker_states(engine: Any) -> dict[str, str]:
    return {name: str(b.status()["state"]) for name, b in engine.router.breakers.items()}


def table(outcomes: list[Outcome]) -> list[str]:
    by_class: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_class[o.line.cls].append(o)
    rows = ["| Class | Lines | Spoken | Refused (by reason) | Max seconds spoken per line |",
            "|---|---|---|---|---|"]
    for cls, group in [*by_class.items(), ("**all**", outcomes)]:
        spoken = [o.seconds for o in group if o.spoken]
        reasons = Counter(o.code for o in group if not o.spoken)
        refused = ", ".join(f"{code} {n}" for code, n in sorted(reasons.items())) or "-"
        rows.append(f"| {cls} | {len(group)} | {len(spoken)} | {refused} | "
                    f"{max(spoken):.2f} |" if spoken else f"| {cls} | {len(group)} | 0 | {refused} | - |")
    return rows


async def _main() -> int:
    from tests.conftest import make_config, running_engine

    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        config = make_config(Path(tmp), **CONFIG)
        async with running_engine(config) as served:
            started = time.monotonic()
            outcomes = await run_battery(served.url)
            wall = time.monotonic() - started
            breakers = breaker_states(served.engine)
            after = (await run_battery(served.url, [HostileLine("normal", NORMAL_LINE, LINES[-1].expect)]))[0]
    problems = [p for p in (o.problem() for o in outcomes) if p]
    rows = table(outcomes)
    audio = sum(o.seconds for o in outcomes)
    notes = [f"{len(outcomes)} lines in {wall:.1f} s, {audio:.0f} s of audio (4 requests at a time, "
             "cache on, Piper `en_US-joe-medium`, chat priority unless the class says otherwise, "
             f"`text.max_chat_seconds` {CHAT_CAP_S:g}, no chat deadline).",
             f"Breakers after the battery: {', '.join(f'{k} {v}' for k, v in breakers.items())}; "
             f"a normal line afterwards: {'spoken' if after.spoken else after.code} "
             f"({after.seconds:.2f} s).",
             f"Lines off their expectation: {len(problems)}."
             + "".join(f"\n  - {p}" for p in problems[:20])]
    print("\n".join(rows))
    print("\n".join(notes))
    text = "\n".join([SECTION_TITLE, "", f"Command (from the repository root): `{COMMAND}`", "",
                      "Machine:", "", *(f"- {k}: {v}" for k, v in machine.describe()), "", *rows, "",
                      *(f"- {n}" for n in notes)]) + "\n"
    report.write_section(Path(__file__).with_name("RESULTS.md"), SECTION_TITLE, text)
    return 1 if problems or not after.spoken or set(breakers.values()) != {"closed"} else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
