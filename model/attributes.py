"""Attribute names: defined once here and never renamed."""

THREAT_ATTRIBUTE = "threat"
"""The hostility attribute that the policy's threat phrases (``model.threats``) stand in for."""

HOSTILITY_ATTRIBUTES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "identity_attack",
    "insult",
    "profanity",
    THREAT_ATTRIBUTE,
)
"""The six hostility attributes, Perspective's production names in lower case."""

CLAIM_ATTRIBUTE = "unsupported_claim"
"""A checkable factual claim stated without support (sent to review, never rejected)."""

ATTRIBUTES: tuple[str, ...] = HOSTILITY_ATTRIBUTES + (CLAIM_ATTRIBUTE,)
"""Every attribute the shipped bundle scores, in column order."""
