"""Load the labelled claim datasets: sentence rows for the two claim heads, validation and test splits."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from model.training.data import RESTORE_DATA_FILE, DataError, DatasetInfo, evaluation_frame, in_keys, overlap_key, read_data_file, resolve_data_dir

logger = logging.getLogger(__name__)

CLAIMS_SUBDIR = "claims"
CLAIM_LABELS: tuple[str, ...] = ("checkable", "supported")
"""Label columns of the training frame: 1.0, 0.0 or NaN where a source does not label them."""

CLAIM_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("claimbuster", "claimbuster", "not stated", True, "US presidential debates",
                    ("checkable",)),
        DatasetInfo("checkthat2019", "checkthat2019_task1_en_debates", "free for research", True,
                    "debates and speeches", ("checkable",)),
        DatasetInfo("checkthat2020", "checkthat2020_task1_en_tweets", "free for research", True,
                    "COVID-19 tweets", ("checkable",)),
        # Train/dev/dev_test are the COVID-19 Disinfo tweets with its Q1 labels (CC BY-NC-SA 4.0,
        # see that folder's SOURCE.md): the same rows under a share-alike licence, so not trainable.
        DatasetInfo("checkthat2022", "checkthat2022_task1b_en_tweets",
                    "free for research (train/dev/dev_test = covid19_disinfo_en, CC BY-NC-SA 4.0)", False,
                    "COVID-19 tweets", ("checkable",)),
        DatasetInfo("covid19_disinfo", "covid19_disinfo_en", "CC BY-NC-SA 4.0", False, "COVID-19 tweets",
                    ("checkable",)),
        DatasetInfo("cdcp", "cdcp", "ODbL 1.0 / DbCL 1.0", True, "eRulemaking user comments",
                    ("checkable", "supported")),
        DatasetInfo("regulation_room", "regulation_room_verifiability", "not stated", True,
                    "eRulemaking user comments", ("checkable",)),
        DatasetInfo("cmv_verifiability", "cmv_verifiability", "not stated", True, "Reddit ChangeMyView comments",
                    ("checkable",)),
        DatasetInfo("cmv_units", "cmv_elementary_units_morio2019", "not stated", True,
                    "Reddit ChangeMyView comments", ("checkable",)),
        DatasetInfo("lesa", "lesa_twitter_claims", "not stated", True, "COVID-19 tweets", ("checkable",)),
        DatasetInfo("cross_domain", "cross_domain_claims_daxenberger2017", "not stated", True,
                    "blogs, Wikipedia talk, web discourse, essays", ("checkable",)),
        DatasetInfo("liar", "liar", "research only", True, "PolitiFact statements", ("checkable",)),
        DatasetInfo("constraint2021", "constraint2021_covid_fakenews", "not stated", True,
                    "COVID-19 social posts", ()),
        DatasetInfo("wikiweasel", "szeged_wikiweasel_uncertainty", "not stated", True, "Wikipedia", ()),
    )
}
"""Every claims folder; only ``trainable`` ones (no NC, no GPL) may feed the shipped model."""

TRAINING_SOURCES: tuple[str, ...] = ("claimbuster", "cdcp", "regulation_room", "cmv_verifiability",
                                     "cmv_units", "checkthat2020")
"""Sources of the shipped claim model (chosen on the validation sets only)."""

SOURCE_WEIGHTS: dict[str, float] = {
    "claimbuster": 1.0,
    "checkthat2019": 1.0,
    "checkthat2020": 1.0,
    "checkthat2022": 1.0,
    "cdcp": 2.0,
    "regulation_room": 2.0,
    "cmv_verifiability": 2.0,
    "cmv_units": 1.0,
    "lesa": 1.0,
    "liar": 1.0,
}
"""Per-row sample weight of each training source (chosen on the validation sets only)."""

NO_WEAK_SUPPORT_SOURCES: tuple[str, ...] = ("checkthat2020", "checkthat2022", "lesa")
"""Tweet sets: nearly every tweet carries a t.co link (media, quoted tweets), so a link there marks the platform,
not a cited source; weak support labels from them taught the support head tweet vocabulary (validation:
CheckThat 2022 dev and CMV fell). Their rows train the checkable head only."""

UNIMPORTANT_FACT_CHECKABLE = 0.0
"""Checkable label of ClaimBuster's UFS (factual but not check-worthy) sentences; NaN leaves them out."""

