"""Bundle save/load: predictions survive, and a tampered or foreign bundle is refused before unpickling."""

import json
import re
import shutil

import numpy as np
import pytest

from model.bundle import (ENCODER_PROBE_TOLERANCE, BundleError, default_bundle_path, load_bundle, read_manifest,
                          sha256_file)
from model.training.train import PROBE_TEXTS, probe_scores


@pytest.fixture
def bundle_copy(tiny_bundle_path, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(tiny_bundle_path, target)
    return target


def test_load_keeps_predictions_and_manifest(tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    manifest = bundle.manifest
    assert manifest["model_sha256"] == sha256_file(tiny_bundle_path / "model.joblib")
    assert set(manifest["versions"]) >= {"python", "scikit-learn", "joblib"}
    probe = np.array([[row[a] for a in bundle.attributes] for row in manifest["probe"]["scores"]])
    # In the batches the probe was recorded in (2.2.0-2.6.0's int8 encoders' scores depend on the batch).
    again = probe_scores(bundle.model, bundle.attributes)
    assert len(again) == len(PROBE_TEXTS)
    # Empty texts score 0 as the service scores them (bundles before 2.3.0 recorded the raw model's score).
    present = np.array([bool(text.strip()) for text in PROBE_TEXTS])
    again = np.array([[row[a] for a in bundle.attributes] for row in again])
    assert np.allclose(again[present], probe[present], atol=1e-9) and not again[~present].any()


def test_tampered_model_file_is_refused(bundle_copy):
    with open(bundle_copy / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(bundle_copy)


def test_other_scikit_learn_version_is_refused(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["versions"]["scikit-learn"] = "0.24.2"
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"scikit-learn 0\.24\.2 but .* is installed"):
        load_bundle(bundle_copy)


def unhashed_broken_policy(folder) -> None:
    """A policy that says no probability, in a bundle made before the manifest hashed its policy (else the hash, not
    the reading, refuses it)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["policy_sha256"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "policy.toml").write_text("[review]\ntoxicity = 2\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "manifest.json").unlink(), "manifest.json not found"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "manifest.json").write_text("{}"), "lacks model_version"),
        (lambda d: (d / "model.joblib").unlink(), "model.joblib not found"),
        (unhashed_broken_policy, "probability"),
        (lambda d: (d / "policy.toml").write_text("[review]\ntoxicity = 2\n"), "policy.toml has SHA-256"),
    ],
)
def test_broken_bundles_get_clear_errors(bundle_copy, change, message):
    change(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_missing_folder(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")


def test_committed_bundle_verifies():
    """The bundle that `make run` serves loads, verifies and reproduces its own probe scores."""
    path = default_bundle_path()
    manifest = read_manifest(path)
    assert manifest["model_bytes"] < 60 * 2**20, "keep the committed bundle to tens of MB"
    bundle = load_bundle(path)
    probe = np.array([[row[a] for a in bundle.attributes] for row in manifest["probe"]["scores"]])
    # In the batches the probe was recorded in (2.2.0-2.6.0's int8 encoders' scores depend on the batch).
    again = probe_scores(bundle.model, bundle.attributes)
    assert len(again) == len(PROBE_TEXTS)
    # Empty texts score 0 as the service scores them (bundles before 2.3.0 recorded the raw model's score).
    present = np.array([bool(text.strip()) for text in PROBE_TEXTS])
    again = np.array([[row[a] for a in bundle.attributes] for row in again])
    # An int8 encoder's kernels differ between CPUs (VNNI or AVX2 only): the service's readiness check allows that much.
    tolerance = ENCODER_PROBE_TOLERANCE if "encoder" in manifest else 1e-9
    assert np.allclose(again[present], probe[present], rtol=0, atol=tolerance) and not again[~present].any()


def test_reproduce_refuses_an_encoder_bundle_and_a_missing_one(tmp_path, capsys):
    from model.training.reproduce import main

    encoder_bundle = tmp_path / "2.x"
    encoder_bundle.mkdir()
    manifest = {"model_version": "2.x", "attributes": [], "model_file": "model.joblib", "model_sha256": "0" * 64,
                "versions": {}, "encoder": {"file": "encoder.onnx"}}
    (encoder_bundle / "manifest.json").write_text(json.dumps(manifest))
    for folder, words in ((encoder_bundle, "is an encoder bundle: `make train-encoder`"), (tmp_path / "none", "not found")):
        with pytest.raises(SystemExit) as stopped:
            main(["--model", str(folder), "--data-dir", str(tmp_path / "absent")])
        assert stopped.value.code == 2 and words in capsys.readouterr().err


@pytest.mark.parametrize("version", ["1.2.0", "1.3.0", "1.4.0"])
def test_reproduce_retrains_a_tfidf_bundle_as_its_manifest_says(version, monkeypatch, capsys):
    """1.2.0 was trained without the added sets, 1.3.0 and 1.4.0 with them: reproducing one must retrain it that way."""
    import model.training.reproduce as reproduce
    from model.bundle import bundles_dir, read_manifest

    reference = bundles_dir() / version
    calls = []

    def train(data_dir, out, **options):
        calls.append(options)
        return reference

    monkeypatch.setattr(reproduce, "train_bundle", train)
    assert reproduce.main(["--model", str(reference)]) == 0
    manifest = read_manifest(reference)
    assert calls == [{"make_current": False, "seed": manifest["seed"], "added_sets": version != "1.2.0"}]
    assert "same_predictions: True" in capsys.readouterr().out


def test_replace_text_that_cannot_rename_names_the_target_and_leaves_no_temporary(tmp_path):
    from model.bundle import replace_text

    target = tmp_path / "CURRENT"
    target.mkdir()  # a folder in the way: the rename over it fails
    with pytest.raises(IsADirectoryError) as raised:
        replace_text(target, "2.8.0\n")
    assert raised.value.filename == str(target)
    assert [path.name for path in tmp_path.iterdir()] == ["CURRENT"]  # no .CURRENT.<pid>.partial left behind


def _edit_manifest(folder, edit):
    """Rewrite ``folder``'s manifest.json as ``edit`` returns it from the parsed one."""
    path = folder / "manifest.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


HAND_EDITED_MANIFESTS = {
    "null": (lambda m: None, "holds a JSON null, not an object"),
    "a string": (lambda m: "2.10.0", "holds a JSON string, not an object"),
    "files a list": (lambda m: m | {"files": ["encoder.onnx"]}, "files not as `moderate train` writes it"),
    "versions a string": (lambda m: m | {"versions": "1.9.1"}, "versions not as `moderate train` writes it"),
    "a file without sha256": (lambda m: m | {"files": {"encoder.onnx": {"bytes": 3}}},
                              'files["encoder.onnx"] not as `moderate train` writes it'),
    "a metric not an object": (lambda m: m | {"test_metrics": {"ucc_test": 0.8}},
                               'test_metrics["ucc_test"] not as `moderate train` writes it'),
}


@pytest.mark.parametrize("edit", sorted(HAND_EDITED_MANIFESTS))
def test_a_hand_edited_manifest_is_refused_naming_it(bundle_copy, edit):
    """A manifest of another shape was met later as a TypeError or AttributeError (a traceback in `models use|list`)."""
    change, message = HAND_EDITED_MANIFESTS[edit]
    _edit_manifest(bundle_copy, change)
    with pytest.raises(BundleError, match=re.escape(f"{bundle_copy / 'manifest.json'}") + ".*" + re.escape(message)):
        load_bundle(bundle_copy)


def test_a_manifest_that_cannot_be_read_is_a_bundle_error(bundle_copy):
    """An OSError other than "not found" (a folder, no permission) escaped as such: `models list` showed no bundle."""
    (bundle_copy / "manifest.json").unlink()
    (bundle_copy / "manifest.json").mkdir()
    with pytest.raises(BundleError, match=re.escape(f"{bundle_copy / 'manifest.json'} cannot be read (Is a directory)")):
        read_manifest(bundle_copy)


@pytest.mark.parametrize(("current", "message"), [
    ("\n", "CURRENT is empty: choose the bundle to serve with `moderate models use VERSION`"),
    ("9.9.9\n", "CURRENT names '9.9.9', but there is no {root}/9.9.9 (a bundle removed, renamed or copied incompletely?)"),
    ("../copy\n", "CURRENT names '../copy', which is not a folder name in {root}"),
])
def test_a_current_naming_no_bundle_says_so(bundle_copy, tmp_path, monkeypatch, current, message):
    """An empty CURRENT read as "bundles/manifest.json not found", a missing version as "pass a folder made by `moderate
    train`", and a path in CURRENT served a bundle from outside the folder of bundles."""
    root = tmp_path / "bundles"
    root.mkdir()
    (root / "CURRENT").write_text(current)
    monkeypatch.setenv("MODERATION_BUNDLES_DIR", str(root))
    with pytest.raises(BundleError, match=re.escape(message.format(root=root))):
        load_bundle()
