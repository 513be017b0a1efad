"""``moderate score --policy FILE`` (default ``$MODERATION_POLICY``, the server's ``POLICY``): a site's own thresholds
decide a batch run as they decide its server's answers, for ``--text`` and archives on either engine; ``--resume``
keeps the policy of the interrupted run, and a policy file that cannot be used is one error line."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from model.bundle import POLICY_FILE
from model.policy import APPROVE, REVIEW, Policy, load_policy
from service.cli import cli
from service.spool import spool_path
from tests.test_archive_cli_edges import one_error_line

COMMENTS = ["Thanks for the article.", "A fair point, well made.", "", "I read it twice and agree."]
"""Comments the tiny bundle's own policy approves (checked in ``site_policy``); one is empty."""
TOXICITY = "toxicity"


@pytest.fixture
def run(tiny_bundle_path):
    def invoke(*args, env: dict[str, str] | None = None):
        return CliRunner().invoke(cli, ["score", *map(str, args)],
                                  env={"MODERATION_MODEL": str(tiny_bundle_path), "MODERATION_POLICY": None, **(env or {})})

    return invoke


def lowered_review(bundle_policy: Policy, threshold: float) -> Policy:
    """The bundle's policy with its ``[review] toxicity`` threshold lowered to ``threshold``, as a site that tuned it
    (notebooks/04_thresholds) writes one."""
    return Policy(bundle_policy.reject, {**bundle_policy.review, TOXICITY: threshold})


@pytest.fixture
def site_policy(tmp_path, scorer) -> tuple[Path, float]:
    """A policy file whose review threshold for toxicity is below every non-empty comment of ``COMMENTS``'s score, so
    that it sends to review what the bundle's own policy approves; and that threshold."""
    decisions = scorer.moderate(COMMENTS, with_spans=False)
    assert [decision.action for decision in decisions] == [APPROVE] * len(COMMENTS)
    lowest = min(decision.scores[TOXICITY] for text, decision in zip(COMMENTS, decisions) if text)
    threshold = float(f"{lowest / 2:.4f}")  # as Policy.to_toml writes it
    assert 0 < threshold < lowest and threshold < scorer.policy.review[TOXICITY]
    path = tmp_path / "site-policy.toml"
    path.write_text(lowered_review(scorer.policy, threshold).to_toml(), encoding="utf-8")
    assert load_policy(path).review[TOXICITY] == threshold
    return path, threshold


def write_comments(path: Path) -> Path:
    """``COMMENTS`` with ids as a CSV archive."""
    pd.DataFrame({"id": [str(i) for i in range(len(COMMENTS))], "text": COMMENTS}).to_csv(path, index=False)
    return path


def decisions_of(path: Path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)["decision"].tolist()


def expected_site_decisions() -> list[str]:
    """The empty comment stays approved ("empty"); every other one goes to review."""
    return [REVIEW if text else APPROVE for text in COMMENTS]


# --text


@pytest.mark.parametrize("given", ["option", "environment"])
def test_one_text_is_decided_with_the_site_policy_given_or_named_by_moderation_policy(run, site_policy, given):
    path, threshold = site_policy
    own = json.loads(run("--text", COMMENTS[0]).stdout)
    assert own["decision"] == APPROVE
    result = run("--text", COMMENTS[0], *(["--policy", path] if given == "option" else []),
                 env={"MODERATION_POLICY": str(path)} if given == "environment" else None)
    assert result.exit_code == 0, result.output
    site = json.loads(result.stdout)
    # Before: no --policy option (exit 2), and $MODERATION_POLICY was ignored: approved, as by the bundle's policy.
    assert site["decision"] == REVIEW
    assert [(r["code"], r["threshold"]) for r in site["reasons"]] == [(TOXICITY, threshold)]
    assert site["scores"] == own["scores"]


