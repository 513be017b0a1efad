"""Serving side of the fine-tuned encoder: ``tokenizers`` + onnxruntime, no torch.

The ONNX graph maps ``input_ids`` and ``attention_mask`` to one logit per hostility attribute (encoder,
mean pooling and linear heads, as trained by ``model.training.encoder``) and, from bundle 2.2.0 on, also to the
last layer's token states (``hidden``): the mean of a sentence's tokens in the same pass is the sentence
embedding the claim heads of ``model.encoder_claims`` read, so claims cost no second encoder pass. A comment longer than
one window is read in windows of ``MAX_TOKENS`` tokens, either every ``stride`` tokens (``WINDOW_STRIDE``, overlapping
by half; every bundle to 2.8.0) or, when the bundle's manifest says ``"align": "sentences"``, each ending at the last
sentence end it holds (``window_starts``), so a hostile sentence buried in a long civil comment is read whole in one
window; each attribute keeps its largest logit and the character span of the window that gave it. Cost grows
linearly with length.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.normalize import plain_letters, undisguised

MAX_TOKENS = 64
"""Word pieces read per window, [CLS] and [SEP] included (the encoder is fine-tuned at this length)."""
WINDOW_STRIDE = 32
"""Word pieces between the starts of two windows: every sentence of up to ~30 pieces lies inside one."""
MAX_WINDOWS = 512
"""Windows scored per comment at most (about 16,000 word pieces); beyond that the text is not read."""
BATCH_SIZE = 64
"""Windows per onnxruntime call at most; windows are sorted by length first, so padding stays small."""
PADDING_SHARE = 0.25
"""A batch takes a longer window only while the padding it adds stays within this share of the batch's pieces."""
DEFAULT_THREADS = 1
"""onnxruntime intra-op threads per worker: one, so that parallel workers do not fight over cores."""
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
HIDDEN_NAME = "hidden"
"""The last layer's token states, ``(batch, tokens, hidden)`` (graphs exported before bundle 2.2.0 lack it)."""


class EncoderError(RuntimeError):
    """An encoder file that cannot be used; the message says which and what to do."""


def encode_pieces(tokenizer, texts: Sequence[str]) -> list:
    """Each text's ``tokenizers.Encoding`` without [CLS] and [SEP], its styled letters read as plain ones
    (``plain_letters``: the word-piece vocabulary has no "\U0001d422" or "\u026a", only "i"); offsets are the text's."""
    return tokenizer.encode_batch([plain_letters(text) for text in texts], add_special_tokens=False)


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
    offsets: tuple[tuple[int, int], ...] = ()
    """Characters of each piece between [CLS] and [SEP]."""

    def positions(self, begin: int, end: int) -> tuple[int, int]:
        """Positions ``[first, last)`` in ``ids`` of the pieces lying inside characters ``[begin, end)``."""
        inside = [i for i, (b, e) in enumerate(self.offsets) if b >= begin and e <= end]
        return (inside[0] + 1, inside[-1] + 2) if inside else (0, 0)


SENTENCE_END_PIECES = frozenset({".", "!", "?", "…"})
"""Pieces after which a window aligned to sentences may end (when a space, a line break or the text's end follows)."""
WINDOW_ALIGNMENTS = ("stride", "sentences")
"""How long comments are cut: windows every ``stride`` pieces, or windows packed with whole sentences."""
READINGS = {"undisguised": "disguises undone", "sentences": "sentences read alone",
            "wider_disguises": "wider disguises undone", "one_letter_words": "one-letter words parted from spaced letters",
            "symbol_disguises": "disguises made with symbols undone"}
