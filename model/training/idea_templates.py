"""Rude words aimed at a person and the same words aimed at an idea, written for this project as encoder rows.

Moderation is not about opinion: under a story about a deal, "this deal is idiotic" is disagreement, "the
minister is an idiot" an insult. The training labels count a rude word as toxic whoever it aims at, so bundle
2.8.0 sends nine of the ten idea forms of the behaviour category ``person_or_idea`` to review. These sentences
give the encoder both sides: an insult aimed at a person (toxic, insult) and a rude judgement of a plan, law,
deal or argument (civil). The people, ideas and frames are deliberately not those of the behaviour pairs
(``model.evaluation.behaviour``), which measure the result, and nothing here is taken from an evaluation set.
"""

from __future__ import annotations

import numpy as np

from model.training.identity_templates import draw_two_kinds

PEOPLE: tuple[str, ...] = (
    "you", "the columnist", "that senator", "the finance critic", "the reporter", "the school trustee", "the premier",
    "the alderman", "the union leader", "the opposition leader", "that lobbyist", "the police commissioner",
    "the health minister", "the editor", "the guy who wrote this", "the previous poster", "the party leader",
    "the developer", "the governor", "the professor quoted here",
)
"""People an insult aims at: the commenter's own reply target and the people of a news story."""

PERSON_ADJECTIVES: tuple[str, ...] = (
    "stupid", "an idiot", "a moron", "brain-dead", "pathetic", "a clown", "a fool", "dumb", "an imbecile",
    "a halfwit", "clueless and stupid", "a complete joke", "a buffoon", "an utter dimwit",
)
"""What an insult calls its target (an adjective or a noun with its article)."""

IDEAS: tuple[str, ...] = (
    "the pension reform", "this carbon levy", "the stadium deal", "the new curfew", "their immigration plan",
    "the plan to close two schools", "this trade pact", "the transit fare hike", "that editorial", "this proposal",
    "the bank bailout", "the speed camera program", "the land swap", "the new bylaw", "the water rate increase",
    "the merger plan", "this pipeline route", "the ban on short-term rentals", "the hiring freeze",
    "the argument in that op-ed", "the airport expansion", "the fishing quota", "the rezoning",
)
"""Plans, laws, deals and arguments a rude judgement aims at."""

IDEA_ADJECTIVES: tuple[str, ...] = (
    "stupid", "idiotic", "dumb", "moronic", "ridiculous", "absurd", "insane", "crazy", "pathetic", "laughable",
    "asinine", "brain-dead", "ludicrous", "half-baked", "boneheaded", "nonsensical", "a joke", "garbage",
)
"""Rude judgements of an idea (an adjective, or a noun phrase used as one)."""

INSULT_TEMPLATES: tuple[str, ...] = (
    "{person_cap} {is} {insult}.",
    "Honestly, {person} {is} {insult} and everyone knows it.",
    "{person_cap} {is} {insult}, plain and simple.",
    "Only someone as dumb as {person} would back {idea}.",
    "Nobody should listen to {person}; {they_are} {insult}.",
    "{person_cap} {is} {insult} for defending {idea}.",
    "Shut up about {idea}, buddy. You are {insult}.",
    "I have read a lot of comments, but {person} {is} {insult}.",
    "{person_cap} {is} {insult} and should resign today.",
    "Whatever you think of {idea}, {person} {is} {insult}.",
)
"""Frames of an insult: ``{insult}`` from ``PERSON_ADJECTIVES`` aimed at ``{person}``."""

IDEA_TEMPLATES: tuple[str, ...] = (
    "{idea_cap} is {judgement}.",
    "Honestly, {idea} is {judgement} and the numbers prove it.",
    "{idea_cap} is {judgement}, plain and simple.",
    "Sorry, but {idea} is just {judgement}. Scrap it and start again.",
    "I have read the details and {idea} is {judgement}.",
    "Calling {idea} {judgement} is being generous.",
    "{idea_cap} is {judgement}; vote it down in the fall.",
    "Whatever the premier says, {idea} is {judgement}.",
    "The reasoning behind {idea} is {judgement}.",
    "{idea_cap} is {judgement} and will cost taxpayers for years.",
)
"""Frames of a rude judgement of an idea: ``{judgement}`` from ``IDEA_ADJECTIVES``; people may be named, not
insulted."""

INSULT_SHARE = 0.5
"""Share of insults among the sentences drawn."""


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _insult(rng: np.random.Generator) -> str:
    person = PEOPLE[rng.integers(len(PEOPLE))]
    insult = PERSON_ADJECTIVES[rng.integers(len(PERSON_ADJECTIVES))]
    idea = IDEAS[rng.integers(len(IDEAS))]
    you = person == "you"
    return INSULT_TEMPLATES[rng.integers(len(INSULT_TEMPLATES))].format(
        person=person, person_cap=_capitalised(person), idea=idea, insult=insult,
        they_are="you are" if you else "they are", **{"is": "are" if you else "is"})


def _judgement(rng: np.random.Generator) -> str:
    idea = IDEAS[rng.integers(len(IDEAS))]
    judgement = IDEA_ADJECTIVES[rng.integers(len(IDEA_ADJECTIVES))]
    return IDEA_TEMPLATES[rng.integers(len(IDEA_TEMPLATES))].format(idea=idea, idea_cap=_capitalised(idea),
                                                                    judgement=judgement)


def idea_sentences(n_sentences: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n_sentences`` distinct sentences, seeded (``draw_two_kinds``): insults of a person (label 1.0) and rude
    judgements of an idea (0.0), half each; fewer when a kind runs out of distinct fillings."""
    return draw_two_kinds(_insult, _judgement, n_sentences, INSULT_SHARE, seed)
