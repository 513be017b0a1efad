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
