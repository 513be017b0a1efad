"""Attribute names, defined once here and never renamed, and when a label marks one."""

from collections.abc import Mapping

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

LABEL_PROBABILITY_CUT = 0.5
"""A label given as a probability (a moderator's, a share of raters) marks its attribute from this value on."""


def untoxic_hostility(labels: Mapping[str, float]) -> list[str]:
    """The hostility attributes ``labels`` marks (at least ``LABEL_PROBABILITY_CUT``) while it marks toxicity as absent
    (under the cut): an insult, a threat... is toxic, so such labels contradict each other, and training, which reads a
    comment that is not toxic as free of every hostility, would drop them."""
    toxicity = labels.get(HOSTILITY_ATTRIBUTES[0])
    if toxicity is None or toxicity >= LABEL_PROBABILITY_CUT:
        return []
    return [name for name in HOSTILITY_ATTRIBUTES[1:] if (labels.get(name) or 0.0) >= LABEL_PROBABILITY_CUT]
