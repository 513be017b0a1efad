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
# **Takes** about a minute on two cores. **Needs** the public data folder (`data_dir`). **Writes** nothing but its
# executed copy; it trains nothing. **Run** it with `make notebooks` (all notebooks, in order) or alone:
# `.venv/bin/python -m model.evaluation.notebook_runner 01_data --data-dir ../shared/data` (executed copy in
# `reports/notebooks/01_data.ipynb`; `-p NAME=VALUE` overrides a parameter below). A data folder that is not
# there is refused with a message naming it.

# %% tags=["parameters"]
data_dir = None  # the public data folder (holds hostility/ and claims/); None: $MODERATION_DATA_DIR or ../shared/data
near_duplicate_rows = 2000  # evaluation rows per set checked for near-duplicates (a random sample of larger sets)
near_duplicate_similarity = 0.9  # TF-IDF cosine similarity from which two different texts count as near-duplicates
examples_per_label = 2  # example rows shown per set and label
seed = 0  # picks the near-duplicate sample and the example rows

# %%
# %matplotlib inline
import pandas as pd
from IPython.display import display

from model.evaluation import data_overview
from model.training.data import resolve_data_dir

pd.set_option("display.max_colwidth", 200)
print("data directory:", resolve_data_dir(data_dir))
sets = data_overview.load_sets(data_dir)

# %% [markdown]
# ## Sizes and label balance
#
# Training sets are split by source; the label shown is `toxicity` for hostility training rows and
# `checkable` for claim training rows, each evaluation set's own label otherwise. `positive_share` is a fraction
# of the set's rows, `median_chars` a length in characters.

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
# in a test or validation set, so a pair of a training source and an evaluation set should not appear (the
# line printed below counts them); two training sources, or two evaluation sets, may share texts.

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
# expected; a large `share` (near-duplicates among the rows checked) makes that set's metrics optimistic.

# %%
near = data_overview.near_duplicates(sets, similarity=near_duplicate_similarity, max_rows=near_duplicate_rows, seed=seed)
print(f"{len(near)} near-duplicates (similarity >= {near_duplicate_similarity})")
per_set = near.groupby("set").size().rename("near_duplicates").to_frame()
per_set["rows_checked"] = [min(len(sets[name]), near_duplicate_rows) for name in per_set.index]
per_set["share"] = per_set["near_duplicates"] / per_set["rows_checked"]
per_set

# %%
near.head(20)

# %% [markdown]
# ## Example rows
#
# **Content warning:** the rows below are real comments from the public datasets, picked at random.
# Hostile ones contain insults, slurs, threats and profanity.

# %%
with pd.option_context("display.max_rows", None):  # every example, not the first and last five
    display(data_overview.examples(sets, n=examples_per_label, seed=seed))