@pytest.mark.parametrize("given", ["option", "environment"])
def test_one_text_is_explained_with_the_site_policy_span_floor(run, tmp_path, scorer, given):
    """A policy file's [spans] floor reaches `moderate score` as it reaches the server: its words are not marked."""
    hostile = "You are a stupid clown, the minister delays the vote."
    own = json.loads(run("--text", hostile).stdout)
    marked = [own["scores"][span["attribute"]] for span in own["spans"] if span["attribute"] != "unsupported_claim"]
    assert marked and max(marked) < 1.0, own["spans"]
    path = tmp_path / "site-policy.toml"
    path.write_text(scorer.policy.to_toml() + f"\n[spans]\nfloor = {max(marked) + (1.0 - max(marked)) / 2!r}\n",
                    encoding="utf-8")
    result = run("--text", hostile, *(["--policy", path] if given == "option" else []),
                 env={"MODERATION_POLICY": str(path)} if given == "environment" else None)
    assert result.exit_code == 0, result.output
    site = json.loads(result.stdout)
    assert [span["attribute"] for span in site["spans"]] == [s["attribute"] for s in own["spans"] if s["attribute"] == "unsupported_claim"]
    assert (site["decision"], site["scores"]) == (own["decision"], own["scores"])


def test_the_policy_option_wins_over_moderation_policy(run, site_policy, tiny_bundle_path):
    path, _ = site_policy
    result = run("--text", COMMENTS[0], "--policy", tiny_bundle_path / POLICY_FILE, env={"MODERATION_POLICY": str(path)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == APPROVE


@pytest.mark.parametrize("surface", ["text", "archive"])
def test_a_span_floor_above_the_policys_own_threshold_is_warned_about_on_stderr_once(tmp_path, run, site_policy, scorer,
                                                                                       surface):
    """A floor above [review] toxicity: comments sent to review between the two show no marked words, and nothing
    said so. The warning goes to stderr once; the exit status and what is written are as without it."""
    from model.policy import span_floor_warnings
    from model.scoring import Scorer

    site, threshold = site_policy
    path = tmp_path / "floored-policy.toml"
    path.write_text(site.read_text(encoding="utf-8") + "\n[spans]\nfloor = 0.5\n", encoding="utf-8")
    (expected,) = span_floor_warnings(load_policy(path))
    args = ["--text", COMMENTS[0]] if surface == "text" else [write_comments(tmp_path / "in.csv"), "-o", tmp_path / "out.csv",
                                                              "--jobs", 2, "--chunk-size", 2]
    result = run(*args, "--policy", path)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: {expected}"]
    assert expected.startswith(f"policy file {path}: [spans] floor = 0.5 is above [review] {TOXICITY} = {threshold}, so "
                               f"comments sent to review for {TOXICITY} at a score from {threshold} to 0.5 show no marked words")
    if surface == "text":
        decision = Scorer(scorer.bundle, load_policy(path)).moderate([COMMENTS[0]])[0]
        assert json.loads(result.stdout) == {"model_version": scorer.model_version, **json.loads(json.dumps(decision.to_dict()))}
    else:
        assert result.stdout == ""
        assert decisions_of(tmp_path / "out.csv") == expected_site_decisions()


# Archives


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("given", ["option", "environment"])
def test_an_archive_is_decided_with_the_site_policy_by_every_worker(tmp_path, run, site_policy, given, jobs):
    path, threshold = site_policy
    source = write_comments(tmp_path / "in.csv")
    assert run(source, "-o", tmp_path / "own.csv").exit_code == 0
    assert decisions_of(tmp_path / "own.csv") == [APPROVE] * len(COMMENTS)
    result = run(source, "-o", tmp_path / "site.csv", "--jobs", jobs, "--chunk-size", 2,
                 *(["--policy", path] if given == "option" else []),
                 env={"MODERATION_POLICY": str(path)} if given == "environment" else None)
    assert result.exit_code == 0, result.output
    # Before: the bundle's policy.toml decided every row, whatever the site's server applies.
    assert decisions_of(tmp_path / "site.csv") == expected_site_decisions()
    rows = pd.read_csv(tmp_path / "site.csv", dtype=str, keep_default_na=False)
    assert all(json.loads(reasons)[0]["threshold"] == threshold for reasons, text in zip(rows["reasons"], COMMENTS) if text)
    own = pd.read_csv(tmp_path / "own.csv", dtype=str, keep_default_na=False)
    assert rows[["id", "text", *own.columns[2:-2]]].equals(own[["id", "text", *own.columns[2:-2]]])  # the same scores


@pytest.mark.slow  # a LocalCluster of one worker loading the bundle
def test_dask_workers_decide_with_the_site_policy(tmp_path, run, site_policy):
    path, _ = site_policy
    source = write_comments(tmp_path / "in.csv")
    assert run(source, "-o", tmp_path / "local.csv", "--policy", path).exit_code == 0
    result = run(source, "-o", tmp_path / "dask.csv", "--policy", path, "--engine", "dask", "--jobs", 1, "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    assert decisions_of(tmp_path / "dask.csv") == expected_site_decisions()
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


# --resume


def stop_after_first_chunk(monkeypatch) -> None:
    """The next run stops with a full disk when it writes its second chunk, keeping the first for --resume."""
    import service.spool

    written = service.spool.Spool.write_chunk

    def full_disk(self, part, chunk, *args, **kwargs):
        if chunk == 1:
            monkeypatch.setattr(service.spool.Spool, "write_chunk", written)
            raise OSError(errno.ENOSPC, "No space left on device")
        written(self, part, chunk, *args, **kwargs)

    monkeypatch.setattr(service.spool.Spool, "write_chunk", full_disk)


def test_a_run_stopped_with_a_site_policy_resumes_only_with_it(tmp_path, run, site_policy, scorer, monkeypatch):
    path, threshold = site_policy
    source = write_comments(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    stop_after_first_chunk(monkeypatch)
    assert run(source, "-o", out, "--chunk-size", 2, "--policy", path).exit_code == 2
    assert spool_path(out).exists()

    without = run(source, "-o", out, "--chunk-size", 2, "--resume")
    # Before: no --policy to start with; a policy change would have resumed into a table of mixed decisions.
    assert without.exit_code == 2
    line = one_error_line(without)
    assert "cannot resume" in line and "--policy (or $MODERATION_POLICY) was a file of SHA-256 " in line, line
    assert "now the bundle's policy.toml" in line, line
    other = tmp_path / "other-policy.toml"
    other.write_text(lowered_review(scorer.policy, 0.0).to_toml(), encoding="utf-8")
    refused = run(source, "-o", out, "--chunk-size", 2, "--resume", env={"MODERATION_POLICY": str(other)})
    assert refused.exit_code == 2 and "--policy (or $MODERATION_POLICY) was a file of SHA-256" in one_error_line(refused)
    assert not out.exists()

    moved = tmp_path / "moved" / "site.toml"  # the same file elsewhere: the same policy
    moved.parent.mkdir()
    shutil.copy(path, moved)
    resumed = run(source, "-o", out, "--chunk-size", 2, "--resume", "--policy", moved)
    assert resumed.exit_code == 0, resumed.output
    assert run(source, "-o", tmp_path / "straight.csv", "--chunk-size", 2, "--policy", path).exit_code == 0
    assert out.read_bytes() == (tmp_path / "straight.csv").read_bytes()
    assert decisions_of(out) == expected_site_decisions()


def test_a_complete_run_is_not_up_to_date_for_another_policy(tmp_path, run, site_policy):
    path, _ = site_policy
    source = write_comments(tmp_path / "in.csv")
    assert run(source, "-o", tmp_path / "out.csv").exit_code == 0
    result = run(source, "-o", tmp_path / "out.csv", "--resume", "--policy", path)
    assert result.exit_code == 2
    assert "--policy (or $MODERATION_POLICY) was the bundle's policy.toml, now a file of SHA-256" in one_error_line(result)
    assert decisions_of(tmp_path / "out.csv") == [APPROVE] * len(COMMENTS)


def test_the_bundles_own_policy_is_not_recorded_so_earlier_runs_resume(tmp_path, tiny_bundle_path, site_policy):
    from service.archive import Job, chosen_policy, run_settings

    path, threshold = site_policy
    source = write_comments(tmp_path / "in.csv")
    job = Job(inputs=(source,), outputs=(tmp_path / "out.csv",), output=tmp_path / "out.csv")
    assert "policy" not in run_settings(job, {}, "local")
    copy = tmp_path / "copy.toml"
    shutil.copy(tiny_bundle_path / POLICY_FILE, copy)
    assert chosen_policy(tiny_bundle_path, None) == (None, None)
    assert chosen_policy(tiny_bundle_path, copy) == (None, None)  # the bundle's, whichever file names it
    policy, digest = chosen_policy(tiny_bundle_path, path)
    assert policy is not None and policy.review[TOXICITY] == threshold
    assert run_settings(job, {}, "local", digest)["policy"] == digest and len(digest) == 64


# A policy file that cannot be used


BAD_POLICIES = {
    "missing": (None, "policy file {path} not found"),
    "not TOML": ("[review\ntoxicity = 0.5\n", "policy file {path} is not valid TOML"),
    "review above reject": ("[reject]\ntoxicity = 0.5\n[review]\ntoxicity = 0.9\n",
                            "policy file {path}: [review] toxicity = 0.9 is above [reject] toxicity = 0.5"),
    "not a probability": ("[reject]\n[review]\ntoxicity = 50\n",
                          "policy file {path}: [review] toxicity must be a probability in [0, 1], got 50"),
    "a folder": ("folder", "policy file {path} cannot be read (Is a directory)"),
}


@pytest.mark.parametrize("surface", ["text", "archive"])
@pytest.mark.parametrize("bad", sorted(BAD_POLICIES))
def test_a_policy_file_that_cannot_be_used_is_one_error_line_and_exit_2(tmp_path, run, bad, surface):
    content, message = BAD_POLICIES[bad]
    path = tmp_path / "policy.toml"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    args = ["--text", COMMENTS[0]] if surface == "text" else [write_comments(tmp_path / "in.csv"), "-o", out]
    result = run(*args, "--policy", path)
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith(f"Error: {message.format(path=path)}"), result.stderr
    assert result.stdout == "" and not out.exists() and not spool_path(out).exists()
    by_environment = run(*args, env={"MODERATION_POLICY": str(path)})
    assert by_environment.exit_code == 2 and message.format(path=path) in one_error_line(by_environment)


def test_the_servers_settings_file_gives_score_its_bundle_and_policy_unless_an_option_does(tmp_path, run, site_policy,
                                                                                           tiny_bundle_path):
    """``moderate score`` read the ``MODERATION_CONFIG`` file for its chunk size only: beside a server whose file names
    a bundle and a policy it scored the archive with the committed bundle and its own policy (a cross-surface audit:
    5 of 31 comments rejected by the server, sent to review by the command)."""
    path, _ = site_policy
    settings = tmp_path / "moderation.toml"
    settings.write_text(f'model = "{tiny_bundle_path}"\npolicy = "{path}"\n', encoding="utf-8")
    env = {"MODERATION_MODEL": None, "MODERATION_CONFIG": str(settings)}
    from_file = run("--text", COMMENTS[0], env=env)
    assert from_file.exit_code == 0, from_file.output
    answer = json.loads(from_file.stdout)
    assert answer["decision"] == REVIEW and answer["model_version"] == json.loads(
        (tiny_bundle_path / "manifest.json").read_text())["model_version"]
    own = run("--text", COMMENTS[0], "--policy", tiny_bundle_path / POLICY_FILE, env=env)
    assert json.loads(own.stdout)["decision"] == APPROVE  # an option wins over the file
    broken = tmp_path / "broken.toml"
    broken.write_text('encoder_mode = "fast"\n', encoding="utf-8")
    refused = run("--text", COMMENTS[0], env={**env, "MODERATION_CONFIG": str(broken)})
    assert refused.exit_code == 2 and "encoder_mode" in one_error_line(refused).lower()


def test_the_settings_files_encoder_mode_is_a_default_a_bundle_without_an_encoder_ignores(tmp_path, run, tiny_bundle_path):
    """As the server takes ``ENCODER_MODE``: a settings file saying ``encoder_mode = "cascade"`` stopped `moderate score
    --model 1.2.0` (a TF-IDF bundle) with "this bundle has no encoder" (found in review)."""
    settings = tmp_path / "moderation.toml"
    settings.write_text('encoder_mode = "cascade"\n', encoding="utf-8")
    result = run("--text", COMMENTS[0], env={"MODERATION_CONFIG": str(settings)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == APPROVE
    forced = run("--text", COMMENTS[0], "--encoder-mode", "cascade", env={"MODERATION_CONFIG": str(settings)})
    assert forced.exit_code == 2 and "no encoder" in one_error_line(forced)  # an option is not a default