"""Readings an encoder bundle's manifest may add to a comment's own windows (``"encoder": {"<name>": true}``), each
attribute's highest logit counting: ``undisguised`` (bundles from 2.14.0), the comment with its disguises undone;
``sentences`` (from 2.15.0), each sentence of a comment of one window and two or more sentences read on its own too,
so that one hostile sentence between civil ones is read without them; ``wider_disguises`` (from 2.16.0, only with
``undisguised``), the undisguised reading undoing more (``model.normalize.undisguised(wider=True)``: letters spaced
wider, blank fillers, upside-down words, lone regional indicators, dotted words parted at blanks);
``one_letter_words`` (from 2.17.0, only with ``wider_disguises``), that reading parting "a" or "i" from spaced
letters after it that are a word of the tokenizer's vocabulary or one the TF-IDF heads learned, and together none
("a l o s e r" -> "a loser", not "aloser"; ``model.normalize.undisguised(words=...)``); ``symbol_disguises`` (from
2.18.0, only with ``wider_disguises``), that reading also undoing disguises made with symbols: characters each in
brackets ("(i)(d)(i)(o)(t)"), digits among spaced letters ("i d 1 o t") and an "@" inside a word ("f@g"), which
``normalize`` reads as an @mention (``model.normalize.undisguised(symbols=True)``). A comment that none of them
changes scores as before."""
READING_NEEDS = {"wider_disguises": ("undisguised", "wider disguises are undone in the undisguised reading only"),
                 "one_letter_words": ("wider_disguises", "one-letter words are parted from spaced letters in the "
                                                         "wider undisguised reading only"),
                 "symbol_disguises": ("wider_disguises", "symbol disguises are undone in the wider undisguised "
                                                         "reading only")}
"""Readings that read another one further: name -> (the one it needs, why)."""


def unmet_reading(readings: Mapping[str, bool]) -> tuple[str, list[str]] | None:
    """The first reading on in ``readings`` (``READINGS`` name -> on) whose needed one (``READING_NEEDS``) is off, and
    every reading it needs, directly or through another, that is off (nearest first), or ``None``."""
    for name, (needed, _) in READING_NEEDS.items():
        if readings.get(name) and not readings.get(needed):
            missing = []
            while needed is not None:
                if not readings.get(needed):
                    missing.append(needed)
                needed = READING_NEEDS.get(needed, (None,))[0]
            return name, missing
    return None


def readings_problem(readings: Mapping[str, bool]) -> str | None:
    """Why ``readings`` (``READINGS`` name -> on) cannot go together, or ``None`` (``unmet_reading``). Each caller
    says how to fix it where it is given them."""
    unmet = unmet_reading(readings)
    if unmet is None:
        return None
    name, missing = unmet
    return f"{name} without {missing[0]}: {READING_NEEDS[name][1]}"


def whole_words(tokenizer) -> frozenset[str]:
    """The whole words of a WordPiece ``tokenizer``'s vocabulary (``one_letter_words``): its entries of two or more
    ASCII letters (not "##" continuations, not "[CLS]", not single letters)."""
    return frozenset(word for word in tokenizer.get_vocab()
                     if len(word) > 1 and word.isascii() and word.isalpha() and word.islower())


SENTENCE_MARGINS = (0.0, 0.5, 1.0, 2.0)
"""Logit margins a sentence read alone may be made to beat its comment by, tried on validation data when a bundle is
given the ``sentences`` reading (``model.training.encoder_bundle.rewindow_bundle``): the manifest's
``encoder.sentence_margin`` is subtracted from each such sentence's logits, so a sentence a little more pointed out of
context than in it does not count, one far more hostile does."""


