"""An nginx config for several engine instances (``python -m engine nginx-config``).

The user guide's horizontal scaling: engine instances behind nginx, distributed by backend type.

- ``tts_cpu`` (``--instances``): Piper/Edge synthesis (``/v1/synthesize``, ``/v1/audio/speech``,
  ``/v1/voices``), least connections first.
- ``tts_gpu`` (``--gpu``): XTTS synthesis, chosen by the path prefix ``/xtts/`` (stripped before
  the request reaches the instance, so ``/xtts/v1/audio/speech`` is the instance's
  ``/v1/audio/speech``): an OpenAI-style client only lets you set a base URL, not a header.
  Without ``--gpu``, ``/xtts/`` answers 404 ``no_gpu_pool`` instead of a CPU voice.
- ``tts_hub`` (``--hub``, default the first instance): the speech hub, everything that queues,
  steers or reads announcements (``/v1/say``, ``/v1/events``, ``/v1/subscribe``, ``/v1/jobs``,
  ``/ws``, the dashboard, ...). The hub serves it; one standby (the first other instance) is
  its ``backup`` server and accepts announcements only while the hub is down. One standby, not
  all: a resent id must reach the journal that knows it (see the README's "When one machine is
  not enough" for what that means for the queue and the journal).

Every pool has passive health checks (``max_fails``/``fail_timeout``), keepalive connections,
and retries on the next server after a connection error or timeout. POST is retried only where
that is safe: synthesis (the result depends only on the body) and announcements (their event id
dedupes them in the journal). Streams (audio, NDJSON, SSE, WebSocket) pass unbuffered. Only the
engine's own names reach the engines (a DNS-rebound name gets nginx's 403), with ``Host`` as
nginx received it minus the port, which the engines' own Host check accepts.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass

from .config import ServerConfig
from .errors import ConfigError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
SYNTHESIS_PATHS = ("/v1/synthesize", "/v1/audio/speech")
"""POSTs whose answer depends only on the body: retried on the next instance."""
ANNOUNCE_PATHS = ("/v1/say", "/v1/events")
"""Announcement POSTs, retried on the next instance: the event id dedupes them."""
STREAM_PATHS = ("/v1/subscribe", "/v1/captions")
"""Long-lived hub streams (NDJSON, SSE): unbuffered, with the long read timeout."""


@dataclass(frozen=True)
class ScaleoutPlan:
    """What the generated config routes where, and its limits."""

    listen: str
    """``host:port`` nginx listens on."""
    instances: tuple[str, ...]
    """The CPU pool (``host:port`` of each engine)."""
    gpu: tuple[str, ...] = ()
    """The GPU (XTTS) pool, reached under ``/xtts/``; empty: none."""
    hub: str = ""
    """The hub instance (OBS listens to it); empty: the first of ``instances``. The first other
    instance is its standby."""
    server_names: tuple[str, ...] = ()
    """Names besides the loopback names that clients may reach nginx by."""
    max_body_bytes: int = 65_536
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    """The engines' ``server.idle_timeout_s``: upstream keepalive connections close before it."""
    max_fails: int = 2
    fail_timeout_s: int = 10
    connect_timeout_s: float = 2.0
    read_timeout_s: int = 60
    """Time to the next byte of an answer (the engine sends the first audio when synthesis starts)."""
    gpu_read_timeout_s: int = 120
    stream_timeout_s: int = 3600
    """Read/send timeout of /ws and the hub's streams."""
    keepalive: int = 16
    """Idle keepalive connections kept per nginx worker and pool."""
    snippet: bool = False
    """Only the ``http {}`` part (for ``/etc/nginx/conf.d/``) instead of a whole nginx.conf."""

    @property
    def hub_address(self) -> str:
        return self.hub or self.instances[0]

    @property
    def standby(self) -> str | None:
        """Takes the hub's requests while the hub is down."""
        return next((a for a in self.instances if a != self.hub_address), None)


def parse_addresses(text: str, *, option: str) -> tuple[str, ...]:
    """``"127.0.0.1:8001,127.0.0.1:8002"`` -> the addresses; a bad one is a ``ConfigError``."""
    addresses = tuple(a.strip() for a in text.split(",") if a.strip())
    for address in addresses:
        check_address(address, option=option)
    if len(set(addresses)) != len(addresses):
        raise ConfigError(f"{option}: an address is listed twice")
    return addresses


