"""The status line in the script's properties: engine state, its queue and alerts (from
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
    """The engine's speech queue (``speech``), else its synthesis queue (``queue``), as k=v."""
    for key in ("speech", "queue"):
        section = health.get(key)
        if isinstance(section, dict) and section:
            items = [f"{k} {v}" for k, v in section.items() if isinstance(v, (int, float, str, bool))]
            return ", ".join(items[:8]) or "(empty)"
    return "unknown (no /health yet)"


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
