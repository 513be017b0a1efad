"""Feedback labels from the API to retraining: what ``POST /v1/feedback`` refuses, and what ``moderate feedback export``
then ``moderate train --site-data`` (``model.training.site_data``) says about labels it cannot train on."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from model.attributes import ATTRIBUTES, HOSTILITY_ATTRIBUTES
from model.training.data import DataError
from model.training.site_data import describe_site_manifest, read_site_data, site_labels, site_manifest, site_training_rows
from tests.test_attributes import UNTOXIC_CASES
from tests.test_openapi_requests import document_problems

UNTOXIC_INSULT = {"toxicity": 0, "insult": 1}


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


@pytest.mark.parametrize(("labels", "refused"), [
    (UNTOXIC_INSULT, "labels.insult is 1, which marks insult, but labels.toxicity is 0, under 0.5: insult is toxic, so "
                     "training would read insult as 0; raise toxicity to 0.5 or more, or lower insult under 0.5"),
    ({"toxicity": 0.4, "threat": 0.6, "profanity": 0.2}, "labels.threat is 0.6, which marks threat, but labels.toxicity is 0.4"),
    ({"toxicity": 0.49, "severe_toxicity": 0.5}, "labels.severe_toxicity is 0.5, which marks severe_toxicity, but "
                                                 "labels.toxicity is 0.49, under 0.5"),
    ({"toxicity": 0.5, "insult": 1}, None),
    ({"insult": 1}, None),  # no toxicity given: training takes the insult as toxic
    ({"toxicity": 0, "insult": 0.4}, None),
    ({"toxicity": 0, "unsupported_claim": 1}, None),  # a claim is no hostility
])
def test_feedback_marking_a_hostility_but_not_toxicity_is_refused_by_the_endpoint_and_the_document(spec, client, auth, labels,
                                                                                                   refused):
    """Stored with 201, such labels were trained on as a comment free of every hostility: the insult was lost."""
    body = {"comment_id": "c1", "decision": "reject", "labels": labels}
    response = client.post("/v1/feedback", json=body, headers=auth)
    if refused is None:
        assert response.status_code == 201, response.get_json()
        assert document_problems(spec, "/v1/feedback", body) == []
    else:
        assert response.status_code == 400
        assert response.get_json()["error"]["message"].startswith(refused)
        assert document_problems(spec, "/v1/feedback", body) != []  # a generated client is told before it sends it


def _export_of_suggestions(runner, tiny_bundle_path, tmp_path, monkeypatch, suggestions: dict[str, dict]) -> object:
    """suggestscore each text with its ``{NAME: value}``, feedback ``a fair point`` approved by /v1/feedback; export to
    CSV with ``moderate feedback export``; the export's path. A suggestion suggestscore now refuses (a hostility marked
    with toxicity under 0.5) is stored as servers before that change stored it, under our attribute names, so that
    training's own refusal is tested on an export of a database that holds such rows."""
    from model.attributes import untoxic_hostility
    from service.app import create_app
    from service.cli import cli
    from service.store import save_feedback

    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("MODERATION_DB_URL", db_url)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "AUTH_REQUIRED": False})
    client = app.test_client()
    for text, scores in suggestions.items():
        body = {"comment": {"text": text}, "attributeScores": {name: {"summaryScore": {"value": value}} for name, value in scores.items()}}
        response = client.post("/v1alpha1/comments:suggestscore", json=body)
        labels = {name.lower(): value for name, value in scores.items()}
        if untoxic_hostility(labels):
            assert response.status_code == 400
            with app.test_request_context():
                save_feedback(comment_id=None, text=text, decision=None, labels=labels, source="perspective:suggestscore")
        else:
            assert response.status_code == 200
    assert client.post("/v1/feedback", json={"text": "a fair point", "decision": "approve"}).status_code == 201
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(cli, ["feedback", "export", "-o", str(out)], env={"MODERATION_DB_URL": db_url})
    assert exported.exit_code == 0, exported.output
    return out


