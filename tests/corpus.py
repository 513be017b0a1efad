"""A tiny generated corpus for tests: made-up sentences, fixed seed, no real data."""

from __future__ import annotations

import gzip
import json
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


CLAIM_UNIT_KINDS = ("fact", "sourced", "weasel", "opinion", "question", "experience", "proposal")
"""The kinds of ``make_claim_units``: the first and third are unsupported claims, the rest are not."""


def make_claim_units(seed: int = 0, n: int = 8) -> pd.DataFrame:
    """``n`` made-up units of every kind of ``CLAIM_UNIT_KINDS`` (same templates as ``make_claim_sentences``)."""
    sentences = make_claim_sentences(seed=seed, n=n)
    kinds = np.tile(("fact", "sourced", "sourced", "weasel", "opinion", "question", "experience", "proposal"), n)
    return sentences.assign(kind=kinds)[["text", "kind"]]


def _csv_gz(frame: pd.DataFrame, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, compression="gzip")


def write_claim_test_files(root, seed: int = 7, n: int = 6):
    """Write made-up rows into every file ``load_claim_test_sets`` reads, under ``root/claims``; return ``root``.

    Unsupported claims (bare facts with a figure, "everyone knows" claims) are the positives of every set;
    opinion, questions, personal experience, proposals and sourced facts are negatives, except where a set's
    own definition differs (CMV labels experiential sentences verifiable).
    """
    units = make_claim_units(seed=seed, n=n)
    by_kind = {kind: units.loc[units["kind"] == kind, "text"].tolist() for kind in CLAIM_UNIT_KINDS}
    claims = root / "claims"
    # ClaimBuster: check-worthy (CFS) = unsupported claims; NFS = opinion and questions; UFS = experience.
    verdicts = [(text, 1) for text in by_kind["fact"] + by_kind["weasel"]]
    verdicts += [(text, -1) for text in by_kind["opinion"] + by_kind["question"]]
    verdicts += [(text, 0) for text in by_kind["experience"]]
    crowd = pd.DataFrame({"Sentence_id": range(1, len(verdicts) + 1), "Text": [t for t, _ in verdicts],
                          "Verdict": [v for _, v in verdicts]})
    _csv_gz(crowd, claims / "claimbuster" / "crowdsourced.csv.gz")
    _csv_gz(pd.DataFrame({"Sentence_id": [10_000], "Text": ["An expert row outside the test."], "Verdict": [-1]}),
            claims / "claimbuster" / "groundtruth.csv.gz")
    _csv_gz(pd.DataFrame({"sentence_id": crowd["Sentence_id"], "text": crowd["Text"],
                          "label": (crowd["Verdict"] == 1).astype(int), "in_spotter_test": True}),
            claims / "claimbuster" / "claimbuster_2class_ncs_sets.csv.gz")
    tweets = [(text, 1) for text in by_kind["fact"]] + [(text, 0) for text in by_kind["opinion"] + by_kind["proposal"]]
    _csv_gz(pd.DataFrame({"split": "test", "tweet_text": [t for t, _ in tweets],
                          "class_label": [c for _, c in tweets]}),
            claims / "checkthat2022_task1b_en_tweets" / "ct22_task1b_en.csv.gz")
    # CDCP: even comments hold an unsupported fact; odd ones a sourced (supported) fact; every third none.
    propositions, comments = [], []
    for doc in range(n):
        fact_kind = None if doc % 3 == 2 else ("fact" if doc % 2 == 0 else "sourced")
        parts = ([(by_kind[fact_kind][doc], "fact", fact_kind == "sourced")] if fact_kind else [])
        parts += [(by_kind["opinion"][doc], "value", False), (by_kind["proposal"][doc], "policy", False),
                  (by_kind["experience"][doc], "testimony", False)]
        comments.append({"id": doc, "split": "test", "text": " ".join(text for text, _, _ in parts)})
        propositions += [{"split": "test", "doc_id": doc, "prop_id": i, "text": text, "type": kind,
                          "has_support": supported, "duplicate_doc": False}
                         for i, (text, kind, supported) in enumerate(parts)]
    _csv_gz(pd.DataFrame(propositions), claims / "cdcp" / "cdcp_propositions.csv.gz")
    with gzip.open(claims / "cdcp" / "cdcp_comments.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(comment) + "\n" for comment in comments)
    regulation = [(text, "n", "verifiable_non_experiential") for text in by_kind["fact"]]
    regulation += [(text, "u", "unverifiable") for text in by_kind["opinion"]]
    regulation += [(text, "e", "verifiable_experiential") for text in by_kind["experience"]]
    _csv_gz(pd.DataFrame({"split": "test", "label": [r[1] for r in regulation],
                          "label_name": [r[2] for r in regulation], "text": [r[0] for r in regulation], "rule_name": "fake",
                          "comment_number": range(len(regulation))}),
            claims / "regulation_room_verifiability" / "park_cardie_2014_propositions.csv.gz")
    cmv = [(text, "verifiable", "False") for text in by_kind["weasel"]]
    cmv += [(text, "verifiable", "True") for text in by_kind["experience"]]
    cmv += [(text, "unverifiable", "") for text in by_kind["opinion"]]
    cmv += [(text, "nonargument", "") for text in by_kind["question"]]
    _csv_gz(pd.DataFrame({"split": "test", "sentence": [r[0] for r in cmv],
                          "comment_id": [f"c{i}" for i in range(len(cmv))],
                          "verifiability": [r[1] for r in cmv], "experiential": [r[2] for r in cmv]}),
            claims / "cmv_verifiability" / "cmv_verifiability_sentences.csv.gz")
    return root
