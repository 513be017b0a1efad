"""Neutral and friendly sentences that mention groups of people, written for this project.

A model fine-tuned on hate-speech sets learns that a group's name predicts hostility (a tweet-only
fine-tune flagged 91% of neutral template sentences about gay people). These sentences, all labelled not
hostile, show it group names in ordinary news-comment use. They are deliberately unlike the Dixon et al.
madlibs used to measure bias (short "NAME is a ADJ IDENTITY" patterns): longer, with everyday context, and
never a list of adjectives; the madlibs are never read here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

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
"""Sentence frames: ``{group}`` a group adjective, ``{people}`` a plural noun, ``{person}`` a role, ``{persons}`` its plural."""

NOUNS: tuple[str, ...] = (
    "homosexual", "heterosexual", "lesbian", "bisexual", "gay man", "gay woman", "trans woman", "trans man",
    "nonbinary person", "Muslim", "Jew", "Christian", "Catholic", "Hindu", "Sikh", "Buddhist", "atheist",
    "immigrant", "refugee", "Mexican", "Canadian", "American", "European", "Somali", "Pakistani", "Jamaican",
    "Arab", "Latino", "Latina", "Hispanic woman", "African", "Black woman", "Black man", "white man",
    "Asian woman", "Chinese student", "Indian engineer", "Indigenous elder", "disabled veteran", "deaf student",
    "blind musician", "older man", "young woman", "queer writer",
)
"""Groups as nouns (a homosexual, an atheist): hate posts use this form, so civil text needs it too."""

NOUN_TEMPLATES: tuple[str, ...] = (
    "As {a_noun} myself, I think the new parking rules are fair.",
    "The {person} who fixed our roof is {a_noun} and did a careful job.",
    "My {person} is {a_noun} and the most generous person I know.",
    "I have been {a_noun} all my life and I still vote in every election.",
    "Our {person}, {a_noun}, explained the new recycling rules patiently.",
    "Every {noun} I have worked with has been professional and friendly.",
    "Our new neighbour is {a_noun} who teaches piano to the kids on the street.",
    "The first {noun} elected to the council spoke mostly about bike lanes.",
    "Being {a_noun} is part of who she is, like being a runner or a mother.",
    "The letter writer, {a_noun} from the east side, makes a fair point about taxes.",
    "I met {a_noun} at the book club who recommended this author.",
    "My oldest {person} is {a_noun} and we have gone fishing together for thirty years.",
    "The columnist, herself {a_noun}, wrote fairly about both sides.",
    "He is {a_noun}, a father of three and a volunteer firefighter.",
    "We hired {a_noun} as our new {person} last week.",
    "My {person} is {a_noun}.",
    "She is {a_noun}. So is my {person}.",
    "Any {noun} is welcome at our church supper on Sunday.",
)
"""Frames for a group named as a noun: ``{a_noun}`` with its article, ``{noun}`` bare."""

SHORT_TEMPLATES: tuple[str, ...] = (
    "My {person} is {group}.",
    "Our new neighbours are {group}.",
    "Two of my {persons} are {group}.",
    "The new {person} is {group}, and so what?",
    "Yes, my {person} is {group}.",
    "Lots of {group} {people} live on my street.",
    "{group_cap} {people} vote too.",
    "My {person} is {group} and very funny.",
    "Half my {persons} are {group}.",
    "I'm {group} and I read this paper every day.",
)
"""Short frames: hate posts are short, so a short civil mention must be seen too."""

FAMILIES: tuple[tuple[tuple[str, ...], tuple[str, ...], float], ...] = (
    (TEMPLATES, GROUPS, 0.5),
    (NOUN_TEMPLATES, NOUNS, 0.2),
    (SHORT_TEMPLATES, GROUPS, 0.3),
)
"""(frames, groups, share of the sentences) per kind of sentence."""


def indefinite_article(word: str) -> str:
    """``a`` or ``an`` for ``word`` (a European, an Asian)."""
    return "an" if word[:1].lower() in "aeiou" and not word.lower().startswith("eu") else "a"


def _article(noun: str) -> str:
    return f"{indefinite_article(noun)} {noun}"


def draw_distinct(draw: Callable[[int], str], wanted: int, found: dict, value: object = None) -> None:
    """Add up to ``wanted`` sentences not yet in ``found`` (as keys, with ``value``) from ``draw(n_added_so_far)``.

    Gives up after 50 draws per sentence wanted, when the frames run out of distinct fillings.
    """
    drawn, attempts = 0, 0
    while drawn < wanted and attempts < 50 * wanted:
        attempts += 1
        sentence = draw(drawn)
        if sentence not in found:
            found[sentence] = value
            drawn += 1


def draw_two_kinds(hostile: Callable[[np.random.Generator], str], civil: Callable[[np.random.Generator], str],
                   n_sentences: int, hostile_share: float, seed: int) -> tuple[list[str], np.ndarray]:
    """``n_sentences`` distinct sentences, seeded: ``round(hostile_share * n_sentences)`` from ``hostile(rng)``
    (label 1.0), the rest from ``civil(rng)`` (label 0.0); fewer when a kind runs out of distinct fillings.

    Returns the texts and their labels (a float array), hostile ones first.
    """
    rng = np.random.default_rng(seed)
    found: dict[str, float] = {}
    wanted = round(hostile_share * n_sentences)
    draw_distinct(lambda drawn: hostile(rng), wanted, found, 1.0)
    draw_distinct(lambda drawn: civil(rng), n_sentences - wanted, found, 0.0)
    return list(found), np.fromiter(found.values(), dtype=float, count=len(found))


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s")


def _fill(template: str, group: str, rng: np.random.Generator) -> str:
    person = PERSONS[rng.integers(len(PERSONS))]
    return template.format(group=group, group_cap=group[:1].upper() + group[1:], noun=group, a_noun=_article(group),
                           people=PEOPLE[rng.integers(len(PEOPLE))], person=person, persons=_plural(person))


def identity_sentences(n_sentences: int, seed: int) -> list[str]:
    """Draw ``n_sentences`` distinct filled-in frames, seeded; every group appears about equally within a kind.

    The kinds (long adjective frames, noun frames, short frames) share the sentences as ``FAMILIES`` says.

    Parameters
    ----------
    n_sentences : int
        How many sentences (fewer when a kind runs out of distinct fillings).
    seed : int
        Seed of the draw.

    Returns
    -------
    list of str
    """
    rng = np.random.default_rng(seed)
    found: dict[str, None] = {}
    for templates, groups, share in FAMILIES:
        draw_distinct(lambda drawn: _fill(templates[rng.integers(len(templates))], groups[drawn % len(groups)], rng),
                      round(share * n_sentences), found)
    return list(found)


PLURAL_NOUNS: tuple[str, ...] = (
    "Jews", "Muslims", "Christians", "Catholics", "Hindus", "Sikhs", "Buddhists", "atheists", "gays", "lesbians",
    "homosexuals", "immigrants", "refugees", "Mexicans", "Arabs", "Asians", "Africans", "Blacks", "whites",
    "Latinos", "Hispanics", "Somalis", "Pakistanis", "Jamaicans", "Indians", "Americans", "Canadians",
)
"""Groups named by a plural noun (Jews, gays): the form generalising hate uses most, so civil text needs it too."""

TOPICS: tuple[str, ...] = (
    "the transit plan", "the school budget", "the new library", "the flood relief money", "the housing strategy",
    "the hospital wait times", "the arms deal", "the carbon tax", "the bike lanes", "the pension reform",
    "the property tax increase", "the downtown redevelopment",
)
"""What a civil comment in ``PLURAL_TEMPLATES`` talks about."""

PLURAL_TEMPLATES: tuple[str, ...] = (
    "Many {nouns} in this city have strong views on {topic}, like everyone else.",
    "The survey asked {nouns} and other residents what they thought of {topic}.",
    "{nouns_cap} I know were as surprised by {topic} as anyone.",
    "The article quotes {nouns} who run small businesses, and most of them support {topic}.",
    "{nouns_cap} pay the same taxes as the rest of us, so they should have a say on {topic}.",
    "Several {nouns} spoke at the council meeting about {topic}.",
    "Like most {nouns} on my street, my {person} is worried about {topic}.",
    "Thank you for talking to {nouns} about {topic} and not just about them.",
    "I have worked with {nouns} for twenty years and we disagree about {topic} like any colleagues.",
    "{nouns_cap} have lived in this town since it was founded and remember the last fight over {topic}.",
    "The panel on {topic} included {nouns}, farmers and two retired teachers.",
    "My {person} and the other {nouns} at work mostly talk about {topic} these days.",
    "Nothing suggests that {nouns} see {topic} any differently from their neighbours.",
    "The museum's exhibit tells how {nouns} settled here, which is more interesting than {topic}.",
    "Both {nouns} and their critics deserve to be quoted accurately in a story about {topic}.",
    "{nouns_cap} are our neighbours and friends, and they will pay for {topic} too.",
)
"""Civil frames for a group named by a plural noun: ``{nouns}``, ``{nouns_cap}``, ``{topic}``, ``{person}``."""

BALANCE_CAP = 1500
"""At most this many balancing sentences per group term: beyond it the frames would mostly repeat."""


def group_terms() -> dict[str, tuple[tuple[str, ...], str]]:
    """Each group term balanced by ``balancing_sentences`` -> (the frames naming it, the frames' slot for it)."""
    return ({group: (TEMPLATES + SHORT_TEMPLATES, "group") for group in GROUPS}
            | {nouns: (PLURAL_TEMPLATES, "nouns") for nouns in PLURAL_NOUNS})


def _fill_plural(template: str, nouns: str, rng: np.random.Generator) -> str:
    return template.format(nouns=nouns, nouns_cap=nouns[:1].upper() + nouns[1:], topic=TOPICS[rng.integers(len(TOPICS))],
                           person=PERSONS[rng.integers(len(PERSONS))])


def term_counts(texts: Sequence[str], toxic: np.ndarray, terms: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``term -> (rows naming it, toxic rows among them)``; a term is matched as a whole word, in any case."""
    lowered = pd.Series([str(text) for text in texts], dtype=object).str.lower()
    toxic = np.asarray(toxic, dtype=bool)
    counts = {}
    for term in terms:
        named = lowered.str.contains(rf"(?<!\w){re.escape(term.lower())}(?!\w)", regex=True).to_numpy()
        counts[term] = (int(named.sum()), int((named & toxic).sum()))
    return counts


def balancing_sentences(texts: Sequence[str], toxicity: np.ndarray, seed: int,
                        cap: int = BALANCE_CAP) -> tuple[list[str], dict[str, dict]]:
    """Civil sentences that bring each group term's share of toxic rows down to the share over all rows.

    Dixon et al. (2018)'s mitigation: a term named mostly in toxic rows (in this project's training rows
    "Jews", "Blacks", "Muslims") teaches a model that the name itself is hostile; for each term whose toxic share
    is above the overall one, add ``ceil(toxic / overall - rows)`` civil sentences naming it, so that the term's share
    would equal the overall one: at most ``cap``, and at most as many as this module's frames give distinct (about 450
    for a plural noun), so a term named in many toxic rows ("Jews": 764 of 1,050 in 2.13.0's sample) is brought
    down only part of the way; ``counts`` says how far. It reads only the
    training rows given, never an evaluation set.

    Parameters
    ----------
    texts : sequence of str
        The training rows.
    toxicity : array of float
        Their toxicity labels (1 toxic, 0 not, NaN where the row's set does not label toxicity: not counted).
    seed : int
        Seed of the draw.
    cap : int
        Most sentences for one term.

    Returns
    -------
    sentences : list of str
        Distinct sentences, each labelled civil by the caller.
    counts : dict
        ``term -> {"rows", "toxic", "added"}`` for every term that got sentences (for the training log).
    """
    toxicity = np.asarray(toxicity, dtype=float)
    labelled = ~np.isnan(toxicity)
    texts = [text for text, keep in zip(texts, labelled) if keep]
    toxic = toxicity[labelled] >= 0.5
    if not len(texts) or not toxic.any():
        return [], {}
    overall = float(toxic.mean())
    terms = group_terms()
    rng = np.random.default_rng(seed)
    found: dict[str, None] = {}
    added = {}
    for term, (rows, n_toxic) in term_counts(texts, toxic, list(terms)).items():
        wanted = min(cap, max(0, math.ceil(n_toxic / overall - rows)))
        if not wanted:
            continue
        frames, slot = terms[term]
        fill = _fill_plural if slot == "nouns" else _fill
        before = len(found)
        draw_distinct(lambda drawn: fill(frames[rng.integers(len(frames))], term, rng), wanted, found)
        added[term] = {"rows": rows, "toxic": n_toxic, "added": len(found) - before}
    return list(found), added
