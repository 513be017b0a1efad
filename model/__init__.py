"""Comment moderation models: the serving core and its public API.

The modules directly in ``model/`` are what scoring a comment needs and nothing else (features,
heads, spans, claims, threats, policy, bundle loading). They import only each other and third-party
libraries, never ``model.training`` (data loading and fitting) or ``model.evaluation`` (reports,
plots, benchmarks); ``tests/test_layout.py`` enforces it. Training may import the core; evaluation
may import both.
"""

from model.attributes import ATTRIBUTES, HOSTILITY_ATTRIBUTES
from model.bundle import Bundle, BundleError, load_bundle
from model.results import Decision, Reason, Span
from model.scoring import Scorer

__all__ = ["ATTRIBUTES", "HOSTILITY_ATTRIBUTES", "Bundle", "BundleError", "Decision", "Reason", "Scorer", "Span", "load_bundle"]
