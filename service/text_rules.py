"""The one rule for every text field of a request, checked before any backend (scorer, SQLite, PostgreSQL) sees it.

A text field must be a string of at most its limit in characters, with no NUL character (PostgreSQL
refuses to store one and answered 500, SQLite kept it) and no unpaired surrogate (a valid JSON escape
such as ``\\ud800`` that is not text and cannot be written as UTF-8). Every API surface calls
``text_problem`` and answers 400 naming the field, so the same input gets the same answer on every
database.
"""

from __future__ import annotations

from collections.abc import Callable, Sized

NUL = "\x00"
NON_EMPTY = "must be a non-empty string"
TOO_LONG = "has {n} characters; the limit is {limit}"


def character_problem(value: str) -> str | None:
    """What is wrong with ``value``'s characters (NUL, unpaired surrogate), without the field name; None if nothing."""
    index = value.find(NUL)
    if index >= 0:
        return f"contains a NUL character at character {index}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"contains an unpaired surrogate at character {error.start}"
    return None


def length_problem(value: Sized, max_chars: int, min_chars: int = 0, too_short: str = NON_EMPTY, too_long: str = TOO_LONG) -> str | None:
    """What is wrong with ``value``'s length (``too_long`` formats ``n`` and ``limit``), without the field name; None if it is within [min_chars, max_chars]."""
    if len(value) < min_chars:
        return too_short
    if len(value) > max_chars:
        return too_long.format(n=len(value), limit=max_chars)
    return None


def text_problem(value: str, max_chars: int, min_chars: int = 0) -> str | None:
    """The rule for one text field: its length, then its characters; the problem without the field name, or None."""
    return length_problem(value, max_chars, min_chars) or character_problem(value)


def check_text(value: str, field: str, max_chars: int, error: Callable[[str, str], Exception]) -> str:
    """Return ``value`` if it meets the rule, else raise ``error(field, "<field> <problem>")`` (each API surface's 400)."""
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise error(field, f"{field} {problem}")
    return value
