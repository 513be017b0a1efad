"""Comment moderation models: public API."""

from model.attributes import ATTRIBUTES, HOSTILITY_ATTRIBUTES
from model.bundle import Bundle, BundleError, load_bundle
from model.results import Decision, Reason, Span
from model.scoring import Scorer

__all__ = ["ATTRIBUTES", "HOSTILITY_ATTRIBUTES", "Bundle", "BundleError", "Decision", "Reason", "Scorer", "Span", "load_bundle"]
