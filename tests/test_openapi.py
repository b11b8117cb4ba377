"""``GET /openapi.json`` describes every route the app registers, and the running engine, fuzzed
against it with schemathesis (bounded), answers no 5xx and conforms to it.

A longer run, by hand: ``STREAMER_TTS_FUZZ_EXAMPLES=200 STREAMER_TTS_FUZZ_SECONDS=1800
.venv/bin/python -m pytest tests/test_openapi.py -k schemathesis`` (bench/README.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from engine.http.auth import TOKEN_FILE
from engine.http.app import CONFIG_KEY
from bench.soak import start_engine
from tests.conftest import RunningEngine

FUZZ_EXAMPLES = int(os.environ.get("STREAMER_TTS_FUZZ_EXAMPLES", "20"))
FUZZ_SECONDS = int(os.environ.get("STREAMER_TTS_FUZZ_SECONDS", "0"))
"""With a time budget, fuzzing repeats until it is spent (0: each phase once, ~30 s here)."""


def registered(app: Any) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route but the automatic HEADs."""
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        path = info.get("formatter") or info.get("path")
        if path is None and "prefix" in info:  # a static folder
            path = info["prefix"].rstrip("/") + "/{filename}"
        out.add((route.method.lower(), re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)))
    return out


async def test_every_registered_route_is_described(start_engine: Any) -> None:
    running: RunningEngine = await start_engine()
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    routes = registered(running.app)
    assert len(routes) > 20
    assert routes - described == set(), "routes missing from the OpenAPI description"
    assert described - routes == set(), "described routes the app does not have"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            assert not any(code.startswith("5") and code not in ("502", "503") for code in op["responses"])
    body = doc["paths"]["/v1/synthesize"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["text"]["maxLength"] == running.app[CONFIG_KEY].server.max_text_chars
    assert doc["paths"]["/v1/events"]["post"]["security"]  # protected routes say so


def test_schemathesis_finds_no_server_error_and_no_nonconformance(tmp_path: Path) -> None:
    """Every operation but the endless streams (tag ``stream``), ``FUZZ_EXAMPLES`` cases each
    (positive and negative), with the token; a failure prints schemathesis's reproduction."""
    proc, bound = start_engine(tmp_path, overrides={"server": {"max_text_chars": 120}})
    try:
        token = (tmp_path / "data" / TOKEN_FILE).read_text().strip()
        url = f"http://{bound['tcp']}"
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
             "response_schema_conformance", "--max-examples", str(FUZZ_EXAMPLES),
             *(["--max-time", str(FUZZ_SECONDS)] if FUZZ_SECONDS else []),
             "--phases", "examples,coverage,fuzzing,stateful",
             "--request-timeout", "30", "--workers", "1", "--seed", "12",  # 2: a CPython 3.11 ast race
             "--suppress-health-check", "all", "--exclude-tag", "stream",
             "--header", f"Authorization: Bearer {token}", "--output-sanitize", "false"],
            cwd=tmp_path, capture_output=True, text=True, timeout=FUZZ_SECONDS + 300)
        log = (tmp_path / "engine.log").read_text(errors="replace")
    finally:
        proc.terminate()
        proc.wait(20)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Traceback" not in log and "Internal error" not in log, log[-3000:]
