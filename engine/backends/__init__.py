"""Backend registry: name -> class, imported lazily so a missing optional package only
matters for the backend that needs it."""

from __future__ import annotations

import importlib

from .base import Backend, BackendContext, Voice

REGISTRY: dict[str, str] = {
    "piper": "engine.backends.piper:PiperBackend",
    "edge": "engine.backends.edge:EdgeBackend",
    "xtts": "engine.backends.xtts:XttsBackend",
}
"""Every backend the engine knows, as ``module:Class``. Adding one is one line here."""


def backend_class(name: str) -> type[Backend]:
    """The class registered under ``name`` (its module imports no heavy package)."""
    module_name, _, class_name = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "Backend", "BackendContext", "Voice", "backend_class"]
