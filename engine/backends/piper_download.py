"""Fetch a Piper voice from the public Piper voice catalogue (``python -m engine download-voice``).

The catalogue is ``<base_url>/voices.json``: voice key -> ``{key, language, quality, num_speakers,
files: {relative path: {size_bytes, md5_digest}}, aliases}``; each file lives at
``<base_url>/<relative path>``. A voice is installed as ``NAME.onnx`` + ``NAME.onnx.json`` in the
voices folder, where ``PiperBackend`` finds it.

Each file is streamed into a hidden temp file in the voices folder, checked against the
catalogue's size and MD5, and only then renamed into place (config first, model last). A
voice is never half-installed: ``PiperBackend`` needs both files, and the model appears last.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import EngineError, UnknownVoice

_LOGGER = logging.getLogger(__name__)
CATALOGUE_FILE = "voices.json"
CHUNK_BYTES = 256 * 1024
MAX_CATALOGUE_BYTES = 64 * 2**20
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
SPARE_DISK_BYTES = 16 * 2**20
"""Free space kept on top of the voice's size before a download starts."""


class DownloadError(EngineError):
    """A voice could not be fetched (network, HTTP status, bad catalogue, truncated transfer)."""

    status = 502
    code = "download_failed"


class VoiceNotInCatalogue(UnknownVoice):
    """The name is neither a voice key nor an alias in the catalogue."""


class ChecksumMismatch(DownloadError):
    """A downloaded file's size or MD5 differs from the catalogue's; nothing was installed."""

    code = "checksum_mismatch"


class DiskFull(DownloadError):
    """The voices folder has no room for the voice; nothing was installed."""

    status = 507
    code = "disk_full"


@dataclass(frozen=True)
class RemoteFile:
    path: str
    """Path relative to the catalogue's base address."""
    size_bytes: int
    md5_digest: str


@dataclass(frozen=True)
class CatalogueVoice:
    key: str
    language: str
    quality: str
    num_speakers: int
    model: RemoteFile
    """The ``.onnx`` file."""
    config: RemoteFile
    """The ``.onnx.json`` file."""
    aliases: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        return self.model.size_bytes + self.config.size_bytes

    @classmethod
    def from_dict(cls, key: str, data: Any) -> CatalogueVoice:
        if not _SAFE_KEY.fullmatch(key):  # the key becomes a file name in the voices folder
            raise DownloadError(f"the voice catalogue has an unusable voice key {key!r}")
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise DownloadError(f"the voice catalogue's entry for {key!r} has no file list")
        found: dict[str, RemoteFile] = {}
        for path, info in data["files"].items():
            for suffix in (".onnx", ".onnx.json"):
                if str(path).endswith(suffix) and isinstance(info, dict):
                    found[suffix] = _remote_file(key, str(path), info)
        missing = [s for s in (".onnx", ".onnx.json") if s not in found]
        if missing:
            raise DownloadError(f"the voice catalogue lists no {' or '.join(missing)} file for {key!r}")
        language = data.get("language") or {}
        return cls(key=key, language=str(language.get("code", "")) if isinstance(language, dict) else "",
                   quality=str(data.get("quality", "")), num_speakers=int(data.get("num_speakers") or 1),
                   model=found[".onnx"], config=found[".onnx.json"],
                   aliases=tuple(str(a) for a in data.get("aliases") or ()))


def _remote_file(key: str, path: str, info: dict[str, Any]) -> RemoteFile:
    size, md5 = info.get("size_bytes"), info.get("md5_digest")
    if not isinstance(size, int) or size < 0 or not isinstance(md5, str) or len(md5) != 32:
        raise DownloadError(f"the voice catalogue gives no valid size/MD5 for {path} ({key})")
    return RemoteFile(path, size, md5.lower())


def file_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + urllib.parse.quote(path.lstrip("/"))


def _open(url: str, *, timeout_s: float) -> Any:
    """``urlopen`` with our errors: an HTTP status or an unreachable host is a ``DownloadError``."""
    request = urllib.request.Request(url, headers={"User-Agent": "streamer-tts voice download"})
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot reach {url}: {exc.reason}") from None
    except (TimeoutError, OSError) as exc:
        raise DownloadError(f"cannot reach {url}: {exc}") from None


