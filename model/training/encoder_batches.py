"""The encoder's training batches and loss.

Word-piece ids (``tokenise``), a seeded batch order that pads little (``batch_order``), each row's loss weight
(``training_weights``), one batch's tensors (``collate``) and the weighted binary cross-entropy over the labelled
cells (``masked_loss``). The recipe that uses them is ``model.training.encoder`` (``train``).
"""

from __future__ import annotations

import numpy as np

from model.encoder import MAX_TOKENS, encode_pieces
from model.training.encoder_data import is_claim_unit

CLAIM_WEIGHT = 1.0
"""Factor on the claim units' source weights in the loss (``--claim-weight``)."""
LENGTH_POOL_BATCHES = 50
"""Batches drawn together and sorted by length, so a batch pads little while the order stays random."""


def tokenise(tokenizer, texts, max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Word-piece ids with [CLS]/[SEP], cut to ``max_tokens`` (the first window, as serving scores it)."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    encodings = encode_pieces(tokenizer, texts)
    return [[cls_id, *encoding.ids[: max_tokens - 2], sep_id] for encoding in encodings]


def batch_order(lengths: np.ndarray, batch_size: int, seed: int, epochs: int = 1,
                early: np.ndarray | None = None, early_until: float | None = None) -> list[np.ndarray]:
    """Seeded batches of row indices: shuffled, sorted by length within pools, the batches shuffled again.

    With ``epochs`` > 1 the passes follow each other, every one in its own order drawn from the same generator.
    With ``early`` (one bool per row) and ``early_until`` (a share of the pass), each pass puts every early row,
    mixed with as many others as fill it, in its first ``early_until`` share of rows; the rest has no early row.

    Raises ``ValueError`` when the early rows do not fit in that share.
    """
    rng = np.random.default_rng(seed)
    passes = []
    for _ in range(epochs):
        order = rng.permutation(len(lengths))
        if early is None or early_until is None:
            passes.extend(_pooled_batches(order, lengths, batch_size, rng))
            continue
        head_rows = int(round(early_until * len(order)))
        is_early = np.asarray(early, dtype=bool)[order]
        n_early = int(is_early.sum())
        if n_early > head_rows:
            raise ValueError(f"{n_early} early rows do not fit in the first {early_until:g} of a pass of {len(order)} "
                             f"rows: raise it to at least {n_early / len(order):.3f}")
        others = order[~is_early]
        head = np.concatenate([order[is_early], others[: head_rows - n_early]])
        passes.extend(_pooled_batches(head[rng.permutation(len(head))], lengths, batch_size, rng))
        passes.extend(_pooled_batches(others[head_rows - n_early :], lengths, batch_size, rng))
    return passes


def _pooled_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """``order`` cut in pools of ``LENGTH_POOL_BATCHES`` batches, each sorted by length and batched; batches shuffled."""
    pool = batch_size * LENGTH_POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def training_weights(fit, claim_weight: float = CLAIM_WEIGHT) -> np.ndarray:
    """Each row's loss weight: its ``weight``, times ``claim_weight`` for a claim unit (``is_claim_unit``)."""
    return fit["weight"].to_numpy(float) * np.where(is_claim_unit(fit), claim_weight, 1.0)


def collate(ids: list[list[int]], rows: np.ndarray, labels: np.ndarray, weights: np.ndarray):
    """Tensors for one batch: padded ids, mask, labels (NaN = not labelled) and row weights."""
    import torch

    width = max(len(ids[i]) for i in rows)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, i in enumerate(rows):
        input_ids[k, : len(ids[i])] = torch.tensor(ids[i])
        mask[k, : len(ids[i])] = 1
    return input_ids, mask, torch.tensor(labels[rows], dtype=torch.float32), torch.tensor(weights[rows], dtype=torch.float32)


def masked_loss(logits, labels, weights):
    """Binary cross-entropy over the labelled (non-NaN) cells, weighted by row, averaged over those cells."""
    import torch

    known = ~torch.isnan(labels)
    targets = torch.where(known, labels, torch.zeros_like(labels))
    cells = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    cells = cells * known * weights.unsqueeze(1)
    return cells.sum() / (known * weights.unsqueeze(1)).sum().clamp(min=1e-6)