def is_sentence_margin(value) -> bool:
    """Whether ``value`` can be a bundle's ``encoder.sentence_margin``: a finite number of at least 0 (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value < float("inf")


def check_windows(align: str, stride: int, max_tokens: int = MAX_TOKENS) -> None:
    """``ValueError`` saying what to fix when a bundle cannot read long comments in windows of ``max_tokens`` (special
    tokens included) aligned to ``align``, ``stride`` pieces apart."""
    if align not in WINDOW_ALIGNMENTS:
        raise ValueError(f"windows aligned to {align!r}: one of {', '.join(WINDOW_ALIGNMENTS)}")
    if not _whole(max_tokens) or max_tokens < 3:
        raise ValueError(f"max_tokens {max_tokens!r}: a whole number of at least 3 ([CLS], a word piece, [SEP])")
    if not _whole(stride) or not 1 <= stride <= max_tokens - 2:
        raise ValueError(f"stride {stride!r}: a whole number from 1 to {max_tokens - 2} (the word pieces one window holds)")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sentence_cuts(encoding) -> list[int]:
    """Piece positions where a sentence ends: ``i`` such that pieces ``[.., i)`` close a sentence, in order."""
    tokens, offsets = encoding.tokens, encoding.offsets
    last = len(tokens) - 1
    return [i + 1 for i, token in enumerate(tokens)
            if token in SENTENCE_END_PIECES and (i == last or offsets[i + 1][0] > offsets[i][1])]


def sentence_windows(encoding, comment: int, cls_id: int, sep_id: int, max_tokens: int = MAX_TOKENS) -> list[Window]:
    """Each sentence of a comment that one window holds, as a window of its own, when the comment has two or more
    sentences (``sentence_cuts``); none for a comment of one sentence or longer than a window (read in windows aligned
    to sentences already, each with its neighbours, as a reader meets it)."""
    ids, offsets = encoding.ids, encoding.offsets
    if len(ids) > max_tokens - 2:
        return []
    bounds = [0, *(cut for cut in sentence_cuts(encoding) if cut < len(ids)), len(ids)]
    if len(bounds) < 3:
        return []
    return [Window(comment, (cls_id, *ids[start:stop], sep_id), offsets[start][0], offsets[stop - 1][1],
                   tuple(offsets[start:stop]))
            for start, stop in zip(bounds, bounds[1:])]


def window_starts(n_pieces: int, body: int, stride: int, cuts: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` pieces of each window of a comment of ``n_pieces`` pieces.

    Without ``cuts``: windows of ``body`` pieces every ``stride`` pieces (the last one reaching the end). With
    ``cuts`` (``sentence_cuts``): each window runs from where the previous one stopped to the last sentence end it
    holds, so a sentence of up to ``body`` pieces is always read whole and each piece once; a sentence longer than a
    window is read in windows ``stride`` pieces apart until a sentence end is within reach.
    """
    if n_pieces <= body:
        return [(0, n_pieces)]
    if cuts is None:
        return [(start, min(start + body, n_pieces)) for start in range(0, n_pieces - body + stride, stride)]
    found, start = [], 0
    while start < n_pieces:
        limit = start + body
        if limit >= n_pieces:
            found.append((start, n_pieces))
            break
        stop = cuts[bisect.bisect_right(cuts, limit) - 1] if cuts and cuts[0] <= limit else 0
        if stop > start:
            found.append((start, stop))
            start = stop
        else:  # no sentence ends inside this window: overlapping windows, as without cuts
            found.append((start, limit))
            start += stride
    return found


