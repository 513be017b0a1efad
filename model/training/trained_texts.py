"""Which site comments a bundle trained on: a compact fingerprint of their texts for its manifest, and the rows of
another table that it matches.

A site file's SHA-256 only knows that very file: a later export that contains an earlier one, or notebook 05's
``held_out.csv`` given to a bundle trained on the whole ``site.csv``, has another hash, and figures measured on it were
optimistic without a word. The fingerprint is the sorted, truncated SHA-256 of each distinct text's ``overlap_key``
(the normalisation that finds the same text in two sets): ``FINGERPRINT_BYTES`` bytes a text, base64 in one string
(about 67 KB for 10,000 texts). A truncated hash of a text does not give the text back, but it does let whoever reads
the manifest check whether a text they guess was trained on.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from model.bundle import FINGERPRINT_KEY, without_fingerprint  # noqa: F401 (the serving core shows manifests without it)
from model.training.data import overlap_key

FINGERPRINT_SCHEME = "sha256-40/overlap_key/sorted/base64"
"""What ``digests`` holds: the first 5 bytes of SHA-256 of each distinct ``overlap_key``, sorted, concatenated, base64."""
FINGERPRINT_BYTES = 5
"""40 bits a text: comparing 10,000 texts with 10,000 trained ones matches a text by chance about once in 10,000 runs."""


def _digest(text: str) -> bytes:
    return hashlib.sha256(overlap_key(text).encode("utf-8")).digest()[:FINGERPRINT_BYTES]


def text_fingerprint(texts: Iterable[str]) -> dict:
    """The manifest entry naming the texts a bundle trained on.

    Parameters
    ----------
    texts : iterable of str
        The site texts the bundle trained on (copies and spellings that ``overlap_key`` joins count once).

    Returns
    -------
    dict
        ``scheme`` (``FINGERPRINT_SCHEME``), ``texts`` (distinct texts) and ``digests`` (base64).
    """
    digests = sorted({_digest(text) for text in texts})
    return {"scheme": FINGERPRINT_SCHEME, "texts": len(digests), "digests": base64.b64encode(b"".join(digests)).decode("ascii")}


def _digest_set(entry: Mapping) -> set[bytes]:
    raw = base64.b64decode(entry["digests"])
    return {raw[i:i + FINGERPRINT_BYTES] for i in range(0, len(raw), FINGERPRINT_BYTES)}


def has_fingerprint(manifest: Mapping) -> bool:
    """Whether a bundle's ``manifest`` records the site texts it trained on (site bundles from this release on)."""
    entry = (manifest.get("site_data") or {}).get(FINGERPRINT_KEY)
    return isinstance(entry, Mapping) and entry.get("scheme") == FINGERPRINT_SCHEME


def trained_rows(manifest: Mapping, texts: Sequence[str]) -> np.ndarray | None:
    """Which of ``texts`` the bundle of ``manifest`` trained on (same ``overlap_key``), or None when it cannot tell.

    Parameters
    ----------
    manifest : mapping
        A bundle's manifest.
    texts : sequence of str
        The comments a comparison or a threshold choice is about to be measured on.

    Returns
    -------
    numpy.ndarray of bool or None
        True for each text the bundle trained on; all False for a bundle without site data; None for a site bundle
        that records no fingerprint (an older one: only its site file's SHA-256 can say it trained on a file).
    """
    site = manifest.get("site_data") or {}
    if not site:
        return np.zeros(len(texts), dtype=bool)
    if not has_fingerprint(manifest):
        return None
    trained = _digest_set(site[FINGERPRINT_KEY])
    return np.array([_digest(str(text)) in trained for text in texts], dtype=bool)

