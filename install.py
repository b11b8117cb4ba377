#!/usr/bin/env python3
"""Set up the streamer TTS engine: a virtual environment in .venv with the chosen extras.

Standard library only, so it runs on a fresh machine. A second run with the same options is
fast: it only checks that nothing changed.

    python3 install.py                    # engine + Piper (offline default voice)
    python3 install.py --with edge        # + Edge TTS (online voices)
    python3 install.py --with xtts        # + Coqui XTTS-v2 (torch; several GB)
    python3 install.py --with all --dev --system-deps   # everything the test suite needs
    python3 install.py --voice zh_CN-huayan-medium      # + a Piper catalogue voice (Chinese)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
EXTRAS = ("edge", "xtts", "gpu")
SYSTEM_PACKAGES = {
    # command that proves it is there -> Debian package(s) that provide it
    "obs": ["obs-studio", "obs-plugins"],
    "Xvfb": ["xvfb"],
    "ffmpeg": ["ffmpeg"],
    "xdotool": ["xdotool"],
    "openssl": ["openssl"],
    "ngircd": ["ngircd"],
    "promtool": ["prometheus"],  # `promtool check metrics` on the engine's /metrics (tests/test_metrics.py)
    "chromium": ["chromium", "fonts-noto-cjk"],  # dashboard/overlay tests (DevTools protocol); CJK
    "redis-server": ["redis-server"],  # the shared cache tier's tests (tests/test_cache_redis.py)
    "nginx": ["nginx"],  # engines behind nginx (tests/test_scaleout.py, bench/scaleout.py)
}
SYSTEM_EXTRA = ["libgl1-mesa-dri"]
"""Software OpenGL for OBS under Xvfb."""
STEPS = 5
UPLOT = "uplot@1.6.31"
"""The dashboard's charting library, from npm into the engine's static folder (never a CDN)."""
UPLOT_FILES = ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE")
VENDOR_DIR = ROOT / "engine" / "http" / "static" / "vendor" / "uplot"


def step(n: int, text: str) -> None:
    print(f"[{n}/{STEPS}] {text}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with", dest="extras", action="append", default=[], metavar="EXTRA",
                        help=f"optional backends: {', '.join(EXTRAS)} or all (repeat or comma-separate)")
    parser.add_argument("--dev", action="store_true", help="test and lint tools (pytest, ruff, mypy)")
    parser.add_argument("--system-deps", action="store_true",
                        help="also apt-get the Debian packages the OBS end-to-end tests need")
    parser.add_argument("--venv", default=str(ROOT / ".venv"), help="virtual environment folder")
    parser.add_argument("--force", action="store_true", help="reinstall even if nothing changed")
    parser.add_argument("--voice", dest="voices", action="append", default=[], metavar="NAME",
                        help="also fetch this Piper catalogue voice, e.g. zh_CN-huayan-medium "
                             "(repeatable; runs `python -m engine download-voice NAME`)")
    return parser.parse_args(argv)


def chosen_extras(args: argparse.Namespace) -> list[str]:
    extras: set[str] = set()
    for item in args.extras:
        for name in filter(None, (x.strip() for x in item.split(","))):
            if name == "all":
                extras.update(EXTRAS)
            elif name in EXTRAS:
                extras.add(name)
            else:
                sys.exit(f"install.py: unknown extra {name!r}; choose from {', '.join(EXTRAS)} or all")
    if args.dev:
        extras.add("dev")
    return sorted(extras)


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def fingerprint(extras: list[str]) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(extras).encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def run(cmd: list[str], **kwargs: object) -> None:
    print("  $ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"install.py: command failed with exit code {result.returncode}: {' '.join(cmd)}")


def install_system_deps() -> None:
    missing = [pkg for cmd, pkgs in SYSTEM_PACKAGES.items() if shutil.which(cmd) is None for pkg in pkgs]
    if not missing:
        print("  system packages: all present", flush=True)
        return
    missing += SYSTEM_EXTRA
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            sys.exit("install.py: these Debian packages are missing and I am not root: "
                     + " ".join(missing))
        prefix = ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([*prefix, "apt-get", "update", "-q"], env=env)
    run([*prefix, "apt-get", "install", "-y", "-q", *missing], env=env)


def install_web_assets() -> None:
    """uPlot for the dashboard's charts: ``npm pack`` into engine/http/static/vendor/uplot."""
    import tarfile
    import tempfile

    if all((VENDOR_DIR / Path(f).name).exists() for f in UPLOT_FILES):
        print("  web assets: present", flush=True)
        return
    if shutil.which("npm") is None:
        print("  web assets: npm not found; the dashboard will show no charts until you install "
              "npm and run install.py again", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(["npm", "pack", UPLOT, "--silent"], cwd=tmp, stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        VENDOR_DIR.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tar:
            for name in UPLOT_FILES:
                member = tar.extractfile(f"package/{name}")
                if member is None:
                    sys.exit(f"install.py: {UPLOT} has no {name}")
                (VENDOR_DIR / Path(name).name).write_bytes(member.read())
    print(f"  web assets: {UPLOT} in {VENDOR_DIR.relative_to(ROOT)}", flush=True)


def install_python(venv_dir: Path, extras: list[str], force: bool) -> bool:
    """Create the venv and install the project; returns False when it was already up to date."""
    python = venv_python(venv_dir)
    if not python.exists():
        print(f"  creating {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    stamp = venv_dir / ".streamer-tts-install"
    want = fingerprint(extras)
    if not force and stamp.exists() and stamp.read_text().strip() == want:
        print("  Python packages: up to date", flush=True)
        return False
    spec = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "on",
         "-e", spec])
    stamp.write_text(want)
    return True


def check(venv_dir: Path) -> None:
    run([str(venv_python(venv_dir)), "-c",
         "import engine.backends.piper as p; assert p.bundled_voices(), 'bundled voice missing';"
         "print('  engine imports; bundled voice:', ', '.join(p.bundled_voices()))"])


def download_voices(venv_dir: Path, voices: list[str]) -> None:
    """Fetch Piper catalogue voices with the engine's own download code (into voices_dir)."""
    for name in voices:
        run([str(venv_python(venv_dir)), "-m", "engine", "download-voice", name], cwd=ROOT)


def print_obs_steps(venv_dir: Path) -> None:
    script = ROOT / "obs_plugin" / "tts_plugin.py"
    print(f"""
Done. Start the engine:
    {venv_python(venv_dir)} -m engine serve

Add the OBS script:
    1. OBS Studio -> Tools -> Scripts.
    2. Python Settings tab: point it at a Python 3.9+ install (Linux uses the system Python).
    3. Scripts tab -> "+" -> choose:
       {script}
    4. Pick the Media Source (or keep "create one"), your Twitch channel, and press
       "Speak a test line".
""", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if sys.version_info < (3, 10):
        sys.exit("install.py: Python 3.10 or newer is needed for the engine")
    extras = chosen_extras(args)
    venv_dir = Path(args.venv)
    started = time.monotonic()
    step(1, "System packages" + ("" if args.system_deps else " (skipped: pass --system-deps for OBS tests)"))
    if args.system_deps:
        install_system_deps()
    step(2, f"Python packages into {venv_dir} (extras: {', '.join(extras) or 'none'})")
    install_python(venv_dir, extras, args.force)
    install_web_assets()
    step(3, "Checking the installation")
    check(venv_dir)
    step(4, "Voices" + (f": {', '.join(args.voices)}" if args.voices
                        else " (none asked: pass --voice NAME, e.g. --voice zh_CN-huayan-medium)"))
    download_voices(venv_dir, args.voices)
    step(5, f"Finished in {time.monotonic() - started:.1f} s")
    print_obs_steps(venv_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