def windows_of(encoding, comment: int, cls_id: int, sep_id: int, max_tokens: int = MAX_TOKENS,
               stride: int = WINDOW_STRIDE, max_windows: int = MAX_WINDOWS, align: str = "stride") -> list[Window]:
    """The windows a comment is read in: one for a short comment, several for a longer one (``window_starts``).

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
    align : {"stride", "sentences"}
        Windows every ``stride`` pieces, or windows that end at sentence ends.

    Returns
    -------
    list of Window
        The first window starts at piece 0; an empty comment gives one window of [CLS] [SEP].
    """
    if align not in WINDOW_ALIGNMENTS:
        raise ValueError(f"align={align!r}: one of {', '.join(WINDOW_ALIGNMENTS)}")
    ids, offsets = encoding.ids, encoding.offsets
    cuts = sentence_cuts(encoding) if align == "sentences" and len(ids) > max_tokens - 2 else None
    found = []
    for start, stop in window_starts(len(ids), max_tokens - 2, stride, cuts)[:max_windows]:
        chars = offsets[start:stop]
        begin, end = (chars[0][0], chars[-1][1]) if chars else (0, 0)
        found.append(Window(comment, (cls_id, *ids[start:stop], sep_id), begin, end, tuple(chars)))
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
    undisguised : bool
        Also read each comment with its disguises undone (``model.normalize.undisguised``: "i.d.i.o.t", look-alike
        letters, zero-width characters), each attribute's higher logit counting, so that a disguise the
        tokenizer would read as other words hides nothing; a comment without one is read once. ``False`` (every
        bundle to 2.13.0): the comment as written only.
    sentences : bool
        Also read each sentence of a comment of one window and two or more sentences on its own
        (``sentence_windows``), each attribute's highest logit counting: "Thanks for the report. <an insult>. See
        you." is read as the insult too, not only diluted by its civil neighbours. ``False`` (every bundle to
        2.14.0): a comment of one window is read whole only.
    sentence_margin : float
        Subtracted from the logits of each sentence read alone (``SENTENCE_MARGINS``; 0: its own logits count).
    wider_disguises : bool
        The undisguised reading also undoes letters spaced wider, blank fillers, upside-down words and lone regional
        indicators, and parts dotted words at blanks ("y.o.u a.r.e a l.o.s.e.r" -> "you are a loser";
        ``model.normalize.undisguised(wider=True)``); needs ``undisguised``. ``False`` (every bundle to 2.15.0).
    one_letter_words : bool
        The wider undisguised reading parts "a" or "i" from the spaced letters after it where they are a whole word of
        the tokenizer's vocabulary (``whole_words``) or of ``learned_words`` and together none
        (``model.normalize.undisguised(words=...)``: "You are a l o s e r" -> "you are a loser", where
        ``wider_disguises`` alone reads "you are aloser"); needs ``wider_disguises``. ``False`` (every bundle to
        2.16.0).
    symbol_disguises : bool
        The wider undisguised reading also undoes disguises made with symbols: characters each in brackets, digits
        among spaced letters, an "@" inside a word ("(i)(d)(i)(o)(t)", "i d 1 o t", "b@stard" -> "idiot", "idiot",
        "bastard"; ``model.normalize.undisguised(symbols=True)``); needs ``wider_disguises``. ``False`` (every bundle
        to 2.17.0).
    learned_words : frozenset of str
        Words besides the tokenizer's that ``one_letter_words`` parts off: a bundle gives those its TF-IDF hostility
        heads learned (``model.moderation_model.ModerationModel.learned_words``), which hold the insults the
        tokenizer's vocabulary lacks ("moron", "slut", "cunt").
    """

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path, attributes: Sequence[str],
                 threads: int = DEFAULT_THREADS, max_tokens: int = MAX_TOKENS, stride: int = WINDOW_STRIDE,
                 align: str = "stride", undisguised: bool = False, sentences: bool = False,
                 sentence_margin: float = 0.0, wider_disguises: bool = False, one_letter_words: bool = False,
                 symbol_disguises: bool = False, learned_words: frozenset[str] = frozenset()):
        import onnxruntime

        if align not in WINDOW_ALIGNMENTS:
            raise EncoderError(f"windows aligned to {align!r}: this version reads {', '.join(WINDOW_ALIGNMENTS)}")
        readings = {"undisguised": undisguised, "wider_disguises": wider_disguises, "one_letter_words": one_letter_words,
                    "symbol_disguises": symbol_disguises}
        problem = readings_problem(readings)
        if problem:
            name, missing = unmet_reading(readings)
            raise EncoderError(f"{problem}: pass {' and '.join(f'{needed}=True' for needed in missing)} as well, or "
                               f"{name}=False")

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.threads = threads
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.attributes = tuple(attributes)
        self.max_tokens = max_tokens
        self.stride = stride
        self.align = align
        self.undisguised = undisguised
        self.wider_disguises = wider_disguises
        self.symbol_disguises = symbol_disguises
        self.words = whole_words(self.tokenizer) | learned_words if one_letter_words else None
        self.sentences = sentences
        self.sentence_margin = float(sentence_margin)
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        if self.cls_id is None or self.sep_id is None:
            raise EncoderError(f"{tokenizer_path} has no [CLS] or [SEP] token: it is not a BERT WordPiece tokenizer")

    def windows(self, texts: Sequence[str], whole_only: bool = False) -> list[Window]:
        """Every window of every text (only the first of each when ``whole_only``)."""
        return self._windows(encode_pieces(self.tokenizer, texts), whole_only)

    def _windows(self, encodings: Sequence, whole_only: bool = False) -> list[Window]:
        found = []
        for i, encoding in enumerate(encodings):
            if whole_only:  # the comment's first pieces, however its longer reading is cut
                found.extend(windows_of(encoding, i, self.cls_id, self.sep_id, self.max_tokens, max_windows=1))
            else:
                found.extend(windows_of(encoding, i, self.cls_id, self.sep_id, self.max_tokens, self.stride,
                                        align=self.align))
        return found

    def _sentence_windows(self, encodings: Sequence, whole_only: bool = False) -> list[Window]:
        """Each text's sentences read alone (``sentence_windows``) when this runner reads them and reads more than
        each text's first window."""
        if not self.sentences or whole_only:
            return []
        return [window for i, encoding in enumerate(encodings)
                for window in sentence_windows(encoding, i, self.cls_id, self.sep_id, self.max_tokens)]

    def undisguised_windows(self, texts: Sequence[str], whole_only: bool = False,
                            written: Sequence | None = None) -> list[Window]:
        """The windows of each text's ``undisguised`` reading (its sentences' too, when this runner reads them and
        the text as written is one window), as windows of the text (none for a text without a disguise). Their
        characters are not the text's, so each covers the whole text and no piece of it: a sentence's embedding never
        comes from one, and a best window among them points at no sentence. ``written``: the texts' own encodings
        (``encode_pieces``), when the caller has them."""
        readings = [(i, reading) for i, text in enumerate(texts)
                    if (reading := undisguised(text, wider=self.wider_disguises, words=self.words,
                                               symbols=self.symbol_disguises)) is not None]
        encodings = encode_pieces(self.tokenizer, [reading for _, reading in readings])
        found = self._windows(encodings, whole_only)
        alone = self._sentence_windows(encodings, whole_only)
        if alone:  # only for a text that is one window as written: a longer one is read as without this reading
            written = encode_pieces(self.tokenizer, texts) if written is None else written
            found += [window for window in alone
                      if len(written[readings[window.comment][0]].ids) <= self.max_tokens - 2]
        return [Window(readings[window.comment][0], window.ids, 0, len(texts[readings[window.comment][0]]))
                for window in found]

    @property
    def one_letter_words(self) -> bool:
        """Whether the wider undisguised reading parts one-letter words from spaced letters (``whole_words``)."""
        return self.words is not None

    def is_long(self, texts: Sequence[str]) -> np.ndarray:
        """Whether each text has more word pieces than one window holds."""
        encodings = encode_pieces(self.tokenizer, texts)
        return np.array([len(encoding.ids) > self.max_tokens - 2 for encoding in encodings], dtype=bool)

    def _batches(self, windows: Sequence[Window], batch_size: int = BATCH_SIZE):
        """``(rows, input_ids, attention_mask)`` for batches of at most ``batch_size`` windows of similar length, in
        order of length. A runner that reads sentences alone also starts the next batch at a window that would pad
        this one by more than ``PADDING_SHARE`` of its pieces, so that one comment's short sentences are not padded to
        the comment's length (bundles from 2.15.0, whose activations are quantised per token: a batch's make-up does
        not change a score; an earlier bundle's batches stay as they were, as 2.6.0's scores depend on them)."""
        lengths = [len(window.ids) for window in windows]
        share = PADDING_SHARE if self.sentences else float("inf")
        rows: list[int] = []
        pieces = 0
        for i in np.argsort(lengths, kind="stable"):
            n = lengths[i]
            if rows and (len(rows) == batch_size or len(rows) * (n - lengths[rows[-1]]) > share * (pieces + n)):
                yield (np.array(rows), *pad_batch([windows[r] for r in rows]))
                rows, pieces = [], 0
            rows.append(int(i))
            pieces += n
        if rows:
            yield (np.array(rows), *pad_batch([windows[r] for r in rows]))

    def window_logits(self, windows: Sequence[Window], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Logits ``(n_windows, n_attributes)``, computed in batches of windows of similar length."""
        logits = np.zeros((len(windows), len(self.attributes)), dtype=np.float32)
        for rows, ids, mask in self._batches(windows, batch_size):
            logits[rows] = self.session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]
        return logits

    @property
    def has_embeddings(self) -> bool:
        """Whether the graph has the ``hidden`` output (exports before bundle 2.2.0 do not)."""
        return HIDDEN_NAME in {output.name for output in self.session.get_outputs()}

    def window_outputs(self, windows: Sequence[Window], pools: Sequence[Sequence[tuple[int, int, int]]],
                       n_sentences: int, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """Logits of every window and, in the same pass, the mean token state of each pooled sentence.

        ``pools[w]`` lists ``(sentence, first, last)``: sentence ``sentence``'s embedding is the mean of window
        ``w``'s states at positions ``[first, last)``. Rows of sentences no window pools stay NaN.
        """
        if not self.has_embeddings:
            raise EncoderError(f"the encoder graph has no {HIDDEN_NAME!r} output: re-export it "
                               "(python -m model.training.encoder export) to use claim heads on the encoder")
        logits = np.zeros((len(windows), len(self.attributes)), dtype=np.float32)
        embeddings = None
        for rows, ids, mask in self._batches(windows, batch_size):
            logits[rows], hidden = self.session.run([OUTPUT_NAME, HIDDEN_NAME], {"input_ids": ids, "attention_mask": mask})
            if embeddings is None:
                embeddings = np.full((n_sentences, hidden.shape[-1]), np.nan, dtype=np.float32)
            for r, row in enumerate(rows):
                for sentence, first, last in pools[row]:
                    embeddings[sentence] = hidden[r, first:last].mean(axis=0)
        return logits, embeddings if embeddings is not None else np.zeros((n_sentences, 0), dtype=np.float32)

    def logits(self, texts: Sequence[str], whole_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per text and attribute, the largest window logit and the ``(begin, end)`` characters of its window.

        Returns
        -------
        logits : numpy.ndarray
            ``(n_texts, n_attributes)``.
        spans : numpy.ndarray
            ``(n_texts, n_attributes, 2)`` int, character offsets into each text.
        """
        logits, spans, _ = self.encode(texts, whole_only)
        return logits, spans

    def encode(self, texts: Sequence[str], whole_only: bool = False,
               sentences: Sequence[Sequence[tuple[int, int]]] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``logits`` and, with ``sentences`` (character spans per text), each sentence's embedding from the same pass.

        A sentence's embedding is the mean of the last layer's states at its pieces, read in the window of its
        comment that holds most of them (its comment's context, as served); ``(n_sentences, hidden)`` in the
        order of ``sentences`` flattened, NaN for a sentence without a piece. ``None`` without ``sentences``.
        """
        texts = list(texts)
        encodings = encode_pieces(self.tokenizer, texts)
        windows = self._windows(encodings, whole_only)
        pools = sentence_pools(windows, sentences) if sentences is not None else None
        # The other readings pool no sentence: a sentence's embedding is read in its comment's context, as before.
        # An undisguised reading's windows go before the text's own, so that on a tie below the text's window, the
        # last one written, is kept: it points at its sentence, an undisguised reading's at nothing; a sentence read
        # alone goes after them, and on a tie points at that sentence alone.
        before = self.undisguised_windows(texts, whole_only, encodings) if self.undisguised else []
        after = self._sentence_windows(encodings, whole_only)
        windows = before + windows + after
        if pools is not None:
            pools = ([[] for _ in before] + pools[0] + [[] for _ in after], pools[1])
        if pools is None:
            found, embeddings = self.window_logits(windows), None
        else:
            found, embeddings = self.window_outputs(windows, *pools)
        if after:
            found[len(windows) - len(after):] -= self.sentence_margin
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
        return best, spans, embeddings


def sentence_pools(windows: Sequence[Window], sentences: Sequence[Sequence[tuple[int, int]]]
                   ) -> tuple[list[list[tuple[int, int, int]]], int]:
    """For each window, the sentences it pools ``(sentence, first, last)``; and the number of sentences.

    Each sentence (numbered in the order of ``sentences`` flattened) is pooled in the window of its comment
    holding most of its pieces (the first such window on a tie). Only the windows whose characters reach the
    sentence's are looked at, so the cost grows with the sentences and their windows, not with their product (a
    20,000-character comment of 10,000 short sentences in 500 windows took seconds).
    """
    by_comment: dict[int, list[int]] = {}
    for w, window in enumerate(windows):
        by_comment.setdefault(window.comment, []).append(w)
    pools: list[list[tuple[int, int, int]]] = [[] for _ in windows]
    number = 0
    for comment, spans in enumerate(sentences):
        candidates = _WindowsReaching([windows[w] for w in by_comment.get(comment, [])], by_comment.get(comment, []))
        for begin, end in spans:
            best = None
            for w in candidates.reaching(begin, end):
                first, last = windows[w].positions(begin, end)
                if last > first and (best is None or last - first > best[2] - best[1]):
                    best = (w, first, last)
            if best is not None:
                pools[best[0]].append((number, best[1], best[2]))
            number += 1
    return pools, number


class _WindowsReaching:
    """The windows of one comment that may hold a piece inside characters ``[begin, end)``, in their order.

    A piece inside both a window and ``[begin, end)`` needs ``window.end >= begin`` and ``window.begin <= end``.
    Windows step forward through the comment, so both bounds rise with the window and the windows meeting them
    are one run, found by bisection; should they not rise, every window is a candidate.
    """

    def __init__(self, windows: Sequence[Window], numbers: Sequence[int]):
        self.numbers = list(numbers)
        self.begins = [window.begin for window in windows]
        self.ends = [window.end for window in windows]
        self.ordered = all(a <= b for a, b in zip(self.begins, self.begins[1:])) and all(
            a <= b for a, b in zip(self.ends, self.ends[1:]))

    def reaching(self, begin: int, end: int) -> Sequence[int]:
        if not self.ordered:
            return self.numbers
        return self.numbers[bisect.bisect_left(self.ends, begin):bisect.bisect_right(self.begins, end)]


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
