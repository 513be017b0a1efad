"""Every training, validation and test set at a glance: sizes, label balance, overlap and near-duplicates.

For notebook 01. Sets are named ``task/role/name`` (``hostility/test/ucc_test``); a training frame is
split by source. The label shown is each set's own (toxicity for hostility training rows, checkable
for claim training rows, the set's ``label`` otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn.feature_extraction.text import TfidfVectorizer

from model.training.data import overlap_key

NEAR_DUPLICATE_SIMILARITY = 0.9
"""Cosine similarity of word 1-2-gram TF-IDF vectors above which two different texts count as near-duplicates."""
NEAR_DUPLICATE_ROWS = 2000
"""Evaluation rows per set checked for near-duplicates in the training rows (a random sample beyond that)."""
CHUNK_ROWS = 200
"""Evaluation rows compared with all training rows at a time (bounds memory)."""
TRAINING_LABELS = {"hostility": "toxicity", "claims": "checkable"}
ROLE_COLOURS = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:green"}
"""Bar colour of a set by its role; ``ROLE_NAMES`` says the role in the legend."""
ROLE_NAMES = {"train": "training", "validation": "validation", "test": "test"}
OTHER_ROLE_COLOUR = "grey"


def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    kept = frame[frame[label].notna()] if label in frame else frame
    return pd.DataFrame({"text": kept["text"].astype(str).to_numpy(), "label": kept[label].astype(int).to_numpy()})


def load_sets(data_dir=None) -> dict[str, pd.DataFrame]:
    """Every set of both tasks, as ``text`` + ``label`` frames keyed ``task/role/name``.

    Parameters
    ----------
    data_dir : str or Path, optional
        See ``model.training.data.resolve_data_dir``.

    Returns
    -------
    dict of str to pandas.DataFrame
    """
    from model.training import claims_data, data

    sets = {}
    for task, training, validation, test in (
        ("hostility", data.load_training_data(data_dir), data.load_validation_sets(data_dir), data.load_test_sets(data_dir)),
        ("claims", claims_data.load_claim_training_data(data_dir), claims_data.load_claim_validation_sets(data_dir),
         claims_data.load_claim_test_sets(data_dir)),
    ):
        for source, rows in training.groupby("source", sort=True):
            sets[f"{task}/train/{source}"] = _labelled(rows, TRAINING_LABELS[task])
        sets |= {f"{task}/validation/{name}": _labelled(frame, "label") for name, frame in validation.items()}
        sets |= {f"{task}/test/{name}": _labelled(frame, "label") for name, frame in test.items()}
    return sets


def summary(sets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows, positives, positive share and median length (characters) of every set.

    Returns
    -------
    pandas.DataFrame
        Columns ``task``, ``role``, ``set``, ``rows``, ``positives``, ``positive_share``, ``median_chars``.
    """
    records = []
    for key, frame in sets.items():
        task, role, name = key.split("/", 2)
        records.append({"task": task, "role": role, "set": name, "rows": len(frame), "positives": int(frame["label"].sum()),
                        "positive_share": float(frame["label"].mean()) if len(frame) else np.nan,
                        "median_chars": float(frame["text"].str.len().median()) if len(frame) else np.nan})
    return pd.DataFrame(records)


