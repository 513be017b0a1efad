"""Comment moderation models: the serving core and its public API.

The modules directly in ``model/`` are what scoring a comment needs and nothing else (features,
heads, spans, claims, threats, policy, bundle loading). They import only each other and third-party
libraries, never ``model.training`` (data loading and fitting) or ``model.evaluation`` (reports,
plots, benchmarks); ``tests/test_layout.py`` enforces it. Training may import the core; evaluation
may import both.

The public names below are imported when first used (``from model import Scorer``), not with the package:
``model.bundle`` brings scikit-learn and joblib, which ``import model.attributes`` has no need of.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "ATTRIBUTES": "model.attributes",
    "HOSTILITY_ATTRIBUTES": "model.attributes",
    "Bundle": "model.bundle",
    "BundleError": "model.bundle",
    "Decision": "model.results",
    "Reason": "model.results",
    "Scorer": "model.scoring",
    "Span": "model.results",
    "load_bundle": "model.bundle",
}
"""Public name -> the module that defines it."""

__all__ = ["ATTRIBUTES", "HOSTILITY_ATTRIBUTES", "Bundle", "BundleError", "Decision", "Reason", "Scorer", "Span",
           "load_bundle"]


def __getattr__(name: str) -> object:
    """Import a public name's module at its first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:
    from model.attributes import ATTRIBUTES, HOSTILITY_ATTRIBUTES
    from model.bundle import Bundle, BundleError, load_bundle
    from model.results import Decision, Reason, Span
    from model.scoring import Scorer