def test_training_names_the_exported_row_that_marks_an_insult_but_not_toxicity(runner, tiny_bundle_path, tmp_path, monkeypatch):
    """Perspective's suggestscore stored TOXICITY 0 with INSULT 1 before it refused them (a database may still hold
    such rows): training read the comment as not toxic and so not an insult either, the insult label silently turned
    into 0."""
    out = _export_of_suggestions(runner, tiny_bundle_path, tmp_path, monkeypatch,
                                 {"you utter clown": {"TOXICITY": 0, "INSULT": 1}})
    with pytest.raises(DataError, match=r"feedback\.csv: row 0: insult is marked \(0\.5 or more\) but toxicity is not "
                                        r"\(under 0\.5\): insult is toxic, so training would read it as 0; raise toxicity"):
        read_site_data(out)


def test_rows_marking_a_hostility_but_not_toxicity_are_named_by_comment_id_and_only_if_trained_on():
    export = pd.DataFrame({"text": ["you clown", "fine", "you clown", "a threat", None],
                           "comment_id": ["c1", "c2", "c1", "c3", "c4"], "decision": [None, "approve", "reject", None, None],
                           "toxicity": [0.0, None, None, 0.2, 0.0], "insult": [1.0, None, None, None, 1.0],
                           "threat": [None, None, None, 0.9, None]})
    with pytest.raises(DataError, match=r"^row 3 \(comment_id c3\): threat is marked"):
        site_labels(export)  # c1's first row was corrected by its second, c4 has no text: neither is trained on
    export.loc[3, "toxicity"] = 0.9
    site = site_labels(export).set_index("text")
    assert site.loc["a threat", ["toxicity", "threat"]].tolist() == [1.0, 1.0]
    assert site.loc["you clown", "toxicity"] == 1.0  # its last row, the rejection


def test_free_form_labels_training_cannot_read_are_named_with_the_rows_left_out(runner, tiny_bundle_path, tmp_path, monkeypatch):
    """suggestscore labels not ours (``ATTACK_ON_AUTHOR``, ``SPAM``) are exported as columns training never reads: the
    rows labelled only there were counted as "without a decision or label", and no one was told which labels were lost
    or what to rename."""
    out = _export_of_suggestions(runner, tiny_bundle_path, tmp_path, monkeypatch,
                                 {"the author is a fool": {"ATTACK_ON_AUTHOR": 0.9}, "buy cheap pills": {"SPAM": 1},
                                  "you utter clown": {"INSULT": 1, "SPAM": 0}})
    site = read_site_data(out)
    assert sorted(site["text"]) == ["a fair point", "you utter clown"]
    assert (site.attrs["n_without_label"], site.attrs["n_unread_label_only"]) == (0, 2)
    assert site.attrs["unread_label_columns"] == ["ATTACK_ON_AUTHOR", "SPAM"]
    said = describe_site_manifest(site_manifest(site, site_training_rows(site), 5.0))
    assert ("left out: 2 labelled only in 'ATTACK_ON_AUTHOR', 'SPAM', which training does not read (rename a column to "
            "the attribute it marks, one of toxicity, severe_toxicity") in said
    assert "without a decision or label" not in said


