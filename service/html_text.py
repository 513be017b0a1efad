"""HTML comment bodies (Coral, Perspective's ``comment.type: HTML``) -> the plain text the scorer reads.

The content of ``<script>``, ``<style>`` and ``<template>`` is not scored, as a browser does not show it, but only when
the element is closed. One never closed would hide all the rest of the comment from scoring, while many sites do not
render a comment's HTML as a browser would. Coral's purify phase (DOMPurify, run before its external phase) drops the
element and all it holds, so its readers do not see the rest either; but WordPress's ``wp_kses`` (its comment filter)
keeps the content of a tag it strips as text, and ``bleach.clean`` by default escapes the tag and shows its content.
So "Great article! <style>you are an idiot" sent as HTML was scored as "Great article!" and approved, while such a site
showed the insult; the text after a hidden element that is never closed is now scored as text.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

# Elements that end a line when rendered: without a break their words would run together.
# Table cells, rules, definition lists and HTML5's sectioning blocks too: "<td>you</td><td>idiot</td>" was scored as
# "youidiot", which no reader sees.
BREAK_TAGS = frozenset({
    "br", "p", "div", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "td", "th", "hr", "dl", "dt", "dd",
    "address", "article", "aside", "details", "summary", "fieldset", "legend", "figure", "figcaption",
    "footer", "header", "main", "nav", "section",
})
# Elements whose content is never shown to a reader, so never scored (when they are closed: see above).
HIDDEN_TAGS = frozenset({"script", "style", "template"})


class _TextCollector(HTMLParser):
    """Collect the visible text of an HTML fragment; entities are decoded by the parser.

    ``hidden_start`` is where the content of the outermost hidden element still open begins in the fragment, and
    ``parts_before_hidden`` how many parts were collected before it, so that ``html_to_text`` can take that content as
    text when the element is never closed.
    """

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0
        self.hidden_start = 0
        self.parts_before_hidden = 0
        # The parser tells a tag's position as (line, column), lines ended by "\n" only.
        self._line_starts = [0, *(match.end() for match in re.finditer("\n", html))]

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in HIDDEN_TAGS:
            if not self.hidden_depth:
                line, column = self.getpos()
                self.hidden_start = self._line_starts[line - 1] + column + len(self.get_starttag_text() or "")
                self.parts_before_hidden = len(self.parts)
            self.hidden_depth += 1
        elif tag in BREAK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in BREAK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(data)


class _RevealingCollector(_TextCollector):
    """Collect all the text of an HTML fragment, that of ``HIDDEN_TAGS`` too: the rest of a comment after a hidden
    element that is never closed. Inside it ``<script>`` and ``<style>`` are tags like any other, not raw text, so an
    unclosed one inside it hides nothing either, and one pass reads it (a parse per unclosed tag would take time
    growing with their number squared)."""

    CDATA_CONTENT_ELEMENTS = ()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in BREAK_TAGS:
            self.parts.append("\n")


def _collect(collector: _TextCollector, html: str) -> list[str]:
    """Feed all of ``html`` to ``collector``; return its parts."""
    collector.feed(html)
    collector.close()
    return collector.parts


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML fragment: tags dropped, entities decoded, blocks on their own lines; the
    content of a hidden element (``HIDDEN_TAGS``) is dropped when the element is closed, and read as text when not.

    Markup the standard library's parser cannot take (``<![`` and a few like it: an AssertionError in ``_markupbase``)
    is read by ``_tags_stripped``: a reader's "<![<![" answered 500, and Coral publishes a comment whose phase fails.
    """
    try:
        collector = _TextCollector(html)
        parts = _collect(collector, html)
        if collector.hidden_depth:
            rest = html[collector.hidden_start:]
            parts = [*parts[: collector.parts_before_hidden], *_collect(_RevealingCollector(rest), rest)]
    except (AssertionError, ValueError):
        parts = [_tags_stripped(html)]
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>|<!--.*?-->", re.S)


def _tags_stripped(html: str) -> str:
    """The text of HTML the parser refused: tags dropped (a block's as a line end), entities decoded, everything else,
    the markup it could not read included, kept as text, so that nothing a reader wrote is hidden from scoring."""
    def replaced(match: re.Match) -> str:
        return "\n" if (match.group(2) or "").lower() in BREAK_TAGS else ""

    return unescape(_TAG.sub(replaced, html))
