"""The decision policy: an ordered tuple of small phases over a comment's scores.

A phase returns ``None`` (no opinion) or a ``Verdict``. A verdict that rejects or approves decides and
stops the run; a ``review`` verdict adds its reasons and lets later phases speak, so a comment that is
both hostile and, say, an unsupported claim carries both reasons. Thresholds come from the policy file
(``policy.toml`` in the bundle, chosen on validation data), never from inside a phase. An optional ``[spans]``
section sets the word-span floor in place of the bundle's (``Policy.span_floor``): it changes which words are marked,
never a decision.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from model.attributes import ATTRIBUTES, CLAIM_ATTRIBUTE, HOSTILITY_ATTRIBUTES, THREAT_ATTRIBUTE
from model.normalize import is_blank
from model.results import Reason, Span
from model.threats import find_threats

APPROVE, REVIEW, REJECT = "approve", "review", "reject"
ACTIONS = (APPROVE, REVIEW, REJECT)
_SEVERITY = {APPROVE: 0, REVIEW: 1, REJECT: 2}
SECTIONS = (REJECT, REVIEW)
"""The sections of a policy file, one per action a score can send a comment to."""
SPANS = "spans"
"""The optional section of a policy file that sets the word-span floor: ``[spans]`` with ``floor = probability``."""
SPAN_KEYS = ("floor",)
"""The keys a ``[spans]`` section may hold."""
THREAT_PHRASE = "threat_phrase"
"""Reason code of ``review_threat_phrase``."""


class PolicyError(ValueError):
    """A policy file that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Policy:
    """Thresholds by action: ``reject[attribute]`` and ``review[attribute]`` are probabilities in [0, 1].

    ``span_floor``, when set (a policy file's ``[spans] floor``), replaces the bundle's word-span floor: a hostility
    attribute whose served comment score is below it gets no word spans. ``None``: the bundle's own floor.
    """

    reject: Mapping[str, float] = field(default_factory=dict)
    review: Mapping[str, float] = field(default_factory=dict)
    source: str = "defaults"
    span_floor: float | None = None

    def to_toml(self, comments: Mapping[str, str] | None = None) -> str:
        """Render the policy as a commented TOML file."""
        lines = [
            "# Decision policy: a comment goes to `reject` when any score reaches a [reject] threshold,",
            "# else to `review` when any score reaches a [review] threshold, else it is approved.",
            "# Scores and thresholds are calibrated probabilities in [0, 1].",
        ]
        for key, text in (comments or {}).items():
            lines.append(f"# {key}: {text}")
        for section in ("reject", "review"):
            lines += ["", f"[{section}]"]
            lines += [f"{name} = {value:.4f}" for name, value in getattr(self, section).items()]
        if self.span_floor is not None:
            lines += ["", "# No word spans for a hostility attribute whose comment score is below the floor (replaces",
                      "# the bundle's span floor; spans never change a decision).", f"[{SPANS}]", f"floor = {self.span_floor:.4f}"]
        return "\n".join(lines) + "\n"


def _thresholds(path: Path, section: str, table: object) -> dict[str, float]:
    """The checked ``attribute = probability`` lines of one section of a policy file."""
    if not isinstance(table, dict):
        raise PolicyError(f"policy file {path}: {section} must be a [{section}] section of `attribute = probability` "
                          f"lines, got {section} = {table!r}")
    for name, value in table.items():
        if name not in ATTRIBUTES:
            raise PolicyError(f"policy file {path}: [{section}] {name} is not an attribute; use one of {', '.join(ATTRIBUTES)}")
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise PolicyError(f"policy file {path}: [{section}] {name} must be a probability in [0, 1], got {value!r}")
    return {name: float(value) for name, value in table.items()}


def _span_floor(path: Path, table: object) -> float:
    """The checked ``floor`` of a policy file's ``[spans]`` section."""
    if not isinstance(table, dict):
        raise PolicyError(f"policy file {path}: {SPANS} must be a [{SPANS}] section with a `floor = probability` line, "
                          f"got {SPANS} = {table!r}")
    unknown = sorted(set(table) - set(SPAN_KEYS))
    if unknown:
        raise PolicyError(f"policy file {path}: [{SPANS}] has unknown key(s) {unknown}; it takes only `floor = probability` "
                          f"(the comment score below which a hostility attribute gets no word spans)")
    if "floor" not in table:
        raise PolicyError(f"policy file {path}: [{SPANS}] has no floor; add a `floor = probability` line, or remove the "
                          f"section to keep the bundle's span floor")
    value = table["floor"]
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:  # NaN fails the range too
        raise PolicyError(f"policy file {path}: [{SPANS}] floor must be a probability in [0, 1] (such as 0.2), got {value!r}")
    return float(value)