def check_address(address: str, *, option: str) -> str:
    """``host:port`` with an IPv4 address, a name, or ``[IPv6]``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{option}: {address[:80]!r} is not host:port (e.g. 127.0.0.1:8001)")
    if host.startswith("[") and host.endswith("]"):
        _ip(host[1:-1], address, option)
    elif not (_NAME.fullmatch(host) and not host.endswith(".")) and not _is_ip(host):
        raise ConfigError(f"{option}: {address[:80]!r} has no valid host name")
    return address


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return ":" not in host  # a bare IPv6 address needs brackets before its port


def _ip(host: str, address: str, option: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise ConfigError(f"{option}: {address[:80]!r} has no valid IPv6 address") from None


def plan_for(server: ServerConfig, *, listen: str, instances: tuple[str, ...],
             gpu: tuple[str, ...] = (), hub: str = "", server_names: tuple[str, ...] = (),
             max_fails: int = 2, fail_timeout_s: int = 10, snippet: bool = False) -> ScaleoutPlan:
    """A plan with the limits of the engines' ``server`` section (they share one config)."""
    if not instances:
        raise ConfigError("--instances: name at least one engine instance (host:port)")
    check_address(listen, option="--listen")
    if hub:
        check_address(hub, option="--hub")
    for name in server_names:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"--server-name: {name[:80]!r} is not a host name")
    if not 1 <= max_fails <= 100 or not 1 <= fail_timeout_s <= 3600:
        raise ConfigError("--max-fails must be 1-100 and --fail-timeout 1-3600 seconds")
    return ScaleoutPlan(listen=listen, instances=instances, gpu=gpu, hub=hub,
                        server_names=server_names, max_body_bytes=server.max_body_bytes,
                        body_timeout_s=server.body_timeout_s, idle_timeout_s=server.idle_timeout_s,
                        max_fails=max_fails, fail_timeout_s=fail_timeout_s, snippet=snippet)


def render(plan: ScaleoutPlan) -> str:
    """The nginx config text (a whole nginx.conf, or the ``http {}`` body when ``snippet``)."""
    http = [*_upstreams(plan), *_maps(), *_refusing_server(plan), *_server(plan)]
    if plan.snippet:
        return "\n".join(["# streamer-tts: include in nginx's http {} (e.g. /etc/nginx/conf.d/)",
                          *http]) + "\n"
    body = ["# streamer-tts: engine instances behind nginx (python -m engine nginx-config)",
            "worker_processes auto;", "events { worker_connections 1024; }", "http {",
            *[f"    {line}" if line else "" for line in [
                "access_log off;", "client_body_temp_path client_body_temp;",
                "proxy_temp_path proxy_temp;", *http]], "}"]
    return "\n".join(body) + "\n"


