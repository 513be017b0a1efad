"""Cue baseline for unsupported claims: fixed, hand-set weights on regex cues; nothing is learned.

It exists so the evaluation report can show what the learned claim scorer adds over counting figures
and hedges. A sentence's log-odds is ``CUE_BIAS`` plus, for each cue of ``model.claims.CUE_PATTERNS``
named in ``CUE_WEIGHTS``, its weight times its count (capped at ``CUE_COUNT_CAP``); the logistic of that
is the sentence score, and a comment scores the maximum over its sentences, as the learned scorer does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.claims import cue_counts, split_sentences

CUE_WEIGHTS: dict[str, float] = {
    # Figures and dates: what a checkable claim usually carries.
    "number": 1.0,
    "percent": 1.0,
    "year": 0.5,
    "money": 1.0,
    # Hedges and weasel words raise the unsupported score (issue 4).
    "weasel": 1.5,
    # A cited source makes a claim supported: it outweighs the two or three figures a sourced sentence carries.
    "url": -5.0,
    "according_to": -5.0,
    "named_source": -1.5,
    # Opinion, first person, personal experience, proposals, judgements and questions are not claims.
    "opinion": -2.0,
    "first_person": -1.0,
    "experience": -1.5,
    "modal": -1.0,
    "evaluative": -0.5,
    "question": -2.0,
}
"""Log-odds per occurrence of each cue; set by hand once, never fitted or tuned on any split."""
CUE_BIAS = -0.5
"""Log-odds of a sentence with no cue: below even, so a bare statement is not flagged."""
CUE_COUNT_CAP = 2
"""Occurrences of one cue counted at most: a list of ten numbers is not ten times as checkable."""
CUE_FLAG_SCORE = 0.5
"""The baseline flags a comment whose score reaches this (net evidence for an unsupported claim)."""


def cue_sentence_scores(sentences: Sequence[str]) -> np.ndarray:
    """Cue-baseline score of each sentence, in (0, 1).

    Parameters
    ----------
    sentences : sequence of str
        Sentences (or any short texts), scored independently.

    Returns
    -------
    numpy.ndarray of shape (n_sentences,)
        ``1 / (1 + exp(-(CUE_BIAS + sum of weight x capped count)))``.
    """
    names = list(CUE_WEIGHTS)
    counts = np.minimum(cue_counts(list(sentences), names), CUE_COUNT_CAP)
    log_odds = CUE_BIAS + counts @ np.array([CUE_WEIGHTS[name] for name in names])
    return 1.0 / (1.0 + np.exp(-log_odds))


def cue_baseline_scores(comments: Sequence[str]) -> np.ndarray:
    """Cue-baseline unsupported-claim score of each comment: the maximum over its sentences.

    Parameters
    ----------
    comments : sequence of str
        Comments; blank ones score 0.0, as with the learned scorer.

    Returns
    -------
    numpy.ndarray of shape (n_comments,)
        Scores in [0, 1).
    """
    sentences, owners = [], []
    for i, comment in enumerate(comments):
        for begin, end in split_sentences(comment):
            sentences.append(comment[begin:end])
            owners.append(i)
    pooled = np.zeros(len(comments))
    if sentences:
        np.maximum.at(pooled, np.asarray(owners, dtype=int), cue_sentence_scores(sentences))
    return pooled
