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
# # 01 · The data
#
# Every training, validation and test set of both tasks (hostility and unsupported claims): sizes,
# label balance, texts shared between sets, near-duplicates of evaluation texts in the training rows,
# and a few example rows. All logic is in `model.evaluation.data_overview`; this notebook only calls it.
#
# Run in full with `make notebooks`; the tests run it on a tiny generated data directory.

# %% tags=["parameters"]
data_dir = None  # None: $MODERATION_DATA_DIR or ../shared/data
near_duplicate_rows = 2000  # evaluation rows per set checked for near-duplicates
near_duplicate_similarity = 0.9
examples_per_label = 2
seed = 0

# %%
# %matplotlib inline
import pandas as pd

from model.evaluation import data_overview
from model.training.data import resolve_data_dir

pd.set_option("display.max_colwidth", 200)
print("data directory:", resolve_data_dir(data_dir))
sets = data_overview.load_sets(data_dir)

# %% [markdown]
# ## Sizes and label balance
#
# Training sets are split by source; the label shown is `toxicity` for hostility training rows and
# `checkable` for claim training rows, each evaluation set's own label otherwise.

# %%
summary = data_overview.summary(sets)
summary

# %%
data_overview.plot_sizes(summary)

# %%
data_overview.plot_lengths(sets)

# %% [markdown]
# ## Texts shared between sets
#
# Exact matches after case folding and collapsing spaces. The loaders already drop training rows found
# in a test or validation set, so a pair of a training source and an evaluation set should not appear;
# two training sources, or a validation and a test set, may share texts.

# %%
overlap = data_overview.exact_overlap(sets)
leaks = overlap[overlap["set_a"].str.contains("/train/") & ~overlap["set_b"].str.contains("/train/")]
print(f"{len(overlap)} pairs share texts; {len(leaks)} of them pair training rows with an evaluation set")
overlap

# %% [markdown]
# ## Near-duplicates
#
# Evaluation texts whose nearest training text (word 1-2-gram TF-IDF cosine) is nearly the same without
# being identical: retweets with another handle, a comment quoted with one word changed. A few are
# expected; many would make test metrics optimistic.

# %%
near = data_overview.near_duplicates(sets, similarity=near_duplicate_similarity, max_rows=near_duplicate_rows, seed=seed)
print(f"{len(near)} near-duplicates (similarity >= {near_duplicate_similarity})")
near.groupby("set").size().rename("near_duplicates").to_frame() if len(near) else near

# %%
near.head(20)

# %% [markdown]
# ## Example rows
#
# **Content warning:** the rows below are real comments from the public datasets, picked at random.
# Hostile ones contain insults, slurs, threats and profanity.

# %%
data_overview.examples(sets, n=examples_per_label, seed=seed)
