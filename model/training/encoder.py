"""Fine-tune all-MiniLM-L6-v2 with one sigmoid head per hostility attribute; export it to int8 ONNX.

``python -m model.training.encoder train`` (``make train-encoder``) fine-tunes for one pass over a seeded,
source-weighted sample of the training rows, saving a checkpoint every few minutes (``--resume`` goes on
from the last one); ``export`` writes the ONNX graph (encoder, mean pooling, heads: one logit per
attribute) and its int8 quantisation (``model.training.quantisation``: int8 weights, activations per token). torch and transformers are training-only (the ``train``
extra); serving reads the ONNX file with ``model.encoder``.

The pre-trained weights and the classifier are in ``model.training.encoder_weights``, the batches and the loss in
``model.training.encoder_batches``, the ONNX export in ``model.training.encoder_export``; this module holds the
recipe (``check_recipe``, ``train``, ``bundle``) and the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from model.attributes import HOSTILITY_ATTRIBUTES
from model.encoder import (MAX_TOKENS, SENTENCE_MARGINS, TOKENIZER_FILE, WINDOW_ALIGNMENTS, WINDOW_STRIDE, check_windows,
                           load_tokenizer)
from model.training.encoder_batches import (CLAIM_WEIGHT, batch_order, collate, masked_loss, tokenise,
                                            training_weights)
from model.training.encoder_data import (CLAIM_TASK_COLUMNS, NEW_DATASETS, distil_claim_units, encoder_training_frames,
                                         is_claim_unit)
from model.training.encoder_export import FINAL_FILE, QUANTISED_FILE, export, requantise
from model.training.encoder_weights import (FROZEN_LAYERS, PRETRAINED_LAYERS, PROVENANCE, freeze_lower,
                                            load_pretrained, pretrained_dir)
from model.training.train import SEED, TFIDF_VERSION

log = logging.getLogger(__name__)

BATCH_SIZE = 32
LEARNING_RATE = 5e-5
HEAD_LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05
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
BALANCE_IDENTITIES = False
"""Add civil sentences naming each group term as often as the sample's toxic share needs (``--balance-identities``;
``False``: none, the recipe of bundles 2.1.0-2.13.0)."""
WRITTEN_IF_ASKED = {"threat_sentences": "threat_sentences", "idea_sentences": "idea_sentences",
                    "identity_balance": "balance_identities"}
"""Written sets of ``NEW_DATASETS`` -> the training log's entry saying a run added them (the manifest lists only those)."""
TEACHER_BATCH = 2048
CHECKPOINT_FILE = "checkpoint.pt"
RECIPE_NAMES = {"rows_sha256": "other training rows (--data-dir)", "n_batches": "another number of batches"}
"""How a resume refusal names what is not one of ``train``'s options (the rest are shown as flags)."""


class WorkFolderError(ValueError):
    """The work folder cannot take this run: not a writable folder, or a checkpoint ``--resume`` cannot go on from."""


def _check_work_folder(out: Path) -> None:
    """Make ``out`` and write a file in it, so a bad folder stops the run before the data, not at its first save."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise WorkFolderError(f"--work {out} cannot hold the checkpoints: {exc.strerror or exc}") from None


def _read_checkpoint(checkpoint: Path) -> dict:
    """The checkpoint's state, or ``WorkFolderError`` when it is not one ``train`` wrote."""
    import torch

    try:
        state = torch.load(checkpoint, weights_only=False)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:  # a cut or foreign file
        raise WorkFolderError(f"{checkpoint} cannot be read ({type(exc).__name__}): remove it or drop --resume") from None
    if not isinstance(state, dict) or not {"model", "optimiser", "scheduler", "step"} <= state.keys():
        raise WorkFolderError(f"{checkpoint} is not a training checkpoint: remove it or drop --resume")
    return state


