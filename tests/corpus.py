"""A tiny generated corpus for tests: made-up sentences, fixed seed, no real data."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from model.attributes import HOSTILITY_ATTRIBUTES

SUBJECTS = ("the minister", "the council", "this article", "the government", "our ally", "the report", "the editor", "the deal")
VERBS = ("explains", "ignores", "changes", "criticises", "supports", "delays", "questions", "describes")
OBJECTS = ("the budget", "the arms deal", "the new rules", "the figures", "the treaty", "the vote", "the plan", "the schools")
INSULTS = ("idiot", "moron", "stupid clown", "pathetic loser", "dumb fool")
PROFANITY = ("fucking", "shit", "crap", "damn bullshit")
THREATS = ("i will kill you", "i am going to hurt you", "you will die soon", "i will burn your house")
GROUPS = ("immigrants", "muslims", "jews", "women", "foreigners")
SLURS = ("vermin", "parasites", "animals", "subhuman filth")


def _row(text: str, **labels: float) -> dict:
    return {"text": text, **{a: float(labels.get(a, 0.0)) for a in HOSTILITY_ATTRIBUTES}}


def make_corpus(n: int = 360, seed: int = 0) -> pd.DataFrame:
    """Neutral and hostile sentences with every attribute labelled (0/1), two sources, unit weights."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = i % 6
        s, v, o = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        if kind in (0, 1, 2):
            rows.append(_row(f"{s.capitalize()} {v} {o} and I think that is {rng.choice(('wrong', 'fair', 'late', 'right'))}."))
        elif kind == 3:
            rows.append(_row(f"You are a {rng.choice(INSULTS)}, {s} {v} {o}.", toxicity=1, insult=1))
        elif kind == 4:
            rows.append(_row(f"What {rng.choice(PROFANITY)}, {s} {v} {o}.", toxicity=1, profanity=1))
        else:
            if rng.random() < 0.5:
                rows.append(_row(f"{rng.choice(THREATS).capitalize()}, {s} {v} {o}.", toxicity=1, threat=1, severe_toxicity=1))
            else:
                rows.append(_row(f"All {rng.choice(GROUPS)} are {rng.choice(SLURS)}.", toxicity=1, identity_attack=1, severe_toxicity=1))
    frame = pd.DataFrame(rows)
    frame["source"] = np.where(np.arange(n) % 2 == 0, "synthetic_a", "synthetic_b")
    frame["weight"] = 1.0
    return frame


def make_spans(frame: pd.DataFrame) -> pd.DataFrame:
    """Gold toxic character offsets for the hostile rows: the insult, profanity, threat or slur words."""
    words = INSULTS + PROFANITY + THREATS + SLURS
    out = []
    for text in frame.loc[frame["toxicity"] == 1, "text"]:
        offsets = []
        lowered = text.lower()
        for w in words:
            at = lowered.find(w)
            if at >= 0:
                offsets.extend(range(at, at + len(w)))
        out.append({"text": text, "spans": sorted(set(offsets))})
    return pd.DataFrame(out)


COUNTRIES = ["Turkey", "France", "Brazil", "Kenya", "Norway", "Chile", "Japan", "Egypt"]
THINGS = ["the S-400", "the bridge", "the new airport", "the vaccine plant", "the pipeline", "the dam"]
SOURCES = ["Reuters", "the BBC", "the ministry", "official data", "the census office", "AP"]


def make_claim_sentences(seed: int = 0, n: int = 60) -> pd.DataFrame:
    """Made-up sentences of each kind with their head labels (NaN where a kind says nothing)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        country, thing, source = rng.choice(COUNTRIES), rng.choice(THINGS), rng.choice(SOURCES)
        amount, year = int(rng.integers(2, 90)), int(rng.integers(1990, 2024))
        fact = f"{country} paid ${amount / 10:.1f}bn for {thing} in {year}"
        rows += [
            (f"{fact}.", 1.0, 0.0),
            (f"According to {source}, {fact.lower()}.", 1.0, 1.0),
            (f"{source} reported that {country} signed the deal for {thing} in {year}.", 1.0, 1.0),
            (f"Everyone knows {country} signed the deal for {thing} in secret in {year}.", 1.0, 0.0),
            (f"I think {thing} is a mistake.", 0.0, np.nan),
            (f"Why did {country} buy {thing}?", 0.0, np.nan),
            (f"I was at {thing} last week with my family.", 0.0, np.nan),
            (f"We should stop paying for {thing}.", 0.0, np.nan),
        ]
    return pd.DataFrame(rows, columns=["text", "checkable", "supported"]).assign(weight=1.0)
