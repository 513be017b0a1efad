"""A decision in a moderator's words: what each reason code means, and a sentence per reason."""

from __future__ import annotations

from model.policy import THREAT_PHRASE
from model.results import Reason
from service.coral import TOO_LONG

ATTRIBUTE_WORDS = {
    "toxicity": "toxic (rude, disrespectful or unreasonable)",
    "severe_toxicity": "severely toxic (hateful, aggressive)",
    "identity_attack": "an attack on people for who they are (a group or identity)",
    "insult": "insulting",
    "profanity": "profane or obscene",
    "threat": "threatening",
    "unsupported_claim": "a checkable claim made without support",
}
"""What a high score of each attribute means, to finish "The comment reads as ..."."""

REASON_LABELS = {
    **{attribute: attribute.replace("_", " ") for attribute in ATTRIBUTE_WORDS},
    THREAT_PHRASE: "threat phrase",
    "empty": "empty",
    TOO_LONG: "too long to score (not scored)",  # Coral's: withheld for a person without being scored
}
"""Short names of reason codes, for filters and lists."""

ACTION_WORDS = {"approve": "approved", "review": "sent to review", "reject": "rejected"}
FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2069"
"""Around a comment's words quoted in a sentence: words in a right-to-left script keep their order and do not pull the
sentence's quotes and full stop into it (Unicode's bidirectional isolates; invisible, and not read out)."""


def reason_label(code: str) -> str:
    """A reason code's short name (an unknown code as it is)."""
    return REASON_LABELS.get(code, code)


def reason_sentence(reason: Reason) -> str:
    """One plain sentence saying why the policy acted, with the score, the threshold and the words behind it."""
    if reason.code == "empty":
        return "The comment is empty, so there is nothing to moderate."
    quoted = f" The words behind it: \u201c{FIRST_STRONG_ISOLATE}{reason.text}{POP_DIRECTIONAL_ISOLATE}\u201d." if reason.text else ""
    if reason.code == THREAT_PHRASE:
        return f"It says in so many words that someone should be hurt, so a person should read it.{quoted}"
    words = ATTRIBUTE_WORDS.get(reason.attribute or reason.code, reason_label(reason.code))
    action = ACTION_WORDS.get(reason.action or "", reason.action or "flagged")
    if reason.score is None or reason.threshold is None:
        return f"It reads as {words}; {action}.{quoted}"
    return (
        f"It reads as {words}: score {reason.score:.2f}, and comments scoring {reason.threshold:.2f} or more "
        f"are {action}.{quoted}"
    )
