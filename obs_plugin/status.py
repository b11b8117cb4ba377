"""The status line in the script's properties: engine state, its speech queue and alerts (from
``/health``), the subscription, what plays, the outbox, the last failure."""

from __future__ import annotations

from typing import Any, Protocol

from playback import PartQueue


class _Status(Protocol):
    engine_state: str
    engine_health: dict[str, Any]
    subscription: str
    last_failure: str
    parts: PartQueue
    sent: dict[str, int]
    link: Any


def status_text(ctl: _Status) -> str:
    parts, c = ctl.parts, ctl.parts.counters
    playing = "nothing"
    if parts.current is not None:
        p = parts.current.part
        playing = f"part {p.part + 1}/{p.parts} of a {p.source or '?'} utterance"
    outbox = ctl.link.sender.waiting_events() if ctl.link is not None else 0
    lines = [
        f"Engine: {ctl.engine_state}",
        f"Subscription: {ctl.subscription}",
        f"Engine queue: {engine_queue(ctl.engine_health)}",
        f"Playing: {playing}; {len(parts)} part(s) waiting{' (PAUSED)' if parts.paused else ''}; "
        f"played {c.played}, failed {c.failed}, cancelled {c.cancelled}",
        f"Outbox: {outbox} event(s) waiting; sent {ctl.sent['delivered']}, duplicates "
        f"{ctl.sent['duplicate']}, dropped {ctl.sent['dropped']}",
    ]
    alerts = engine_alerts(ctl.engine_health)
    if alerts:
        lines.append("Alerts: " + "; ".join(alerts))
    lines.append(f"Last failure: {ctl.last_failure or 'none'}")
    return "\n".join(lines)


def engine_queue(health: dict[str, Any]) -> str:
    """The engine's speech queue from ``/health`` (``speech.queue``, ``speech.stage``)."""
    speech = health.get("speech")
    if not isinstance(speech, dict):
        return "unknown (no /health yet)" if not health else "unknown (the engine reports no speech queue)"
    queue, stage = speech.get("queue"), speech.get("stage")
    out = []
    if isinstance(queue, dict):
        out.append(f"{queue.get('items', '?')} waiting" + (" (PAUSED)" if queue.get("paused") else ""))
        drops = queue.get("drops")
        if isinstance(drops, dict) and drops:
            out.append("dropped " + ", ".join(f"{n} {why}" for why, n in sorted(drops.items())[:4]))
    if isinstance(stage, dict):
        out.append(f"{stage.get('listeners', '?')} player(s) listening")
    return "; ".join(out) or "(nothing reported)"


def engine_alerts(health: dict[str, Any]) -> list[str]:
    alerts = health.get("alerts")
    if not isinstance(alerts, list):
        return []
    out = []
    for alert in alerts[:5]:
        if isinstance(alert, dict):
            out.append(str(alert.get("message") or alert.get("code") or alert))
        else:
            out.append(str(alert))
    return out