def load_policy(path: str | Path) -> Policy:
    """Read and check a policy TOML file.

    Parameters
    ----------
    path : str or Path
        A file with ``[reject]`` and ``[review]`` tables of ``attribute = probability`` (``model.attributes``
        names, probabilities in [0, 1], a review threshold at most the same attribute's reject threshold), and
        optionally a ``[spans]`` table with ``floor = probability`` (``Policy.span_floor``).

    Returns
    -------
    Policy
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} not found") from None
    except OSError as exc:  # a folder, a file this user may not read: named as the file it is, not a traceback
        raise PolicyError(f"policy file {path} cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    unknown = set(raw) - set(SECTIONS) - {SPANS}
    if unknown:
        raise PolicyError(f"policy file {path}: unknown section(s) {sorted(unknown)}; use [reject] and [review], "
                          f"and optionally [{SPANS}]")
    sections = {section: _thresholds(path, section, raw[section]) for section in SECTIONS if section in raw}
    if CLAIM_ATTRIBUTE in sections.get(REJECT, {}):
        raise PolicyError(f"policy file {path}: {CLAIM_ATTRIBUTE} may only send a comment to [review], never reject it")
    for section in SECTIONS:
        if section not in sections:
            raise PolicyError(f"policy file {path}: no [{section}] section; add one with an `attribute = probability` "
                              f"line per attribute that may send a comment to {section} (left empty, it sends none)")
    for name, threshold in sections[REVIEW].items():
        if name in sections[REJECT] and threshold > sections[REJECT][name]:
            raise PolicyError(
                f"policy file {path}: [review] {name} = {threshold} is above [reject] {name} = {sections[REJECT][name]}, "
                f"so it never sends a comment to review (a score that reaches it is rejected); make [review] {name} "
                f"at most {sections[REJECT][name]}"
            )
    span_floor = _span_floor(path, raw[SPANS]) if SPANS in raw else None
    return Policy(sections[REJECT], sections[REVIEW], source=str(path), span_floor=span_floor)


def span_floor_warnings(policy: Policy) -> list[str]:
    """One warning per hostility attribute that ``policy`` sends to review or rejects at a score below its own span
    floor (``Policy.span_floor``): such a comment gets a reason but no marked words. Allowed, as spans never change a
    decision, but a site should know. ``unsupported_claim`` is left out: its spans are the claim sentences, which no
    floor holds back (``ModerationModel.explain``). Empty without a floor.

    Parameters
    ----------
    policy : Policy
        A loaded policy; ``policy.source`` names its file in the messages.

    Returns
    -------
    list of str
        One line per attribute, in ``HOSTILITY_ATTRIBUTES`` order.
    """
    floor = policy.span_floor
    if floor is None:
        return []
    warnings = []
    for name in HOSTILITY_ATTRIBUTES:
        review, reject = policy.review.get(name), policy.reject.get(name)
        below = [(f"[{section}] {name} = {threshold}", threshold) for section, threshold in ((REVIEW, review), (REJECT, reject))
                 if threshold is not None and threshold < floor]
        if not below:
            continue
        reviewed_to = floor if reject is None else min(reject, floor)  # from the reject threshold on, it is rejected
        unmarked = []
        if review is not None and review < reviewed_to:
            unmarked.append(f"sent to review for {name} at a score from {review} to {reviewed_to}")
        if reject is not None and reject < floor:
            unmarked.append(f"rejected for {name} at a score from {reject} to {floor}")
        lowest = min(threshold for _, threshold in below)
        warnings.append(
            f"policy file {policy.source}: [{SPANS}] floor = {floor} is above {' and '.join(text for text, _ in below)}, "
            f"so comments {' or '.join(unmarked)} show no marked words (no word spans below the floor; decisions are "
            f"unchanged); lower the floor to at most {lowest}, or remove [{SPANS}] to keep the bundle's span floor"
        )
    return warnings


def policy_file_warnings(path: str | Path) -> list[str]:
    """``span_floor_warnings`` of the policy file at ``path``, for a caller about to use it; a file that cannot be used
    gives none here, as it is refused with its reason where it is loaded for scoring."""
    try:
        return span_floor_warnings(load_policy(path))
    except PolicyError:
        return []


def dropped_attribute_warnings(site: Policy, own: Policy, path: str | Path) -> list[str]:
    """A warning for each attribute the bundle's own policy ``own`` acts on that the policy file at ``path`` (``site``)
    sets no threshold for: its comments are then approved whatever they score (a file written with only toxicity in
    it turned off the flagging of unsupported claims without a word)."""
    acted_on = {*site.review, *site.reject}
    return [f"the policy file {path} sets no threshold for {attribute}, which the bundle's own policy "
            f"{'rejects' if attribute in own.reject else 'reviews'} at {own.reject.get(attribute, own.review.get(attribute)):.3f}: "
            f"comments are no longer flagged for it; add it under [review] or [reject] to keep them flagged"
            for attribute in {**own.review, **own.reject} if attribute not in acted_on]


@dataclass(frozen=True)
class Context:
    """What a phase may look at."""

    text: str
    scores: Mapping[str, float]
    spans: Mapping[str, list[Span]]
    policy: Policy


@dataclass(frozen=True)
class Verdict:
    """A phase's answer: an action (``None`` only annotates) and the reasons for it."""

    action: str | None
    reasons: tuple[Reason, ...]


