"""Load the labelled hostility datasets: training rows mapped to attributes, validation and test splits."""

from __future__ import annotations

import ast
import gzip
import hashlib
import html
import logging
import os
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.attributes import HOSTILITY_ATTRIBUTES

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR: Path = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DATA_DIR_ENV = "MODERATION_DATA_DIR"
RESTORE_DATA_FILE = f"restore it, or pass --data-dir (or set ${DATA_DIR_ENV}) naming a complete copy of the data folder"
"""What to do about a missing or broken data file: ``moderate train``/``eval`` and the notebook runner take --data-dir."""
HOSTILITY_SUBDIR = "hostility"

TOXIC_SPANS_SPLITS: tuple[str, ...] = ("trial", "train", "test")
HELD_OUT_PERCENT: dict[str, int] = {"kaggle_insults": 20, "olid": 10}
STORMFRONT_TEST_SPLIT = "sampled_test"
"""The ``split`` value of Stormfront's test sentences (``stormfront_test``)."""
"""Fixed share (percent, chosen by a hash of the text) of a training set kept back for validation."""
SPAN_TYPE_MAJORITY = 0.5
"""Fraction of a post's annotators who must mark a span type for the post to get that attribute."""
NOT_TOXIC_MAJORITY = 0.5
"""Raw toxic-spans posts that at least this fraction of annotators called "not toxic" are dropped."""

SOURCE_WEIGHTS: dict[str, float] = {
    "davidson": 0.3,
    "fox_news": 1.0,
    "kaggle_insults": 1.0,
    "olid": 1.0,
    "stormfront": 1.0,
    "toxic_spans": 0.2,
    "toxic_spans_context": 0.5,
    "cat_in_context": 1.0,
}
"""Relative sample weight of a row from each source, chosen on the validation sets only.

Weights are rescaled to mean 1, so ``C`` keeps its meaning. Toxic spans has only toxic posts and Davidson
mostly profane tweets: at full weight both teach "news topic" or "tweet slang" instead of hostility.
"""
MIN_CONTEXT_WORDS = 5
"""A toxic-spans post with every rater's spans cut out is kept as a negative if this many words remain."""

SPAN_TYPE_ATTRIBUTES: dict[str, str] = {
    "Insult": "insult",
    "Threat": "threat",
    "Identity based Attack": "identity_attack",
    "Profane/Obscene": "profanity",
}


