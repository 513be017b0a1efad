"""Neutral and friendly sentences that mention groups of people, written for this project.

A model fine-tuned on hate-speech sets learns that a group's name predicts hostility (a tweet-only
fine-tune flagged 91% of neutral template sentences about gay people). These sentences, all labelled not
hostile, show it group names in ordinary news-comment use. They are deliberately unlike the Dixon et al.
madlibs used to measure bias (short "NAME is a ADJ IDENTITY" patterns): longer, with everyday context, and
never a list of adjectives; the madlibs are never read here.
"""

from __future__ import annotations

import numpy as np

GROUPS: tuple[str, ...] = (
    "gay", "lesbian", "bisexual", "transgender", "trans", "queer", "straight", "Muslim", "Jewish", "Christian",
    "Catholic", "Hindu", "Sikh", "Buddhist", "atheist", "Black", "white", "Asian", "Latino", "Hispanic",
    "Mexican", "African", "Arab", "Chinese", "Indian", "immigrant", "refugee", "Native American", "Indigenous",
    "disabled", "deaf", "blind", "older", "young", "female", "male", "nonbinary", "homosexual", "heterosexual",
    "Canadian", "American", "European", "Somali", "Pakistani", "Jamaican",
)
"""Adjectives naming a group, as they appear in comments."""

PEOPLE: tuple[str, ...] = ("people", "families", "neighbours", "students", "workers", "voters", "women", "men",
                           "teenagers", "seniors", "parents", "doctors")
PERSONS: tuple[str, ...] = ("neighbour", "colleague", "teacher", "nurse", "cousin", "friend", "landlord",
                            "coach", "manager", "doctor", "classmate", "councillor")

TEMPLATES: tuple[str, ...] = (
    "My {person} is {group} and has lived on our street for twenty years.",
    "The article quotes several {group} {people} who run small businesses downtown.",
    "Our {person}, who happens to be {group}, organised the food drive this winter.",
    "I grew up next to a {group} family and we still send each other cards at the holidays.",
    "The survey asked {group} {people} what they thought about the new transit line.",
    "There is a {group} community centre near the library that offers free tutoring.",
    "As a {group} reader I found this piece on housing costs well researched.",
    "Many {group} {people} in this city volunteer at the shelter on weekends.",
    "The council should listen to {group} residents before changing the bus routes.",
    "She wrote a thoughtful book about growing up {group} in a small prairie town.",
    "The festival celebrated {group} artists and the turnout was huge.",
    "{group_cap} {people} pay the same taxes and deserve the same services as everyone else.",
    "I am {group} and I agree with the columnist about the school budget.",
    "Nothing in the report suggests that {group} {people} are treated differently by the courts.",
    "My {person} married a {group} partner last summer and the wedding was lovely.",
    "The hospital hired more {group} staff to serve patients in their own language.",
    "We should protect {group} {people} from discrimination at work.",
    "A {group} {person} of mine explained the history of the neighbourhood to me.",
    "It is good to see {group} candidates running for the school board.",
    "The story of the {group} couple who rebuilt the bakery after the fire made my day.",
    "Being {group} has nothing to do with whether someone is a good tenant.",
    "The documentary follows three {group} {people} as they start a farm cooperative.",
    "Welcome to all the new {group} {people} moving into the area this year.",
    "Research shows {group} {people} use the parks about as often as anyone else.",
    "I support equal rights for {group} {people}, full stop.",
    "The mayor met {group} leaders to talk about the flood relief plan.",
    "Our team has {group} players and they are some of the best on the field.",
    "He is a proud {group} father of two and coaches the under-twelves.",
    "Thank you for covering the concerns of {group} {people} in rural areas.",
    "The museum's new exhibit on {group} history is worth a visit.",
)
"""Sentence frames: ``{group}`` a group adjective, ``{people}`` a plural noun, ``{person}`` a role."""


def identity_sentences(n_sentences: int, seed: int) -> list[str]:
    """Draw ``n_sentences`` distinct filled-in templates, seeded; every group appears about equally.

    Parameters
    ----------
    n_sentences : int
        How many sentences (at most the number of distinct fillings).
    seed : int
        Seed of the draw.

    Returns
    -------
    list of str
    """
    rng = np.random.default_rng(seed)
    found: dict[str, None] = {}
    attempts = 0
    while len(found) < n_sentences and attempts < 50 * n_sentences:
        attempts += 1
        group = GROUPS[len(found) % len(GROUPS)]
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        sentence = template.format(group=group, group_cap=group[:1].upper() + group[1:],
                                   people=PEOPLE[rng.integers(len(PEOPLE))], person=PERSONS[rng.integers(len(PERSONS))])
        found.setdefault(sentence)
    return list(found)
