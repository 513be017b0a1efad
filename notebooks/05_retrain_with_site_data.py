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
# # 05 · Retrain with the site's own comments
#
# Take the site's labelled comments (a CSV, or `moderate feedback export` output), keep part of them
# aside, retrain on the public data plus the rest, and compare the old and new bundles on the held-out
# site rows and on the public validation sets. The new bundle is written to `bundles/` only when it is no
# worse (`model.evaluation.compare.no_worse`); it is served after `moderate models use <version>`. The public
# test splits play no part in that choice, so `moderate eval` of the new bundle still measures it on unseen data.
#
# Without `site_data`, a public set of news and forum comments stands in (`model.training.site_data.STAND_IN_SET`).
# It is a public validation set, whose texts choose C and the thresholds and are never trained on: with it the
# notebook shows every step, but the retrained bundle learns from no site comment, so nothing is published.
#
# **Takes** about 4 to 7 minutes on two cores with the stand-in's comments and a TF-IDF `old_bundle` such as 02's
# candidate (most of it retraining; longer for a bigger site file or the served encoder bundle, which scores slower).
# **Needs** the public data folder (`data_dir`: it retrains on it and compares on its validation sets), the bundle
# to compare with (by default `bundles/candidate`, which notebook 02 writes; `-p old_bundle=null` for the served
# one) and `site_data`, or else the stand-in. **Writes** the stand-in sample, the site rows it trains on
# (`site_train.csv`), those it holds out (`held_out.csv`: compare on them, choose 04's thresholds on them) and the
# scratch bundle to `work_dir`, and `bundles/<new_version>` (`bundles/candidate-site`, replaced on each run; keep it
# out of git) only when the new bundle is no worse. **Run** it with `make notebooks SITE_DATA=site.csv` or alone:
# `.venv/bin/python -m model.evaluation.notebook_runner 05_retrain_with_site_data --data-dir ../shared/data --site-data site.csv`
# (`-p NAME=VALUE` overrides a parameter below, e.g. `-p site_weight=10`).

# %% tags=["parameters"]
data_dir = None  # the public data folder (holds hostility/ and claims/); None: $MODERATION_DATA_DIR or ../shared/data
old_bundle = "candidate"  # the bundle to beat: a version under bundles/, a bundle folder, or None for bundles/CURRENT
site_data = None  # the site's labelled comments (.csv, .jsonl, .parquet; text and decision or attribute columns); None: a public stand-in
site_weight = 5.0  # sample weight of one site comment in training (public rows weigh 1 on average)
holdout_fraction = 0.3  # share of the site's distinct texts kept aside to judge old against new (a fraction, 0 to 1)
new_version = "candidate-site"  # the new bundle's version and folder name under bundles/ (replaced if there, never CURRENT)
bundles_root = None  # where the new bundle is published; None: $MODERATION_BUNDLES_DIR or bundles/
work_dir = "reports/notebooks/05_retrain"  # scratch folder: stand-in sample, site training rows, unjudged bundle
seed = 0  # picks which site comments are held out
drop_trained = False  # True: judge old against new without the held-out comments the old bundle was trained on

# %%
from pathlib import Path

import pandas as pd

from model import versions
from model.bundle import BundleError, resolve_bundle_path
from model.evaluation import compare
from model.training import site_data as site_module
from model.training.trained_texts import trained_rows, without_fingerprint
from model.training.data import DataError, load_validation_sets
from model.parallel import threads_per_process
from model.scoring import Scorer
from model.training.train import train_bundle

pd.set_option("display.max_colwidth", 200)
work = Path(work_dir)
work.mkdir(parents=True, exist_ok=True)
site_path = site_data or site_module.write_stand_in_site_data(work / "site_stand_in.csv", data_dir)
site = site_module.read_site_data(site_path)
site_train, site_held_out = site_module.split_site(site, holdout_fraction, seed=seed)
train_path, held_out_path = work / "site_train.csv", work / "held_out.csv"
# Only the label columns the site gave: the manifest's label_columns then says what the site labelled. The held-out
# part is written too, for `moderate compare` and notebook 04: comments this notebook's bundle never trained on.
site_train[["text", "decision", *site.attrs["label_columns"]]].to_csv(train_path, index=False)
site_held_out[["text", "decision", *site.attrs["label_columns"]]].to_csv(held_out_path, index=False)
print(f"{site.attrs['n_read']} rows read from {site_path}; left out: {site.attrs['n_superseded']} earlier feedback on a "
      f"comment given again (the last kept), {site.attrs['n_without_text']} without text, "
      f"{site.attrs['n_without_label']} without a decision or label{site_module.unread_label_count(site.attrs)}")
print(f"{len(site)} site comments: {len(site_train)} to train on ({train_path}), {len(site_held_out)} held out ({held_out_path})")

