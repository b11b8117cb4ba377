"""``python -m engine``: serve, say, voices, download-voice, ... Errors are one readable line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from . import config as config_mod
from . import preflight
from .audio import wav_bytes
from .errors import EngineError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Streamer TTS engine")
    parser.add_argument("--config", help="config file (default: config.yaml in the checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the engine (HTTP on loopback + Unix socket)")
    serve.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    serve.add_argument("--port", type=int, help="override server.port")
    say = sub.add_parser("say", help="synthesize without a server")
    say.add_argument("text")
    say.add_argument("-o", "--output", required=True, help="WAV file to write (48 kHz mono)")
    say.add_argument("--voice")
    say.add_argument("--backend")
    say.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    voices = sub.add_parser("voices", help="list the voices of the enabled backends")
    voices.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    dl = sub.add_parser("download-voice", help="fetch a Piper voice from the public catalogue")
    dl.add_argument("name", nargs="?", help="e.g. en_US-lessac-medium")
    dl.add_argument("--list", action="store_true", help="list the catalogue's voices instead")
    dl.add_argument("--force", action="store_true", help="download again even if installed")
    dl.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    url = sub.add_parser("dashboard-url", help="print the dashboard's address with this install's "
                         "token (for the OBS Custom Browser Dock)")
    url.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    status = sub.add_parser("status", help="live view of a running engine: queue, sources, GPU, "
                            "alerts, cost (Ctrl-C to leave)")
    status.add_argument("--url", help="engine address, e.g. http://127.0.0.1:8000 (default: the Unix socket)")
    status.add_argument("--once", action="store_true", help="print one frame and exit")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between updates")
    status.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)
    _add_nginx_config(sub)
    return parser


def _add_nginx_config(sub: Any) -> None:
    nginx = sub.add_parser("nginx-config", help="print an nginx config for several engine "
                           "instances (README: When one machine is not enough)")
    nginx.add_argument("--instances", required=True, help="CPU pool: host:port,host:port,...")
    nginx.add_argument("--gpu", default="", help="GPU (XTTS) pool, reached under /xtts/")
    nginx.add_argument("--hub", default="", help="the hub instance OBS listens to "
                       "(default: the first instance); the others are its backups")
    nginx.add_argument("--listen", default="127.0.0.1:8000", help="nginx's host:port")
    nginx.add_argument("--server-name", action="append", default=[],
                       help="another name clients use to reach nginx (repeatable)")
    nginx.add_argument("--max-fails", type=int, default=2)
    nginx.add_argument("--fail-timeout", type=int, default=10, help="seconds")
    nginx.add_argument("--snippet", action="store_true",
                       help="only the http {} part, for /etc/nginx/conf.d/")
    nginx.add_argument("-o", "--output", help="write the config here instead of printing it")
    nginx.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = args.sub_config or args.config or config_mod.default_config_path()
        cfg = config_mod.load(path)
        logging.basicConfig(level=cfg.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return int(_COMMANDS[args.command](cfg, args) or 0)
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_serve(cfg: config_mod.EngineConfig, args: Any) -> int:
    from dataclasses import replace

    from .malloc import limit_arenas
    from .http.app import serve

    limit_arenas()  # before any thread: bounds the RSS a burst leaves behind (engine/malloc.py)
    if args.port is not None:
        cfg = replace(cfg, server=replace(cfg.server, port=args.port))
    preflight.check(cfg)  # files config.yaml names: refuse to start rather than run degraded
    path = args.sub_config or args.config or config_mod.default_config_path()

    async def run() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]

        def ready(bound: dict[str, str]) -> None:
            print("ready " + " ".join(f"{k}={v}" for k, v in bound.items()), flush=True)

        with contextlib.suppress(asyncio.CancelledError):
            await serve(cfg, ready=ready, config_path=Path(path) if path else None)  # SIGHUP reloads

    asyncio.run(run())
    return 0


def cmd_say(cfg: config_mod.EngineConfig, args: Any) -> int:
    from .service import Engine

    async def run() -> dict[str, Any]:
        engine = Engine(cfg)
        await engine.start()
        try:
            request = engine.make_request({"text": args.text, "voice": args.voice,
                                           "backend": args.backend, "priority": "announcement"})
            job = await engine.submit(request)
            pcm = b"".join([c async for c in job.chunks()])
            Path(args.output).write_bytes(wav_bytes(pcm))
            return job.metadata()
        finally:
            await engine.close()

    meta = asyncio.run(run())
    skipped = "".join(f"; skipped {s['backend']}: {s['reason']}" for s in meta["skipped"])
    print(f"wrote {args.output}: {meta.get('duration_ms', 0) / 1000:.2f} s, "
          f"48000 Hz mono, {meta['backend']} voice {meta['voice']}"
          f"{' (cached)' if meta['cached'] else ''}{skipped}")
    return 0


def cmd_voices(cfg: config_mod.EngineConfig, args: Any) -> int:
    from .service import Engine

    async def run() -> list[dict[str, str]]:
        engine = Engine(cfg)
        await engine.start()
        try:
            return await engine.voices()
        finally:
            await engine.close()

    for v in asyncio.run(run()):
        print(f"{v['backend']:<6} {v['name']:<32} {v['language']:<8} {v['description']}")
    return 0


def cmd_download_voice(cfg: config_mod.EngineConfig, args: Any) -> int:
    from .backends.piper_download import catalogue_lines, download_voice

    options = cfg.tts.options("piper")
    if args.list:
        print("\n".join(catalogue_lines(options.catalogue_url)))
        return 0
    if not args.name:
        raise EngineError("name a voice to download (e.g. en_US-lessac-medium), or use --list")
    path = download_voice(args.name, Path(options.voices_dir).expanduser(),
                          base_url=options.catalogue_url, force=args.force)
    print(f"installed {args.name} at {path}")
    return 0


def cmd_dashboard_url(cfg: config_mod.EngineConfig, args: Any) -> int:
    from .http import auth

    host = cfg.server.host if cfg.server.host not in ("", "0.0.0.0", "::", "[::]") else "127.0.0.1"
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    token = auth.load_or_create(cfg.data_path())
    print(auth.dashboard_url(f"http://{host}:{cfg.server.port}", token))
    return 0


def cmd_status(cfg: config_mod.EngineConfig, args: Any) -> int:
    from .monitor.status_tui import run, target_for

    if not 0.2 <= args.interval <= 3600:
        raise EngineError("--interval must be from 0.2 to 3600 seconds")
    return run(target_for(cfg, args.url), once=args.once, interval_s=args.interval)


def cmd_nginx_config(cfg: config_mod.EngineConfig, args: Any) -> int:
    from . import scaleout

    plan = scaleout.plan_for(
        cfg.server, listen=args.listen,
        instances=scaleout.parse_addresses(args.instances, option="--instances"),
        gpu=scaleout.parse_addresses(args.gpu, option="--gpu"), hub=args.hub,
        server_names=tuple(args.server_name), max_fails=args.max_fails,
        fail_timeout_s=args.fail_timeout, snippet=args.snippet)
    text = scaleout.render(plan)
    if not args.output:
        sys.stdout.write(text)
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {len(plan.instances)} CPU, {len(plan.gpu)} GPU instances, "
          f"hub {plan.hub_address}, standby {plan.standby or 'none'}")
    return 0


_COMMANDS = {"nginx-config": cmd_nginx_config,
             "dashboard-url": cmd_dashboard_url, "serve": cmd_serve, "say": cmd_say, "voices": cmd_voices,
             "download-voice": cmd_download_voice, "status": cmd_status}
