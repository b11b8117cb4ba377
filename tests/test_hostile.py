"""The hostile battery (tests/hostile_lines.py) through the real engine and the real Piper voice:
every line is spoken within its bounds or refused with its reason, no breaker opens, and a
normal line is still served afterwards."""

from __future__ import annotations

import json
from typing import Any

from bench.hostile import NORMAL_LINE, breaker_states, run_battery
from tests.conftest import post_unix
from tests.hostile_lines import CONFIG, LINES, HostileLine, spoken


async def test_punctuation_is_refused_and_never_opens_the_breaker(start_engine: Any) -> None:
    """The measured incident: "." twice, then a normal line, was 503 three times."""
    engine = await start_engine()
    for text in (".", ".", "?!", "--", "...", "“”", "^^"):
        status, _, body = await post_unix(engine.unix, "/v1/synthesize", {"text": text})
        assert status == 400 and json.loads(body)["error"]["code"] == "nothing_to_speak", body
    status, _, _ = await post_unix(engine.unix, "/v1/synthesize", {"text": NORMAL_LINE})
    assert status == 200
    assert breaker_states(engine.engine) == {"piper": "closed"}
    assert engine.engine.router.stats["piper"].failed == 0


async def test_text_the_voice_cannot_pronounce_is_an_input_fault_not_a_backend_fault(
        start_engine: Any) -> None:
    """Piper makes no sound for some letters ("ꝏ", Latin Extended-D): the router's canary shows the
    voice works, so the line is refused (400) and the breaker never counts it."""
    engine = await start_engine()
    for _ in range(3):
        status, _, body = await post_unix(engine.unix, "/v1/synthesize", {"text": "ꝏ ꞵ"})
        assert status == 400 and json.loads(body)["error"]["code"] == "nothing_to_speak", body
    status, _, _ = await post_unix(engine.unix, "/v1/synthesize", {"text": NORMAL_LINE})
    assert status == 200
    assert breaker_states(engine.engine) == {"piper": "closed"}
    assert engine.engine.router.stats["piper"].failed == 0


async def test_every_hostile_line_is_spoken_within_bounds_or_refused_with_its_reason(
        start_engine: Any) -> None:
    assert len(LINES) >= 300
    engine = await start_engine(**CONFIG)
    outcomes = await run_battery(engine.url, concurrency=4, timeout_s=120)
    problems = [p for p in (o.problem() for o in outcomes) if p]
    assert not problems, f"{len(problems)} lines off their expectation:\n" + "\n".join(problems)
    assert {o.line.cls for o in outcomes if o.spoken} >= {"emoji flood", "long numbers", "zalgo"}
    assert breaker_states(engine.engine) == {"piper": "closed"}
    assert engine.engine.router.stats["piper"].failed == 0  # no input counted as a backend fault
    after = await run_battery(engine.url, [HostileLine("normal", NORMAL_LINE, spoken(4, 0.5))])
    assert after[0].spoken and after[0].problem() is None