def fetch_catalogue(base_url: str, *, timeout_s: float = 30.0) -> dict[str, CatalogueVoice]:
    """The catalogue's voices by key. Entries that cannot be parsed are skipped with a warning."""
    url = file_url(base_url, CATALOGUE_FILE)
    with _open(url, timeout_s=timeout_s) as resp:
        try:
            body = resp.read(MAX_CATALOGUE_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"reading {url} failed: {exc}") from None
    if len(body) > MAX_CATALOGUE_BYTES:
        raise DownloadError(f"{url} is over {MAX_CATALOGUE_BYTES} bytes; not a voice catalogue")
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise DownloadError(f"{url} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DownloadError(f"{url} is not a voice catalogue (expected a JSON object)")
    voices = {}
    for key, entry in raw.items():
        try:
            voices[str(key)] = CatalogueVoice.from_dict(str(key), entry)
        except (DownloadError, TypeError, ValueError) as exc:
            _LOGGER.warning("Skipping catalogue entry %s: %s", key, exc)
    return voices


def resolve(name: str, catalogue: dict[str, CatalogueVoice]) -> CatalogueVoice:
    """The voice with this key or alias; an unknown name lists the closest ones."""
    name = name.strip()
    if name in catalogue:
        return catalogue[name]
    for voice in catalogue.values():
        if name in voice.aliases:
            return voice
    names = list(catalogue) + [a for v in catalogue.values() for a in v.aliases]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else (
        "; `python -m engine download-voice --list` shows them all")
    raise VoiceNotInCatalogue(f"no Piper voice {name!r} in the catalogue{hint}")


def download_voice(name: str, voices_dir: Path, *, base_url: str, timeout_s: float = 30.0,
                   progress: bool = True, force: bool = False) -> Path:
    """Install voice ``name`` (key or alias) into ``voices_dir``; returns the ``.onnx`` path.

    A voice already installed with the catalogue's checksums is kept unless ``force``.
    ``timeout_s`` bounds connecting and each read (a stalled transfer fails, a slow one does not).
    """
    voice = resolve(name, fetch_catalogue(base_url, timeout_s=timeout_s))
    voices_dir = Path(voices_dir).expanduser()
    try:
        voices_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the voices folder {voices_dir}: {exc.strerror}") from None
    model_path = voices_dir / f"{voice.key}.onnx"
    config_path = voices_dir / f"{voice.key}.onnx.json"
    if not force and _matches(model_path, voice.model) and _matches(config_path, voice.config):
        _LOGGER.info("Piper voice %s is already installed at %s", voice.key, model_path)
        return model_path
    _check_space(voices_dir, voice.size_bytes)
    parts: list[Path] = []
    try:
        for remote in (voice.config, voice.model):
            parts.append(_fetch_file(base_url, remote, voices_dir, timeout_s=timeout_s,
                                     progress=progress))
        os.replace(parts[0], config_path)
        os.replace(parts[1], model_path)  # the model last: now the voice exists
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    _LOGGER.info("Installed Piper voice %s at %s", voice.key, model_path)
    return model_path


def _check_space(folder: Path, needed_bytes: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed_bytes + SPARE_DISK_BYTES:
        raise DiskFull(f"not enough disk space in {folder}: the voice needs "
                       f"{needed_bytes / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free")


def _matches(path: Path, remote: RemoteFile) -> bool:
    if not path.is_file() or path.stat().st_size != remote.size_bytes:
        return False
    with path.open("rb") as f:
        return _md5_of(f) == remote.md5_digest


def _md5_of(f: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for block in iter(lambda: f.read(CHUNK_BYTES), b""):
        digest.update(block)
    return digest.hexdigest()


def _fetch_file(base_url: str, remote: RemoteFile, folder: Path, *, timeout_s: float,
                progress: bool) -> Path:
    """Stream one file into a hidden temp file in ``folder`` and verify it; returns its path."""
    from tqdm import tqdm

    url = file_url(base_url, remote.path)
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    part = Path(tmp)
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with os.fdopen(fd, "wb", buffering=0) as out, _open(url, timeout_s=timeout_s) as resp, tqdm(
                total=remote.size_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                desc=Path(remote.path).name, disable=not progress, file=sys.stderr, leave=True) as bar:
            while True:
                try:
                    block = resp.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(f"downloading {url} failed after {received} bytes: "
                                        f"{str(exc) or type(exc).__name__}") from None
                if not block:
                    break
                received += len(block)
                if received > remote.size_bytes:
                    raise ChecksumMismatch(f"{url} sent more than the catalogue's "
                                           f"{remote.size_bytes} bytes; nothing was installed")
                digest.update(block)
                _write(out, block, folder)
                bar.update(len(block))
            os.fsync(out.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if received != remote.size_bytes:
        part.unlink(missing_ok=True)
        raise DownloadError(f"downloading {url} stopped after {received} of {remote.size_bytes} "
                            "bytes; nothing was installed, try again")
    if digest.hexdigest() != remote.md5_digest:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{url} failed its checksum (MD5 {digest.hexdigest()}, the catalogue "
                               f"says {remote.md5_digest}); nothing was installed")
    return part


def _write(out: BinaryIO, block: bytes, folder: Path) -> None:
    view = memoryview(block)
    try:
        while view:
            view = view[out.write(view):]
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"the disk holding {folder} is full; nothing was installed") from None
        raise DownloadError(f"cannot write into {folder}: {exc.strerror}") from None


def catalogue_lines(base_url: str, *, timeout_s: float = 30.0) -> list[str]:
    """One line per catalogue voice (key, language, quality, size), for ``--list``."""
    voices = sorted(fetch_catalogue(base_url, timeout_s=timeout_s).values(), key=lambda v: v.key)
    return [f"{v.key:<40} {v.language:<8} {v.quality:<8} {v.size_bytes / 2**20:6.1f} MiB"
            for v in voices]
