"""Word n-gram counts of a fitted plain ``analyzer="word"`` vectorizer without making n-gram strings
(``WordNgrams``): each n-gram a number, found in a sorted array for the whole batch at once, and, where its token
pattern cannot see past a space (``tokens_stay_inside_words``), tokens read from the per-word cache.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import chain, repeat

import numpy as np

from model import kernels
from model.sparse_rows import LinearBlock, Rows, _pointers, keyed_counts_to_rows
from model.tfidf_weights import TfidfWeights
from model.word_grams import WordGrams, _most_pieces
from model.word_index import Preprocessing, _shared, scanned_preprocessed, split_preprocessed

_STOP = -2
"""Token id of a stop word (dropped before n-grams are made, as scikit-learn does)."""


_CHARACTER_CLASS = re.compile(r"\[([^\]]*)\]")
_SEES_SPACES = re.compile(r"\\[^bwd]|[.^$\s]|\(\?[^:u]")


def tokens_stay_inside_words(token_pattern: str | None) -> bool:
    """Whether a token pattern finds, in a text, exactly the tokens it finds in the text's whitespace-separated
    words one by one: no match can hold or look at whitespace.

    Allowed: literal characters other than whitespace and ``. ^ $``, ``\\w``, ``\\d``, ``\\b`` (a space and the
    text's edge are both non-word characters), groups, alternatives, quantifiers, and character classes that
    are not negated and hold neither whitespace nor an escape other than ``\\w``, ``\\d`` or a quote.
    """
    if not isinstance(token_pattern, str):
        return False
    for content in _CHARACTER_CLASS.findall(token_pattern):
        if content.startswith("^") or re.search(r"\s|\\[^wd\"']", content):
            return False
    rest = _CHARACTER_CLASS.sub("", token_pattern).replace("(?u)", "")
    return "[" not in rest and _SEES_SPACES.search(rest) is None


class WordNgrams:
    """Word n-gram counts of a fitted plain ``analyzer="word"`` vectorizer, without making n-gram strings.

    Each token is looked up once (a dict of the tokens that occur in the vocabulary's n-grams); an n-gram is
    then a number, ``id_1 * K^(n-1) + ... + id_n``, found in a sorted array with numpy, for the whole batch at
    once. Counts equal ``CountVectorizer.transform``: stop words are dropped before n-grams are made, and an
    n-gram never crosses documents.

    Parameters
    ----------
    vectorizer : fitted TfidfVectorizer or CountVectorizer (see ``is_plain_word``)
    """

    def __init__(self, vectorizer):
        self.preprocessing = Preprocessing.of(vectorizer)
        self.preprocess = self.preprocessing.preprocess
        self.tokenize = vectorizer.build_tokenizer()
        self.ngram_range = tuple(vectorizer.ngram_range)
        vocabulary = vectorizer.vocabulary_
        self.n_columns = len(vocabulary)
        # Built with numpy, not n-gram by n-gram: this runs at a process's first comment (``moderate score --text``).
        grams = [gram.split(" ") for gram in vocabulary]
        tokens = list(chain.from_iterable(grams))
        token_ids: dict[str, int] = {token: i for i, token in enumerate(dict.fromkeys(tokens))}  # first seen first
        self.base = max(len(token_ids), 1)
        n_parts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        gram_ids = np.fromiter(map(token_ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        first = _pointers(n_parts)[:-1]  # each n-gram's first token in gram_ids
        gram_columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(grams))
        self.unigrams = np.full(self.base, -1, dtype=np.int64)  # token id -> its unigram's column, or -1
        self.unigrams[gram_ids[first[n_parts == 1]]] = gram_columns[n_parts == 1]
        # Every n > 1's n-grams as sorted keys and their columns, one n after another (as kernels.word_ngrams_dot
        # takes them: n's are keys[key_ptr[n]:key_ptr[n + 1]]); ``tables`` views them by n. Keys of one n are
        # distinct (``is_plain_word``: they fit in 63 bits), so the order is that of the keys alone.
        lengths = np.zeros(self.ngram_range[1] + 1, dtype=np.int64)
        keys, columns = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for n in range(max(self.ngram_range[0], 2), self.ngram_range[1] + 1):
            chosen = np.flatnonzero(n_parts == n)
            key = np.zeros(len(chosen), dtype=np.int64)
            for j in range(n):
                key = key * self.base + gram_ids[first[chosen] + j]
            order = np.argsort(key)
            keys.append(key[order])
            columns.append(gram_columns[chosen][order])
            lengths[n] = len(chosen)
        keys, columns, key_ptr = np.concatenate(keys), np.concatenate(columns), _pointers(lengths)
        self.joined_tables = (keys, columns, key_ptr)
        self.tables: dict[int, tuple[np.ndarray, np.ndarray]] = {
            n: (keys[key_ptr[n] : key_ptr[n + 1]], columns[key_ptr[n] : key_ptr[n + 1]])
            for n in range(max(self.ngram_range[0], 2), self.ngram_range[1] + 1)
        }
        for word in vectorizer.get_stop_words() or ():
            token_ids[word] = _STOP
        self.token_ids = token_ids
        self.has_stop_words = bool(vectorizer.get_stop_words())
        # Where a token cannot span or see a space, a document's tokens are its words' tokens one after
        # another: each distinct word is tokenised once and its token ids kept (stop words dropped).
        self.by_word = (WordGrams(self.tokenize, token_ids, keep_unknown=True)
                        if tokens_stay_inside_words(vectorizer.token_pattern) else None)

    @staticmethod
    def is_plain_word(vectorizer) -> bool:
        """Whether ``WordNgrams`` reproduces the vectorizer's analyzer: a word analyzer with a string token
        pattern, whose vocabulary's n-grams are space-joined tokens and whose n-gram keys fit in 63 bits."""
        if (vectorizer.analyzer != "word" or vectorizer.input != "content" or vectorizer.tokenizer is not None
                or vectorizer.preprocessor is not None or callable(vectorizer.strip_accents)):
            return False
        min_n, max_n = vectorizer.ngram_range
        tokens = set()
        for gram in vectorizer.vocabulary_:
            parts = gram.split(" ")
            if not min_n <= len(parts) <= max_n or "" in parts:
                return False  # a token with a space in it: the split would be ambiguous
            tokens.update(parts)
        return max(len(tokens), 2) ** max_n < 2**62

    def tokens(self, docs: Sequence[str], shared: dict | None = None, key=None) -> list[list[str]]:
        """What ``count_rows`` takes: each document's whitespace-separated words (see ``by_word``;
        ``split_preprocessed``), or else its tokens before stop words are dropped, kept in ``shared`` (see
        ``transform_rows``) under ``key``."""
        if self.by_word is not None:
            return split_preprocessed(self.preprocessing, docs, shared)
        preprocess, tokenize = self.preprocess, self.tokenize
        return _shared(shared, key, lambda: [tokenize(preprocess(doc)) for doc in docs])

    def _token_ids(self, docs_tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, doc_of)``: every document's token ids one after another (-1 outside the n-grams' tokens,
        stop words dropped) and the document of each."""
        n_docs = len(docs_tokens)
        lengths = np.fromiter(map(len, docs_tokens), dtype=np.int64, count=n_docs)
        if self.by_word is not None:
            ids, word_lengths, _ = self.by_word.gather(list(chain.from_iterable(docs_tokens)))
            doc_of_word = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
            return ids.astype(np.int64), np.repeat(doc_of_word, word_lengths)
        ids = np.fromiter(map(self.token_ids.get, chain.from_iterable(docs_tokens), repeat(-1)), dtype=np.int64,
                          count=int(lengths.sum()))
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        if self.has_stop_words:
            kept = ids != _STOP
            ids, doc_of = ids[kept], doc_of[kept]
        return ids, doc_of

    def block(self, docs: Sequence[str], shared: dict | None, key, weights: TfidfWeights,
              rows: Callable[[], Rows]) -> LinearBlock:
        """The TF-IDF block of documents (``rows`` builds it), for ``kernels.word_ngrams_dot``; ``shared`` and
        ``key``: see ``tokens``."""
        if self.by_word is not None:
            words = self.by_word.kernel_args(scanned_preprocessed(self.preprocessing, docs, shared))
        else:  # each token a word of one piece
            ids, doc_of = self._token_ids(self.tokens(docs, shared, key))
            order = np.arange(len(ids))
            words = (_pointers(np.bincount(doc_of, minlength=len(docs))), order, order, np.ones_like(order), ids)
        args = (*words, self.unigrams, *self.joined_tables, self.ngram_range[0], self.base, weights.tf(_most_pieces(*words)))
        return weights.block(kernels.word_ngrams_dot, args, len(docs), rows)

    def count_rows(self, docs_tokens: Sequence[Sequence[str]], dtype) -> Rows:
        """Count rows (n-gram counts, columns sorted) of documents given as ``tokens`` gives them."""
        n_docs, n_columns = len(docs_tokens), self.n_columns
        ids, doc_of = self._token_ids(docs_tokens)
        found_keys = []
        if self.ngram_range[0] == 1:
            columns = self.unigrams[ids[ids >= 0]]
            hit = columns >= 0
            found_keys.append(doc_of[ids >= 0][hit] * n_columns + columns[hit])
        for n, (keys, columns) in self.tables.items():
            m = len(ids) - n + 1
            if m <= 0 or not len(keys):
                continue
            gram, known = ids[:m].copy(), ids[:m] >= 0
            for j in range(1, n):
                following = ids[j : j + m]
                gram *= self.base
                gram += following
                known &= following >= 0
            known &= doc_of[:m] == doc_of[n - 1 : n - 1 + m]  # no n-gram across documents
            gram, docs = gram[known], doc_of[:m][known]
            position = np.minimum(np.searchsorted(keys, gram), len(keys) - 1)
            hit = keys[position] == gram
            found_keys.append(docs[hit] * n_columns + columns[position[hit]])
        keys = np.concatenate(found_keys) if found_keys else np.zeros(0, dtype=np.int64)
        return keyed_counts_to_rows(keys, n_docs, n_columns, dtype)
