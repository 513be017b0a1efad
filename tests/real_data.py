"""Where the real public data is, for the tests marked ``data`` that skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

from model.training.data import DataError, resolve_data_dir


def _real_data_dir_with(witness: str) -> Path | None:
    """The real data directory when it holds the folder ``witness``, else None."""
    try:
        root = resolve_data_dir()
    except DataError:
        return None
    return root if (root / witness).is_dir() else None


def real_claims_dir() -> Path | None:
    """The real data directory when it holds the claim sets (``claims/cdcp`` as the witness), else None."""
    return _real_data_dir_with("claims/cdcp")


def real_bias_dir() -> Path | None:
    """The real data directory when it holds the identity-bias sets (``hostility/jigsaw_bias_madlibs``), else None."""
    return _real_data_dir_with("hostility/jigsaw_bias_madlibs")
