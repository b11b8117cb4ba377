"""The engine's own views that the OBS tests check beside the recording: a job's metadata
(backend, voice, language), the recent outcomes (played, or dropped with a reason), the sources'
states, and the dashboard's settings route, all over TCP with the install's token."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .stack import Stack
from .xserver import HarnessError


@dataclass(frozen=True)
class Outcome:
    """One entry of ``GET /v1/recent`` (engine/captions.py ``Outcome``), the fields checked here."""

    id: str
    source: str
    text: str
    state: str
    reason: str


def call_json(stack: Stack, method: str, route: str, body: Any = None, *,
              want: int = 200, timeout_s: float = 15) -> dict[str, Any]:
    status, _, raw = stack.engine.call(method, route, body, timeout_s=timeout_s)
    if status != want:
        raise HarnessError(f"{method} {route} answered {status} (wanted {want}): {raw[:400]!r}")
    return dict(json.loads(raw))


def put_settings(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT /v1/settings`` as the dashboard's form does (chat, sources, secrets); applied at once."""
    return call_json(stack, "PUT", "/v1/settings", body)


def job(stack: Stack, job_id: str) -> dict[str, Any]:
    """``GET /v1/jobs/<id>``: ``backend``, ``voice``, ``language``, ``runs``, ..."""
    return call_json(stack, "GET", f"/v1/jobs/{job_id}")


def recent(stack: Stack) -> list[Outcome]:
    """``GET /v1/recent``, newest first."""
    data = call_json(stack, "GET", "/v1/recent?limit=200")
    return [Outcome(str(o["id"]), str(o["source"]), str(o["text"]), str(o["state"]), str(o["reason"]))
            for o in data["recent"]]


def wait_sources(stack: Stack, names: tuple[str, ...], *, timeout_s: float) -> dict[str, Any]:
    """Until each named source reports ``connected`` in ``GET /v1/queue``; returns their states."""
    deadline = time.monotonic() + timeout_s
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = call_json(stack, "GET", "/v1/queue").get("sources", {})
        if all(states.get(n, {}).get("state") == "connected" for n in names):
            return states
        time.sleep(0.2)
    raise TimeoutError(f"sources {names} not all connected within {timeout_s:g} s: {states}\n"
                       f"engine log:\n{stack.engine.log_text()[-2500:]}")
