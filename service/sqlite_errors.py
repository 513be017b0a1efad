"""SQLite's error codes as the reports of a failed backup or migration read them."""

from __future__ import annotations

PRIMARY_CODE_MASK = 0xFF
"""SQLite's extended error codes (``SQLITE_CORRUPT_INDEX``, ``SQLITE_BUSY_RECOVERY``) keep the primary code
(``SQLITE_CORRUPT``, ``SQLITE_BUSY``) in their low byte."""


def primary_code(error: BaseException | None) -> int:
    """The primary SQLite result code of ``error`` (a ``sqlite3.Error``), 0 when it carries none."""
    return (getattr(error, "sqlite_errorcode", None) or 0) & PRIMARY_CODE_MASK
