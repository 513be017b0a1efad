"""Where the real public data is, for the tests marked ``data`` that skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

from model.training.data import DataError, resolve_data_dir


def real_claims_dir() -> Path | None:
    """The real data directory when it holds the claim sets (``claims/cdcp`` as the witness), else None."""
    try:
        root = resolve_data_dir()
    except DataError:
        return None
    return root if (root / "claims" / "cdcp").is_dir() else None