class DataError(Exception):
    """A data file or directory is missing or malformed; the message says what to fix."""


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance of one dataset folder, for licence checks and the model card."""

    name: str
    folder: str
    license: str
    trainable: bool
    domain: str
    attributes: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("davidson", "davidson2017_hate_offensive", "MIT", True, "Twitter",
                    ("toxicity", "severe_toxicity", "identity_attack", "profanity")),
        DatasetInfo("fox_news", "fox_news_comments_gao2017", "MIT", True, "Fox News reader comments",
                    ("toxicity", "identity_attack")),
        DatasetInfo("kaggle_insults", "kaggle_insults_social_commentary_2012", "not stated", True,
                    "news, blog and forum comments", ("toxicity", "insult")),
        DatasetInfo("olid", "olid_offenseval2019", "not stated", True, "Twitter",
                    ("toxicity", "insult", "profanity")),
        DatasetInfo("stormfront", "stormfront_hate_degibert2018", "CC BY-SA 3.0 ES", True,
                    "white-supremacist forum", ("toxicity", "identity_attack")),
        DatasetInfo("toxic_spans", "toxic_spans_semeval2021", "CC0-1.0", True, "Civil Comments news comments",
                    ("toxicity", "severe_toxicity", "identity_attack", "insult", "profanity", "threat")),
        DatasetInfo("cat_in_context", "wikipedia_talk_context_toxicity_cat2020", "Apache-2.0", True,
                    "Wikipedia talk pages", ("toxicity",)),
        DatasetInfo("ucc", "unhealthy_comments_corpus_ucc", "CC BY-NC-SA 4.0", False,
                    "Globe and Mail reader comments", ("toxicity",)),
        DatasetInfo("sfu_ctc", "sfu_constructiveness_toxicity_ctc2017", "CC BY-NC-SA 4.0", False,
                    "Globe and Mail reader comments", ("toxicity",)),
        DatasetInfo("ethos", "ethos", "GPL-3.0", False, "YouTube and Reddit comments",
                    ("toxicity", "identity_attack", "threat")),
    )
}
"""Every hostility folder; only ``trainable`` ones (no NC, no GPL) feed the shipped model."""


def resolve_data_dir(path: str | Path | None = None) -> Path:
    """Return the data directory: explicit path, else $MODERATION_DATA_DIR, else DEFAULT_DATA_DIR.

    Parameters
    ----------
    path : str or Path or None
        Directory holding ``hostility/``; ``None`` falls back to the environment, then the default.

    Returns
    -------
    Path
        The existing directory.
    """
    from_env = os.environ.get(DATA_DIR_ENV)
    chosen = Path(path) if path is not None else Path(from_env or DEFAULT_DATA_DIR)
    if not chosen.is_dir():
        origin = "given as --data-dir or data_dir" if path is not None else f"from ${DATA_DIR_ENV}" if from_env else "the default"
        problem = "is a file, not a folder" if chosen.exists() else "not found"
        raise DataError(f"data directory {chosen} {problem} ({origin}): set {DATA_DIR_ENV} or pass --data-dir, naming the "
                        "folder that holds hostility/ and claims/")
    return chosen


def overlap_key(text: str) -> str:
    """Return the light normalisation used to find the same text in two sets (casefold, one space)."""
    return " ".join(text.casefold().split())


def in_keys(keys: pd.Series, known: Iterable[str]) -> pd.Series:
    """Boolean Series: which of ``keys`` (``overlap_key`` values, say) are in ``known`` (a set, or any iterable of
    keys: a Series' values, not its index).

    ``Series.isin`` does the same, but with pandas 3's string dtype it first turns a set into an array, about 2 s for
    the 150,000 keys of the training rows, on every call; ``moderate eval`` and training make dozens of such calls. A
    set lookup per key takes milliseconds."""
    lookup = known if isinstance(known, set | frozenset) else set(known)
    return keys.map(lookup.__contains__).astype(bool)


_ESCAPE = re.compile(r"\\(?:((?:x[0-9a-fA-F]{2})(?:\\x[0-9a-fA-F]{2})*)|u([0-9a-fA-F]{4})|([nrt\\'\"]))")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _replace_escape(match: re.Match) -> str:
    hex_run, code_point, simple = match.groups()
    if hex_run:
        raw = bytes(int(byte, 16) for byte in re.findall(r"x([0-9a-fA-F]{2})", hex_run))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Single \xNN escapes are Latin-1 code points (Python 2 repr), not UTF-8 bytes.
            return raw.decode("latin-1")
    if code_point:
        return chr(int(code_point, 16))
    return _SIMPLE_ESCAPES[simple]


def decode_kaggle_comment(raw: str) -> str:
    """Turn a Kaggle insults ``Comment`` (quoted, literal escapes, some escaped twice) into plain text."""
    text = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    for _ in range(2):  # some comments were escaped twice (\\xc2\\xa0)
        if "\\" not in text:
            break
        text = _ESCAPE.sub(_replace_escape, text)
    return text


def unquote_olid(tweet: str) -> str:
    """Undo OLID's CSV-style quoting left inside the TSV: outer quotes and doubled inner quotes."""
    if len(tweet) >= 2 and tweet[0] == tweet[-1] == '"':
        return tweet[1:-1].replace('""', '"')
    return tweet


_MENTION = re.compile(r"@\w+")
_RETWEET = re.compile(r"(?:^|(?<=\s))RT\s+(?=@USER)")


def clean_tweet(tweet: str) -> str:
    """Decode HTML entities, replace @handles with ``@USER`` (as OLID does) and drop ``RT`` markers."""
    text = _MENTION.sub("@USER", html.unescape(html.unescape(tweet)))
    return _RETWEET.sub("", text).strip()


def _hostility_dir(data_dir: str | Path | None) -> Path:
    return resolve_data_dir(data_dir) / HOSTILITY_SUBDIR


UNREADABLE_DATA_ERRORS = (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, EOFError,
                          gzip.BadGzipFile, zlib.error)
"""What ``pandas.read_csv`` raises on an empty, truncated, mis-compressed or non-UTF-8 file."""


def read_data_file(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read one data CSV as every loader does (``keep_default_na=False``).

    DataError, naming the file and what to fix, if it is missing, unreadable (empty, a truncated or plain file named
    ``.gz``, not UTF-8, a quote never closed), lacks a column, or has a header but no rows.
    """
    restore = RESTORE_DATA_FILE
    if not path.is_file():
        raise DataError(f"data file {path} not found: {restore}")
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except UNREADABLE_DATA_ERRORS as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"data file {path} cannot be read ({reason}): {restore}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(f"data file {path} lacks columns {missing}: expected {list(columns)}, "
                        f"found {[str(column) for column in frame.columns]}")
    if frame.empty:
        raise DataError(f"data file {path} has a header but no rows: {restore}")
    return frame


def _read(root: Path, dataset: str, filename: str, columns: tuple[str, ...]) -> pd.DataFrame:
    return read_data_file(root / DATASETS[dataset].folder / filename, columns)


def _held_out(text: str, percent: int) -> bool:
    """Whether a text falls in the fixed held-out slice (stable across runs and row order)."""
    digest = hashlib.sha256(overlap_key(text).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < percent


def _labelled(texts, labels, **attributes) -> pd.DataFrame:
    """Build a training frame: toxicity from ``labels``; other attributes given, 0 where not toxic."""
    toxicity = np.asarray(labels, dtype=float)
    frame = pd.DataFrame({"text": pd.Series(list(texts), dtype=str), "toxicity": toxicity})
    for attribute in HOSTILITY_ATTRIBUTES[1:]:
        values = np.asarray(attributes.get(attribute, np.full(len(frame), np.nan)), dtype=float)
        # A comment that is not toxic is negative for every hostility attribute.
        frame[attribute] = np.where(toxicity == 0, 0.0, values)
    return frame


def _train_davidson(root: Path) -> pd.DataFrame:
    raw = _read(root, "davidson", "labeled_data.csv.gz", ("class", "tweet"))
    hate = (raw["class"] == 0).to_numpy(float)
    offensive = (raw["class"] == 1).to_numpy(float)
    return _labelled(raw["tweet"].map(clean_tweet), raw["class"] != 2,
                     severe_toxicity=hate, identity_attack=np.where(hate == 1, 1.0, np.nan),
                     profanity=np.where(offensive == 1, 1.0, np.nan))


def _train_fox_news(root: Path) -> pd.DataFrame:
    # Only text and label are read: `user` and `mentions` are personal data.
    raw = _read(root, "fox_news", "fox_news_comments.csv.gz", ("text", "label"))
    return _labelled(raw["text"], raw["label"] == 1, identity_attack=raw["label"].to_numpy(float))


def _kaggle(root: Path, filename: str) -> pd.DataFrame:
    raw = _read(root, "kaggle_insults", filename, ("Insult", "Comment"))
    return pd.DataFrame({"text": raw["Comment"].map(decode_kaggle_comment), "label": raw["Insult"].astype(int)})


def _train_kaggle(root: Path) -> pd.DataFrame:
    raw = _kaggle(root, "train.csv.gz")
    raw = raw[~raw["text"].map(lambda t: _held_out(t, HELD_OUT_PERCENT["kaggle_insults"]))]
    return _labelled(raw["text"], raw["label"], insult=raw["label"].to_numpy(float))


def _olid(root: Path, filename: str) -> pd.DataFrame:
    raw = _read(root, "olid", filename, ("tweet", "subtask_a", "subtask_b", "subtask_c"))
    return raw.assign(text=raw["tweet"].map(unquote_olid), label=(raw["subtask_a"] == "OFF").astype(int))


def _train_olid(root: Path) -> pd.DataFrame:
    raw = _olid(root, "olid_train.csv.gz")
    raw = raw[~raw["text"].map(lambda t: _held_out(t, HELD_OUT_PERCENT["olid"]))]
    targeted = (raw["subtask_b"] == "TIN").to_numpy(float)
    untargeted = (raw["subtask_b"] == "UNT").to_numpy(float)
    return _labelled(raw["text"], raw["label"], insult=targeted,
                     profanity=np.where(untargeted == 1, 1.0, np.nan))


def _stormfront(root: Path) -> pd.DataFrame:
    return _read(root, "stormfront", "stormfront_sentences.csv.gz", ("text", "label", "split"))


def _train_stormfront(root: Path) -> pd.DataFrame:
    # sampled_test is the authors' test split: never trained on (``stormfront_test``). `relation` and `idk/skip` are unclear.
    raw = _stormfront(root)
    raw = raw[(raw["split"] != STORMFRONT_TEST_SPLIT) & raw["label"].isin(["hate", "noHate"])]
    hate = (raw["label"] == "hate").to_numpy(float)
    return _labelled(raw["text"], hate, identity_attack=hate)


def stormfront_test(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Stormfront's ``sampled_test``, the authors' test split (hate against noHate, balanced): never trained on, and
    from bundle 1.4.0 on never used to choose anything either. Up to 1.3.0 and 2.10.0 it was one of the validation
    sets (``load_validation_sets``), so it chose thresholds and blend weights; ``moderate eval`` does not report it."""
    raw = _stormfront(_hostility_dir(data_dir))
    raw = raw[(raw["split"] == STORMFRONT_TEST_SPLIT) & raw["label"].isin(["hate", "noHate"])]
    return evaluation_frame(raw["text"], raw["label"] == "hate", "Stormfront sampled_test: hate vs noHate (balanced)",
                            DATASETS["stormfront"].license)


def typed_toxic_spans_posts(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every raw toxic-spans post with the share of its raters who marked a span of each type, and the spans.

    Parameters
    ----------
    root : Path
        The ``hostility`` folder.

    Returns
    -------
    posts : pandas.DataFrame
        ``comment_id``, ``comment_text``, ``raters``, ``not_toxic`` (share of raters who ticked "not toxic" and not
        "all toxic") and one share column per attribute of ``SPAN_TYPE_ATTRIBUTES``. Official test posts included.
    typed : pandas.DataFrame
        One row per rater's span: ``annotation``, ``type``, ``start``, ``end``, ``comment_id``.
    """
    comments = _read(root, "toxic_spans", "raw_comments.csv.gz", ("comment_id", "comment_text"))
    annotations = _read(root, "toxic_spans", "raw_annotations.csv.gz",
                        ("annotation", "comment_id", "all toxic", "not toxic"))
    spans = _read(root, "toxic_spans", "raw_spans.csv.gz", ("annotation", "type", "start", "end"))
    annotations = annotations.assign(
        not_toxic=annotations["not toxic"].astype(bool) & ~annotations["all toxic"].astype(bool))
    typed = spans.merge(annotations[["annotation", "comment_id"]], on="annotation")
    per_comment = annotations.groupby("comment_id").agg(raters=("annotation", "size"),
                                                        not_toxic=("not_toxic", "mean"))
    for span_type, attribute in SPAN_TYPE_ATTRIBUTES.items():
        marked = typed[typed["type"] == span_type].groupby("comment_id")["annotation"].nunique()
        per_comment[attribute] = marked.reindex(per_comment.index, fill_value=0) / per_comment["raters"]
    return comments.merge(per_comment, left_on="comment_id", right_index=True), typed


def typed_labels_of(posts: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per attribute of ``SPAN_TYPE_ATTRIBUTES``, 1.0 where a majority of a post's raters marked a span of its type."""
    return {attribute: (posts[attribute] >= SPAN_TYPE_MAJORITY).to_numpy(float)
            for attribute in SPAN_TYPE_ATTRIBUTES.values()}


def _train_toxic_spans(root: Path) -> pd.DataFrame:
    """Every raw toxic-spans post (a superset of trial and train), typed by a majority of its raters."""
    posts, typed = typed_toxic_spans_posts(root)
    # The raw files hold the official test posts too; drop them here, before any text is derived from them.
    test_keys = {overlap_key(text) for text in load_toxic_spans("test", root.parent)["text"]}
    in_test = in_keys(posts["comment_text"].map(overlap_key), test_keys)
    posts = posts[~in_test & (posts["not_toxic"] < NOT_TOXIC_MAJORITY)]
    typed_labels = typed_labels_of(posts)
    severe = np.where(typed_labels["threat"] == 1, 1.0, np.nan)
    toxic = _labelled(posts["comment_text"], np.ones(len(posts)), severe_toxicity=severe, **typed_labels)
    offsets: dict[object, list[tuple[int, int]]] = {}  # a loop, not groupby().apply: 15,000 groups took 3 s
    for comment_id, begin, end in zip(typed["comment_id"], typed["start"], typed["end"]):
        offsets.setdefault(comment_id, []).append((begin, end))
    context = [_without_spans(text, offsets[comment_id])
               for comment_id, text in zip(posts["comment_id"], posts["comment_text"]) if comment_id in offsets]
    context = [text for text in context if len(text.split()) >= MIN_CONTEXT_WORDS]
    frame = pd.concat([toxic.assign(source="toxic_spans"),
                       _labelled(context, np.zeros(len(context))).assign(source="toxic_spans_context")],
                      ignore_index=True)
    frame.attrs["removed_overlap"] = int(in_test.sum())
    return frame


def _without_spans(text: str, offsets: list[tuple[int, int]]) -> str:
    """Cut every rater's toxic span out of a post; what is left is the post's non-toxic context."""
    keep = np.ones(len(text), dtype=bool)
    for begin, end in offsets:
        keep[begin:end] = False
    return " ".join("".join(char if kept else " " for char, kept in zip(text, keep)).split())


def _train_cat_in_context(root: Path) -> pd.DataFrame:
    raw = _read(root, "cat_in_context", "cat_large_gc_in_context.csv.gz", ("text", "label"))
    return _labelled(raw["text"], raw["label"])


TRAINING_LOADERS = {
    "davidson": _train_davidson,
    "fox_news": _train_fox_news,
    "kaggle_insults": _train_kaggle,
    "olid": _train_olid,
    "stormfront": _train_stormfront,
    "toxic_spans": _train_toxic_spans,
    "cat_in_context": _train_cat_in_context,
}


def _keys(frames: dict[str, pd.DataFrame]) -> set[str]:
    return {overlap_key(text) for frame in frames.values() for text in frame["text"]}


def load_training_data(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Load the trainable sets' training rows, mapped to attributes and weighted, minus test/validation texts.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory (see ``resolve_data_dir``).

    Returns
    -------
    pandas.DataFrame
        Columns ``text``, ``source``, ``weight`` (mean 1) and one float column per attribute (1.0, 0.0 or NaN
        where the source does not label it). ``attrs``: ``rows_by_source``, ``removed_overlap`` (rows
        whose text is in a test set) and ``removed_validation_overlap``.
    """
    root = _hostility_dir(data_dir)
    frames = []
    removed_early = 0
    for name, loader in TRAINING_LOADERS.items():
        if not DATASETS[name].trainable:
            raise DataError(f"dataset {name} is not licensed for training: remove it from TRAINING_LOADERS")
        frame = loader(root)
        removed_early += frame.attrs.get("removed_overlap", 0)
        frames.append(frame if "source" in frame.columns else frame.assign(source=name))
    train = pd.concat(frames, ignore_index=True)
    train = train[train["text"].str.strip() != ""]
    from model.training.added_sets import test_keys as every_test_key  # added_sets imports this module

    test_keys = every_test_key(data_dir)
    validation_keys = _keys(load_validation_sets(data_dir))
    keys = train["text"].map(overlap_key)
    in_test = in_keys(keys, test_keys)
    in_validation = in_keys(keys, validation_keys) & ~in_test
    train = train[~in_test & ~in_validation].reset_index(drop=True)
    weight = train["source"].map(SOURCE_WEIGHTS).to_numpy(float)
    train["weight"] = weight * len(weight) / weight.sum() if len(weight) else weight
    train = train[["text", "source", "weight", *HOSTILITY_ATTRIBUTES]]
    train.attrs["removed_overlap"] = int(in_test.sum()) + removed_early
    train.attrs["removed_validation_overlap"] = int(in_validation.sum())
    train.attrs["rows_by_source"] = {name: int(n) for name, n in train["source"].value_counts().items()}
    logger.info("training rows %d; removed %d overlapping a test set and %d a validation set",
                len(train), train.attrs["removed_overlap"], train.attrs["removed_validation_overlap"])
    return train


def evaluation_frame(texts, labels, description: str, license: str, **extra) -> pd.DataFrame:
    """A validation or test frame: ``text``, integer ``label`` and ``extra`` columns, blank texts dropped.

    Parameters
    ----------
    texts, labels : array-like
        Texts and their binary labels (booleans are stored as 0/1), row by row.
    description, license : str
        Stored in ``attrs`` for reports.
    **extra : array-like
        Further columns, row by row (taken by position, never aligned on an index).

    Returns
    -------
    pandas.DataFrame
        Rows with non-blank text, index reset; ``attrs`` ``description`` and ``license``.
    """
    frame = pd.DataFrame({"text": pd.Series(list(texts), dtype=str),
                          "label": np.asarray(labels, dtype=int),
                          **{name: np.asarray(values) for name, values in extra.items()}})
    frame = frame[frame["text"].str.strip() != ""].reset_index(drop=True)
    frame.attrs["description"] = description
    frame.attrs["license"] = license
    return frame


def load_validation_sets(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Load the sets used for model choices: never trained on and never a test split (Stormfront's test split was one
    up to bundle 1.3.0 and 2.10.0: ``stormfront_test``).

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory (see ``resolve_data_dir``).

    Returns
    -------
    dict of str to pandas.DataFrame
        Name -> frame with ``text`` and ``label`` (1 = hostile in that set's sense).
    """
    root = _hostility_dir(data_dir)
    ucc = _read(root, "ucc", "val.csv.gz", ("comment", "hostile", "antagonize", "healthy"))
    sfu = _read(root, "sfu_ctc", "SFU_constructiveness_toxicity.csv.gz", ("comment", "is_toxic_popular_answer_1"))
    ethos = _read(root, "ethos", "Ethos_Dataset_Binary.csv.gz", ("comment", "isHate"))
    kaggle = _kaggle(root, "train.csv.gz")
    kaggle = kaggle[kaggle["text"].map(lambda t: _held_out(t, HELD_OUT_PERCENT["kaggle_insults"]))]
    olid = _olid(root, "olid_train.csv.gz")
    olid = olid[olid["text"].map(lambda t: _held_out(t, HELD_OUT_PERCENT["olid"]))]
    cat_small = _read(root, "cat_in_context", "cat_small.csv.gz", ("text", "label_oc"))
    toxicity = sfu["is_toxic_popular_answer_1"]
    sets = {
        "ucc_val": evaluation_frame(ucc["comment"], ucc["hostile"], "UCC val: hostile", DATASETS["ucc"].license,
                                     antagonize=ucc["antagonize"].to_numpy(), unhealthy=1 - ucc["healthy"].to_numpy()),
        "sfu_ctc": evaluation_frame(sfu["comment"], toxicity >= 3, "SFU CTC: toxic or very toxic (>= 3 of 4)",
                                     DATASETS["sfu_ctc"].license, mild=(toxicity >= 2).to_numpy(int)),
        "ethos": evaluation_frame(ethos["comment"], ethos["isHate"] >= 0.5, "ETHOS binary: hate (>= half of raters)",
                                   DATASETS["ethos"].license),
        "kaggle_train_heldout": evaluation_frame(kaggle["text"], kaggle["label"],
                                                  "Kaggle insults train, fixed held-out slice: insult",
                                                  DATASETS["kaggle_insults"].license),
        "olid_train_heldout": evaluation_frame(olid["text"], olid["label"], "OLID train, fixed held-out slice: OFF",
                                                DATASETS["olid"].license),
        "cat_small_out_of_context": evaluation_frame(cat_small["text"], cat_small["label_oc"],
                                                      "CAT-SMALL: toxic without context (majority)",
                                                      DATASETS["cat_in_context"].license),
    }
    test_keys = _keys(load_test_sets(data_dir))
    for name, frame in sets.items():
        kept = frame[~in_keys(frame["text"].map(overlap_key), test_keys)].reset_index(drop=True)
        kept.attrs = frame.attrs
        sets[name] = kept
    return sets


def load_test_sets(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Load the official test splits; report metrics on them only, never choose anything with them.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory (see ``resolve_data_dir``).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``ucc_test``, ``olid_test``, ``kaggle_test``, ``kaggle_verification``, ``cat_out_of_context``;
        each with ``text`` and ``label``; CAT also has ``perspective`` (the authors' Perspective score).
    """
    root = _hostility_dir(data_dir)
    ucc = _read(root, "ucc", "test.csv.gz", ("comment", "hostile"))
    olid = _olid(root, "olid_test.csv.gz")
    kaggle_test = _kaggle(root, "test_with_solutions.csv.gz")
    verification = _kaggle(root, "impermium_verification_labels.csv.gz")
    cat = _read(root, "cat_in_context", "cat_large_gn_out_of_context.csv.gz", ("text", "label", "api"))
    return {
        "ucc_test": evaluation_frame(ucc["comment"], ucc["hostile"], "UCC test: hostile", DATASETS["ucc"].license),
        "olid_test": evaluation_frame(olid["text"], olid["label"], "OLID test: subtask_a == OFF",
                                       DATASETS["olid"].license),
        "kaggle_test": evaluation_frame(kaggle_test["text"], kaggle_test["label"],
                                         "Kaggle insults test_with_solutions: Insult", DATASETS["kaggle_insults"].license),
        "kaggle_verification": evaluation_frame(verification["text"], verification["label"],
                                                 "Kaggle insults impermium verification: Insult",
                                                 DATASETS["kaggle_insults"].license),
        "cat_out_of_context": evaluation_frame(cat["text"], cat["label"], "CAT-LARGE gn: toxic without context",
                                                DATASETS["cat_in_context"].license,
                                                perspective=cat["api"].to_numpy(float)),
    }


def load_toxic_spans(split: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Load one official toxic-spans split with ``spans`` parsed into lists of character offsets.

    Parameters
    ----------
    split : {"trial", "train", "test"}
        The SemEval-2021 split.
    data_dir : str or Path or None
        Data directory (see ``resolve_data_dir``).

    Returns
    -------
    pandas.DataFrame
        Columns ``text`` and ``spans`` (list of int).
    """
    if split not in TOXIC_SPANS_SPLITS:
        raise DataError(f"toxic spans split {split!r} unknown: use one of {', '.join(TOXIC_SPANS_SPLITS)}")
    raw = _read(_hostility_dir(data_dir), "toxic_spans", f"tsd_{split}.csv.gz", ("spans", "text"))
    try:
        spans = [list(ast.literal_eval(value)) for value in raw["spans"]]
    except (ValueError, SyntaxError) as error:
        raise DataError(f"tsd_{split}.csv.gz has a malformed spans value ({error}): expected e.g. [3, 4, 5]") from error
    frame = pd.DataFrame({"text": raw["text"].astype(str), "spans": spans})
    frame.attrs["license"] = DATASETS["toxic_spans"].license
    return frame
