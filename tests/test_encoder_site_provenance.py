"""An encoder bundle built around a site's TF-IDF bundle says, as its base does, which site comments it trained on.

The encoder bundle serves its base's TF-IDF heads (the cascade's first pass, the toxicity blend, claims, word spans),
which were fitted on the site's rows: ``moderate compare`` (``--drop-trained``), ``moderate models list``, ``/v1/model``
and notebooks 04 and 05 (``trained_on_file``, ``saw_held_out_rows``, ``trained_rows``) must tell so from its manifest.
The tiny encoder and TF-IDF bundles of ``tests/test_encoder.py`` and ``tests/conftest.py``, a made-up site's comments.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch", reason="the encoder tests need the train extra (torch==2.13.0)")

from tests.corpus import make_claim_sentences, make_corpus, make_spans  # noqa: E402
from tests.fake_data import make_site  # noqa: E402
from tests.test_encoder import build_tiny_encoder_bundle, tiny_encoder  # noqa: E402,F401 (tiny_encoder: a fixture)

SITE_HOLDOUT_FRACTION = 0.25
SITE_SPLIT_SEED = 3


@pytest.fixture(scope="module")
def site_files(tmp_path_factory) -> dict:
    """A site's file split as notebook 05 splits it: the whole file, its training part and its held-out part."""
    from model.training.site_data import read_site_data, split_site

    folder = tmp_path_factory.mktemp("site")
    whole = folder / "site.csv"
    make_site(60, seed=0).to_csv(whole, index=False)
    site = read_site_data(whole)
    train, held_out = split_site(site, SITE_HOLDOUT_FRACTION, seed=SITE_SPLIT_SEED)
    paths = {"whole": whole, "train": folder / "site_train.csv", "held_out": folder / "held_out.csv"}
    train[["text", "decision"]].to_csv(paths["train"], index=False)
    held_out[["text", "decision"]].to_csv(paths["held_out"], index=False)
    return paths | {"site": site, "held_out_frame": held_out}


@pytest.fixture(scope="module")
def site_base(site_files, tmp_path_factory):
    """The tiny TF-IDF bundle trained on the site's training part too, its manifest written as ``train_bundle`` writes
    a site bundle's (``site_data`` with ``split_from`` and the trained texts' fingerprint)."""
    from model.training.site_data import add_site_rows, read_site_data, site_manifest, site_training_rows, split_origin
    from model.training.train import train_from_frame

    train = read_site_data(site_files["train"])
    train.attrs["split_from"] = split_origin(site_files["site"], site_files["held_out_frame"], SITE_HOLDOUT_FRACTION,
                                             SITE_SPLIT_SEED)
    rows = site_training_rows(train, 2.0)
    frame = add_site_rows(make_corpus(), rows)
    validation = make_corpus(120, seed=1)
    held_out_claims = make_claim_sentences(seed=1, n=10)
    return train_from_frame(
        frame, tmp_path_factory.mktemp("site_base") / "1.4.0-mysite", seed=0,
        validation={"tiny_val": validation.assign(label=validation["toxicity"])[["text", "label"]]},
        claims_training=make_claim_sentences(seed=0, n=40),
        claims_validation={"tiny_claims": held_out_claims.assign(
            label=(held_out_claims["checkable"] == 1) & (held_out_claims["supported"] == 0))[["text", "label"]]},
        span_training=make_spans(make_corpus(90, seed=2)), span_validation=make_spans(make_corpus(60, seed=3)),
        extra_manifest={"model_version": "1.4.0-mysite", "site_data": site_manifest(train, rows, 2.0)},
        holdout_fraction=0.2, n_jobs=1)


@pytest.fixture(scope="module")
def site_encoder_bundle(tiny_encoder, site_base, tmp_path_factory):  # noqa: F811 (the imported fixture)
    """The tiny encoder built around the site's TF-IDF bundle, as ``encoder bundle --base 1.4.0-mysite`` builds it."""
    path, _ = build_tiny_encoder_bundle(tiny_encoder, site_base, tmp_path_factory.mktemp("bundles") / "2.0.0-mysite")
    return path


def _manifest(which: str, site_base, site_encoder_bundle) -> dict:
    from model.bundle import read_manifest

    return read_manifest({"base": site_base, "encoder": site_encoder_bundle}[which])


