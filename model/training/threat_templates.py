"""Threats against a person and violent words in civil use, written for this project as encoder training rows.

The permissive sets label threats only in SemEval toxic spans (about a hundred posts where most raters marked a
threat), so the encoder's ``threat`` head barely learned what a threat is: bundle 2.8.0 scores "I will find you
and I will hurt you." 0.006. These sentences give it two kinds of examples: a violent act promised, wished or
called for against a person (threat, toxic), and the same verbs aimed at things, plans and games, or used as
idioms (civil). The targets, objects and frames are deliberately not those of the behaviour pairs
(``model.evaluation.behaviour``), which measure the result, and nothing here is taken from an evaluation set.
"""

from __future__ import annotations

import numpy as np

from model.training.identity_templates import draw_two_kinds

TARGETS: tuple[str, ...] = (
    "you", "him", "her", "them", "that columnist", "the premier", "the sheriff", "the landlord", "the commissioner",
    "the police chief", "the union boss", "that cyclist", "the governor", "the umpire", "the school principal",
    "your wife", "your kids", "the protesters", "the pastor", "the bank manager", "every one of you", "that troll",
    "the city planner", "the coach", "the MP", "the inspector",
)
"""People a threat names, from the commenter's own reply target to public figures of a news story."""
PLURAL_TARGETS = frozenset({"you", "they", "them", "your kids", "the protesters", "every one of you"})

ACTS: tuple[tuple[str, str], ...] = (
    ("kill", "killed"), ("shoot", "shot"), ("stab", "stabbed"), ("strangle", "strangled"), ("hurt", "hurt"),
    ("beat", "beaten"), ("choke", "choked"), ("hang", "hanged"), ("drown", "drowned"), ("lynch", "lynched"),
    ("set fire to", "burned alive"), ("run over", "run over"), ("gut", "gutted"), ("knife", "knifed"),
)
"""(verb with its object after it, participle) of acts of violence."""

THREAT_TEMPLATES: tuple[str, ...] = (
    "I am going to {act} {target}.",
    "If I ever meet {target} I will {act} {target_again}.",
    "Somebody needs to {act} {target} before the next election.",
    "{target_cap} should be {acted} and left in a ditch.",
    "I swear I will {act} {target} with my own hands.",
    "Keep talking and I will {act} {target}.",
    "We know where {target} {lives} and we will {act} {target_again}.",
    "{target_cap} {deserves} to be {acted}, and I would do it myself.",
    "One day soon I will {act} {target}, mark my words.",
    "I hope someone will {act} {target} tonight.",
    "Wait until I find {target}, I am going to {act} {target_again}.",
    "Next time I see {target} I'll {act} {target_again}.",
)
"""Frames of a threat: ``{act}`` a verb taking its object after it, ``{acted}`` its participle."""

THINGS: tuple[str, ...] = (
    "the budget", "the pipeline project", "this tax", "the old bylaw", "the merger", "the trade agreement",
    "the bike lane plan", "their proposal", "the housing bill", "the new levy", "the zoning change", "the subsidy",
)
"""Plans, laws and deals that violent verbs are aimed at in civil news talk."""

WHO: tuple[str, ...] = (
    "the opposition", "the council", "the premier", "the senate", "the union", "the auditor", "the sheriff",
    "the landlord lobby", "the governor", "the coach", "the MP", "the commissioner",
)
"""Who acts on a plan in the civil frames (some of them are threatened in ``TARGETS``: the word is not the threat)."""

CIVIL_TEMPLATES: tuple[str, ...] = (
    "{who_cap} is going to kill {thing} in committee.",
    "{who_cap} shot down {thing} by seven votes to two.",
    "Higher interest rates will hurt {thing} more than {who} admits.",
    "Red tape could strangle {thing} before {who} even votes on it.",
    "{who_cap} buried {thing} in a report nobody will read.",
    "Voters will bury {thing} and {who} knows it.",
    "{who_cap} should let {thing} die quietly and start over.",
    "{who_cap} promised to gut {thing} if re-elected.",
    "{who_cap} took a shot at {thing} during the debate.",
    "{who_cap} tore {thing} apart at the public meeting.",
    "{thing_cap} is dead on arrival, says {who}.",
    "I nearly choked on my coffee when {who} explained {thing}.",
    "{who_cap} will drown {thing} in paperwork at this rate.",
    "{who_cap} set fire to the debate over {thing} with one tweet.",
    "{who_cap} wants to hang {thing} around the mayor's neck.",
    "{thing_cap} will run over small businesses, {who} warned.",
    "{who_cap} is beating a dead horse with {thing}.",
    "{who_cap} killed it in the debate over {thing} last night.",
    "{who_cap} will beat us to the punch on {thing}.",
    "If {thing} passes, it will choke the housing market, {who} said.",
)
"""Frames where violent words aim at no one: plans, debates, idioms; ``{thing}`` from ``THINGS``, ``{who}`` from
``WHO``."""

THREAT_SHARE = 0.5
"""Share of threats among the sentences drawn."""


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _threat(rng: np.random.Generator) -> str:
    template = THREAT_TEMPLATES[rng.integers(len(THREAT_TEMPLATES))]
    target = TARGETS[rng.integers(len(TARGETS))]
    act, acted = ACTS[rng.integers(len(ACTS))]
    again = {"you": "you", "him": "him", "her": "her", "them": "them", "every one of you": "you"}.get(target, "them")
    if target in {"him", "her", "them", "you"} and template.startswith("{target_cap}"):  # the subject's form
        target = {"him": "he", "her": "she", "them": "they", "you": "you"}[target]
    if target == "them" and "{lives}" in template:
        target = "they"
    plural = target in PLURAL_TARGETS
    return template.format(act=act, acted=acted, target=target, target_cap=_capitalised(target), target_again=again,
                           lives="live" if plural else "lives", deserves="deserve" if plural else "deserves")


def _civil(rng: np.random.Generator) -> str:
    thing, who = THINGS[rng.integers(len(THINGS))], WHO[rng.integers(len(WHO))]
    return CIVIL_TEMPLATES[rng.integers(len(CIVIL_TEMPLATES))].format(
        thing=thing, thing_cap=_capitalised(thing), who=who, who_cap=_capitalised(who))


def threat_sentences(n_sentences: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n_sentences`` distinct sentences, seeded (``draw_two_kinds``): threats (label 1.0) and violent words in
    civil use (0.0), half each; fewer when a kind runs out of distinct fillings."""
    return draw_two_kinds(_threat, _civil, n_sentences, THREAT_SHARE, seed)
