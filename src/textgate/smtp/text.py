"""Text out of an email part: ``format=flowed`` unwrapped (RFC 3676) and HTML turned into
plain text (what an HTML-only email says, as an SMS can carry it)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "unflow"]

# RFC 3676 section 4.3: "-- " alone is the signature separator, never a flowed line.
_SIGNATURE = "-- "
_QUOTES = re.compile(r">*")


def unflow(text: str, *, delsp: bool) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676 section 4): a line
    ending in a space continues on the next line of the same quote depth. Space-stuffing
    (a leading space added by the sender, section 4.4) is removed; with ``DelSp=yes`` the
    trailing space is the sender's addition and is removed too (section 4.2)."""
    out: list[str] = []
    joining: tuple[int, str] | None = None  # (quote depth, text so far) of a flowed line
    for raw in text.split("\n"):
        quotes = _QUOTES.match(raw)
        depth = len(quotes.group()) if quotes else 0
        line = raw[depth:]
        if line.startswith(" "):
            line = line[1:]
        flowed = line.endswith(" ") and line != _SIGNATURE
        if flowed and delsp:
            line = line[:-1]
        if joining is not None and joining[0] == depth:
            line = joining[1] + line
        elif joining is not None:
            out.append(">" * joining[0] + (" " if joining[0] else "") + joining[1])
        joining = None
        if flowed:
            joining = (depth, line)
        else:
            out.append(">" * depth + (" " if depth else "") + line)
    if joining is not None:
        out.append(">" * joining[0] + (" " if joining[0] else "") + joining[1])
    return "\n".join(out)


# Elements that start a new line (block-level in HTML); their text stays apart.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
# Elements whose content is not text a reader sees.
_HIDDEN = frozenset({"head", "script", "style", "template", "title"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # Source line breaks and runs of spaces are layout, not text (HTML collapses
            # white space); only tags make line breaks.
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The text of an HTML document: tags dropped, ``<br>`` and block elements as line
    breaks (a paragraph as an empty line), at most one empty line in a row."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
