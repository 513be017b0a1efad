"""HTML comment bodies (Coral, Perspective's ``comment.type: HTML``) -> the plain text the scorer reads."""

from __future__ import annotations

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
# Elements whose content is never shown to a reader, so never scored.
HIDDEN_TAGS = frozenset({"script", "style", "template"})


class _TextCollector(HTMLParser):
    """Collect the visible text of an HTML fragment; entities are decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in HIDDEN_TAGS:
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


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML fragment: tags dropped, entities decoded, blocks on their own lines."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).split("\n"))
    return "\n".join(line for line in lines if line)