HELD_OUT_PERCENT: dict[str, int] = {"claimbuster": 10, "cdcp": 15, "regulation_room": 15, "cmv_verifiability": 15}
"""Fixed share (percent, chosen by a hash of the text or comment id) of a training split kept for validation."""

CMV_KINDS = {("verifiable", "True"): "verifiable_experiential", ("verifiable", "False"): "verifiable_non_experiential",
             ("verifiable", ""): "verifiable_non_experiential"}
CLAIMBUSTER_VERDICTS = {-1: "NFS", 0: "UFS", 1: "CFS"}


def _claims_dir(data_dir: str | Path | None) -> Path:
    return resolve_data_dir(data_dir) / CLAIMS_SUBDIR


def _path(root: Path, dataset: str, filename: str) -> Path:
    path = root / CLAIM_DATASETS[dataset].folder / filename
    if not path.is_file():
        raise DataError(f"data file {path} not found: {RESTORE_DATA_FILE}")
    return path


def _read(root: Path, dataset: str, filename: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """One claims data CSV, read and checked as every data file is (``model.training.data.read_data_file``)."""
    return read_data_file(root / CLAIM_DATASETS[dataset].folder / filename, columns)


def _held_out(key: str, percent: int) -> bool:
    """Whether a text or comment id falls in the fixed held-out slice (stable across runs and row order)."""
    digest = hashlib.sha256(overlap_key(str(key)).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < percent


def _held_out_mask(keys: pd.Series, dataset: str) -> np.ndarray:
    return keys.map(lambda key: _held_out(key, HELD_OUT_PERCENT[dataset])).to_numpy(bool)


def _rows(texts, checkable, supported=None) -> pd.DataFrame:
    """A training frame with both label columns (NaN where the source says nothing)."""
    checkable = np.asarray(checkable, dtype=float)
    supported = np.full(len(checkable), np.nan) if supported is None else np.asarray(supported, dtype=float)
    return pd.DataFrame({"text": pd.Series(list(texts), dtype=str), "checkable": checkable, "supported": supported})


# --- raw readers shared by training, validation and test ---------------------------------------------------


def _claimbuster_crowdsourced(root: Path) -> pd.DataFrame:
    raw = _read(root, "claimbuster", "crowdsourced.csv.gz", ("Sentence_id", "Text", "Verdict"))
    return raw.rename(columns={"Text": "text"})


def _claimbuster_two_class(root: Path) -> pd.DataFrame:
    return _read(root, "claimbuster", "claimbuster_2class_ncs_sets.csv.gz",
                 ("sentence_id", "text", "label", "in_spotter_test"))


def _cdcp(root: Path) -> pd.DataFrame:
    raw = _read(root, "cdcp", "cdcp_propositions.csv.gz",
                ("split", "doc_id", "prop_id", "text", "type", "has_support", "duplicate_doc"))
    # Doc 00411 repeats 00410 with a subset of its annotations (see SOURCE.md).
    raw = raw[~raw["duplicate_doc"].astype(str).eq("True")].copy()
    raw["has_support"] = raw["has_support"].astype(str).eq("True")
    raw["text"] = raw["text"].str.strip()
    return raw


def _cdcp_comments(root: Path) -> dict[int, str]:
    path = _path(root, "cdcp", "cdcp_comments.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {int(record["id"]): record["text"] for record in map(json.loads, lines)}


def _regulation_room(root: Path) -> pd.DataFrame:
    raw = _read(root, "regulation_room", "park_cardie_2014_propositions.csv.gz",
                ("split", "label", "label_name", "text", "rule_name", "comment_number"))
    raw["comment_id"] = raw["rule_name"] + "." + raw["comment_number"].astype(str)
    raw["text"] = raw["text"].str.strip()
    return raw


def _cmv(root: Path) -> pd.DataFrame:
    raw = _read(root, "cmv_verifiability", "cmv_verifiability_sentences.csv.gz",
                ("split", "sentence", "comment_id", "verifiability", "experiential"))
    kinds = [CMV_KINDS.get((v, e), v) for v, e in zip(raw["verifiability"], raw["experiential"])]
    return raw.assign(text=raw["sentence"].str.strip(), kind=kinds)


def _checkthat2022(root: Path) -> pd.DataFrame:
    return _read(root, "checkthat2022", "ct22_task1b_en.csv.gz", ("split", "tweet_text", "class_label"))


# --- training sources: each returns text, checkable, supported -------------------------------------------


def _train_claimbuster(root: Path) -> pd.DataFrame:
    raw = _claimbuster_crowdsourced(root)
    raw = raw[~_held_out_mask(raw["text"], "claimbuster")]
    verdict = raw["Verdict"].astype(int).to_numpy()
    checkable = np.select([verdict == 1, verdict == 0], [1.0, UNIMPORTANT_FACT_CHECKABLE], 0.0)
    return _rows(raw["text"], checkable)


def _train_checkthat2019(root: Path) -> pd.DataFrame:
    raw = _read(root, "checkthat2019", "ct19_task1_en.csv.gz", ("split", "text", "label"))
    raw = raw[raw["split"] == "train"]
    # Only the check-worthy lines say something about checkability; the rest may still be factual.
    raw = raw[raw["label"] == 1]
    return _rows(raw["text"], np.ones(len(raw)))


def _train_checkthat2020(root: Path) -> pd.DataFrame:
    raw = _read(root, "checkthat2020", "ct20_task1_en.csv.gz", ("split", "tweet_text", "claim"))
    raw = raw[raw["split"].isin(["train", "dev"])]
    return _rows(raw["tweet_text"], raw["claim"])


def _train_checkthat2022(root: Path) -> pd.DataFrame:
    raw = _checkthat2022(root)
    raw = raw[raw["split"] == "train"]
    return _rows(raw["tweet_text"], raw["class_label"])


def _train_cdcp(root: Path) -> pd.DataFrame:
    raw = _cdcp(root)
    raw = raw[(raw["split"] == "train") & ~_held_out_mask(raw["doc_id"].astype(str), "cdcp")]
    return _rows(raw["text"], raw["type"] == "fact", raw["has_support"])


def _train_regulation_room(root: Path) -> pd.DataFrame:
    raw = _regulation_room(root)
    raw = raw[(raw["split"] == "train") & ~_held_out_mask(raw["comment_id"], "regulation_room")]
    return _rows(raw["text"], raw["label"] == "n")


def _train_cmv_verifiability(root: Path) -> pd.DataFrame:
    raw = _cmv(root)
    raw = raw[(raw["split"] == "train") & ~_held_out_mask(raw["comment_id"], "cmv_verifiability")]
    # Personal experience is not a claim to check (product definition), so only non-experiential is 1.
    return _rows(raw["text"], raw["kind"] == "verifiable_non_experiential")


def _train_cmv_units(root: Path) -> pd.DataFrame:
    raw = _read(root, "cmv_units", "cmv_eu_units.csv.gz", ("text", "type"))
    return _rows(raw["text"].str.strip(), raw["type"] == "Fact")


def _train_lesa(root: Path) -> pd.DataFrame:
    raw = _read(root, "lesa", "Twitter.csv.gz", ("tweet_text", "claim"))
    return _rows(raw["tweet_text"], raw["claim"])


def _train_liar(root: Path) -> pd.DataFrame:
    raw = _read(root, "liar", "liar.csv.gz", ("split", "statement"))
    raw = raw[raw["split"] == "train"]
    # Every statement was fact-checked by PolitiFact: positives only.
    return _rows(raw["statement"], np.ones(len(raw)))


TRAINING_LOADERS = {
    "claimbuster": _train_claimbuster,
    "checkthat2019": _train_checkthat2019,
    "checkthat2020": _train_checkthat2020,
    "checkthat2022": _train_checkthat2022,
    "cdcp": _train_cdcp,
    "regulation_room": _train_regulation_room,
    "cmv_verifiability": _train_cmv_verifiability,
    "cmv_units": _train_cmv_units,
    "lesa": _train_lesa,
    "liar": _train_liar,
}


def _keys(frames) -> set[str]:
    return {overlap_key(text) for frame in frames for text in frame["text"]}


def _other_test_splits(root: Path) -> list[pd.DataFrame]:
    """Official test splits of claims folders that are not among the five test sets (still never trained on)."""
    ct19 = _read(root, "checkthat2019", "ct19_task1_en.csv.gz", ("split", "text"))
    ct20 = _read(root, "checkthat2020", "ct20_task1_en.csv.gz", ("split", "tweet_text"))
    liar = _read(root, "liar", "liar.csv.gz", ("split", "statement"))
    ct22 = _checkthat2022(root)
    return [
        ct19[ct19["split"] == "test"][["text"]],
        ct20[ct20["split"] == "test"].rename(columns={"tweet_text": "text"})[["text"]],
        liar[liar["split"] == "test"].rename(columns={"statement": "text"})[["text"]],
        # covid19_disinfo_en's test split is CheckThat 2022's dev_test (same tweets).
        ct22[ct22["split"] == "dev_test"].rename(columns={"tweet_text": "text"})[["text"]],
    ]


def claim_test_keys(data_dir: str | Path | None = None) -> set[str]:
    """Normalised texts of every claims test split (the five test sets and the other folders' test splits)."""
    root = _claims_dir(data_dir)
    return _keys([*load_claim_test_sets(data_dir).values(), *_other_test_splits(root)])


def load_claim_training_data(data_dir: str | Path | None = None,
                             sources: tuple[str, ...] = TRAINING_SOURCES) -> pd.DataFrame:
    """Load the trainable sets' training rows with claim labels and weights, minus test/validation texts.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory holding ``claims/`` (see ``resolve_data_dir``).
    sources : tuple of str
        Training sources, keys of ``TRAINING_LOADERS``; each must be ``trainable`` in ``CLAIM_DATASETS``.

    Returns
    -------
    pandas.DataFrame
        One row per sentence or unit: ``text``, ``source``, ``weight``, ``weak_support`` (false for
        ``NO_WEAK_SUPPORT_SOURCES``), ``checkable`` and ``supported`` (1.0, 0.0 or NaN where the source does
        not label it). ``attrs``: ``rows_by_source``,
        ``removed_overlap`` (rows whose text is in a claims test split) and ``removed_validation_overlap``.
    """
    root = _claims_dir(data_dir)
    frames = []
    for name in sources:
        if name not in TRAINING_LOADERS:
            raise DataError(f"unknown claim training source {name!r}: use one of {', '.join(TRAINING_LOADERS)}")
        if not CLAIM_DATASETS[name].trainable:
            raise DataError(f"dataset {name} is not licensed for training ({CLAIM_DATASETS[name].license}): "
                            "remove it from the training sources")
        frames.append(TRAINING_LOADERS[name](root).assign(source=name))
    train = pd.concat(frames, ignore_index=True)
    train = train[train["text"].str.strip() != ""]
    keys = train["text"].map(overlap_key)
    in_test = in_keys(keys, claim_test_keys(data_dir))
    in_validation = in_keys(keys, _keys(load_claim_validation_sets(data_dir).values())) & ~in_test
    train = train[~in_test & ~in_validation].reset_index(drop=True)
    train["weight"] = train["source"].map(SOURCE_WEIGHTS).fillna(1.0).to_numpy(float)
    train["weak_support"] = ~train["source"].isin(NO_WEAK_SUPPORT_SOURCES).to_numpy()
    train = train[["text", "source", "weight", "weak_support", *CLAIM_LABELS]]
    train.attrs["removed_overlap"] = int(in_test.sum())
    train.attrs["removed_validation_overlap"] = int(in_validation.sum())
    train.attrs["rows_by_source"] = {name: int(n) for name, n in train["source"].value_counts().items()}
    logger.info("claim training rows %d; removed %d overlapping a test split and %d a validation set",
                len(train), train.attrs["removed_overlap"], train.attrs["removed_validation_overlap"])
    return train


def _claim_frame(texts, labels, description: str, dataset: str, **extra) -> pd.DataFrame:
    """``evaluation_frame`` with the licence of the claims dataset ``dataset``."""
    return evaluation_frame(texts, labels, description, CLAIM_DATASETS[dataset].license, **extra)


def _cdcp_frame(raw: pd.DataFrame, description: str, comments: dict[int, str]) -> pd.DataFrame:
    label = (raw["type"] == "fact") & ~raw["has_support"]
    frame = _claim_frame(raw["text"], label, description, "cdcp",
                              kind=raw["type"].to_numpy(), comment_id=raw["doc_id"].to_numpy())
    # Comment-level variant: a comment is positive when it holds at least one unsupported fact.
    frame.attrs["comments"] = {int(doc): comments[int(doc)] for doc in frame["comment_id"].unique()}
    return frame


def _regulation_room_frame(raw: pd.DataFrame, description: str) -> pd.DataFrame:
    return _claim_frame(raw["text"], raw["label"] == "n", description, "regulation_room",
                             kind=raw["label_name"].to_numpy(), comment_id=raw["comment_id"].to_numpy())


def _cmv_frame(raw: pd.DataFrame, description: str) -> pd.DataFrame:
    return _claim_frame(raw["text"], raw["verifiability"] == "verifiable", description, "cmv_verifiability",
                             kind=raw["kind"].to_numpy(), comment_id=raw["comment_id"].to_numpy())


def load_claim_validation_sets(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Load the sets used for model choices: held-out slices and dev splits, never a test split.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory holding ``claims/`` (see ``resolve_data_dir``).

    Returns
    -------
    dict of str to pandas.DataFrame
        Name -> frame with ``text`` and ``label`` (1 = that set's sense of a checkable or unsupported
        claim), ``kind`` where the set types its units, ``comment_id`` for proposition sets.
    """
    root = _claims_dir(data_dir)
    crowd = _claimbuster_crowdsourced(root)
    crowd = crowd[_held_out_mask(crowd["text"], "claimbuster")]
    truth = _read(root, "claimbuster", "groundtruth.csv.gz", ("Text", "Verdict"))
    ct22 = _checkthat2022(root)
    ct22 = ct22[ct22["split"] == "dev"]
    cdcp = _cdcp(root)
    cdcp = cdcp[(cdcp["split"] == "train") & _held_out_mask(cdcp["doc_id"].astype(str), "cdcp")]
    regulation = _regulation_room(root)
    regulation = regulation[(regulation["split"] == "train")
                            & _held_out_mask(regulation["comment_id"], "regulation_room")]
    cmv = _cmv(root)
    cmv = cmv[(cmv["split"] == "train") & _held_out_mask(cmv["comment_id"], "cmv_verifiability")]
    sets = {
        "claimbuster_heldout": _claim_frame(
            crowd["text"], crowd["Verdict"] == 1, "ClaimBuster crowdsourced, fixed held-out slice: CFS vs rest",
            "claimbuster", kind=crowd["Verdict"].map(CLAIMBUSTER_VERDICTS).to_numpy()),
        "claimbuster_groundtruth": _claim_frame(
            truth["Text"], truth["Verdict"] == 1, "ClaimBuster expert groundtruth: CFS vs rest", "claimbuster",
            kind=truth["Verdict"].map(CLAIMBUSTER_VERDICTS).to_numpy()),
        # dev only: dev_test is covid19_disinfo_en's test split.
        "checkthat2022_dev": _claim_frame(ct22["tweet_text"], ct22["class_label"],
                                               "CheckThat 2022 1B dev: verifiable factual claim", "checkthat2022"),
        "cdcp_heldout": _cdcp_frame(cdcp, "CDCP train, held-out comments: fact without incoming support",
                                    _cdcp_comments(root)),
        "regulation_room_heldout": _regulation_room_frame(
            regulation, "Regulation Room train, held-out comments: verifiable non-experiential"),
        "cmv_heldout": _cmv_frame(cmv, "CMV verifiability train, held-out comments: verifiable (nonargument = 0)"),
    }
    test_keys = claim_test_keys(data_dir)
    for name, frame in sets.items():
        kept = frame[~in_keys(frame["text"].map(overlap_key), test_keys)].reset_index(drop=True)
        kept.attrs = frame.attrs
        sets[name] = kept
    return sets


def load_claim_test_sets(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Load the official claim test splits; report metrics on them only, never choose anything with them.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory holding ``claims/`` (see ``resolve_data_dir``).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``claimbuster_test`` (spotter test, CFS vs rest), ``checkthat2022_test`` (verifiable factual claim),
        ``cdcp_test`` (fact proposition without incoming reason/evidence; ``comment_id`` and
        ``attrs["comments"]`` for the comment-level variant), ``regulation_room_test`` (verifiable
        non-experiential vs rest), ``cmv_test`` (verifiable, experiential included, vs unverifiable and
        nonargument). ``text``, ``label``, ``kind`` where the set types its units; ``attrs``
        ``description`` and ``license``.
    """
    root = _claims_dir(data_dir)
    two = _claimbuster_two_class(root)
    two = two[two["in_spotter_test"].astype(str).eq("True")]
    verdicts = pd.concat([_claimbuster_crowdsourced(root)[["Sentence_id", "Verdict"]],
                          _read(root, "claimbuster", "groundtruth.csv.gz", ("Sentence_id", "Verdict"))])
    verdict_by_id = verdicts.drop_duplicates("Sentence_id").set_index("Sentence_id")["Verdict"]
    ct22 = _checkthat2022(root)
    ct22 = ct22[ct22["split"] == "test"]
    cdcp = _cdcp(root)
    regulation = _regulation_room(root)
    cmv = _cmv(root)
    return {
        "claimbuster_test": _claim_frame(
            two["text"], two["label"], "ClaimBuster spotter test (702, balanced): CFS vs NFS/UFS", "claimbuster",
            kind=two["sentence_id"].map(verdict_by_id).map(CLAIMBUSTER_VERDICTS).fillna("").to_numpy()),
        "checkthat2022_test": _claim_frame(ct22["tweet_text"], ct22["class_label"],
                                                "CheckThat 2022 1B test: verifiable factual claim", "checkthat2022"),
        "cdcp_test": _cdcp_frame(cdcp[cdcp["split"] == "test"],
                                 "CDCP test propositions: fact without incoming reason/evidence",
                                 _cdcp_comments(root)),
        "regulation_room_test": _regulation_room_frame(regulation[regulation["split"] == "test"],
                                                       "Regulation Room test: verifiable non-experiential vs rest"),
        "cmv_test": _cmv_frame(cmv[cmv["split"] == "test"],
                               "CMV verifiability test: verifiable (experiential too) vs unverifiable; "
                               "nonargument counts as 0"),
    }


def comment_level(frame: pd.DataFrame, scores) -> pd.DataFrame:
    """Pool unit scores and labels to comments (max): a comment is positive when it holds a positive unit.

    Parameters
    ----------
    frame : pandas.DataFrame
        An evaluation frame with ``comment_id`` and ``label``.
    scores : array-like
        One score per row of ``frame``.

    Returns
    -------
    pandas.DataFrame
        Index ``comment_id``; columns ``label`` and ``score``.
    """
    if "comment_id" not in frame.columns:
        raise DataError(f"{frame.attrs.get('description', 'frame')} has no comment_id column")
    pooled = frame[["comment_id", "label"]].assign(score=np.asarray(scores, dtype=float))
    return pooled.groupby("comment_id")[["label", "score"]].max()