def exact_overlap(sets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Texts shared by two sets of the same task (after ``overlap_key``: case and spacing ignored).

    Returns
    -------
    pandas.DataFrame
        One row per pair that shares a text: ``set_a``, ``set_b``, ``shared`` (distinct texts).
        Training sources sharing texts with each other is harmless; anything shared with a test set is not.
    """
    keys = {name: set(frame["text"].map(overlap_key)) for name, frame in sets.items()}
    records = [{"set_a": a, "set_b": b, "shared": len(keys[a] & keys[b])}
               for a, b in combinations(sets, 2) if a.split("/")[0] == b.split("/")[0] and keys[a] & keys[b]]
    return pd.DataFrame(records, columns=["set_a", "set_b", "shared"])


def near_duplicates(sets: Mapping[str, pd.DataFrame], similarity: float = NEAR_DUPLICATE_SIMILARITY,
                    max_rows: int = NEAR_DUPLICATE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Validation and test texts whose nearest training text (same task) is nearly, but not exactly, the same.

    Parameters
    ----------
    sets : mapping
        From ``load_sets``.
    similarity : float
        Cosine threshold.
    max_rows : int
        Evaluation rows checked per set.
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``set``, ``text``, ``training_set``, ``training_text``, ``similarity``; most similar first.
    """
    records = []
    for task in sorted({name.split("/")[0] for name in sets}):
        training = [(name, frame) for name, frame in sets.items() if name.startswith(f"{task}/train/")]
        if not training:
            continue
        train_texts = np.concatenate([frame["text"].to_numpy(object) for _, frame in training])
        train_sets = np.concatenate([np.full(len(frame), name, dtype=object) for name, frame in training])
        train_keys = np.array([overlap_key(t) for t in train_texts], dtype=object)
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, dtype=np.float32)
        train_matrix = vectorizer.fit_transform(train_texts).T.tocsr()
        for name, frame in sets.items():
            if not name.startswith(task + "/") or "/train/" in name or frame.empty:
                continue
            sample = frame if len(frame) <= max_rows else frame.sample(max_rows, random_state=seed)
            texts = sample["text"].to_numpy(object)
            matrix = vectorizer.transform(texts)
            for start in range(0, len(texts), CHUNK_ROWS):
                sims = (matrix[start:start + CHUNK_ROWS] @ train_matrix).toarray()
                if sims.shape[1] == 0:
                    continue
                best = sims.argmax(axis=1)
                for offset, (j, value) in enumerate(zip(best, sims[np.arange(len(best)), best])):
                    text = texts[start + offset]
                    if value >= similarity and train_keys[j] != overlap_key(text):
                        records.append({"set": name, "text": text, "training_set": train_sets[j],
                                        "training_text": train_texts[j], "similarity": float(value)})
    columns = ["set", "text", "training_set", "training_text", "similarity"]
    return pd.DataFrame(records, columns=columns).sort_values("similarity", ascending=False).reset_index(drop=True)


def examples(sets: Mapping[str, pd.DataFrame], n: int = 2, seed: int = 0) -> pd.DataFrame:
    """Up to ``n`` random rows of each label from every set (``set``, ``label``, ``text``)."""
    rows = []
    for name, frame in sets.items():
        for label, group in frame.groupby("label"):
            picked = group.sample(min(n, len(group)), random_state=seed)
            rows += [{"set": name, "label": int(label), "text": text} for text in picked["text"]]
    return pd.DataFrame(rows, columns=["set", "label", "text"])


def _role_legend(roles: pd.Series) -> list[Patch]:
    """One legend entry per role present, in ``ROLE_COLOURS`` order; any other role as one grey entry."""
    handles = [Patch(color=colour, label=f"{ROLE_NAMES[role]} set") for role, colour in ROLE_COLOURS.items()
               if (roles == role).any()]
    if not roles.isin(list(ROLE_COLOURS)).all():
        handles.append(Patch(color=OTHER_ROLE_COLOUR, label="other set"))
    return handles


def plot_sizes(table: pd.DataFrame) -> Figure:
    """Bar charts: rows per set (log scale) and positive share per set, one colour per role (the legend above)."""
    ordered = table.sort_values(["task", "role", "set"])
    labels = ordered["task"] + "/" + ordered["role"] + "/" + ordered["set"]
    colours = ordered["role"].map(ROLE_COLOURS).fillna(OTHER_ROLE_COLOUR)
    # constrained layout makes room for the legend above both panels, where it hides no bar
    figure = Figure(figsize=(12, max(4, 0.25 * len(ordered))), layout="constrained")
    FigureCanvasAgg(figure)
    rows_axis, share_axis = figure.subplots(1, 2, sharey=True)
    rows_axis.barh(labels, ordered["rows"], color=colours)
    rows_axis.set(xscale="log", xlabel="rows (log scale)", title="size")
    share_axis.barh(labels, ordered["positive_share"], color=colours)
    share_axis.set(xlim=(0, 1), xlabel="positive share", title="label balance")
    rows_axis.invert_yaxis()
    handles = _role_legend(ordered["role"])
    figure.legend(handles=handles, loc="outside upper center", ncols=len(handles), title="bar colour: the set's role")
    return figure


def plot_lengths(sets: Mapping[str, pd.DataFrame]) -> Figure:
    """Box plot of text length (characters, log scale) per set."""
    names = sorted(sets)
    figure = Figure(figsize=(12, max(4, 0.25 * len(names))))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    axis.boxplot([np.maximum(sets[n]["text"].str.len().to_numpy(), 1) for n in names], vert=False, showfliers=False)
    axis.set_yticks(range(1, len(names) + 1), names)
    axis.set(xscale="log", xlabel="characters (log scale)", title="text length")
    axis.invert_yaxis()
    figure.tight_layout()
    return figure
