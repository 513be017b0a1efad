# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Thresholds for a site
#
# Choose the policy's toxicity thresholds from a labelled sample of the site's own comments (a CSV with
# `text` and a `decision` approve/review/reject, or attribute columns). The trade-off an editor cares
# about: the share of all comments sent to a human against the share of hostile comments caught. The
# policy file written at the end is served with `MODERATION_POLICY=<file>`.
#
# Without `site_data`, a public set of news and forum comments stands in (`model.training.site_data.STAND_IN_SET`,
# a validation set, never a test split).
#
# **Takes** about a minute on two cores for the stand-in's comments (longer for a bigger sample). **Needs** a
# bundle (by default `bundles/candidate`, which notebook 02 writes; `-p bundle=null` for the served one) and
# `site_data`, or else the public data folder (`data_dir`) for the stand-in. **Starts from** the bundle's own
# policy, or from the site's policy file (`policy`) when it has one: then its other thresholds and its `[spans]`
# floor are kept, and only the toxicity thresholds are chosen again. **Writes** the policy file (`policy_out`) and,
# without `site_data`, the stand-in sample (`stand_in_out`). **Run** it with
# `make notebooks SITE_DATA=site.csv [POLICY=policy.toml]` or alone:
# `.venv/bin/python -m model.evaluation.notebook_runner 04_thresholds --site-data site.csv --policy policy.toml -p bundle=null`.

# %% tags=["parameters"]
data_dir = None  # the public data folder, read only for the stand-in sample; None: $MODERATION_DATA_DIR or ../shared/data
bundle = "candidate"  # a version under bundles/, a bundle folder, or None for bundles/CURRENT (the served one)
site_data = None  # the site's labelled sample (.csv, .jsonl, .parquet); None: a public stand-in
policy = None  # the site's policy file to start from (its other thresholds and span floor are kept); None: the bundle's
target_caught = 0.9  # share of hostile comments the policy should catch (a fraction, 0 to 1)
drop_trained = False  # True: leave out the comments the bundle was trained on (its manifest names them), else only warn
policy_out = "reports/notebooks/04_thresholds/policy.toml"  # the policy file written (relative: from the project folder)
stand_in_out = "reports/notebooks/site_stand_in.csv"  # where the stand-in sample is written when site_data is None

# %%
# %matplotlib inline
import math
from pathlib import Path

import pandas as pd

from model.training import site_thresholds
from model.parallel import threads_per_process
from model.policy import load_policy, span_floor_warnings
from model.scoring import Scorer
from model.training.data import DataError
from model.training.site_data import hostile_labels, read_site_data, trained_on_file, write_stand_in_site_data
from model.training.trained_texts import trained_rows

scorer = Scorer.load(bundle, policy, encoder_threads=threads_per_process())  # an encoder on every core
starting_policy = f"the site's policy {policy}" if policy else f"bundle {scorer.model_version}'s own policy"
span_floor = "the bundle's" if scorer.policy.span_floor is None else scorer.policy.span_floor
print(f"starting from {starting_policy}: review {scorer.policy.review}, reject {scorer.policy.reject}, "
      f"span floor {span_floor}")
site_path = site_data or write_stand_in_site_data(stand_in_out, data_dir)
site = read_site_data(site_path)
print(f"{site.attrs['n_read']} rows read from {site_path}; left out: {site.attrs['n_superseded']} earlier feedback on a "
      f"comment given again (the last kept), {site.attrs['n_without_text']} without text, "
      f"{site.attrs['n_without_label']} without a decision or label")
# A site bundle's manifest names the texts it trained on, so a later export holding them is caught too; an older one
# records only its site file's SHA-256 (notebook 05's bundle on its own site file).
seen = trained_rows(scorer.bundle.manifest, site["text"].tolist())
if seen is not None and seen.any():
    print(f"Warning: bundle {scorer.model_version} was trained on {seen.sum()} of these {len(site)} comments (the same "
          "text): thresholds chosen on them catch fewer new comments than they promise. "
          + ("They are left out (drop_trained)." if drop_trained else
             "Set drop_trained=True to leave them out, or choose on comments kept out of its training "
             "(notebook 05's held_out.csv)."))
    if drop_trained and seen.all():
        raise DataError(f"bundle {scorer.model_version} was trained on every comment of {site_path}: choose on comments "
                        "kept out of its training (notebook 05's held_out.csv)")
    if drop_trained:
        site = site[~seen].reset_index(drop=True)
elif trained_on_file(scorer.bundle.manifest, site.attrs["sha256"]):
    print(f"Warning: bundle {scorer.model_version} was trained on {site_path} (or on the part of it notebook 05 kept), so "
          "the thresholds below are chosen on comments it has seen and catch fewer new ones: choose them on comments "
          "kept out of its training (notebook 05's held_out.csv)")
