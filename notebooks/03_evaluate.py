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
# # 03 · Evaluate
#
# The `moderate eval` report (`model.evaluation.report`): every public test set, ROC, precision-recall and
# reliability curves, side by side with alt-profanity-check and the Perspective API scores that ship
# with the CAT data; then the confusion of the policy's decisions and the errors worth reading.
# The official test splits are only measured here: nothing in this notebook is fitted or chosen on them.
#
# **Takes** about 2 minutes on two cores for a TF-IDF bundle such as 02's candidate, about 10 minutes for the served
# encoder bundle. **Needs** the public data folder (`data_dir`) and a bundle: by default `bundles/candidate`, which
# notebook 02 writes (run 02 first, or pass `-p bundle=null` for the served one). **Writes** the report
# (`eval.md`, `eval.json`, `plots/`) to `out_dir`. **Run** it with `make notebooks` or alone:
# `.venv/bin/python -m model.evaluation.notebook_runner 03_evaluate --data-dir ../shared/data -p bundle=null`.

# %% tags=["parameters"]
data_dir = None  # the public data folder (holds hostility/ and claims/); None: $MODERATION_DATA_DIR or ../shared/data
bundle = "candidate"  # a version under bundles/, a bundle folder, or None for bundles/CURRENT (the served one)
out_dir = "reports/notebooks/03_evaluate"  # the report's folder (a relative path starts at the project folder)
errors_per_set = 5  # rows of each kind of error shown per test set

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from model.evaluation import errors
from model.training.data import load_test_sets
from model.evaluation.report import write_eval_report
from model.parallel import threads_per_process
from model.scoring import Scorer

pd.set_option("display.max_colwidth", 200)
scorer = Scorer.load(bundle, encoder_threads=threads_per_process())  # an encoder on every core
print("bundle", scorer.bundle.path, "version", scorer.model_version)
report_path = write_eval_report(model_path=scorer.bundle.path, data_dir=data_dir, out_dir=out_dir, scorer=scorer)
report = json.loads((Path(out_dir) / "eval.json").read_text())

# %% [markdown]
# ## Targets and metrics
#
# One row per target of the report (test splits of both tasks and the bias sets): `value` is what this bundle
# reaches, `met` whether it reaches `target`, `margin` how far beyond (positive) or short of it (negative);
# `at_most` marks a ceiling rather than a floor. Then each hostility test set's ROC AUC and average precision
# (`pr_auc`; higher is better) and Brier score (lower is better) for ours, the baselines and ours without the
# alt-profanity-check prior (an ablation).

# %%
pd.DataFrame(report["targets"])

# %%
rows = []
for name, result in report["sets"].items():
    rows.append({"set": name, "scorer": "ours: toxicity", **result["attributes"]["toxicity"]})
    rows += [{"set": name, "scorer": baseline, **metrics} for baseline, metrics in result["baselines"].items()]
pd.DataFrame(rows).set_index(["set", "scorer"])

# %% [markdown]
# ## Attributes on their own labels
#
# Each attribute scored on data that labels it (toxic-spans types, HateXplain, ConvAbuse, OLID, ETHOS violence):
# its ROC AUC beside toxicity's on the same label, and the share of labelled comments the policy flags on it.

# %%
attributes_section = report["attributes_own_labels"]
if attributes_section.get("plot"):
    display(Image(filename=str(Path(out_dir) / attributes_section["plot"])))
else:
    print("no set that labels single attributes was found:", attributes_section["skipped"])
pd.DataFrame(attributes_section["rows"])

# %% [markdown]
# ## Curves: ours against the baselines
#
# ROC and precision-recall: the higher the curve, the better the ranking; reliability: the closer to the
# diagonal, the more a score can be read as a probability.

# %%
for name, result in report["sets"].items():
    display(Markdown(f"### {name}\n{result['description']}"))
    display(Image(filename=str(Path(out_dir) / result["plots"]["curves"])))

# %% [markdown]
# ## Confusion at the policy's thresholds
#
# Rows: the set's label (1 = hostile). Columns: what the policy decides with this bundle's thresholds.

# %%
test_sets = load_test_sets(data_dir)
decided = {name: errors.scored_decisions(scorer, frame) for name, frame in test_sets.items()}
pd.concat({name: errors.confusion(frame) for name, frame in decided.items()}, names=["set"])

# %% [markdown]
# ## Errors worth reading
#
# **Content warning:** real comments, some hostile. `missed`: hostile comments approved with the lowest
# scores; `false_alarms`: comments the set calls not hostile that were rejected or sent to review.

# %%
for name, frame in decided.items():
    for kind, rows in errors.errors_worth_reading(frame, errors_per_set).items():
        display(Markdown(f"**{name}: {kind}**"))
        display(rows)
