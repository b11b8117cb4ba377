"""``/metrics``, ``/v1/status`` and ``/v1/history`` of a real engine with the real Piper voice: names,
labels and values after real requests, Prometheus' own linter (promtool, Debian's ``prometheus``
package) on the real output, and no user name or text in any label."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.http.auth import HEADER, TOKEN_KEY
from engine.http.monitor import MONITOR_KEY
from engine.speech.ratelimit import RateLimiter
from tests.conftest import RunningEngine
from tests.test_hub import CHAT_ALL, next_event, play_through

SECRET_USER = "zebrauser4711"
SECRET_WORD = "quokkapalooza"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed: dict[Any, float], name: str, **labels: str) -> float:
    return parsed[(name, tuple(sorted(labels.items())))]


def session(running: RunningEngine) -> aiohttp.ClientSession:
    """An HTTP client with the engine's token (steering and the speech stream need it on TCP)."""
    return aiohttp.ClientSession(headers={HEADER: running.app[TOKEN_KEY]})


async def get(http: aiohttp.ClientSession, running: RunningEngine, route: str) -> tuple[int, str]:
    async with http.get(running.url + route) as resp:
        return resp.status, await resp.text()


async def speak_everything(http: aiohttp.ClientSession, running: RunningEngine) -> None:
    """A Twitch chat line played through the stage (and its duplicate dropped), the same API
    request twice (a miss, then a cache hit), and one refused by the backend's rate limit."""
    line = {"type": "chat", "source": "twitch", "text": f"hello {SECRET_WORD} friends",
            "login": SECRET_USER}
    for _ in range(2):
        async with http.post(f"{running.url}/v1/events", json={**line, "id": uuid.uuid4().hex}) as r:
            assert r.status in (200, 202), await r.text()
    async with http.get(f"{running.url}/v1/subscribe") as sub:
        event = await next_event(sub)
        assert event["source"] == "twitch"
        await play_through(http, running.url, event)
    for _ in range(2):
        async with http.post(f"{running.url}/v1/synthesize", json={"text": "Metrics, please.",
                                                                  "format": "wav"}) as r:
            assert r.status == 200 and len(await r.read()) > 10_000
    running.engine.router.limiters["piper"] = RateLimiter(1)  # a real limiter, one request an hour
    for text in ("Uses the one slot.", "Refused by the rate limit."):
        async with http.post(f"{running.url}/v1/synthesize", json={"text": text, "format": "wav"}) as r:
            await r.read()
    assert r.status == 503


async def test_metrics_after_real_requests(start_engine: Any) -> None:
    running = await start_engine(**CHAT_ALL)
    async with session(running) as http:
        await speak_everything(http, running)
        status, text = await get(http, running, "/metrics")
    assert status == 200
    m = samples(text)
    assert value(m, "tts_requests_total", source="twitch", backend="piper", outcome="served") == 1
    assert value(m, "tts_requests_total", source="api", backend="piper", outcome="served") == 2
    assert value(m, "tts_requests_total", source="api", backend="piper", outcome="cached") == 1
    assert value(m, "tts_requests_total", source="api", backend="none", outcome="no_backend") == 1
    assert value(m, "tts_fallbacks_total", backend="piper", reason="rate_limited") == 1
    assert value(m, "tts_rate_limit_refusals_total", backend="piper") == 1
    assert value(m, "tts_time_to_first_audio_seconds_count", backend="piper", cached="false") == 3
    assert value(m, "tts_time_to_first_audio_seconds_count", backend="piper", cached="true") == 1
    assert 0 < value(m, "tts_time_to_first_audio_seconds_sum", backend="piper", cached="false") < 30
    assert value(m, "tts_synthesis_seconds_count", backend="piper") == 3
    assert value(m, "tts_queue_wait_seconds_count", priority="chat") == 4  # all but the cache hit
    assert value(m, "tts_cache_hits_total") == 1 and value(m, "tts_cache_misses_total") >= 3
    assert value(m, "tts_cache_entries") == 3 and value(m, "tts_cache_size_bytes") > 30_000
    assert value(m, "tts_queue_length", queue="speech") == 0
    assert value(m, "tts_queue_length", queue="synthesis") == 0
    assert value(m, "tts_drops_total", stage="speech_queue", reason="duplicate") == 1
    assert value(m, "tts_stage_events_total", event="parts_played") == 1
    assert value(m, "tts_backend_requests_total", backend="piper", outcome="served") == 3
    assert value(m, "tts_backend_available", backend="piper") == 1
    assert value(m, "tts_alert_active", alert="queue_length") == 0
    assert value(m, "tts_energy_joules_total", part="model") >= 0
    assert value(m, "process_cpu_seconds_total") > 0
    assert value(m, "process_resident_memory_bytes") > 20 * 2**20
    labels = {v for (_, pairs) in m for _, v in pairs}
    assert not any(SECRET_USER in v or SECRET_WORD in v for v in labels)
    assert not any(name.endswith("_total") for (name, _) in m
                   if name.startswith("tts_") and "_seconds" in name)