print(f"{len(site)} labelled comments, {hostile_labels(site).sum()} hostile; bundle {scorer.model_version}")

# %%
texts = site["text"].tolist()
scores = site_thresholds.score_matrix(scorer, texts)
tradeoff = site_thresholds.review_tradeoff(scores, texts, site, scorer.policy)
review_threshold, chosen = site_thresholds.choose_review_threshold(tradeoff, target_caught)
print(f"toxicity review threshold {review_threshold:.2f} (the starting policy's: {scorer.policy.review.get('toxicity')})")
# With no threshold reaching the target, the one that catches most is chosen: say so, here and in the policy file.
short_of_target = "" if chosen["caught"] >= target_caught else (
    f" (short of the target {target_caught:.2f}: no toxicity threshold reaches it with this bundle; "
    "retrain with the site's comments, notebook 05)")
print(f"catches {chosen['caught']:.3f} of hostile comments{short_of_target}")
if math.isnan(chosen["false_flags"]):  # nothing to weigh the review queue against: the threshold only catches
    print("Warning: the sample has no comment the site approved (nor one labelled not toxic), so the review queue's "
          "cost cannot be measured: this threshold is the highest that catches the target, whatever it flags; add "
          "the site's approved comments to the sample before using it")
pd.Series(chosen)

# %% [markdown]
# ## The trade-off
#
# Each point is one toxicity review threshold, every other threshold as the starting policy has it: that is why even the
# highest toxicity threshold still flags some comments (for insults, threats, unsupported claims...). The shares
# are measured on the same comments the thresholds are chosen on, so they are a little optimistic; check them on
# comments kept out of `site_data`.

# %%
axis = tradeoff.plot(x="flagged_share", y="caught", marker=".", xlim=(0, 1), ylim=(0, 1.02), figsize=(7, 5),
                     label="one toxicity review threshold per point",
                     xlabel="share of all comments sent to review or rejected",
                     ylabel="share of hostile comments reviewed or rejected",
                     title=f"Review queue against hostile comments caught\n{len(site)} comments, bundle {scorer.model_version}")
axis.axhline(target_caught, color="grey", linestyle="--", label=f"target: catch {target_caught:.2f}")
axis.axvline(chosen["flagged_share"], color="grey", linestyle=":",
             label=f"chosen threshold {review_threshold:.2f}: flags {chosen['flagged_share']:.2f} of all")
axis.legend(loc="lower right");

# %%
tradeoff.iloc[::5]

# %% [markdown]
# ## Reject threshold and the policy file
#
# The reject threshold is the lowest one above which the site's editors rejected nearly everything they decided on
# (`site_thresholds.REJECT_PRECISION`), and with confidence (`REJECT_CONFIDENCE`: the lower bound of that share must
# reach it), which takes at least `site_thresholds.MIN_REJECT_EXAMPLES` comments above it, all rejected. A rejection
# removes a comment no one reads: with too few rejections, no threshold reaching the bound, or only attribute labels
# (a toxicity label says a comment is hostile, not that the editors remove it), the starting policy's stays, and the line
# below says why with the counts. The policy file keeps every other threshold of the starting policy (the site's
# `policy` file, else the bundle's) and its span floor, and says in its comments what the toxicity ones were chosen on.
# A span floor above one of its thresholds is warned about below, as the server will at start (README, *Decision policy*).

# %%
current_reject = scorer.policy.reject.get("toxicity")
reject_threshold, why = site_thresholds.choose_reject_threshold(scores, site, current_reject)
print(f"toxicity reject threshold {reject_threshold} (the starting policy's: {current_reject}): {why}")
chosen_policy = site_thresholds.site_policy(scorer.policy, review_threshold, reject_threshold, source=str(site_path))
if reject_threshold is not None and chosen_policy.reject.get("toxicity") != reject_threshold:
    print(f"written: toxicity reject threshold {chosen_policy.reject['toxicity']:.4g}, raised to the review threshold "
          "(a comment is never rejected below the score that sends it to review)")
Path(policy_out).parent.mkdir(parents=True, exist_ok=True)
Path(policy_out).write_text(chosen_policy.to_toml({
    "chosen on": f"{len(site)} labelled comments of {Path(site_path).name} with bundle {scorer.model_version}",
    "started from": starting_policy + " (every other threshold and the span floor are its)",
    "review.toxicity": f"catches {chosen['caught']:.3f} of hostile comments, flags {chosen['flagged_share']:.3f} of all{short_of_target}",
    "reject.toxicity": why,
}), encoding="utf-8")
print(Path(policy_out).read_text())
for warning in span_floor_warnings(load_policy(policy_out)):  # what the server will log at start with this file
    print(f"Warning: {warning}")