def test_a_file_labelled_only_in_columns_training_cannot_read_says_which(tmp_path):
    path = tmp_path / "feedback.csv"
    pd.DataFrame({"text": ["buy cheap pills", "hello"], "comment_id": ["1", "2"], "decision": None, "SPAM": [1.0, 0.0],
                  "api_key_id": [1, 1], "author": ["ann", "bob"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"0 without label, 2 labelled only in 'SPAM', which training does not read"):
        read_site_data(path)
    with pytest.raises(DataError, match=r"or attribute columns \(.*\); labels in 'SPAM' not read \(rename a column to"):
        site_labels(pd.read_csv(path).drop(columns="decision"))


def test_labels_beside_a_decision_in_a_column_training_cannot_read_are_named():
    export = pd.DataFrame({"text": ["buy cheap pills", "hello"], "decision": ["reject", "approve"], "SPAM": [1.0, None],
                           "api_key_id": [1, 0], "moderator": ["ann", None]})
    site = site_labels(export)
    assert site.attrs["unread_label_columns"] == ["SPAM"] and site.attrs["n_unread_label_only"] == 0
    said = describe_site_manifest(site_manifest(site, site_training_rows(site), 5.0))
    assert said.endswith("left out: labels in 'SPAM' not read (rename a column to the attribute it marks, one of toxicity, "
                         "severe_toxicity, identity_attack, insult, profanity, threat, unsupported_claim)")


def test_unknown_names_in_a_json_labels_column_are_refused_naming_the_rows():
    """A ``labels`` column of JSON objects (the feedback table's own column, as a database dump writes it) with a
    free-form name was refused without saying which of thousands of rows held it."""
    dump = pd.DataFrame({"text": ["a", "b", "c"], "comment_id": ["c1", "c2", "c3"],
                         "labels": ['{"toxicity": 1}', '{"SPAM": 1}', '{"ATTACK_ON_AUTHOR": 0.9, "insult": 1}']})
    with pytest.raises(DataError, match=r"^labels names unknown attributes \['ATTACK_ON_AUTHOR', 'SPAM'\] "
                                        r"\(row 1 \(comment_id c2\), row 2 \(comment_id c3\)\): use toxicity"):
        site_labels(dump)


@pytest.mark.parametrize(("suggestions", "exit_code", "said"), [
    ({"buy cheap pills": {"SPAM": 1}, "you utter clown": {"INSULT": 1}}, 0,
     "3 rows read, 2 trained on (weight 5); left out: 1 labelled only in 'SPAM', which training does not read"),
    ({"you utter clown": {"TOXICITY": 0.2, "INSULT": 0.9}}, 2, "feedback.csv: row 0: insult is marked (0.5 or more) but "
                                                              "toxicity is not (under 0.5): insult is toxic"),
])
def test_moderate_train_on_a_feedback_export_says_what_it_left_out_or_what_to_fix(runner, tiny_bundle_path, fake_data_dir,
                                                                                  tmp_path, monkeypatch, suggestions,
                                                                                  exit_code, said):
    from service.cli import cli

    out = _export_of_suggestions(runner, tiny_bundle_path, tmp_path, monkeypatch, suggestions)
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(out), "--out",
                                 str(tmp_path / "bundle"), "--seed", "0"])
    assert result.exit_code == exit_code, result.output
    assert said in " ".join(result.stderr.split())


@pytest.mark.parametrize(("labels", "refused"), UNTOXIC_CASES)
def test_the_api_and_training_refuse_the_same_labels_naming_the_same_attributes(client, auth, labels, refused):
    """``/v1/feedback`` and ``site_labels`` each kept a copy of the rule: one changed alone, the API would store labels
    that training then refuses, or refuse labels training reads. Not given is a name left out of the request and an
    empty cell in the site's file."""
    given = {name: value for name, value in labels.items() if value is not None and not math.isnan(value)}
    response = client.post("/v1/feedback", json={"comment_id": "c1", "decision": "reject", "labels": given}, headers=auth)
    try:
        site_labels(pd.DataFrame([{"text": "a comment", **{name: labels.get(name) for name in ATTRIBUTES}}]))
        training_says = None
    except DataError as error:
        training_says = str(error)
    assert response.status_code == (400 if refused else 201), response.get_json()
    assert (training_says is not None) == bool(refused), training_says
    if refused:
        api_says = response.get_json()["error"]["message"]
        assert training_says.startswith(f"row 0: {refused[0]} is marked (0.5 or more) but toxicity is not (under 0.5)")
        assert [name for name in HOSTILITY_ATTRIBUTES[1:] if f"labels.{name} is" in api_says] == refused
        assert [name for name in HOSTILITY_ATTRIBUTES[1:] if name in training_says] == refused
