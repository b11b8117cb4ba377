"""Scale-out on real components, on loopback: the generated nginx config passes ``nginx -t``, and
three real engines behind a real nginx (one shared Redis) keep answering while one is SIGKILLed
under load: every announcement is accepted (or known), synthesis goes on, cache hits cross
instances."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from engine import cli, scaleout
from engine.config import ServerConfig
from tests.engine_instances import REPO, Cluster, running_cluster
from tests.nginx_server import check_config
from tests.redis_server import RedisServer

TIMEOUT = aiohttp.ClientTimeout(total=60)
LINES = ("Welcome to the stream, everyone.", "Thanks for the follow!",
         "Let us try that boss again.", "Hydrate, chat.")


def nginx_config_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "nginx-config", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("extra", [["--gpu", "127.0.0.1:8013"],
                                   ["--hub", "127.0.0.1:8010", "--server-name", "tts.lan"], []])
def test_generated_config_passes_nginx_t(tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "tts.conf"
    made = nginx_config_cli("--instances", "127.0.0.1:8011,127.0.0.1:8012", "--listen",
                            "127.0.0.1:8000", "-o", str(out), *extra)
    assert made.returncode == 0, made.stderr
    checked = check_config(tmp_path / "prefix", out.read_text())
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr


def test_snippet_passes_nginx_t_inside_http(tmp_path: Path) -> None:
    made = nginx_config_cli("--instances", "127.0.0.1:8011", "--snippet")
    assert made.returncode == 0, made.stderr
    assert "worker_processes" not in made.stdout and "upstream tts_hub" in made.stdout
    (tmp_path / "prefix").mkdir()
    (tmp_path / "prefix" / "tts.conf").write_text(made.stdout)
    main = "events {}\nhttp {\n    include tts.conf;\n}\n"
    checked = check_config(tmp_path / "prefix", main)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--instances", "127.0.0.1"], "is not host:port"),
    (["--instances", "127.0.0.1:8001,127.0.0.1:8001"], "listed twice"),
    (["--instances", "127.0.0.1:8001", "--gpu", "::1:8003"], "has no valid host name"),
    (["--instances", "127.0.0.1:8001", "--listen", "bad host:80"], "has no valid host name"),
    (["--instances", ","], "at least one"),
])
def test_bad_options_are_one_line_errors(args: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["nginx-config", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_retries_posts_only_where_safe() -> None:
    text = scaleout.render(scaleout.plan_for(ServerConfig(max_body_bytes=100_000), listen="127.0.0.1:8000",
                                             instances=("127.0.0.1:8001", "127.0.0.1:8002",
                                                        "127.0.0.1:8004"),
                                             gpu=("127.0.0.1:8003",)))
    retried = {block.split("{")[0].strip() for block in text.split("location ")[1:]
               if "non_idempotent" in block.split("}")[0]}
    assert retried == {"= /v1/synthesize", "= /v1/audio/speech", "= /v1/say", "= /v1/events",
                       "= /xtts/v1/synthesize", "= /xtts/v1/audio/speech"}
    assert "client_max_body_size 100000;" in text
    unbuffered = {block.split("{")[0].strip() for block in text.split("location ")[1:]
                  if "proxy_buffering off;" in block.split("}")[0]}
    assert unbuffered >= retried | {"= /v1/subscribe", "= /v1/captions", "= /ws", "/"}
    ws = text.split("location = /ws {")[1].split("}")[0]
    assert "proxy_read_timeout 3600s;" in ws and "Connection $tts_connection" in text
    hub_pool = text.split("upstream tts_hub {")[1].split("}")[0]
    assert [line.strip() for line in hub_pool.splitlines() if "server " in line] == [
        "server 127.0.0.1:8001 max_fails=2 fail_timeout=10s;",  # the hub and its one standby
        "server 127.0.0.1:8002 max_fails=2 fail_timeout=10s backup;"]


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis: RedisServer) -> Iterator[Cluster]:
    """Three engines sharing one Redis; the third is also the GPU pool (``/xtts/``)."""
    with running_cluster(tmp_path_factory.mktemp("cluster"), 3, redis_url=redis.url, gpu=(2,)) as c:
        yield c


async def test_nginx_routes_by_pool_and_refuses_what_the_engine_refuses(cluster: Cluster) -> None:
    hub, _, gpu = cluster.instances
    url = cluster.nginx.url
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        async with http.get(f"{url}/health") as resp:
            assert (await resp.json())["listen"]["tcp"] == hub.tcp
        async with http.get(f"{url}/xtts/health") as resp:
            assert (await resp.json())["listen"]["tcp"] == gpu.tcp
        async with http.post(f"{url}/xtts/v1/synthesize", json={"text": LINES[0], "format": "wav"}) as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000
        async with http.post(f"{url}/xtts/v1/say", json={"text": "hi"}) as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
        async with http.get(f"{url}/health", headers={"Host": "rebound.example"}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "unknown_host"
        async with http.post(f"{url}/v1/synthesize", data=b"x" * 70_000) as resp:
            assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"
        async with http.post(f"{url}/v1/say", json={"text": "no token"}) as resp:
            assert resp.status == 403 and (await resp.json())["error"]["code"] == "token_required"
        async with http.get(f"{url}/v1/subscribe", headers=cluster.headers) as sub:
            hello = json.loads(await asyncio.wait_for(sub.content.readline(), 30))
            assert hello["type"] == "hello" and hello["listeners"] == 1
        async with http.ws_connect(f"{url}/ws") as ws:
            await ws.send_json({"type": "tts", "text": LINES[1]})
            start = await ws.receive_json(timeout=30)
            assert start["type"] == "start"
            audio = await ws.receive(timeout=30)
            assert audio.type == aiohttp.WSMsgType.BINARY and audio.data


async def test_cache_hits_cross_instances(cluster: Cluster) -> None:
    """A line synthesized by one instance is ``cached`` on another (the shared Redis tier)."""
    text = f"Cross instance line {uuid.uuid4().hex[:8]}."
    first, second = cluster.instances[1], cluster.instances[2]
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        async with http.post(f"{first.url}/v1/synthesize", json={"text": text, "format": "wav"}) as resp:
            assert resp.status == 200 and resp.headers["X-TTS-Cached"] == "false"
            made = await resp.read()
        async with http.post(f"{second.url}/v1/synthesize", json={"text": text, "format": "wav"}) as resp:
            assert resp.status == 200 and resp.headers["X-TTS-Cached"] == "true"
            assert (await resp.read())[44:] == made[44:]  # the same PCM (a streamed header has no sizes)


@dataclass(frozen=True)
class Outcome:
    kind: str
    """``say`` or ``synth``."""
    started: float
    status: int
    """0: no HTTP answer (the connection broke)."""
    ok: bool
    id: str = ""
    error: str = ""


async def _synth_worker(http: aiohttp.ClientSession, url: str, stop: asyncio.Event,
                        out: list[Outcome], n: int) -> None:
    i = n
    while not stop.is_set():
        i += 1
        started = time.monotonic()
        try:
            async with http.post(f"{url}/v1/synthesize",
                                 json={"text": LINES[i % len(LINES)], "format": "wav"}) as resp:
                body = await resp.read()
                out.append(Outcome("synth", started, resp.status, resp.status == 200 and len(body) > 1000))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            out.append(Outcome("synth", started, 0, False, error=repr(exc)))


async def _say_worker(http: aiohttp.ClientSession, url: str, stop: asyncio.Event,
                      out: list[Outcome], n: int) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        event_id, started = uuid.uuid4().hex, time.monotonic()
        body = {"id": event_id, "text": f"Announcement {i} from worker {n}, load test."}
        out.append(await _say(http, url, body, started))


async def _say(http: aiohttp.ClientSession, url: str, body: dict[str, str], started: float) -> Outcome:
    try:
        async with http.post(f"{url}/v1/say", json=body) as resp:
            answer = await resp.json()
            ok = resp.status == 202 or (resp.status == 200 and answer.get("duplicate") is True)
            return Outcome("say", started, resp.status, ok, body["id"], "" if ok else str(answer))
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Outcome("say", started, 0, False, body["id"], repr(exc))


async def test_sigkill_of_the_hub_under_load(cluster: Cluster) -> None:
    """Runs last: it kills the hub (instance 0) while synthesis and announcements flow."""
    url, stop = cluster.nginx.url, asyncio.Event()
    out: list[Outcome] = []
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=cluster.headers) as http:
        workers = [asyncio.create_task(_synth_worker(http, url, stop, out, n)) for n in range(3)]
        workers += [asyncio.create_task(_say_worker(http, url, stop, out, n)) for n in range(2)]
        await asyncio.sleep(4)
        await asyncio.to_thread(cluster.instances[0].kill)
        killed_at = time.monotonic()  # after it is dead: anything started later reaches the standby
        await asyncio.sleep(8)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 90)
        says = [o for o in out if o.kind == "say"]
        before = sum(o.started < killed_at for o in says)
        assert before >= 3 and len(says) - before >= 3, f"too little load: {len(says)} says"
        assert [o for o in says if not o.ok] == [], "an announcement failed through nginx"
        # Resent with the same ids: a known one is a duplicate; one the dead hub had journaled
        # is news to its backup (a separate journal: see the README).
        resent = [await _say(http, url, {"id": o.id, "text": f"resent {o.id}"}, 0) for o in says]
    assert all(o.ok for o in resent), [o for o in resent if not o.ok][:3]
    duplicates = sum(o.status == 200 for o in resent)
    assert duplicates >= len(says) - before, "an id the standby accepted was not a duplicate there"
    assert duplicates < len(says), "the ids the dead hub accepted are news to the standby"
    synth = [o for o in out if o.kind == "synth"]
    cut = [o for o in synth if not o.ok]
    assert len(cut) <= 3, f"more synthesis failed than was in flight at the kill: {cut}"
    assert all(o.ok for o in synth if o.started > killed_at + 0.5), cut
    assert sum(o.ok and o.started > killed_at for o in synth) >= 3
    assert "no live upstreams" not in cluster.nginx.error_log()
    print(f"says {len(says)} (before kill {before}), resent as duplicates "
          f"{sum(o.status == 200 for o in resent)}; synth {len(synth)}, cut {len(cut)}: {cut}")