Phase = Callable[[Context], "Verdict | None"]


def _score(ctx: Context, attribute: str) -> float | None:
    """The comment's score for ``attribute``; ``None`` when it has none: missing, or NaN (not a probability, and
    ``NaN < threshold`` is false, so a NaN score rejected the comment with a reason of score NaN)."""
    score = ctx.scores.get(attribute)
    return None if score is None or math.isnan(score) else score


def _threshold_reasons(ctx: Context, thresholds: Mapping[str, float], action: str) -> tuple[Reason, ...]:
    """One reason per hostility attribute whose score reaches its threshold, with the top span that drove it."""
    reasons = []
    for attribute, threshold in thresholds.items():
        if attribute == CLAIM_ATTRIBUTE:
            continue  # judged by its own phase, which can only ask for review
        score = _score(ctx, attribute)
        if score is None or score < threshold:
            continue
        spans = ctx.spans.get(attribute) or []
        span = spans[0] if spans else None
        text = ctx.text[span.begin : span.end] if span else None
        reasons.append(Reason(attribute, action, attribute, score, threshold, span, text))
    return tuple(reasons)


def empty_text(ctx: Context) -> Verdict | None:
    """An empty or blank comment is approved: there is nothing to moderate (``model.normalize.is_blank``)."""
    if is_blank(ctx.text):
        return Verdict(APPROVE, (Reason("empty", APPROVE),))
    return None


def reject_hostility(ctx: Context) -> Verdict | None:
    """Reject when a score reaches its ``[reject]`` threshold (severe toxicity, threats, ...)."""
    reasons = _threshold_reasons(ctx, ctx.policy.reject, REJECT)
    return Verdict(REJECT, reasons) if reasons else None


def review_threat_phrase(ctx: Context) -> Verdict | None:
    """Send to a human a comment that says in so many words that someone should be hurt (``model.threats``),
    whatever its ``threat`` score: the learned head misses most explicit threats. A phrase never rejects."""
    spans = find_threats(ctx.text)
    if not spans:
        return None
    span = spans[0]
    score = _score(ctx, THREAT_ATTRIBUTE)
    # No threshold: a phrase rule fired, not a score; the score is there to show what the model made of it.
    reason = Reason(THREAT_PHRASE, REVIEW, THREAT_ATTRIBUTE, score, None, span, ctx.text[span.begin : span.end])
    return Verdict(REVIEW, (reason,))


def review_hostility(ctx: Context) -> Verdict | None:
    """Send to a human when a score reaches its ``[review]`` threshold."""
    reasons = _threshold_reasons(ctx, ctx.policy.review, REVIEW)
    return Verdict(REVIEW, reasons) if reasons else None


def review_unsupported_claim(ctx: Context) -> Verdict | None:
    """An unsupported claim above its threshold goes to a human, never to reject: a checkable statement
    made without support is for an editor to weigh, not for a model to remove."""
    threshold = ctx.policy.review.get(CLAIM_ATTRIBUTE)
    score = _score(ctx, CLAIM_ATTRIBUTE)
    if threshold is None or score is None or score < threshold:
        return None
    spans = ctx.spans.get(CLAIM_ATTRIBUTE) or []
    span = spans[0] if spans else None
    sentence = ctx.text[span.begin : span.end] if span else None
    return Verdict(REVIEW, (Reason(CLAIM_ATTRIBUTE, REVIEW, CLAIM_ATTRIBUTE, score, threshold, span, sentence),))


# The threat phrase comes after reject_hostility, so a comment the model rejects stays rejected with the model's
# reasons, and before review_hostility, so its reason (the most specific one) is listed first.
PHASES: tuple[Phase, ...] = (
    empty_text, reject_hostility, review_threat_phrase, review_hostility, review_unsupported_claim,
)


def decide(
    text: str,
    scores: Mapping[str, float],
    spans: Mapping[str, list[Span]],
    policy: Policy,
    phases: tuple[Phase, ...] = PHASES,
) -> tuple[str, tuple[Reason, ...]]:
    """Run the phases in order and return the action and every reason given.

    Parameters
    ----------
    text : str
        The comment.
    scores : mapping
        Attribute -> probability.
    spans : mapping
        Attribute -> spans behind the score.
    policy : Policy
        Thresholds.
    phases : tuple of callables
        The phases, in order.

    Returns
    -------
    action : str
        ``approve``, ``review`` or ``reject``.
    reasons : tuple of Reason
    """
    ctx = Context(text, scores, spans, policy)
    action, reasons = APPROVE, []
    for phase in phases:
        verdict = phase(ctx)
        if verdict is None:
            continue
        reasons.extend(verdict.reasons)
        if verdict.action in (APPROVE, REJECT):
            return verdict.action, tuple(reasons)
        if verdict.action is not None and _SEVERITY[verdict.action] > _SEVERITY[action]:
            action = verdict.action
    return action, tuple(reasons)
