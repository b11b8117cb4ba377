"""Clause-first synthesis on POST /v1/synthesize: a long first sentence is cut at a clause, the
parts are streamed as one clip, and the seam between them is a comma's pause."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from engine import audio
from engine.http import framing
from engine.speech import seam
from engine.speech.split import clause_first
from tests.conftest import post_unix

LONG = ("Thanks so much to Robin for the raid tonight, and welcome in to everyone who came along "
        "with them, we are about to start the boss fight again on try number 7.")


def test_clause_first_cuts_only_a_long_first_sentence() -> None:
    assert clause_first(LONG) == ["Thanks so much to Robin for the raid tonight,",
                                  LONG.split(", ", 1)[1]]
    assert clause_first("Hi there, welcome in.") == ["Hi there, welcome in."]
    short_then_long = "Hello. " + LONG
    assert clause_first(short_then_long) == [short_then_long]  # the first sentence is short
    words = " ".join(f"w{i}" for i in range(20))
    assert clause_first(words) == [" ".join(f"w{i}" for i in range(12)),
                                   " ".join(f"w{i}" for i in range(12, 20))]
    assert clause_first("--") == ["--"]


def _tone(ms: int) -> bytes:
    t = np.arange(audio.SAMPLE_RATE * ms // 1000) / audio.SAMPLE_RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


def _silence(ms: int) -> bytes:
    return bytes(audio.SAMPLE_RATE * ms // 1000 * 2)


def test_the_seam_is_cut_or_padded_to_a_commas_pause() -> None:
    voiced, silence = seam.split_trailing_silence(_tone(500) + _silence(700))
    assert abs(len(voiced) - len(_tone(500))) <= 960 and abs(len(silence) - len(_silence(700))) <= 960
    assert len(seam.seam(silence)) == len(_silence(seam.SEAM_TRAIL_MS))
    assert seam.seam(_silence(50)) == _silence(seam.SEAM_TRAIL_MS)  # padded with zeros
    assert seam.split_trailing_silence(_silence(100)) == (b"", _silence(100))


def _silent_runs_ms(pcm: bytes) -> list[int]:
    rms = seam._frame_rms(pcm)
    quiet = rms < rms.max() * seam.SILENCE_RATIO
    runs, n = [], 0
    for q in [*quiet, False]:
        if q:
            n += 1
        elif n:
            runs.append(n * seam.FRAME_MS)
            n = 0
    return runs


async def test_a_long_first_sentence_streams_clause_first_as_one_clip(start_engine: Any) -> None:
    engine = await start_engine()
    status, headers, body = await post_unix(engine.unix, "/v1/synthesize", {"text": LONG})
    assert status == 200 and headers["Content-Type"] == framing.CONTENT_TYPE
    frames = list(framing.read_frames(io.BytesIO(body)))
    kinds = [h["type"] for h, _ in frames]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("audio") >= 2
    first_job = engine.engine.job(headers["X-TTS-Request-Id"])
    assert first_job is not None and first_job.request.text == "Thanks so much to Robin for the raid tonight,"
    pcm = b"".join(p for h, p in frames if h["type"] == "audio")
    end = frames[-1][0]
    assert end["parts"] == 2 and end["duration_ms"] == audio.duration_ms(len(pcm))
    # the seam: the first part's voiced audio, then the kept trail, then the next part's lead
    voiced, _ = seam.split_trailing_silence(first_job.pcm())
    assert pcm.startswith(voiced)
    at_seam = _silent_runs_ms(pcm[len(voiced):])[0]
    assert seam.SEAM_TRAIL_MS <= at_seam <= seam.SEAM_TRAIL_MS + 120
    # a repeat is served from the cache, part by part, byte for byte, in every format
    status, headers, again = await post_unix(engine.unix, "/v1/synthesize", {"text": LONG, "format": "pcm"})
    assert status == 200 and headers["X-TTS-Cached"] == "true" and again == pcm
    status, _, wav = await post_unix(engine.unix, "/v1/synthesize", {"text": LONG, "format": "wav"})
    assert status == 200 and wav[:4] == b"RIFF" and wav[44:] == pcm
