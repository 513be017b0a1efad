"""Serving side of the fine-tuned encoder: ``tokenizers`` + onnxruntime, no torch.

The ONNX graph maps ``input_ids`` and ``attention_mask`` to one logit per hostility attribute (encoder,
mean pooling and linear heads, as trained by ``model.training.encoder``). A comment is scored whole (its
first ``MAX_TOKENS`` tokens) and in windows of ``WINDOW_TOKENS`` tokens every ``WINDOW_STRIDE`` tokens, so a
hostile sentence buried in a long civil comment is read on its own; each attribute keeps its largest logit
and the character span of the window that gave it. Cost grows linearly with length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_TOKENS = 64
"""Word pieces read per window, [CLS] and [SEP] included (the encoder is fine-tuned at this length)."""
WINDOW_STRIDE = 32
"""Word pieces between the starts of two windows: every sentence of up to ~30 pieces lies inside one."""
MAX_WINDOWS = 512
"""Windows scored per comment at most (about 16,000 word pieces); beyond that the text is not read."""
BATCH_SIZE = 64
"""Windows per onnxruntime call; windows are sorted by length first, so padding stays small."""
DEFAULT_THREADS = 1
"""onnxruntime intra-op threads per worker: one, so that parallel workers do not fight over cores."""
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"


class EncoderError(RuntimeError):
    """An encoder file that cannot be used; the message says which and what to do."""


def load_tokenizer(path: str | Path, max_tokens: int = MAX_TOKENS):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` with no truncation or padding of its own."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass(frozen=True)
class Window:
    """One span of a comment's word pieces: ids with [CLS]/[SEP], and the characters they cover."""

    comment: int
    ids: tuple[int, ...]
    begin: int
    end: int


def windows_of(encoding, comment: int, cls_id: int, sep_id: int, max_tokens: int = MAX_TOKENS,
               stride: int = WINDOW_STRIDE, max_windows: int = MAX_WINDOWS) -> list[Window]:
    """The whole-comment window (its first pieces) and, for a longer comment, overlapping windows.

    Parameters
    ----------
    encoding : tokenizers.Encoding
        The comment's encoding without special tokens.
    comment : int
        Index of the comment in its batch.
    cls_id, sep_id : int
        Ids of the [CLS] and [SEP] tokens.
    max_tokens, stride, max_windows : int
        Window length (special tokens included), step between windows and the most windows kept.

    Returns
    -------
    list of Window
        The first window starts at piece 0; an empty comment gives one window of [CLS] [SEP].
    """
    ids, offsets = encoding.ids, encoding.offsets
    body = max_tokens - 2
    starts = [0] if len(ids) <= body else list(range(0, len(ids) - body + stride, stride))[:max_windows]
    found = []
    for start in starts:
        piece = slice(start, min(start + body, len(ids)))
        chars = offsets[piece]
        begin, end = (chars[0][0], chars[-1][1]) if chars else (0, 0)
        found.append(Window(comment, (cls_id, *ids[piece], sep_id), begin, end))
    return found


def pad_batch(windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    """``input_ids`` and ``attention_mask`` (int64) for windows, padded with 0 to the longest."""
    width = max(len(window.ids) for window in windows)
    ids = np.zeros((len(windows), width), dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        ids[row, : len(window.ids)] = window.ids
        mask[row, : len(window.ids)] = 1
    return ids, mask


def sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large negative inputs."""
    return 0.5 * (1.0 + np.tanh(0.5 * values))


class EncoderRunner:
    """Runs the exported encoder on comments: windowed max logits and the window each came from.

    Parameters
    ----------
    onnx_path, tokenizer_path : str or Path
        The ONNX graph (``input_ids``, ``attention_mask`` -> ``logits``) and its ``tokenizer.json``.
    attributes : sequence of str
        Names of the graph's output columns, in order.
    threads : int
        onnxruntime intra-op threads.
    """

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path, attributes: Sequence[str],
                 threads: int = DEFAULT_THREADS, max_tokens: int = MAX_TOKENS, stride: int = WINDOW_STRIDE):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.attributes = tuple(attributes)
        self.max_tokens = max_tokens
        self.stride = stride
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        if self.cls_id is None or self.sep_id is None:
            raise EncoderError(f"{tokenizer_path} has no [CLS] or [SEP] token: it is not a BERT WordPiece tokenizer")

    def windows(self, texts: Sequence[str], whole_only: bool = False) -> list[Window]:
        """Every window of every text (only the first of each when ``whole_only``)."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        found = []
        for i, encoding in enumerate(encodings):
            windows = windows_of(encoding, i, self.cls_id, self.sep_id, self.max_tokens, self.stride)
            found.extend(windows[:1] if whole_only else windows)
        return found

    def is_long(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text has more word pieces than one window holds."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return np.array([len(encoding.ids) > self.max_tokens - 2 for encoding in encodings], dtype=bool)

    def window_logits(self, windows: Sequence[Window], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Logits ``(n_windows, n_attributes)``, computed in batches of windows of similar length."""
        logits = np.zeros((len(windows), len(self.attributes)), dtype=np.float32)
        order = np.argsort([len(window.ids) for window in windows], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = pad_batch([windows[i] for i in rows])
            logits[rows] = self.session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]
        return logits

    def logits(self, texts: Sequence[str], whole_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per text and attribute, the largest window logit and the ``(begin, end)`` characters of its window.

        Returns
        -------
        logits : numpy.ndarray
            ``(n_texts, n_attributes)``.
        spans : numpy.ndarray
            ``(n_texts, n_attributes, 2)`` int, character offsets into each text.
        """
        texts = list(texts)
        windows = self.windows(texts, whole_only)
        found = self.window_logits(windows)
        best = np.full((len(texts), len(self.attributes)), -np.inf, dtype=np.float32)
        spans = np.zeros((len(texts), len(self.attributes), 2), dtype=np.int64)
        comments = np.array([window.comment for window in windows], dtype=np.int64)
        bounds = np.array([(window.begin, window.end) for window in windows], dtype=np.int64).reshape(-1, 2)
        for j in range(len(self.attributes)):
            column = found[:, j]
            # Windows in order of logit: the last write per comment is its best window.
            order = np.argsort(column, kind="stable")
            best[comments[order], j] = column[order]
            spans[comments[order], j] = bounds[order]
        return best, spans


@dataclass
class Calibration:
    """Platt scaling per attribute, fitted on held-out rows: ``P = sigmoid(slope * logit + intercept)``."""

    slopes: Mapping[str, float]
    intercepts: Mapping[str, float]

    def apply(self, attributes: Sequence[str], logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for logits ``(n, len(attributes))``."""
        slopes = np.array([self.slopes[a] for a in attributes])
        intercepts = np.array([self.intercepts[a] for a in attributes])
        return sigmoid(np.asarray(logits, dtype=float) * slopes + intercepts)

    def to_dict(self) -> dict:
        """JSON-ready form for the manifest."""
        return {"slopes": dict(self.slopes), "intercepts": dict(self.intercepts)}
