"""The fingerprint of the site texts a bundle trained on (model/training/trained_texts.py)."""

from __future__ import annotations

import json

import pandas as pd

from model.bundle import read_manifest
from model.training.site_data import site_labels, site_manifest, site_training_rows
from model.training.trained_texts import FINGERPRINT_KEY, has_fingerprint, trained_rows, without_fingerprint


def _site_manifest(texts: list[str]) -> dict:
    """A bundle manifest whose site section ``site_manifest`` wrote for ``texts`` (all approved)."""
    site = site_labels(pd.DataFrame({"text": texts, "decision": ["approve"] * len(texts)}))
    return {"site_data": site_manifest(site, site_training_rows(site), weight=5.0)}


def test_a_later_export_holding_the_trained_rows_is_matched_row_by_row():
    """Only the site file's SHA-256 was recorded: a later export holding the first one looked unseen."""
    earlier = [f"first export comment {i}" for i in range(30)]
    manifest = _site_manifest(earlier)
    later = [*earlier[:10], "  FIRST export   comment 10 ", *[f"a new comment {i}" for i in range(20)]]
    seen = trained_rows(manifest, later)
    assert seen.tolist() == [True] * 11 + [False] * 20  # the same text, however cased and spaced (overlap_key)


def test_texts_left_out_of_training_are_not_in_the_fingerprint(fake_data_dir):
    """A text in a public validation set is never trained on, so a file holding it is not said to be trained on."""
    from model.training.data import load_validation_sets, overlap_key

    public = load_validation_sets(fake_data_dir)["kaggle_train_heldout"]["text"].iloc[0]
    site = site_labels(pd.DataFrame({"text": ["a site comment", public], "decision": ["approve", "reject"]}))
    rows = site_training_rows(site, validation_texts={overlap_key(public)})
    manifest = {"site_data": site_manifest(site, rows, 5.0)}
    assert trained_rows(manifest, ["a site comment", public]).tolist() == [True, False]


def test_bundles_without_the_fingerprint_fall_back_to_the_sha256():
    assert trained_rows({}, ["x", "y"]).tolist() == [False, False]  # a public bundle trained on no site comment
    older = {"site_data": {"sha256": "aaa", "rows_used": 3}}  # a site bundle from before the fingerprint
    assert trained_rows(older, ["x"]) is None and not has_fingerprint(older)


def test_ten_thousand_rows_keep_the_manifest_small_and_match_no_other_text():
    texts = [f"site comment number {i}, on the council budget" for i in range(10_000)]
    manifest = _site_manifest(texts)
    size = len(json.dumps(manifest["site_data"][FINGERPRINT_KEY]))
    assert size < 70_000, size  # 5 bytes a text, base64: about 67 KB
    assert trained_rows(manifest, texts).all()
    assert not trained_rows(manifest, [f"another comment {i}" for i in range(10_000)]).any()


def test_the_digests_are_left_out_when_the_manifest_is_shown():
    manifest = _site_manifest(["one", "two"])
    shown = without_fingerprint(manifest)
    assert shown["site_data"][FINGERPRINT_KEY] == {"scheme": manifest["site_data"][FINGERPRINT_KEY]["scheme"], "texts": 2}
    assert "digests" in manifest["site_data"][FINGERPRINT_KEY]  # the bundle's own manifest is untouched


def test_the_model_route_serves_a_site_bundles_manifest_without_the_digests_of_its_texts(versioned_bundles):
    """GET /v1/model served the whole manifest: any key could test whether a text it guesses was one of the site's
    training comments (on a server shared by sites, another site's), and download kilobytes of base64 to do it."""
    from service.app import create_app
    from service.auth import create_key
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(versioned_bundles / "site"), "DB_URL": "sqlite://"})
    with app.app_context():
        key = create_key(get_session(), "test")[1]
    body = app.test_client().get("/v1/model", headers={"Authorization": f"Bearer {key}"}).get_json()
    served = body["manifest"]["site_data"][FINGERPRINT_KEY]
    on_disk = read_manifest(versioned_bundles / "site")["site_data"][FINGERPRINT_KEY]
    assert "digests" in on_disk and on_disk["texts"] > 0
    assert served == {"scheme": on_disk["scheme"], "texts": on_disk["texts"]}
