"""A tiny Piper-format voice, generated: no Chinese Piper voice ships in any package.

The ONNX graph has Piper's signature (``input`` int64 [1, N], ``input_lengths`` int64 [1],
``scales`` float32 [3] -> float32 audio [1, 1, T]) and makes ``SAMPLES_PER_ID`` samples of a tone
per phoneme id, its pitch set by the id: deterministic, never silent, as long as the text. The
config is a real Piper config (espeak voice ``cmn``, ``language.code`` ``zh_CN``), so the engine's
Piper backend loads it through ``PiperVoice.load`` and phonemizes Chinese with espeak-ng, offline.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE = 22_050
SAMPLES_PER_ID = 256
"""Audio samples made per phoneme id (about 11.6 ms at 22,050 Hz)."""


def _graph() -> onnx.ModelProto:
    ramp = (2 * math.pi * 0.02 * np.arange(1, SAMPLES_PER_ID + 1)).astype(np.float32)
    consts = [
        numpy_helper.from_array(ramp.reshape(1, 1, SAMPLES_PER_ID), "ramp"),
        numpy_helper.from_array(np.array([1, 1, SAMPLES_PER_ID], np.int64), "tile"),
        numpy_helper.from_array(np.array([1, -1, 1], np.int64), "col"),
        numpy_helper.from_array(np.array([1, 1, -1], np.int64), "flat"),
        numpy_helper.from_array(np.array(0.01, np.float32), "pitch"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(0.3, np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("Cast", ["input"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["ids", "col"], ["ids_col"]),                # [1, N, 1]
        helper.make_node("Mul", ["ids_col", "pitch"], ["scaled"]),
        helper.make_node("Add", ["scaled", "one"], ["factor"]),
        helper.make_node("Tile", ["factor", "tile"], ["tiled"]),                 # [1, N, S]
        helper.make_node("Mul", ["tiled", "ramp"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Mul", ["wave", "gain"], ["quiet"]),
        helper.make_node("Reshape", ["quiet", "flat"], ["output"]),              # [1, 1, N*S]
    ]
    graph = helper.make_graph(
        nodes, "piper_tiny",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, "N"]),
         helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "T"])],
        initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_voice(folder: Path, name: str = "zh_CN-tiny-medium", *, espeak_voice: str = "cmn",
               language_code: str = "zh_CN") -> Path:
    """Write ``NAME.onnx`` and ``NAME.onnx.json`` into ``folder``; returns the model's path."""
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    folder.mkdir(parents=True, exist_ok=True)
    model = folder / f"{name}.onnx"
    onnx.save(_graph(), str(model))
    config = {
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "medium"},
        "espeak": {"voice": espeak_voice},
        "language": {"code": language_code},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": 1 + max(i for ids in DEFAULT_PHONEME_ID_MAP.values() for i in ids),
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.8.0",
    }
    Path(f"{model}.json").write_text(json.dumps(config, ensure_ascii=False), "utf-8")
    return model
