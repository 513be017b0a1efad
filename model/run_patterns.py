"""Regular expressions that read a run of characters to its end from every start, matched in linear time.

From each place where it may begin, a pattern such as ``\\b[a-z0-9.-]+\\.(?:com|org)\\b`` reads the whole run of
``[a-z0-9.-]`` that follows and then looks back along it for what must come next. Where that is not there, the
next start reads the same run again, so a run of n characters costs about n²/2 steps (0.4 s for 20,000 characters
of "a-a-a-..."). ``RunPattern`` finds the same matches, trying the pattern only where it can match.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Callable, Iterator

LONG_RUN = 64
"""Texts without a longer run keep the pattern's own scan: there, reading a run again costs little."""


class RunPattern:
    """``finditer``, ``findall`` and ``sub`` of ``pattern``: the same matches, in time linear in the text.

    Every match of ``pattern`` must begin where ``others`` matches, or where ``start`` matches in a run of
    ``run`` characters that holds, at that place or after it, a character where ``marker`` matches (what the
    pattern needs to find along the run, or right after it). Those places are found in one pass each, and the
    pattern is tried at them alone, in order from the end of the last match, as ``re`` scans: a place not among
    them cannot begin a match, so the matches are ``re``'s. Each run is then read about once.

    Parameters
    ----------
    pattern : re.Pattern
        Without groups (``findall`` gives whole matches) and never matching the empty string.
    run : str
        A character class, as ``"[a-z0-9.-]"``.
    start : str
        Matches one ``run`` character where the pattern's run may begin (lookbehinds, ``\\b`` and all).
    marker : str
        Matches one ``run`` character where the pattern, begun there or earlier in the run, can match (a lookahead
        after the character holds what must come next).
    others : str, optional
        Matches, empty, where the pattern's other alternatives may begin.

    The parts are compiled with ``pattern``'s flags, so their classes mean what the pattern's do.
    """

    def __init__(self, pattern: re.Pattern, run: str, start: str, marker: str, others: str | None = None):
        if pattern.groups:
            raise ValueError(f"a RunPattern's pattern must have no groups (findall would give them): {pattern.pattern!r}")
        self.pattern = pattern
        self.runs = re.compile(f"{run}+", pattern.flags)
        self.long_run = re.compile(f"{run}{{{LONG_RUN + 1},}}", pattern.flags)
        self.start = re.compile(start, pattern.flags)
        self.marker = re.compile(marker, pattern.flags)
        self.others = None if others is None else re.compile(others, pattern.flags)

    def finditer(self, text: str) -> Iterator[re.Match]:
        """``pattern.finditer(text)``."""
        if self.long_run.search(text) is None:
            return self.pattern.finditer(text)
        return self._linear_finditer(text)

    def findall(self, text: str) -> list[str]:
        """``pattern.findall(text)``."""
        return [match.group() for match in self.finditer(text)]

    def sub(self, repl: str | Callable[[re.Match], str], text: str) -> str:
        """``pattern.sub(repl, text)``."""
        pieces, position = [], 0
        for match in self.finditer(text):
            pieces += [text[position:match.start()], repl(match) if callable(repl) else match.expand(repl)]
            position = match.end()
        return "".join(pieces) + text[position:] if pieces else text

    def _linear_finditer(self, text: str) -> Iterator[re.Match]:
        position = tried = -1
        for start in heapq.merge(self._run_starts(text), self._other_starts(text)):
            if start < position or start == tried:  # inside the last match, or both kinds of place
                continue
            tried = start
            match = self.pattern.match(text, start)  # lookbehinds and \b see text before start, as in a scan
            if match is not None:
                yield match
                position = match.end()

    def _run_starts(self, text: str) -> Iterator[int]:
        """Where ``start`` matches in a run, up to the run's last ``marker``, in order."""
        markers = [match.start() for match in self.marker.finditer(text)]
        for run in self.runs.finditer(text):
            last = bisect.bisect_left(markers, run.end()) - 1
            if last >= 0 and markers[last] >= run.start():
                yield from (match.start() for match in self.start.finditer(text, run.start(), markers[last] + 1))

    def _other_starts(self, text: str) -> Iterator[int]:
        return iter(()) if self.others is None else (match.start() for match in self.others.finditer(text))
