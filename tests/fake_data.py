"""A complete fake data directory (every file the loaders read, real layout, generated rows) and a fake site.

Small enough to train a bundle in seconds, so notebooks and ``moderate train`` run end to end in tests.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from model.training.added_sets import ADDED_SETS, IDENTITY_ATTACK_TYPES
from model.training.claims_data import CLAIM_DATASETS
from model.training.data import DATASETS
from tests.corpus import INSULTS, PROFANITY, SLURS, THREATS, make_claim_sentences, make_corpus

SITE_WORDS = ("shill", "sheeple", "troll farm", "paid stooge")
"""What the made-up site treats as hostile and the generated public data never shows."""


def _csv(path: Path, frame: pd.DataFrame | dict | list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(frame).to_csv(path, index=False, compression="gzip" if path.suffix == ".gz" else None)


def _hostility(root: Path, dataset: str, filename: str, frame) -> None:
    _csv(root / "hostility" / DATASETS[dataset].folder / filename, frame)


def _claims(root: Path, dataset: str, filename: str, frame) -> None:
    _csv(root / "claims" / CLAIM_DATASETS[dataset].folder / filename, frame)


def _hostile_offsets(text: str) -> tuple[int, int, str] | None:
    lowered = text.lower()
    for words, kind in ((INSULTS, "Insult"), (PROFANITY, "Profane/Obscene"), (THREATS, "Threat"), (SLURS, "Identity based Attack")):
        for word in words:
            at = lowered.find(word)
            if at >= 0:
                return at, at + len(word), kind
    return None


def _write_hostility(root: Path, seed: int) -> None:
    train = make_corpus(240, seed=seed)
    tox = train["toxicity"].astype(int)
    _hostility(root, "davidson", "labeled_data.csv.gz", {
        "class": np.where(train["identity_attack"] == 1, 0, np.where(tox == 1, 1, 2)), "tweet": train["text"]})
    fox = make_corpus(60, seed=seed + 1)
    _hostility(root, "fox_news", "fox_news_comments.csv.gz", {"text": fox["text"], "label": fox["toxicity"].astype(int)})
    kaggle = make_corpus(90, seed=seed + 2)
    _hostility(root, "kaggle_insults", "train.csv.gz", {
        "Insult": kaggle["toxicity"].astype(int), "Date": "", "Comment": [f'"{t}"' for t in kaggle["text"]]})
    olid = make_corpus(90, seed=seed + 3)
    _hostility(root, "olid", "olid_train.csv.gz", {
        "id": range(len(olid)), "tweet": olid["text"], "subtask_a": np.where(olid["toxicity"] == 1, "OFF", "NOT"),
        "subtask_b": np.where(olid["insult"] == 1, "TIN", np.where(olid["toxicity"] == 1, "UNT", "NULL")), "subtask_c": "NULL"})
    storm = make_corpus(60, seed=seed + 4)
    _hostility(root, "stormfront", "stormfront_sentences.csv.gz", {
        "file_id": [f"{i}_1" for i in range(len(storm))], "label": np.where(storm["toxicity"] == 1, "hate", "noHate"),
        "text": storm["text"], "split": np.where(np.arange(len(storm)) % 3 == 0, "sampled_test", "sampled_train")})
    cat = make_corpus(60, seed=seed + 5)
    _hostility(root, "cat_in_context", "cat_large_gc_in_context.csv.gz", {"text": cat["text"], "label": cat["toxicity"].astype(int)})
    small = make_corpus(36, seed=seed + 6)
    _hostility(root, "cat_in_context", "cat_small.csv.gz", {"text": small["text"], "label_oc": small["toxicity"].astype(int)})
    # Toxic spans: the raw release (every post, typed spans) and the three official splits.
    posts = make_corpus(90, seed=seed + 7)
    posts = posts[posts["toxicity"] == 1].reset_index(drop=True)
    comments, annotations, spans = [], [], []
    for i, text in enumerate(posts["text"]):
        comments.append({"comment_id": i, "comment_text": text})
        annotations.append({"annotation": i, "comment_id": i, "worker": 1, "country": "USA", "all toxic": False, "not toxic": False})
        found = _hostile_offsets(text)
        if found:
            spans.append({"annotation": i, "type": found[2], "start": found[0], "end": found[1]})
    _hostility(root, "toxic_spans", "raw_comments.csv.gz", comments)
    _hostility(root, "toxic_spans", "raw_annotations.csv.gz", annotations)
    _hostility(root, "toxic_spans", "raw_spans.csv.gz", spans)
    for split, offset in (("trial", 8), ("train", 9), ("test", 10)):
        frame = make_corpus(30, seed=seed + offset)
        gold = []
        for text, toxic in zip(frame["text"], frame["toxicity"]):
            found = _hostile_offsets(text) if toxic else None
            gold.append(str(list(range(found[0], found[1]))) if found else "[]")
        _hostility(root, "toxic_spans", f"tsd_{split}.csv.gz", {"spans": gold, "text": frame["text"]})
    # Validation and test sets.
    ucc_val = make_corpus(48, seed=seed + 11)
    _hostility(root, "ucc", "val.csv.gz", {"comment": ucc_val["text"], "hostile": ucc_val["toxicity"].astype(int),
                                           "antagonize": ucc_val["insult"].astype(int), "healthy": 1 - ucc_val["toxicity"].astype(int)})
    sfu = make_corpus(36, seed=seed + 12)
    _hostility(root, "sfu_ctc", "SFU_constructiveness_toxicity.csv.gz", {
        "comment": sfu["text"], "is_toxic_popular_answer_1": np.where(sfu["toxicity"] == 1, 3, 1)})
    ethos = make_corpus(36, seed=seed + 13)
    _hostility(root, "ethos", "Ethos_Dataset_Binary.csv.gz", {"comment": ethos["text"], "isHate": ethos["toxicity"]})
    test = make_corpus(48, seed=seed + 14)
    texts, labels = test["text"], test["toxicity"].astype(int)
    _hostility(root, "ucc", "test.csv.gz", {"comment": texts, "hostile": labels})
    _hostility(root, "olid", "olid_test.csv.gz", {"id": range(len(texts)), "tweet": texts, "subtask_a": np.where(labels == 1, "OFF", "NOT"),
                                                  "subtask_b": np.where(labels == 1, "TIN", "NULL"), "subtask_c": "NULL"})
    kaggle_test = pd.DataFrame({"Insult": labels, "Date": "", "Comment": [f'"{t}"' for t in texts], "Usage": "PublicTest"})
    _hostility(root, "kaggle_insults", "test_with_solutions.csv.gz", kaggle_test)
    _hostility(root, "kaggle_insults", "impermium_verification_labels.csv.gz", kaggle_test)
    _hostility(root, "cat_in_context", "cat_large_gn_out_of_context.csv.gz", {
        "id": range(len(texts)), "text": texts, "label": labels, "api": np.where(labels == 1, 0.8, 0.2), "parent": ""})


def _write_claims(root: Path, seed: int) -> None:
    train = make_claim_sentences(seed=seed, n=16)
    verdict = np.where(train["checkable"] == 1, 1, -1)
    _claims(root, "claimbuster", "crowdsourced.csv.gz", {"Sentence_id": range(len(train)), "Text": train["text"], "Verdict": verdict})
    truth = make_claim_sentences(seed=seed + 1, n=3)
    _claims(root, "claimbuster", "groundtruth.csv.gz", {"Sentence_id": range(1000, 1000 + len(truth)), "Text": truth["text"],
                                                        "Verdict": np.where(truth["checkable"] == 1, 1, -1)})
    spotter = make_claim_sentences(seed=seed + 2, n=4)
    _claims(root, "claimbuster", "claimbuster_2class_ncs_sets.csv.gz", {
        "sentence_id": range(2000, 2000 + len(spotter)), "text": spotter["text"],
        "label": spotter["checkable"].astype(int), "in_spotter_test": True})
    ct19 = make_claim_sentences(seed=seed + 3, n=2)
    _claims(root, "checkthat2019", "ct19_task1_en.csv.gz", {"split": np.where(np.arange(len(ct19)) % 2, "test", "train"),
                                                            "text": ct19["text"], "label": ct19["checkable"].astype(int)})
    ct20 = make_claim_sentences(seed=seed + 4, n=4)
    _claims(root, "checkthat2020", "ct20_task1_en.csv.gz", {"split": np.array(["train", "dev", "test", "train"])[np.arange(len(ct20)) % 4],
                                                            "tweet_text": ct20["text"], "claim": ct20["checkable"].astype(int)})
    ct22 = make_claim_sentences(seed=seed + 5, n=4)
    _claims(root, "checkthat2022", "ct22_task1b_en.csv.gz", {
        "split": np.array(["train", "dev", "dev_test", "test"])[np.arange(len(ct22)) % 4],
        "tweet_text": ct22["text"], "class_label": ct22["checkable"].astype(int)})
    props, comments = [], []
    kinds = {(1.0, 0.0): ("fact", False), (1.0, 1.0): ("fact", True)}
    for doc in range(24):
        sentences = make_claim_sentences(seed=seed + 100 + doc, n=1)
        split = "test" if doc % 4 == 3 else "train"
        comments.append({"id": doc, "split": split, "text": " ".join(sentences["text"])})
        for prop, row in enumerate(sentences.itertuples()):
            kind, support = kinds.get((row.checkable, row.supported), ("value", False))
            props.append({"split": split, "doc_id": doc, "prop_id": prop, "text": row.text, "type": kind,
                          "has_support": support, "duplicate_doc": False})
    _claims(root, "cdcp", "cdcp_propositions.csv.gz", props)
    with gzip.open(root / "claims" / CLAIM_DATASETS["cdcp"].folder / "cdcp_comments.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(comment) + "\n" for comment in comments)
    regulation = make_claim_sentences(seed=seed + 6, n=6)
    label = np.where(regulation["checkable"] == 1, "n", "u")
    _claims(root, "regulation_room", "park_cardie_2014_propositions.csv.gz", {
        "split": np.where(np.arange(len(regulation)) % 4 == 3, "test", "train"), "label": label,
        "label_name": np.where(label == "n", "verifiable_non_experiential", "unverifiable"), "text": regulation["text"],
        "rule_name": "apr", "comment_number": np.arange(len(regulation)) // 8})
    cmv = make_claim_sentences(seed=seed + 7, n=6)
    _claims(root, "cmv_verifiability", "cmv_verifiability_sentences.csv.gz", {
        "split": np.where(np.arange(len(cmv)) % 4 == 3, "test", "train"), "sentence": cmv["text"],
        "comment_id": [f"c{i // 8}" for i in range(len(cmv))],
        "verifiability": np.where(cmv["checkable"] == 1, "verifiable", "unverifiable"),
        "experiential": np.where(cmv["checkable"] == 1, "False", "")})
    units = make_claim_sentences(seed=seed + 8, n=3)
    _claims(root, "cmv_units", "cmv_eu_units.csv.gz", {"text": units["text"], "type": np.where(units["checkable"] == 1, "Fact", "Value")})
    _claims(root, "liar", "liar.csv.gz", {"split": ["train", "test"], "statement": ["Liar train statement.", "Liar test statement."]})


def _write_added_sets(root: Path, seed: int) -> None:
    """HateXplain and ConvAbuse (``model.training.added_sets``), each with its official splits."""
    posts = make_corpus(60, seed=seed + 21)
    splits = np.array(["train", "val", "test"])[np.arange(len(posts)) % 3]
    label = np.where(posts["identity_attack"] == 1, "hatespeech", np.where(posts["toxicity"] == 1, "offensive", "normal"))
    _csv(root / "hostility" / ADDED_SETS["hatexplain"][0] / "hatexplain.csv.gz", {
        "split": splits, "majority_label": label, "text": posts["text"], "toxic": posts["toxicity"].astype(int)})
    turns = make_corpus(45, seed=seed + 22)
    abuse = turns["toxicity"].astype(int)
    _csv(root / "hostility" / ADDED_SETS["convabuse"][0] / "convabuse.csv.gz", {
        "split": np.array(["train", "valid", "test"])[np.arange(len(turns)) % 3], "text": turns["text"],
        "is_abuse_majority": abuse, "mean_severity": np.where(turns["threat"] == 1, 2.5, abuse * 1.0),
        **{column: turns["identity_attack"] * 1.0 if column == "frac_racist" else 0.0 for column in IDENTITY_ATTACK_TYPES}})


def write_data_dir(root: str | Path, seed: int = 0) -> Path:
    """Write every hostility and claims file the loaders read, with generated rows; return ``root``."""
    root = Path(root)
    _write_hostility(root, seed)
    _write_added_sets(root, seed)
    _write_claims(root, seed)
    return root


def make_site(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A site's labelled comments: neutral ones approved, and comments calling people shills (words the
    public data never labels) rejected; ``text`` and ``decision``, as a site would export them. Every text is the
    site's own (none is a generated public row: those in a public validation or test set are never trained on)."""
    rng = np.random.default_rng(seed)
    neutral = make_corpus(n, seed=seed + 50)
    neutral = neutral[neutral["toxicity"] == 0]["text"].tolist()
    rows = []
    for i in range(n):
        if i % 2:
            word = SITE_WORDS[int(rng.integers(len(SITE_WORDS)))]
            rows.append({"text": f"{neutral[i % len(neutral)][:-1]}, said the {word}.", "decision": "reject"})
        else:
            rows.append({"text": f"{neutral[i % len(neutral)][:-1]}, said the reader.", "decision": "approve"})
    return pd.DataFrame(rows)
