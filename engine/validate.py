"""Turn a plain mapping (parsed YAML/JSON) into frozen dataclasses, or say exactly what is wrong.

Every error names the dotted key and what would be valid, e.g.
``performance.gpu.memory_fraction: 1.7 is too large; expected a number from 0.05 to 1.0``.
Ranges and choices come from field metadata: ``field(default=..., metadata={"min": 0})``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar, Union

from .errors import ConfigError

T = TypeVar("T")
MAX_MAGNITUDE = 1e15
"""Largest number accepted in any numeric key (beyond it a value is a typo or an attack)."""


def from_mapping(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are refused."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping of keys, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise ConfigError(f"{where}: unknown key; valid keys here are {', '.join(sorted(fields))}")
    values = {}
    for name, f in fields.items():
        if name in data:
            key = f"{path}.{name}" if path else name
            values[name] = _convert(hints[name], data[name], key, f.metadata)
    return cls(**values)


def _convert(tp: Any, value: Any, key: str, meta: typing.Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key, meta)
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key)  # type: ignore[arg-type]
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        return tuple(_convert(args[0], v, f"{key}[{i}]", meta) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        return {str(k): _convert(args[1], v, f"{key}.{k}", meta) for k, v in value.items()}
    return _scalar(tp, value, key, meta)


def _scalar(tp: Any, value: Any, key: str, meta: typing.Mapping[str, Any]) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
        return value
    if tp in (int, float):
        ok = isinstance(value, int) if tp is int else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            kind = "a whole number" if tp is int else "a number"
            raise ConfigError(f"{key}: expected {kind}, got {_show(value)}")
        return _number(tp, value, key, meta)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {_show(value)}")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{key}: {value!r} is not valid; expected one of {', '.join(choices)}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")


def _number(tp: type, value: int | float, key: str, meta: typing.Mapping[str, Any]) -> Any:
    """A finite number within ``MAX_MAGNITUDE`` and the field's range (NaN and Inf are refused)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: {value} is not a number; expected a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ConfigError(f"{key}: {str(value)[:20]}... is too large; expected a number of at "
                          f"most {MAX_MAGNITUDE:g}")
    _check_range(tp(value), key, meta)
    return tp(value)


def _check_range(value: float, key: str, meta: typing.Mapping[str, Any]) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            want = f"a number from {lo} to {hi}"
        elif lo is not None:
            want = f"a number of at least {lo}"
        else:
            want = f"a number of at most {hi}"
        raise ConfigError(f"{key}: {value} is out of range; expected {want}")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def to_mapping(obj: Any) -> Any:
    """The inverse of ``from_mapping``: plain dicts, lists and scalars."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_mapping(v) for k, v in obj.items()}
    return obj
