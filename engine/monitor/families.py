"""The status snapshot (``Metrics.snapshot``, the JSON of ``/v1/status``) as Prometheus families.

Names follow Prometheus' conventions (``promtool check metrics``): counters end in ``_total``,
units are base units in the name (``_seconds``, ``_bytes``, ``_celsius``, ``_watts``,
``_joules``, ``_ratio`` for 0-1). A section missing from the snapshot (no GPU, no hub) yields
no families.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_STATES = ("off", "connecting", "connected", "reconnecting", "auth_failed", "offline")
_STAGE_EVENTS = ("parts_published", "parts_played", "utterances_played")


def families(s: dict[str, Any]) -> Iterator[Metric]:
    yield from _requests(s)
    yield from _queue(s.get("queue") or {}, s.get("speech"))
    yield from _cache(s.get("cache") or {})
    yield from _backends(s.get("backends") or {})
    yield from _gpu(s.get("gpu") or {})
    yield from _speech(s.get("speech"))
    yield from _cost(s.get("cost"))
    yield from _alerts(s.get("alert_rules"), s.get("alerts"))
    process = s.get("process") or {}
    if isinstance(process.get("cpu_seconds"), (int, float)):
        yield _counter("process_cpu_seconds", "Total user and system CPU time spent in seconds",
                       process["cpu_seconds"])
    if isinstance(process.get("rss_bytes"), int):
        yield _gauge("process_resident_memory_bytes", "Resident memory size in bytes", process["rss_bytes"])
    if isinstance(s.get("uptime_s"), (int, float)):
        yield _gauge("tts_uptime_seconds", "Seconds since the engine started", s["uptime_s"])


def _requests(s: dict[str, Any]) -> Iterator[Metric]:
    req = CounterMetricFamily("tts_requests", "Finished synthesis requests by source, backend and outcome",
                              labels=["source", "backend", "outcome"])
    for r in s.get("requests") or []:
        req.add_metric([r["source"], r["backend"], r["outcome"]], r["count"])
    yield req
    fb = CounterMetricFamily("tts_fallbacks", "Backends skipped or failed over, by reason",
                             labels=["backend", "reason"])
    for f in s.get("fallbacks") or []:
        fb.add_metric([f["backend"], f["reason"]], f["count"])
    yield fb
    rl = CounterMetricFamily("tts_rate_limit_refusals", "Requests a backend's rate limit turned away",
                             labels=["backend"])
    for backend in s.get("backends") or {}:
        rl.add_metric([backend], (s.get("rate_limited") or {}).get(backend, 0))
    yield rl


def _queue(q: dict[str, Any], speech: dict[str, Any] | None) -> Iterator[Metric]:
    length = GaugeMetricFamily("tts_queue_length", "Items waiting", labels=["queue"])
    if "queued" in q:
        length.add_metric(["synthesis"], q["queued"])
    if speech:
        length.add_metric(["speech"], speech["queue"]["items"])
    yield length
    if "running" in q:
        yield _gauge("tts_queue_running", "Syntheses running now", q["running"])
        yield _counter("tts_queue_deduplicated", "Requests that shared a job already in flight",
                       q["deduplicated"])
    drops = CounterMetricFamily("tts_drops", "Requests and utterances dropped unspoken, by stage and reason",
                                labels=["stage", "reason"])
    if "expired" in q:
        drops.add_metric(["synthesis", "expired"], q["expired"])
        drops.add_metric(["synthesis", "busy"], q["refused_busy"])
    if speech:
        for reason, n in sorted(speech["queue"].get("drops", {}).items()):
            drops.add_metric(["speech_queue", _label(reason)], n)
        for reason, n in sorted(speech.get("pipeline_drops", {}).items()):
            drops.add_metric(["pipeline", _label(reason)], n)
        merged: dict[str, float] = {}
        for key, n in speech["stage"].get("counters", {}).items():
            if key not in _STAGE_EVENTS:
                merged[_label(key)] = merged.get(_label(key), 0) + n
        for reason, n in sorted(merged.items()):
            drops.add_metric(["stage", reason], n)
    yield drops


def _cache(cache: dict[str, Any]) -> Iterator[Metric]:
    if not cache.get("enabled"):
        return
    yield _counter("tts_cache_hits", "Cache hits", cache["hits"])
    yield _counter("tts_cache_misses", "Cache misses", cache["misses"])
    yield _gauge("tts_cache_size_bytes", "Cache size on disk", cache["size_bytes"])
    yield _gauge("tts_cache_entries", "Clips in the cache", cache["entries"])


def _backends(backends: dict[str, Any]) -> Iterator[Metric]:
    outcomes = CounterMetricFamily("tts_backend_requests", "Backend attempts by outcome",
                                   labels=["backend", "outcome"])
    up = GaugeMetricFamily("tts_backend_available", "1 if the backend can take work", labels=["backend"])
    for name, b in sorted(backends.items()):
        up.add_metric([name], 1.0 if b.get("available") else 0.0)
        for outcome in ("served", "failed", "skipped"):
            outcomes.add_metric([name, outcome], b.get(outcome, 0))
    yield outcomes
    yield up


def _gpu(gpu: dict[str, Any]) -> Iterator[Metric]:
    for key, name, doc, scale in (
            ("temperature_c", "tts_gpu_temperature_celsius", "GPU temperature", 1.0),
            ("memory_used_bytes", "tts_gpu_memory_used_bytes", "GPU memory in use", 1.0),
            ("memory_total_bytes", "tts_gpu_memory_total_bytes", "GPU memory in all", 1.0),
            ("power_w", "tts_gpu_power_watts", "GPU power draw", 1.0),
            ("utilization_percent", "tts_gpu_utilization_ratio", "GPU busy share (0-1)", 0.01)):
        if isinstance(gpu.get(key), (int, float)):
            yield _gauge(name, doc, gpu[key] * scale)
    if isinstance(gpu.get("energy_wh"), (int, float)):
        yield _counter("tts_gpu_energy_joules", "GPU energy since the engine started",
                       gpu["energy_wh"] * 3600)


def _speech(speech: dict[str, Any] | None) -> Iterator[Metric]:
    if not speech:
        return
    stage = speech["stage"]
    yield _gauge("tts_playback_listeners", "OBS plugins listening for speech", stage.get("listeners", 0))
    yield _gauge("tts_speech_paused", "1 while the speech queue is paused",
                 1.0 if stage.get("paused") else 0.0)
    events = CounterMetricFamily("tts_stage_events", "Parts and utterances handed to OBS and played",
                                 labels=["event"])
    for key in _STAGE_EVENTS:
        events.add_metric([key], stage.get("counters", {}).get(key, 0))
    yield events
    state = GaugeMetricFamily("tts_source_state", "1 for each source's current state",
                              labels=["source", "state"])
    seen = CounterMetricFamily("tts_source_events", "Events a source emitted", labels=["source"])
    errors = CounterMetricFamily("tts_source_errors", "Lines a source could not use", labels=["source"])
    for name, src in sorted(speech.get("sources", {}).items()):
        for st in _STATES:
            state.add_metric([name, st], 1.0 if src.get("state") == st else 0.0)
        seen.add_metric([name], src.get("events", 0))
        errors.add_metric([name], src.get("errors", 0))
    yield from (state, seen, errors)


def _cost(cost: dict[str, Any] | None) -> Iterator[Metric]:
    if not cost:
        return
    energy = CounterMetricFamily("tts_energy_joules", "Energy since the engine started, by part "
                                 "(model: estimated from cost.idle_watts/load_watts)", labels=["part"])
    for part in ("gpu", "cpu", "model"):
        energy.add_metric([part], cost["energy_total_j"][part])
    yield energy
    if cost.get("power_w") is not None:
        yield _gauge("tts_power_watts", "Average power over the last interval", cost["power_w"])
    yield _gauge("tts_energy_today_joules", "Energy used today (local time)", cost["energy_today_j"]["total"])
    currency = f"in {cost['currency']} at {cost['price_per_kwh']:g} per kWh"
    yield _gauge("tts_electricity_cost_today", f"Electricity cost today, {currency}", cost["cost_today"] or 0)
    if cost.get("cost_per_day_projected") is not None:
        yield _gauge("tts_electricity_cost_projected_per_day",
                     f"Cost per day at today's average power, {currency}", cost["cost_per_day_projected"])
    b_energy = CounterMetricFamily("tts_backend_energy_joules", "Energy attributed to a backend by its "
                                   "synthesis time", labels=["backend"])
    per_1000 = GaugeMetricFamily("tts_backend_cost_per_1000_messages",
                                 f"Electricity per 1,000 messages, {currency}", labels=["backend"])
    for name, b in sorted(cost.get("backends", {}).items()):
        b_energy.add_metric([name], b["energy_j"])
        if b.get("cost_per_1000_messages") is not None:
            per_1000.add_metric([name], b["cost_per_1000_messages"])
    yield b_energy
    yield per_1000


def _alerts(rules: list[str] | None, active: list[dict[str, Any]] | None) -> Iterator[Metric]:
    if rules is None:
        return
    on = {a["name"] for a in active or []}
    fam = GaugeMetricFamily("tts_alert_active", "1 while an alert is raised (alerts: in config.yaml)",
                            labels=["alert"])
    for name in rules:
        fam.add_metric([name], 1.0 if name in on else 0.0)
    yield fam


def _label(value: str) -> str:
    """A counter key as a bounded label: lower case words up to the first one with a digit
    (``cancelled_user_muted_for_60_s`` -> ``cancelled_user_muted_for``)."""
    words = []
    for word in re.split(r"[^a-z0-9]+", str(value).lower()):
        if any(c.isdigit() for c in word):
            break
        if word:
            words.append(word)
    return "_".join(words)[:48] or "other"


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