async def test_promtool_check_metrics(start_engine: Any) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool missing: install.py --system-deps installs Debian's prometheus"
    running = await start_engine(**CHAT_ALL)
    async with session(running) as http:
        await speak_everything(http, running)
        _, text = await get(http, running, "/metrics")
    proc = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == b"" and proc.stderr == b"", proc.stdout + proc.stderr
    assert "tts_requests_total" in text and "tts_gpu_temperature_celsius" not in text  # no GPU here


async def test_status_is_the_same_numbers_as_json_and_history_samples(start_engine: Any) -> None:
    running = await start_engine(**CHAT_ALL, alerts={"latency_p95_ms": 600_000})  # a loaded CI machine
    await running.app[MONITOR_KEY].close()  # no background sample between the requests and ours
    async with session(running) as http:
        await speak_everything(http, running)
        _, body = await get(http, running, "/v1/status")
        status = json.loads(body)
        _, text = await get(http, running, "/metrics")
        sample = running.app[MONITOR_KEY].sample()
        code, hist = await get(http, running, "/v1/history?minutes=5")
        bad = [(await get(http, running, f"/v1/history?minutes={m}"))[0] for m in ("0", "61", "x")]
        _, health = await get(http, running, "/health")
    m = samples(text)
    for r in status["requests"]:
        labels = {k: r[k] for k in ("source", "backend", "outcome")}
        assert value(m, "tts_requests_total", **labels) == r["count"]
    assert status["alerts"] == [] and json.loads(health)["alerts"] == []
    assert status["speech"]["stage"]["counters"]["parts_played"] == 1
    assert status["cost"]["measured"] == {"gpu": None, "cpu": None, "model": True}
    assert status["process"]["rss_bytes"] > 0 and status["latency"]["first_audio_p95_ms"] > 0
    assert sample.latency_p95_ms is not None and sample.latency_p95_ms >= sample.latency_p50_ms  # type: ignore[operator]
    assert sample.cache_hit_rate is not None and 0 < sample.cache_hit_rate < 1
    assert code == 200 and bad == [400, 400, 400]
    history = json.loads(hist)
    assert history["interval_s"] == 5.0 and len(history["samples"]) >= 2
    assert history["samples"][-1]["latency_p95_ms"] == sample.latency_p95_ms
    assert set(history["samples"][-1]) == {"t", "latency_p50_ms", "latency_p95_ms", "queue_length",
                                           "cache_hit_rate", "gpu_temperature_c", "vram_used_bytes",
                                           "gpu_power_w", "power_w"}


@pytest.mark.parametrize("interval", [5.0])
def test_history_memory_is_bounded(interval: float) -> None:
    from engine.monitor.history import History, Sample

    history = History(interval_s=interval, keep_s=3600)
    for i in range(2000):
        history.add(Sample(float(i), None, None, 0, None, None, None, None, None))
    assert len(history) == history.capacity == 720
    assert history.since(1990.0)[0].t == 1990.0


async def test_finished_jobs_are_counted_and_let_go_without_a_scrape(start_engine: Any) -> None:
    running = await start_engine()
    await running.app[MONITOR_KEY].close()  # no background sample: only the tracking itself sweeps
    metrics, ids = running.engine.metrics, []
    async with session(running) as http:
        for i in range(70):  # distinct texts: 70 jobs, each synthesized or refused (busy)
            async with http.post(f"{running.url}/v1/jobs", json={"text": f"Line {i}."}) as r:
                assert r.status in (202, 503), await r.text()
                if r.status == 202:
                    ids.append((await r.json())["request_id"])
    jobs = [running.engine.job(job_id) for job_id in ids]

    async def all_done() -> None:
        while not all(job is not None and job.done for job in jobs):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_done(), 180)
    assert metrics.pending < 70  # finished ones were counted as new ones came
    metrics.sweep()
    assert metrics.pending == 0 and sum(metrics.requests.values()) == 70
