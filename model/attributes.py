"""Attribute names: defined once here and never renamed."""

HOSTILITY_ATTRIBUTES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "identity_attack",
    "insult",
    "profanity",
    "threat",
)
"""The six hostility attributes, Perspective's production names in lower case."""

ATTRIBUTES: tuple[str, ...] = HOSTILITY_ATTRIBUTES
"""Every attribute a bundle scores (the claims issue adds ``unsupported_claim``)."""