def test_an_encoder_bundle_records_the_site_data_its_bases_heads_were_trained_on(site_base, site_encoder_bundle):
    from model.bundle import FINGERPRINT_KEY, read_manifest

    base, built = read_manifest(site_base), read_manifest(site_encoder_bundle)
    assert built["base_bundle"]["version"] == base["model_version"] == "1.4.0-mysite"
    assert built["site_data"] == base["site_data"]  # file, SHA-256, rows, weight, split_from, fingerprint
    assert built["site_data"][FINGERPRINT_KEY]["digests"]


@pytest.mark.parametrize("which", ["base", "encoder"])
def test_the_site_checks_tell_which_comments_a_bundle_trained_on(which, site_files, site_base, site_encoder_bundle):
    """What ``moderate compare`` and notebooks 04 and 05 ask of a manifest, answered for the encoder bundle as for its
    base: both were trained on the site's training part, none of its held-out part."""
    from model.bundle import sha256_file
    from model.training.data import overlap_key
    from model.training.site_data import saw_held_out_rows, trained_on_file
    from model.training.trained_texts import trained_rows

    manifest = _manifest(which, site_base, site_encoder_bundle)
    whole_sha256 = sha256_file(site_files["whole"])
    assert trained_on_file(manifest, whole_sha256) and trained_on_file(manifest, sha256_file(site_files["train"]))
    assert not trained_on_file(manifest, sha256_file(site_files["held_out"]))
    # Notebook 05 split the same way holds out only unseen comments; another split holds out some trained on.
    assert not saw_held_out_rows(manifest, whole_sha256, SITE_HOLDOUT_FRACTION, SITE_SPLIT_SEED)
    assert saw_held_out_rows(manifest, whole_sha256, SITE_HOLDOUT_FRACTION, SITE_SPLIT_SEED + 1)
    texts = pd.read_csv(site_files["whole"])["text"]
    trained = set(pd.read_csv(site_files["train"])["text"].map(overlap_key))
    expected = texts.map(overlap_key).isin(trained).to_numpy()
    assert 0 < expected.sum() < len(texts)
    np.testing.assert_array_equal(trained_rows(manifest, texts.tolist()), expected)


def test_compare_drop_trained_leaves_out_the_comments_an_encoder_bundles_heads_trained_on(site_files, site_encoder_bundle,
                                                                                      tiny_bundle_path, runner):
    from service.cli import cli

    n_held_out = len(pd.read_csv(site_files["held_out"]))
    n_trained = len(pd.read_csv(site_files["whole"])) - n_held_out
    result = runner.invoke(cli, ["compare", str(tiny_bundle_path), str(site_encoder_bundle), "--data",
                                 str(site_files["whole"]), "--label-column", "decision", "--drop-trained"])
    assert result.exit_code == 0, result.output
    assert (f"Warning: the new bundle was trained on {n_trained} of the {n_trained + n_held_out} comments of "
            f"{site_files['whole']} (the same text)") in result.stderr
    assert f"compared on {n_held_out} of them: {n_trained} left out that a bundle was trained on" in result.stdout


def test_models_list_counts_an_encoder_bundles_site_rows(site_base, site_encoder_bundle, tmp_path):
    from model.bundle import read_manifest
    from model.versions import list_bundles

    shutil.copytree(site_encoder_bundle, tmp_path / site_encoder_bundle.name)
    (summary,) = list_bundles(tmp_path)
    assert not summary.error
    assert summary.site_rows == read_manifest(site_base)["site_data"]["rows_used"] > 0


def test_the_model_endpoint_shows_an_encoder_bundles_site_data_without_the_digests(site_base, site_encoder_bundle):
    from model.bundle import FINGERPRINT_KEY, read_manifest, without_fingerprint
    from service.app import create_app
    from service.auth import create_key
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(site_encoder_bundle), "DB_URL": "sqlite://"})
    with app.app_context():
        key = create_key(get_session(), "test")[1]
    reply = app.test_client().get("/v1/model", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200
    shown = reply.get_json()["manifest"]["site_data"]
    assert shown == without_fingerprint(read_manifest(site_base))["site_data"]
    assert shown["sha256"] and "digests" not in shown[FINGERPRINT_KEY]


def test_a_rewindowed_encoder_bundle_keeps_the_site_data(site_base, site_encoder_bundle, tmp_path):
    from model.bundle import read_manifest
    from model.training.encoder_bundle import rewindow_bundle

    manifest = rewindow_bundle(site_encoder_bundle, tmp_path / "2.0.1-mysite", "2.0.1-mysite", align="sentences")
    assert manifest["site_data"] == read_manifest(tmp_path / "2.0.1-mysite")["site_data"] == read_manifest(site_base)["site_data"]
