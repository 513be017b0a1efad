"""How report values are written out: three-decimal numbers for Markdown, NaN-free plain values for JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def is_defined(value: float | None) -> bool:
    """Whether a metric has a value (not ``None``, not NaN)."""
    return value is not None and not math.isnan(value)


def format_number(value: float | None) -> str:
    """Three decimals, or ``n/a`` for an undefined metric."""
    return f"{value:.3f}" if is_defined(value) else "n/a"


def format_pair(value: float | None, other: float | None, present: bool) -> str:
    """``format_number(value)``, then `` / `` and the baseline's ``other`` when a baseline is ``present``."""
    return format_number(value) + (f" / {format_number(other)}" if present else "")


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


def write_report(out: str | Path, markdown: str, results) -> Path:
    """Write a Markdown report to ``out`` and its results to the JSON twin beside it (``.json``); ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(json_ready(results), indent=2) + "\n", encoding="utf-8")
    out.write_text(markdown, encoding="utf-8")
    return out
