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
# # 02 · Train
#
# Choose the regularisation `C` of the toxicity head and of the checkable-claim head on validation data
# (never a test split), then train every head with the chosen values and write a bundle.
# The bundle goes to `bundles/<version>`; it is not served until `moderate models use <version>`.
#
# **Takes** about 10 minutes on two cores with every public set (9 minutes in one run; `selection_rows` makes the
# `C` grid quicker).
# **Needs** the public data folder (`data_dir`). **Writes** `bundles/<version>` (`bundles/candidate` by
# default, which notebooks 03, 04 and 05 read; each run replaces it; keep it out of git). **Run** it with
# `make notebooks` or alone: `.venv/bin/python -m model.evaluation.notebook_runner 02_train --data-dir ../shared/data`
# (`-p NAME=VALUE` overrides a parameter below, e.g. `-p 'c_grid=[0.5, 1.0]'`).

# %% tags=["parameters"]
data_dir = None  # the public data folder (holds hostility/ and claims/); None: $MODERATION_DATA_DIR or ../shared/data
version = "candidate"  # the new bundle's version and folder name under bundles/
bundles_root = None  # None: $MODERATION_BUNDLES_DIR or bundles/
c_grid = [0.25, 0.5, 1.0, 2.0]  # values of C (inverse regularisation strength: larger fits closer) tried for both heads
selection_rows = None  # fit the grid on a random sample of this many training rows (None: all); the bundle uses all
seed = 20261231  # every split, sample and estimator (the seed `make train` uses)
added_sets = True  # also fit on HateXplain, ConvAbuse, the identity sentences and swaps, as `make train` (1.3.0 on)

# %%
# %matplotlib inline
from pathlib import Path

import pandas as pd

from model.evaluation import plots
from model.training import added_sets as added, claims_data, data, selection
from model.bundle import bundles_dir, load_bundle
from model.training.train import train_bundle

training = data.load_training_data(data_dir)
validation = data.load_validation_sets(data_dir)
claim_training = claims_data.load_claim_training_data(data_dir)
claim_validation = claims_data.load_claim_validation_sets(data_dir)
# The heads are fitted on the public training rows plus, with `added_sets`, the added sets and identity swaps
# (`model.training.added_sets`; never a text of a test split or validation set): C is chosen on the same rows.
fit_rows = added.extend_heads_rows(training, training.iloc[:0], data_dir, seed) if added_sets else training
print(f"hostility: {len(training)} training rows, {len(fit_rows) - len(training)} added, {len(validation)} validation sets")
print(f"claims: {len(claim_training)} training sentences, {len(claim_validation)} validation sets")

# %% [markdown]
# ## Model selection: toxicity head
#
# ROC AUC on each validation set for every `C` (features fitted once, the head refitted per `C`) when fitted on
# the rows the bundle is fitted on; the `C` with the highest `mean` (validation sets weigh equally) is chosen, the
# smaller one on a tie.

# %%
hostility_grid = selection.select_hostility_C(fit_rows, validation, c_grid, seed=seed, max_rows=selection_rows)
C = selection.best_C(hostility_grid)
print("chosen C:", C)
hostility_grid

# %%
plots.plot_c_grid(hostility_grid, C, "toxicity head: validation ROC AUC for each C")

# %% [markdown]
# ## Model selection: checkable-claim head
#
# The same for the checkable-claim head, measured as the unsupported-claim score it feeds.

# %%
claims_grid = selection.select_claims_C(claim_training, claim_validation, c_grid, seed=seed, max_rows=selection_rows)
claims_C = selection.best_C(claims_grid)
print("chosen claims C:", claims_C)
claims_grid

# %%
plots.plot_c_grid(claims_grid, claims_C, "checkable-claim head: validation ROC AUC for each C")

# %% [markdown]
# ## Train and write the bundle
#
# Every hostility head, the word span tagger and both claim heads, with the policy's thresholds chosen
# on held-out and validation data; test metrics (ROC AUC on each official test split) are added to the manifest
# for reporting only. The last table is the policy: a comment is rejected when a score reaches its `reject`
# threshold, else sent to review when one reaches its `review` threshold (NaN: no threshold of that kind).

# %%
out = Path(bundles_root or bundles_dir()) / version
# overwrite: running the notebook again replaces its own candidate (never the served bundle, which is refused)
bundle_dir = train_bundle(data_dir, out_dir=out, seed=seed, version=version, C=C, claims_C=claims_C, progress=False,
                          overwrite=True, added_sets=added_sets)
bundle = load_bundle(bundle_dir)
print("wrote", bundle_dir)
pd.DataFrame(bundle.manifest["test_metrics"]).T

# %%
pd.DataFrame({"review": pd.Series(bundle.policy.review), "reject": pd.Series(bundle.policy.reject)})