# %% [markdown]
# ## Retrain
#
# Written to a scratch folder first (replaced on each run). The manifest records what it was trained on: the SHA-256
# and row counts of `work_dir/site_train.csv` (the site rows not held out), which of those rows training left out
# and why (the line printed below), under `split_from` the site's own file (name, SHA-256, rows held out, seed), and
# under `trained_texts` a fingerprint of the texts trained on (`model.training.trained_texts`): `moderate compare` and
# notebooks 04 and 05 count the comments of any later file that the bundle trained on.

# %%
old = Scorer.load(old_bundle, encoder_threads=threads_per_process())  # an encoder on every core
# A site bundle's manifest names the texts it trained on: an old bundle trained on an earlier export, which this file
# holds, has seen some held-out comments though its file's SHA-256 differs. An older one records only that SHA-256.
old_seen = trained_rows(old.bundle.manifest, site_held_out["text"].tolist())
if old_seen is not None and old_seen.any():
    print(f"Warning: the old bundle {old.model_version} was trained on {old_seen.sum()} of the {len(site_held_out)} "
          "held-out comments (the same text): the comparison below favours it on them. "
          + ("They are left out of it (drop_trained)." if drop_trained else
             "Set drop_trained=True to judge without them, or compare with a bundle not trained on them (old_bundle)."))
elif site_module.saw_held_out_rows(old.bundle.manifest, site.attrs["sha256"], holdout_fraction, seed):
    print(f"Warning: the old bundle {old.model_version} was trained on {site_path} (whole, or another split of it), so it "
          "has seen comments held out here: the comparison below favours it. Compare with a bundle that was not "
          "trained on this file (old_bundle), or give the seed and holdout_fraction it was split with")
scratch = train_bundle(data_dir, out_dir=work / "bundle", version=new_version, site_data=train_path,
                       site_weight=site_weight, progress=False, overwrite=True,
                       site_split_from=site_module.split_origin(site, site_held_out, holdout_fraction, seed))
new = Scorer.load(scratch)
print(site_module.describe_site_manifest(new.bundle.manifest["site_data"]))
without_fingerprint(new.bundle.manifest)["site_data"]  # the texts' fingerprint (kilobytes of base64) left out

# %% [markdown]
# ## Old against new on the site's held-out comments

# %%
judged = site_held_out[~old_seen].reset_index(drop=True) if drop_trained and old_seen is not None else site_held_out
if judged.empty:  # no_worse would find nothing worse on no comment, and publish
    raise DataError(f"the old bundle {old.model_version} was trained on every held-out comment: compare with a bundle "
                    "not trained on them (old_bundle), or hold out another share (seed, holdout_fraction)")
held_out = compare.compare_bundles(old, new, judged["text"].tolist(), judged)
held_out.metrics

# %% [markdown]
# **Content warning:** the comments whose decision changes, as the site's editors would see them.

# %%
held_out.changed

# %% [markdown]
# ## Old against new on the public validation sets (toxicity)
#
# Validation sets, not test splits: this comparison decides whether the bundle is published. The stand-in's own
# set is left out when it stands in: its comments are the site's here, judged above.

# %%
validation = load_validation_sets(data_dir)
if site_data is None:
    validation.pop(site_module.STAND_IN_SET)
public = compare.compare_on_sets(old, new, validation)
public

# %% [markdown]
# ## Publish only when no worse
#
# And only when it learnt from at least one site comment: otherwise it is the public recipe under a site's name.

# %%
ok, reasons = compare.no_worse(held_out.metrics, public)
print("\n".join(reasons))
if not new.bundle.manifest["site_data"]["rows_used"]:
    print("no site comment was trained on (see the line under Retrain): no bundle written"
          + ("; the stand-in is a public validation set: give your own comments with --site-data" if site_data is None else ""))
elif ok:
    published = versions.publish_bundle(scratch, new_version, bundles_root, replace=True)
    try:
        served = resolve_bundle_path(None).resolve()
    except BundleError:  # no bundles/CURRENT where bundles are kept
        served = None
    if old.bundle.path.resolve() == served:
        print(f"no worse: wrote {published}; serve it with `moderate models use {new_version}`")
    else:  # 02's TF-IDF candidate by default: beating it says nothing about the served (encoder) bundle
        print(f"no worse: wrote {published}; it was compared with {old.bundle.path} ({old.model_version}), not with the "
              f"served bundle{'' if served is None else f' {served.name}'}: compare them first (`moderate compare "
              f"{'CURRENT' if served is None else served.name} {new_version} --data {work / 'held_out.csv'}`, or run "
              f"this notebook again with -p old_bundle=null) before `moderate models use {new_version}`")
else:
    print("worse on at least one check: no bundle written")
