"""A second opinion on toxicity: alt-profanity-check's model, copied into our bundle and blended with ours.

alt-profanity-check (MIT licence) ships a word TF-IDF + linear SVM trained on about 200k labelled
comments and tweets that we cannot train on ourselves (Davidson et al. 2017 and the Jigsaw/Wikipedia
toxic comments, CC0 with CC BY-SA text): another sample of the world than our training sets. Its
probability and ours, averaged in logit space with a weight chosen on validation data, rank hostile
comments better than either alone. ``make train`` copies the package's fitted vectorizer and model into
our bundle, so serving needs neither the package nor anything but scikit-learn, and the bundle's sha256
covers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata, resources

import joblib
import numpy as np
from scipy.special import expit, logit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from model.fast_transform import feature_blocks
from model.stacked_linear import stack_linear, stacked_proba

PACKAGE = "alt-profanity-check"
MODULE = "profanity_check"
LICENSE = "MIT"
TRAINED_ON = ("Davidson et al. 2017 tweets (MIT) and the Jigsaw Toxic Comment Classification Challenge "
              "Wikipedia comments (CC0, comment text CC BY-SA 3.0), as the package's README states")
_EPSILON = 1e-7


class PretrainedProfanityScore(BaseEstimator):
    """alt-profanity-check's fitted vectorizer and calibrated linear SVMs as one estimator.

    ``fit`` ignores its arguments and copies the installed package's fitted parts (it learns nothing
    from our data); ``predict_proba`` returns P(offensive) for each text, equal to the package's own
    ``predict_prob`` but without scikit-learn's per-call validation.
    """

    def fit(self, X=None, y=None):
        """Copy the fitted vectorizer and model from the installed ``alt-profanity-check``."""
        try:
            data = resources.files(MODULE) / "data"
        except ModuleNotFoundError:
            raise RuntimeError(f"{PACKAGE} is not installed: run `make install` (it is a pinned dependency)") from None
        self.vectorizer_ = joblib.load(data / "vectorizer.joblib")
        self.model_ = joblib.load(data / "model.joblib")
        self.version_ = metadata.version(PACKAGE)
        self.stacked_ = stack_linear(self.model_.calibrated_classifiers_)  # one column per fold's model
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(offensive) for each text, ``(n_texts,)``: the mean of the calibrated SVMs, as scikit-learn does."""
        check_is_fitted(self)
        return stacked_proba(self.stacked_, feature_blocks(self.vectorizer_, list(texts))).mean(axis=1)

    def provenance(self) -> dict:
        """What the manifest records about this part."""
        check_is_fitted(self)
        return {"package": PACKAGE, "version": self.version_, "license": LICENSE, "trained_on": TRAINED_ON}


def blend(ours: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """``expit((1 - weight) * logit(ours) + weight * logit(prior))``: a weighted mean in logit space."""
    ours = np.clip(np.asarray(ours, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    prior = np.clip(np.asarray(prior, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    return expit((1 - weight) * logit(ours) + weight * logit(prior))
