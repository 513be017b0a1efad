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

# %% tags=["parameters"]
data_dir = None  # None: $MODERATION_DATA_DIR or ../shared/data
version = "candidate"  # the new bundle's version and folder name under bundles/
bundles_root = None  # None: $MODERATION_BUNDLES_DIR or bundles/
c_grid = [0.25, 0.5, 1.0, 2.0]
selection_rows = None  # fit the grid on a sample of this many rows (None: all)
seed = 20261231

# %%
# %matplotlib inline
from pathlib import Path

import pandas as pd

from model.training import claims_data, data, selection
from model.bundle import bundles_dir, load_bundle
from model.training.train import train_bundle

training = data.load_training_data(data_dir)
validation = data.load_validation_sets(data_dir)
claim_training = claims_data.load_claim_training_data(data_dir)
claim_validation = claims_data.load_claim_validation_sets(data_dir)
print(f"hostility: {len(training)} training rows, {len(validation)} validation sets")
print(f"claims: {len(claim_training)} training sentences, {len(claim_validation)} validation sets")

# %% [markdown]
# ## Model selection: toxicity head
#
# ROC AUC on each validation set for every `C` (features fitted once, the head refitted per `C`).

# %%
hostility_grid = selection.select_hostility_C(training, validation, c_grid, seed=seed, max_rows=selection_rows)
C = selection.best_C(hostility_grid)
print("chosen C:", C)
hostility_grid

# %%
hostility_grid.plot(y="mean", logx=True, marker="o", title="toxicity head: mean validation ROC AUC", ylabel="ROC AUC");

# %% [markdown]
# ## Model selection: checkable-claim head

# %%
claims_grid = selection.select_claims_C(claim_training, claim_validation, c_grid, seed=seed, max_rows=selection_rows)
claims_C = selection.best_C(claims_grid)
print("chosen claims C:", claims_C)
claims_grid

# %% [markdown]
# ## Train and write the bundle
#
# Every hostility head, the word span tagger and both claim heads, with the policy's thresholds chosen
# on held-out and validation data; test metrics are added to the manifest for reporting only.

# %%
out = Path(bundles_root or bundles_dir()) / version
# overwrite: running the notebook again replaces its own candidate (never the served bundle, unless named so)
bundle_dir = train_bundle(data_dir, out_dir=out, seed=seed, version=version, C=C, claims_C=claims_C, progress=False,
                          overwrite=True)
bundle = load_bundle(bundle_dir)
print("wrote", bundle_dir)
pd.DataFrame(bundle.manifest["test_metrics"]).T

# %%
pd.DataFrame({"review": pd.Series(bundle.policy.review), "reject": pd.Series(bundle.policy.reject)})
