"""Alerts: the user guide's limits watched with hysteresis (``alerts:`` in config.yaml).

Each rule is raised when its value goes above the limit and cleared once the value is back at or
under ``limit - margin``, so a value hovering at the limit raises one alert, not one a second.
Raising is logged once at WARNING, clearing once at INFO. Active alerts are shown in
``/v1/status``, ``/health`` (``alerts``: the OBS plugin's status line), ``/metrics``
(``tts_alert_active``) and ``python -m engine status``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import AlertsConfig

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    name: str
    """Stable id (also the ``alert`` label of ``tts_alert_active``)."""
    what: str
    """For people: ``GPU temperature``."""
    limit: float
    margin: float
    unit: str

    @property
    def clear_at(self) -> float:
        return self.limit - self.margin


@dataclass(frozen=True)
class Alert:
    """An active alert, as ``/v1/status`` and ``/health`` show it."""

    name: str
    message: str
    value: float
    limit: float
    clear_at: float
    since: float
    """Wall-clock seconds when it was raised."""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "message": self.message, "value": round(self.value, 1),
                "limit": self.limit, "clear_at": self.clear_at, "since": round(self.since, 3)}


def rules(config: AlertsConfig) -> list[Rule]:
    return [
        Rule("gpu_temperature", "GPU temperature", config.gpu_temperature_c,
             config.gpu_temperature_margin_c, " °C"),
        Rule("gpu_memory", "GPU memory in use", config.gpu_memory_percent,
             config.gpu_memory_margin_percent, " %"),
        Rule("queue_length", "Queue length", float(config.queue_length),
             float(config.queue_length_margin), ""),
        Rule("latency_p95", "Time to first audio (p95)", config.latency_p95_ms,
             config.latency_p95_margin_ms, " ms"),
    ]


class Alerts:
    """Feed it readings with ``update``; read ``active()``."""

    def __init__(self, config: AlertsConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.rules = {r.name: r for r in rules(config)}
        self._clock = clock
        self._active: dict[str, Alert] = {}
        self.raised: dict[str, int] = {name: 0 for name in self.rules}
        """How many times each alert was raised since start."""

    def update(self, values: dict[str, float | None]) -> None:
        """New readings by rule name; a rule whose value is missing (``None``, or absent: no GPU,
        no latency yet) keeps its state."""
        for name, value in values.items():
            rule = self.rules.get(name)
            if rule is None or value is None:
                continue
            active = self._active.get(name)
            if active is None and value > rule.limit:
                message = (f"{rule.what} {value:.0f}{rule.unit} is over the {rule.limit:g}{rule.unit} "
                           f"limit (clears at {rule.clear_at:g}{rule.unit})")
                self._active[name] = Alert(name, message, value, rule.limit, rule.clear_at, self._clock())
                self.raised[name] += 1
                _LOGGER.warning("Alert: %s", message)
            elif active is not None and value <= rule.clear_at:
                del self._active[name]
                _LOGGER.info("Alert cleared: %s is back to %.0f%s", rule.what, value, rule.unit)
            elif active is not None:
                self._active[name] = Alert(name, active.message, value, rule.limit, rule.clear_at,
                                           active.since)

    def active(self) -> list[Alert]:
        return list(self._active.values())

    def to_list(self) -> list[dict[str, object]]:
        return [a.to_dict() for a in self._active.values()]
