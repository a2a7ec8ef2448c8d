"""HTML mail bodies to safe plain text.

Agents and the rules engine work on text. The HTML body is stored as received, but what is
shown and matched is this text: scripts, styles and hidden head content dropped, entities
decoded, links kept as ``label (url)``, block structure kept as line breaks. The output holds
no markup, so it is safe to put anywhere text goes.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_DROPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "object",
                      "iframe", "svg", "math", "select", "button"})
_BLOCKS = frozenset({"p", "div", "section", "article", "header", "footer", "aside", "nav",
                     "main", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dt", "dd",
                     "table", "tr", "blockquote", "pre", "address", "center", "form",
                     "fieldset", "figure", "figcaption", "hr"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed",
                   "source", "track", "wbr"})
_PARAGRAPHS = frozenset({"p", "blockquote", "table", "hr", "ul", "ol", "pre", "h1", "h2", "h3",
                         "h4", "h5", "h6"})
# Only these link schemes are shown; "javascript:" and friends are dropped.
_SHOWN_SCHEMES = ("http://", "https://", "mailto:", "tel:", "ftp://")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # Text pieces, and ints for block boundaries: adjacent boundaries merge into the
        # strongest one ("</div><div>" is one line break, "</p><p>" one blank line).
        self.out: list[str | int] = []
        self.dropped_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str | None, int]] = []  # (href, index in out where the label starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            if tag not in _VOID:
                self.dropped_depth += 1
            return
        if self.dropped_depth:
            return
        attributes = dict(attrs)
        if tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.extend((1, "- "))
        elif tag in {"td", "th"}:
            self.out.append(" ")
        elif tag in _BLOCKS:
            self.out.append(2 if tag in _PARAGRAPHS else 1)
            if tag == "pre":
                self.pre_depth += 1
        elif tag == "a":
            self.links.append((attributes.get("href"), len(self.out)))
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if alt:
                self.out.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self.dropped_depth = max(0, self.dropped_depth - 1)
            return
        if self.dropped_depth:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(piece for piece in self.out[start:] if isinstance(piece, str))
            label = label.strip()
            target = (href or "").strip()
            shown = target[len("mailto:"):] if target.lower().startswith("mailto:") else target
            if target.lower().startswith(_SHOWN_SCHEMES) and shown not in label:
                self.out.append(f" ({shown})" if label else shown)
        elif tag in _BLOCKS:
            self.out.append(2 if tag in _PARAGRAPHS else 1)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.dropped_depth:
            return
        self.out.append(data if self.pre_depth else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Convert an HTML body to plain text a person can read.

    Args:
        html: the HTML document or fragment (already decoded to str).

    Returns:
        Plain text with paragraphs and list items on their own lines; never markup.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    pieces: list[str] = []
    pending = 0
    for piece in parser.out:
        if isinstance(piece, int):
            pending = max(pending, piece)
        elif pending and piece.strip(" \t") == "":
            continue  # whitespace between blocks
        else:
            if pending and pieces:
                pieces.append("\n" * pending)
            pending = 0
            pieces.append(piece)
    text = "".join(pieces).replace("\xa0", " ")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]", "", text)
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