def _check_resumable(state: dict, recipe: dict, checkpoint: Path) -> None:
    """Refuse a checkpoint whose recipe (``train``'s options, the rows' SHA-256) differs, naming each difference.

    A checkpoint written before the recipe was recorded is compared on its seed and number of batches only.
    """
    saved = state.get("recipe") or {"seed": state.get("seed"), "n_batches": state.get("n_batches")}
    differ = [key for key in saved if key in recipe and saved[key] != recipe[key]]
    if differ:
        shown = [RECIPE_NAMES.get(key) or f"--{key.replace('_', '-')} {saved[key]}, not {recipe[key]}"
                 for key in differ]
        raise WorkFolderError(f"{checkpoint} was made with {'; '.join(shown)}: resume with its options, or remove "
                              f"it or drop --resume to start again")


def _rows_sha256(ids: list[list[int]], labels: np.ndarray, weights: np.ndarray) -> str:
    """SHA-256 of the training rows as the model reads them: word-piece ids, targets and loss weights."""
    digest = hashlib.sha256()
    for row in ids:
        digest.update(np.asarray(row, dtype=np.int64).tobytes() + b"|")
    digest.update(np.ascontiguousarray(labels, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(weights, dtype=np.float64).tobytes())
    return digest.hexdigest()


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
          idea_sentences: int = IDEA_SENTENCES, balance_identities: bool = BALANCE_IDENTITIES) -> Path:
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
        Go on from ``out/checkpoint.pt`` (the same seed and sample give the same batches); ``WorkFolderError``
        names each option or the rows when they differ from the checkpoint's.
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
    balance_identities : bool
        Civil sentences naming over-represented group terms added to the rows (the same).

    Returns
    -------
    Path
        ``out/final.pt`` (or the checkpoint when stopped by ``max_steps``).
    """
    check_recipe(epochs=epochs, claim_task=claim_task, claim_weight=claim_weight, distil_from=distil_from,
                 layers=layers, frozen_layers=frozen_layers, claim_units_until=claim_units_until,
                 threat_sentences=threat_sentences, idea_sentences=idea_sentences)
    import torch

    _check_work_folder(out)
    checkpoint = out / CHECKPOINT_FILE
    state = _read_checkpoint(checkpoint) if resume and checkpoint.is_file() else None
    if resume and state is None:  # a mistyped --work would otherwise cost a whole pass without a word
        log.warning("--resume: no %s in %s, so the run starts from its first step", CHECKPOINT_FILE, out)
    recipe = {"seed": seed, "batch_size": batch_size, "max_samples": max_samples, "epochs": epochs,
              "claim_task": claim_task, "claim_weight": claim_weight, "distil_from": distil_from, "layers": layers,
              "frozen_layers": frozen_layers, "claim_units_until": claim_units_until,
              "threat_sentences": threat_sentences, "idea_sentences": idea_sentences,
              "balance_identities": balance_identities, "max_tokens": MAX_TOKENS}
    if state is not None:
        _check_resumable(state, recipe, checkpoint)  # before minutes of reading data
    torch.set_num_threads(threads)
    _seed_everything(seed)
    fit, _ = encoder_training_frames(data_dir, seed=seed, max_samples=max_samples, claim_task=claim_task,
                                     n_threat_sentences=threat_sentences, n_idea_sentences=idea_sentences,
                                     balance_identities=balance_identities)
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
    recipe |= {"n_batches": len(batches), "rows_sha256": _rows_sha256(ids, labels, weights)}
    if state is not None:
        _check_resumable(state, recipe, checkpoint)
    schedule = _schedule(len(batches))
    shortened = (state or {}).get("shortened")  # a run shortened by --finish-at, stopped and resumed again
    if shortened is not None:
        if finish_at not in (None, shortened["finish_at"]):
            raise WorkFolderError(f"{checkpoint} was made by a run shortened with --finish-at {shortened['finish_at']}, "
                                  f"not {finish_at}: resume with its options, or remove it or drop --resume to start again")
        finish_at, resumed_at, factor_then = shortened["finish_at"], shortened["resumed_at"], shortened["factor_then"]
    elif finish_at is not None:
        if state is None or not state["step"] < finish_at <= len(batches):
            raise SystemExit("--finish-at needs --resume and a step between the checkpoint's and the pass's end")
        resumed_at, factor_then = state["step"], schedule(state["step"])
    if finish_at is not None:
        full = schedule

        def schedule(index: int) -> float:
            if index < resumed_at:
                return full(index)
            return factor_then * max(0, finish_at - index) / (finish_at - resumed_at)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
        except (RuntimeError, ValueError) as exc:  # a checkpoint without a recipe, of another model
            raise WorkFolderError(f"{checkpoint} holds another model ({str(exc).splitlines()[0]}): remove it or "
                                  "drop --resume") from None
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
                 "n_batches": len(batches), "recipe": recipe, "elapsed": elapsed_before + time.monotonic() - started}
        if finish_at is not None:  # its learning rate falls to 0 at finish_at from where it was shortened
            state["shortened"] = {"finish_at": finish_at, "resumed_at": resumed_at, "factor_then": factor_then}
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
        "idea_sentences": idea_sentences, "balance_identities": balance_identities,
        "max_tokens": MAX_TOKENS, "steps_planned": len(batches), "shortened_at_step": finish_at,
        "rows_seen": seen, "elapsed_minutes": round((elapsed_before + time.monotonic() - started) / 60, 1),
        "samples_per_second": round(seen / max(elapsed_before + time.monotonic() - started, 1e-9), 1),
        "rows_by_source": {k: int(v) for k, v in fit["source"].value_counts().items()},
    }, indent=2) + "\n")
    return final


def rewindow(source: str, version: str, align: str = "sentences", stride: int | None = None, data_dir=None,
             bundles_root: Path | None = None, sentence_margin: float | None = None, **readings: bool | None) -> Path:
    """Write ``bundles/<version>``: encoder bundle ``source`` reading long comments in windows aligned to ``align``
    and with the ``readings`` given (``undisguised``, ``sentences``, ``wider_disguises``, ``one_letter_words``,
    ``symbol_disguises``: ``model.encoder.READINGS``), every choice kept (``rewindow_bundle``), with its validation AUCs before and after and
    its test metrics."""
    from model.attributes import CLAIM_ATTRIBUTE
    from model.bundle import bundles_dir
    from model.training.claims_data import load_claim_test_sets
    from model.training.data import load_test_sets, load_validation_sets
    from model.training.encoder_bundle import check_rewindow, rewindow_bundle
    from model.training.train import record_test_metrics

    out = (bundles_root or bundles_dir()) / version
    check_rewindow(source, out, align, stride, sentence_margin, **readings)  # before minutes of reading data
    manifest = rewindow_bundle(source, out, version, align, stride, validation=load_validation_sets(data_dir),
                               sentence_margin=sentence_margin, **readings)
    # Reporting only (``moderate models list``): the official test splits.
    test_auc = record_test_metrics(out, {"toxicity": load_test_sets(data_dir),
                                         CLAIM_ATTRIBUTE: load_claim_test_sets(data_dir)})
    print(json.dumps({"windows_from": manifest["windows_from"],
                      "test_auc": {name: metric["roc_auc"] for name, metric in test_auc.items()}}, indent=2))
    return out


def bundle_folder(version: str, bundles_root: Path | None = None, overwrite: bool = False) -> Path:
    """``bundles/<version>`` (or under ``bundles_root``), checked before any work: a version that names a folder, and
    a folder that may take the bundle (``model.versions.check_new_bundle_folder``: new, or an existing bundle with
    ``overwrite``, never the served one). Raises ``BundleError`` (the version) or ``BundleTargetError`` (the folder)
    saying what to choose instead."""
    from model.bundle import bundles_dir
    from model.versions import check_new_bundle_folder, check_version

    out = (bundles_root or bundles_dir()) / check_version(version)
    check_new_bundle_folder(out, overwrite)
    return out


def bundle(data_dir, work: Path, export_dir: Path, version: str, base: str = TFIDF_VERSION, mode: str = "encoder",
           bundles_root: Path | None = None, threads: int = 2, stride: int = WINDOW_STRIDE,
           align: str = "stride", overwrite: bool = False) -> Path:
    """Calibrate the exported encoder on the held-out rows and write ``bundles/<version>`` around ``base``, reading long
    comments in windows ``stride`` word pieces apart or ending at sentence ends (``build_encoder_bundle``). The folder
    is checked first (``bundle_folder``: the served bundle is never replaced, another only with ``overwrite``) and
    written whole (``model.versions.written_whole``: an interrupted run leaves what was there before)."""
    from model.attributes import CLAIM_ATTRIBUTE
    from model.bundle import load_bundle
    from model.training.claims_data import load_claim_test_sets, load_claim_training_data, load_claim_validation_sets
    from model.training.data import load_test_sets, load_toxic_spans, load_validation_sets
    from model.training.encoder_bundle import build_encoder_bundle
    from model.training.train import created_now, record_test_metrics
    from model.versions import written_whole

    out = bundle_folder(version, bundles_root, overwrite)
    _, holdout = encoder_training_frames(data_dir, seed=SEED)
    log_file = work / "train_log.json"
    training = json.loads(log_file.read_text()) if log_file.is_file() else {}
    extra = {"created": created_now(), "encoder_training": training | PROVENANCE, "seed": SEED,
             "encoder_datasets": {name: licence for name, (_, licence) in NEW_DATASETS.items()
                                  if name not in WRITTEN_IF_ASKED or training.get(WRITTEN_IF_ASKED[name])}}
    with written_whole(out, overwrite) as scratch:
        path, summary = build_encoder_bundle(load_bundle(base), export_dir / QUANTISED_FILE, export_dir / TOKENIZER_FILE,
                                             holdout, load_validation_sets(data_dir), scratch, version, mode=mode,
                                             threads=threads, manifest_extra=extra,
                                             claims_training=load_claim_training_data(data_dir),
                                             claims_validation=load_claim_validation_sets(data_dir),
                                             span_posts=load_toxic_spans("trial", data_dir), stride=stride,
                                             align=align)
        # Reporting only, after every choice was made (``moderate models list`` shows them): the official test splits.
        test_auc = record_test_metrics(path, {"toxicity": load_test_sets(data_dir),
                                              CLAIM_ATTRIBUTE: load_claim_test_sets(data_dir)})
    print(json.dumps({k: summary[k] for k in ("mode", "band", "validation_toxicity_auc", "holdout_auc")}
                     | {"test_auc": {name: metric["roc_auc"] for name, metric in test_auc.items()}}, indent=2))
    return out


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
    run.add_argument("--balance-identities", action="store_true",
                     help="add civil sentences naming each group term that the sample names mostly in toxic rows, "
                          "until its toxic share is the sample's (default: none)")
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
    build.add_argument("--overwrite", action="store_true",
                       help="replace bundles/<version> if it holds a bundle (never the served one)")
    build.add_argument("--check-folder", action="store_true",
                       help="only check that bundles/<version> may take the bundle, and exit (make train-encoder "
                            "does it before the hour of training)")
    build.add_argument("--stride", type=int, default=WINDOW_STRIDE,
                       help=f"word pieces between the starts of a long comment's windows (default {WINDOW_STRIDE}: "
                            f"overlapping by half; {MAX_TOKENS - 2}: each piece read once)")
    build.add_argument("--align", choices=WINDOW_ALIGNMENTS, default="stride",
                       help="stride: windows every --stride pieces (every bundle to 2.8.0); sentences: each window "
                            "ends at a sentence end and the next starts there (--stride then only steps through a "
                            "sentence longer than a window)")
    windows = sub.add_parser("rewindow", help="a copy of an encoder bundle that reads comments otherwise (long ones in "
                                              "other windows, disguised words undone, sentences alone), every choice "
                                              "kept")
    windows.add_argument("--bundle", required=True, help="the encoder bundle folder or version to copy")
    windows.add_argument("--version", required=True, help="model_version of the copy, written to bundles/<version>")
    windows.add_argument("--align", choices=WINDOW_ALIGNMENTS, default="sentences")
    windows.add_argument("--stride", type=int, default=None, help="default: the bundle's")
    windows.add_argument("--undisguised", action=argparse.BooleanOptionalAction, default=None,
                         help="also read each comment with its disguises undone ('i.d.i.o.t', look-alike letters), "
                              "the higher score counting; default: the bundle's")
    windows.add_argument("--wider-disguises", action=argparse.BooleanOptionalAction, default=None,
                         help="the undisguised reading also undoes letters spaced wider, blank fillers, upside-down "
                              "words and lone regional indicators, and parts dotted words at blanks; needs "
                              "--undisguised (or a bundle that reads it); default: the bundle's")
    windows.add_argument("--one-letter-words", action=argparse.BooleanOptionalAction, default=None,
                         help="the wider undisguised reading parts 'a' or 'i' from spaced letters after it that are a "
                              "word of the tokenizer's vocabulary or one the TF-IDF heads learned, and together none "
                              "('a l o s e r' -> 'a loser', not 'aloser'); needs --wider-disguises (or a bundle that "
                              "reads it); default: the bundle's")
    windows.add_argument("--symbol-disguises", action=argparse.BooleanOptionalAction, default=None,
                         help="the wider undisguised reading also undoes disguises made with symbols: characters "
                              "each in brackets ('(i)(d)(i)(o)(t)'), digits among spaced letters ('i d 1 o t') and an "
                              "'@' inside a word ('b@stard'); needs --wider-disguises (or a bundle that reads it); "
                              "default: the bundle's")
    windows.add_argument("--sentences", action=argparse.BooleanOptionalAction, default=None,
                         help="also read each sentence of a comment of one window on its own, the highest score "
                              "counting, so one hostile sentence between civil ones is read alone; default: the bundle's")
    windows.add_argument("--sentence-margin", type=float, default=None,
                         help="taken off the logits of a sentence read alone; default: the bundle's, else the one of "
                              f"{', '.join(map(str, SENTENCE_MARGINS))} with the highest mean validation toxicity ROC AUC")
    windows.add_argument("--data-dir", default=None)
    windows.add_argument("--bundles-root", default=None)
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
        try:
            train(args.data_dir, Path(args.work), seed=args.seed, max_samples=args.max_samples, resume=args.resume,
                  threads=args.threads, frozen_layers=args.frozen_layers, max_steps=args.max_steps,
                  finish_at=args.finish_at, epochs=args.epochs, claim_task=args.claim_task,
                  claim_weight=args.claim_weight, distil_from=distil_from, layers=args.layers,
                  claim_units_until=args.claim_units_until, threat_sentences=args.threat_sentences,
                  idea_sentences=args.idea_sentences, balance_identities=args.balance_identities)
        except WorkFolderError as exc:
            run.error(str(exc))
    elif args.command == "requantise":
        from model.bundle import BundleError
        from model.training.quantisation import QuantisationError

        try:
            print(requantise(args.bundle, Path(args.work)))
        except (BundleError, QuantisationError, ValueError) as exc:
            again.error(f"--bundle {args.bundle}: {exc}")
    elif args.command == "rewindow":
        from model.bundle import BundleError

        try:
            print(rewindow(args.bundle, args.version, args.align, args.stride, args.data_dir,
                           Path(args.bundles_root) if args.bundles_root else None,
                           sentence_margin=args.sentence_margin, undisguised=args.undisguised,
                           sentences=args.sentences, wider_disguises=args.wider_disguises,
                           one_letter_words=args.one_letter_words, symbol_disguises=args.symbol_disguises))
        except (BundleError, ValueError, FileExistsError) as exc:
            windows.error(f"--bundle {args.bundle}: {exc}")
    elif args.command == "export":
        if not (Path(args.work) / args.weights).is_file():
            out.error(f"{Path(args.work) / args.weights} not found: train first (python -m model.training.encoder "
                      f"train --work {args.work}), or --weights {CHECKPOINT_FILE} for a stopped run")
        print(export(Path(args.work), Path(args.out), args.weights))
    else:
        from model.bundle import BundleError
        from model.versions import BundleTargetError

        bundles_root = Path(args.bundles_root) if args.bundles_root else None
        try:  # before the minutes of calibration, not after
            check_windows(args.align, args.stride)
        except ValueError as exc:
            build.error(f"--{exc}")  # "--stride N: ...": --align is one of its choices already
        try:
            folder = bundle_folder(args.version, bundles_root, args.overwrite)
        except (BundleError, BundleTargetError) as exc:
            build.error(str(exc))
        if args.check_folder:
            print(f"{folder} may take bundle {args.version}")
            return 0
        print(bundle(args.data_dir, Path(args.work), Path(args.export or Path(args.work) / "export"), args.version,
                     base=args.base, mode=args.mode, bundles_root=bundles_root, stride=args.stride, align=args.align,
                     overwrite=args.overwrite))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
