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

# %% tags=["parameters"]
data_dir = None  # None: $MODERATION_DATA_DIR or ../shared/data
old_bundle = "candidate"  # a version under bundles/, a bundle folder, or None for bundles/CURRENT
site_data = None  # the site's labelled comments; None: a public stand-in
site_weight = 5.0  # weight of one site comment (public rows weigh 1 on average)
holdout_fraction = 0.3
new_version = "candidate-site"
bundles_root = None  # None: $MODERATION_BUNDLES_DIR or bundles/
work_dir = "reports/notebooks/05_retrain"
seed = 0

# %%
from pathlib import Path

import pandas as pd

from model import versions
from model.evaluation import compare
from model.training import site_data as site_module
from model.attributes import HOSTILITY_ATTRIBUTES
from model.training.data import load_validation_sets
from model.scoring import Scorer
from model.training.train import train_bundle

pd.set_option("display.max_colwidth", 200)
work = Path(work_dir)
work.mkdir(parents=True, exist_ok=True)
site_path = site_data or site_module.write_stand_in_site_data(work / "site_stand_in.csv", data_dir)
site = site_module.read_site_data(site_path)
site_train, site_held_out = site_module.split_site(site, holdout_fraction, seed=seed)
train_path = work / "site_train.csv"
site_train[["text", "decision", *HOSTILITY_ATTRIBUTES]].to_csv(train_path, index=False)
print(f"{len(site)} site comments: {len(site_train)} to train on, {len(site_held_out)} held out")

# %% [markdown]
# ## Retrain
#
# Written to a scratch folder first; the manifest records the site file's SHA-256 and row counts.

# %%
old = Scorer.load(old_bundle)
scratch = train_bundle(data_dir, out_dir=work / "bundle", version=new_version, site_data=train_path,
                       site_weight=site_weight, progress=False)
new = Scorer.load(scratch)
new.bundle.manifest["site_data"]

# %% [markdown]
# ## Old against new on the site's held-out comments

# %%
held_out = compare.compare_bundles(old, new, site_held_out["text"].tolist(), site_held_out)
held_out.metrics

# %% [markdown]
# **Content warning:** the comments whose decision changes, as the site's editors would see them.

# %%
held_out.changed

# %% [markdown]
# ## Old against new on the public validation sets (toxicity)
#
# Validation sets, not test splits: this comparison decides whether the bundle is published. The stand-in's own
# set is left out when it stands in, since part of it was just trained on.

# %%
validation = load_validation_sets(data_dir)
if site_data is None:
    validation.pop(site_module.STAND_IN_SET)
public = compare.compare_on_sets(old, new, validation)
public

# %% [markdown]
# ## Publish only when no worse

# %%
ok, reasons = compare.no_worse(held_out.metrics, public)
print("\n".join(reasons))
if ok:
    published = versions.publish_bundle(scratch, new_version, bundles_root, replace=True)
    print(f"no worse: wrote {published}; serve it with `moderate models use {new_version}`")
else:
    print("worse on at least one check: no bundle written")