def _upstreams(plan: ScaleoutPlan) -> list[str]:
    hub = plan.hub_address
    pools = [("tts_cpu", "least_conn;", [(a, "") for a in plan.instances])]
    if plan.gpu:
        pools.append(("tts_gpu", "least_conn;", [(a, "") for a in plan.gpu]))
    standby = [] if plan.standby is None else [(plan.standby, " backup")]  # one: see the docstring
    pools.append(("tts_hub", "", [(hub, ""), *standby]))
    keepalive_s = max(1, int(plan.idle_timeout_s // 2))  # closed before the engine closes it
    out: list[str] = []
    for name, method, servers in pools:
        out += [f"upstream {name} {{", *([f"    {method}"] if method else [])]
        out += [f"    server {a} max_fails={plan.max_fails} fail_timeout={plan.fail_timeout_s}s{extra};"
                for a, extra in servers]
        out += [f"    keepalive {plan.keepalive};", f"    keepalive_timeout {keepalive_s}s;", "}", ""]
    return out


def _maps() -> list[str]:
    return ["# WebSocket upgrade; plain requests send no Connection header (upstream keepalive)",
            "map $http_upgrade $tts_connection {", "    default upgrade;", "    \"\" \"\";", "}", ""]


def _json_return(status: int, code: str, message: str) -> str:
    body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"))
    return f"return {status} '{body}';"


def _refusing_server(plan: ScaleoutPlan) -> list[str]:
    """Any name but the engine's own is refused, as the engines refuse it (DNS rebinding)."""
    return ["server {", f"    listen {plan.listen} default_server;", "    default_type application/json;",
            "    location / { " + _json_return(403, "unknown_host", "requests for this host name are "
                                               "refused; add it with --server-name") + " }",
            "}", ""]


def _server(plan: ScaleoutPlan) -> list[str]:
    names = " ".join(dict.fromkeys([*LOOPBACK_NAMES, *_listen_name(plan.listen), *plan.server_names]))
    too_large = _json_return(413, "body_too_large", f"the request body is over {plan.max_body_bytes}"
                             " bytes (server.max_body_bytes)")
    down = _json_return(503, "unavailable", "no engine instance answered; try again shortly")
    tries = max(len(plan.instances), len(plan.gpu), 2)  # each server of a pool once
    out = [
        "server {", f"    listen {plan.listen};", f"    server_name {names};",
        f"    client_max_body_size {plan.max_body_bytes};",
        f"    client_body_timeout {plan.body_timeout_s:g}s;",
        f"    client_header_timeout {plan.body_timeout_s:g}s;",
        f"    keepalive_timeout {plan.idle_timeout_s:g}s;",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Host $host;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $tts_connection;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"    proxy_connect_timeout {plan.connect_timeout_s:g}s;",
        f"    proxy_send_timeout {plan.read_timeout_s}s;",
        f"    proxy_read_timeout {plan.read_timeout_s}s;",
        "    proxy_next_upstream error timeout;  # GET, and POST not yet sent to the instance",
        f"    proxy_next_upstream_tries {tries};",
        f"    proxy_next_upstream_timeout {plan.read_timeout_s}s;",
        "    error_page 413 @too_large;", "    error_page 502 503 504 @unavailable;",
        f"    location @too_large {{ default_type application/json; {too_large} }}",
        f"    location @unavailable {{ default_type application/json; {down} }}",
        "",
        "    # Synthesis: retried on the next instance even once sent; audio streams unbuffered",
    ]
    for path in SYNTHESIS_PATHS:
        out += _location(f"= {path}", "tts_cpu", retry_post=True, stream=True)
    out += _location("= /v1/voices", "tts_cpu")
    out += ["", "    # Announcements: the event id dedupes a retried one in the journal"]
    for path in ANNOUNCE_PATHS:
        out += _location(f"= {path}", "tts_hub", retry_post=True, stream=True)
    out += ["", "    # Hub streams and the WebSocket: unbuffered, long-lived"]
    for path in (*STREAM_PATHS, "/ws"):
        out += _location(f"= {path}", "tts_hub", stream=True, read_timeout_s=plan.stream_timeout_s)
    out += ["", "    # XTTS on the GPU pool, by path prefix: /xtts/v1/synthesize is /v1/synthesize"]
    out += _gpu_locations(plan)
    out += ["", "    # Everything else (jobs, control, playback, dashboard, health): the hub"]
    out += _location("/", "tts_hub", stream=True)
    return [*out, "}"]


def _gpu_locations(plan: ScaleoutPlan) -> list[str]:
    if not plan.gpu:
        return ["    location /xtts/ { default_type application/json; " + _json_return(
            404, "no_gpu_pool", "this nginx has no GPU pool (nginx-config --gpu)") + " }"]
    out = ["    location /xtts/ { default_type application/json; " + _json_return(
        404, "not_found", "the GPU pool serves synthesis only") + " }"]
    for path in SYNTHESIS_PATHS:
        out += _location(f"= /xtts{path}", "tts_gpu", retry_post=True, stream=True,
                         read_timeout_s=plan.gpu_read_timeout_s, strip="/xtts")
    for path in ("/v1/voices", "/health"):
        out += _location(f"= /xtts{path}", "tts_gpu", strip="/xtts")
    return out


def _location(match: str, pool: str, *, retry_post: bool = False, stream: bool = False,
              read_timeout_s: int | None = None, strip: str = "") -> list[str]:
    lines = [f"    location {match} {{"]
    if strip:
        lines.append(f"        rewrite ^{re.escape(strip)}(/.*)$ $1 break;")
    lines.append(f"        proxy_pass http://{pool};")
    if retry_post:
        lines.append("        proxy_next_upstream error timeout non_idempotent;")
    if stream:
        lines.append("        proxy_buffering off;")
    if read_timeout_s is not None:
        lines += [f"        proxy_read_timeout {read_timeout_s}s;",
                  f"        proxy_send_timeout {read_timeout_s}s;"]
    return [*lines, "    }"]


def _listen_name(listen: str) -> list[str]:
    host = listen.rpartition(":")[0]
    return [] if host in ("", "0.0.0.0", "*", "[::]") else [host]
