"""How report values are written out: three-decimal numbers for Markdown, NaN-free plain values for JSON."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import numpy as np

from model.bundle import replace_text


def is_defined(value: float | None) -> bool:
    """Whether a metric has a value (not ``None``, not NaN)."""
    return value is not None and not math.isnan(value)


MAX_DECIMALS = 6
"""Most decimals ``format_number`` writes to tell a value from the target it is compared with."""


def format_number(value: float | None, target: float | None = None) -> str:
    """Three decimals, or ``n/a`` for an undefined metric; with a ``target``, more decimals where three would show a
    value that is not the target as the target itself (``0.9499`` against 0.95: a target missed must not read met)."""
    if not is_defined(value):
        return "n/a"
    for decimals in range(3, MAX_DECIMALS + 1):
        text = f"{value:.{decimals}f}"
        if target is None or value == target or float(text) != target:
            return text
    return text


def format_pair(value: float | None, other: float | None, present: bool, target: float | None = None) -> str:
    """``format_number(value, target)``, then `` / `` and the baseline's ``other`` when a baseline is ``present``."""
    return format_number(value, target) + (f" / {format_number(other, target)}" if present else "")


def target_status(row) -> str:
    """``met``, ``**missed**``, or ``n/a`` when the target's value could not be computed (a set without both labels)."""
    if not is_defined(row.get("value")):
        return "n/a"
    return "met" if row["met"] else "**missed**"


def target_margin(row) -> float | None:
    """How far a target row (``value``, ``target``, ``at_most``) is from its target, signed so that positive means
    met; ``None`` without a value."""
    if not is_defined(row["value"]):
        return None
    return float(row["target"] - row["value"] if row.get("at_most") else row["value"] - row["target"])


def format_signed(value: float | None) -> str:
    """``+0.012``, ``-0.061``, a fourth decimal where three would show a non-zero value as 0 (``-0.0001``: a target
    missed by that much must not read ``-0.000``), or ``n/a`` for an undefined value."""
    if not is_defined(value):
        return "n/a"
    text = f"{value:+.3f}"
    return f"{value:+.4f}" if value != 0 and float(text) == 0 else text


def encoder_mode_note(mode: str | None) -> str:
    """``, encoder mode: `cascade``` for a report's header line; empty for a bundle without an encoder. The mode can
    differ from the bundle's own (``MODERATION_ENCODER_MODE``), and the figures with it."""
    return "" if mode is None else f", encoder mode: `{mode}`"


def json_ready(value):
    """Replace NaN by ``None`` (JSON has no NaN) and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def check_writable(*paths: str | Path) -> None:
    """Raise ``OSError`` naming one of ``paths`` that cannot be written: a run that takes minutes checks where it will
    write before it starts, not after. Nothing is created (a run refused afterwards, for a missing data folder say,
    leaves no empty folders behind): a path's nearest existing folder must be one this process can write in."""
    for path in map(Path, paths):
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
        base = path.parent
        while not base.exists() and not base.is_symlink() and base != base.parent:
            base = base.parent
        if not base.is_dir():  # a file (or a dangling link) stands where a folder should be
            raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(base))
        writable = os.access(path, os.W_OK) if path.exists() else os.access(base, os.W_OK | os.X_OK)
        if not writable:
            raise PermissionError(errno.EACCES, "cannot be written (permission denied)", str(path))


def out_problem(error: OSError) -> str:
    """What ``check_writable``'s error says, as a command names it: ``--out PATH: is a file, not a folder``."""
    return f"--out {error.filename}: {error.strerror}"


def write_report(out: str | Path, markdown: str, results) -> Path:
    """Write a Markdown report to ``out`` and its results to the JSON twin beside it (``.json``); ``out``.

    Each file is replaced whole (an interrupted write leaves the previous one), the twin first.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    replace_text(out.with_suffix(".json"), json.dumps(json_ready(results), indent=2) + "\n")
    replace_text(out, markdown)
    return out
