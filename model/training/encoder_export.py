"""The fine-tuned encoder as int8 ONNX.

``export_onnx`` writes the fp32 graph (logits and token states), ``export`` that graph's int8 quantisation
(``model.training.quantisation``) with the tokenizer, and ``requantise`` a 2.2.0-2.6.0 bundle's graph with
per-token activations, without its fine-tuned weights. ``python -m model.training.encoder export`` and
``requantise`` run them; the recipe that trains the weights is ``model.training.encoder``.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.bundle import sha256_file
from model.encoder import HIDDEN_NAME, INPUT_NAMES, MAX_TOKENS, OUTPUT_NAME, TOKENIZER_FILE
from model.training.encoder_weights import PROVENANCE, hostility_heads_only, layers_in, load_pretrained, pretrained_dir
from model.training.quantisation import quantise

FINAL_FILE = "final.pt"
ONNX_FILE = "encoder_fp32.onnx"
QUANTISED_FILE = "encoder.onnx"
OPSET = 17


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
