"""The sets the TF-IDF heads train on from 1.3.0 (and the encoder from 2.1.0): HateXplain, ConvAbuse, identity
sentences and identity-swapped copies (``model.training.added_sets``), on the fake data directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model.training import added_sets
from model.training.data import load_test_sets, load_training_data, load_validation_sets, overlap_key
from model.training.train import SEED, split_holdout


@pytest.fixture
def few_identity_sentences(monkeypatch):
    monkeypatch.setattr(added_sets, "N_IDENTITY_SENTENCES", 40)


def _olid_train(data) -> Path:
    from model.training.data import DATASETS

    return data / "hostility" / DATASETS["olid"].folder / "olid_train.csv.gz"


@pytest.fixture
def data_naming_groups(fake_data_dir, tmp_path):
    """The fake data plus OLID training tweets that name groups (the fake sets' few such rows are test texts too)."""
    import shutil

    data = shutil.copytree(fake_data_dir, tmp_path / "data")
    tweets = pd.read_csv(_olid_train(data), keep_default_na=False)
    named = ["All muslims are liars.", "Gay people are disgusting.", "My neighbours are muslims and gay.",
             "Black people live on my street.", "Women are idiots."]
    more = pd.DataFrame({"id": range(len(tweets), len(tweets) + len(named)), "tweet": named,
                         "subtask_a": ["OFF", "OFF", "NOT", "NOT", "OFF"], "subtask_b": ["TIN", "TIN", "NULL", "NULL", "TIN"],
                         "subtask_c": "NULL"})
    pd.concat([tweets, more], ignore_index=True).to_csv(_olid_train(data), index=False, compression="gzip")
    return data


def test_added_rows_join_the_fit_rows_never_the_held_out_or_evaluation_texts(data_naming_groups, few_identity_sentences):
    fake_data_dir = data_naming_groups
    fit, holdout = split_holdout(load_training_data(fake_data_dir), SEED)
    extended = added_sets.extend_heads_rows(fit, holdout, fake_data_dir, seed=3)
    assert list(extended.columns) == list(fit.columns)
    assert extended.iloc[:len(fit)]["text"].tolist() == fit["text"].tolist()
    added = extended.iloc[len(fit):]
    counts = added["source"].value_counts()
    assert set(counts.index) == set(added_sets.ADDED_SETS)
    assert counts["identity_sentences"] == 40 and (added[added["source"] == "identity_sentences"]["toxicity"] == 0).all()
    assert (added.loc[added["source"] != "identity_swaps", "weight"] == added_sets.ADDED_WEIGHT).all()
    forbidden = {overlap_key(text) for frame in (*load_test_sets(fake_data_dir).values(),
                                                 *load_validation_sets(fake_data_dir).values(), holdout)
                 for text in frame["text"]}
    root = fake_data_dir / "hostility"
    forbidden |= {overlap_key(text) for rows in (added_sets.hatexplain_rows, added_sets.convabuse_rows)
                  for text in rows(root, "test")["text"]}
    assert not set(added["text"].map(overlap_key)) & forbidden
    # HateXplain's and ConvAbuse's training splits, every row whose text is not forbidden.
    for name, split in (("hatexplain", "train"), ("convabuse", "train")):
        raw = pd.read_csv(fake_data_dir / "hostility" / name / f"{name}.csv.gz", keep_default_na=False)
        allowed = raw[(raw["split"] == split) & ~raw["text"].map(overlap_key).isin(forbidden)]
        assert 0 < counts[name] == len(allowed) < (raw["split"] == split).sum() + 1
        assert set(added.loc[added["source"] == name, "text"]) == set(allowed["text"])
    # Swapped copies name another group, and the identity sentences are not copied.
    swaps = added[added["source"] == "identity_swaps"]
    assert len(swaps) and not set(swaps["text"]) & set(extended.iloc[:len(fit)]["text"])


def test_hatexplain_and_convabuse_test_texts_are_in_no_training_row(fake_data_dir, tmp_path):
    """Up to bundle 1.3.0 only the primary sets' test texts were kept out of training: 303 of ConvAbuse's 853 test
    turns ("yes", "hi", ...) were trained on, as ConvAbuse's or another set's training rows."""
    import shutil

    data = shutil.copytree(fake_data_dir, tmp_path / "data")
    hostility = data / "hostility"
    tests = {}
    for name in ("hatexplain", "convabuse"):
        path = hostility / added_sets.ADDED_SETS[name][0] / f"{name}.csv.gz"
        raw = pd.read_csv(path, keep_default_na=False)
        test_text = raw.loc[raw["split"] == "test", "text"].iloc[0]
        raw.loc[raw.index[raw["split"] == "train"][:2], "text"] = [test_text, test_text.upper()]  # the same key
        raw.to_csv(path, index=False, compression="gzip")
        tests[name] = test_text
    olid = _olid_train(data)
    tweets = pd.read_csv(olid, keep_default_na=False)
    kept = set(load_training_data(data)["text"])
    ordinary = [text for text in tweets["tweet"] if text in kept][:2]  # OLID rows that are trained on
    tweets["tweet"] = tweets["tweet"].replace(dict(zip(ordinary, tests.values())))
    tweets.to_csv(olid, index=False, compression="gzip")

    keys = {overlap_key(text) for text in tests.values()}
    assert keys <= added_sets.test_keys(data) <= added_sets.forbidden_keys(data)
    assert not set(load_training_data(data)["text"].map(overlap_key)) & keys
    added = added_sets.added_training_rows(data, seed=3, forbidden=added_sets.forbidden_keys(data))
    assert not set(added["text"].map(overlap_key)) & keys
    assert len(added[added["source"] != "identity_sentences"]) > 0


def test_a_tfidf_bundle_with_added_sets_keeps_the_held_out_slice_and_lists_the_sets(fake_data_dir, few_identity_sentences, tmp_path):
    from model.bundle import read_manifest
    from model.training.train import train_bundle

    plain = read_manifest(train_bundle(fake_data_dir, tmp_path / "plain", seed=SEED, progress=False, version="plain",
                                       added_sets=False))
    added = read_manifest(train_bundle(fake_data_dir, tmp_path / "added", seed=SEED, progress=False, version="added"))
    assert "added_sets" not in plain
    assert added["holdout_rows"] == plain["holdout_rows"]
    rows = {name: entry["rows"] for name, entry in added["added_sets"].items()}
    assert rows["identity_sentences"] == 40 and rows["hatexplain"] > 0 and rows["convabuse"] > 0
    assert added["training_rows"] == plain["training_rows"] + sum(rows.values())
    assert {name: entry["license"] for name, entry in added["added_sets"].items()} == {
        name: licence for name, (_, licence) in added_sets.ADDED_SETS.items()}


def test_the_model_card_of_a_tfidf_bundle_lists_the_added_sets_as_training_data():
    """GET /v1/model's card listed only ``datasets``: for 1.3.0 it left out the four sets its heads also trained on."""
    from types import SimpleNamespace

    from model.bundle import bundles_dir, read_manifest
    from model.policy import Policy
    from service.api_v1 import model_card

    manifest = read_manifest(bundles_dir() / "1.3.0")
    bundle = SimpleNamespace(manifest=manifest, version="1.3.0", attributes=manifest["attributes"],
                             policy=Policy(reject={}, review={}), model=None)
    card = model_card(bundle)["datasets"]
    for name, (_, licence) in added_sets.ADDED_SETS.items():
        assert card[name] == {"license": licence, "rows": manifest["added_sets"][name]["rows"], "role": "training"}
    assert {name: card[name] for name in manifest["datasets"]} == manifest["datasets"]
