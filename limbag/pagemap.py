"""Where the print layout put things: the one fact that flows from the PDF to the index, chronology and EPUB."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class PageMap:
    """Where the print layout put things: what the index, chronology and EPUB cite."""

    labels: tuple[str, ...]
    """The printed label of each page, by page index: 'i', 'ii', … then '1', '2', …"""
    anchor_pages: Mapping[str, int]
    """Page index on which each element id begins."""
    first_on_page: tuple[str | None, ...]
    """Where each page begins: an element id, or `w-<paragraph id>-<n>` for a page that begins at
    word n of a paragraph; None on a page where nothing begins (a blank page)."""

    def label_of(self, anchor_id: str) -> str:
        return self.labels[self.anchor_pages[anchor_id]]


def build_page_map(pages: list[Any], front_matter_end: int, source_order: Mapping[str, int],
                   floating: frozenset[str] = frozenset(),
                   words_of: Mapping[str, list[str]] = MappingProxyType({})) -> PageMap:
    """Labels and anchors from the laid-out pages; body pages are numbered from 1.

    The first element of a page is the one earliest in the source among those beginning there;
    `floating` ids (footnotes and what is inside them) may be moved by the layout, so never count.
    """
    anchor_pages: dict[str, int] = {}
    first_on_page: list[str | None] = []
    for index, page in enumerate(pages):
        beginning = [anchor for anchor in page.anchors if anchor not in anchor_pages]
        for anchor in beginning:
            anchor_pages[anchor] = index
        candidates = [a for a in beginning if a in source_order and a not in floating]
        first = min(candidates, key=source_order.__getitem__) if candidates else None
        if first is not None and first.startswith("w-"):
            first = _exact_word(first, first_line_words(page), words_of)
        first_on_page.append(first)
    labels = tuple(
        to_roman(index + 1) if index < front_matter_end else str(index - front_matter_end + 1)
        for index in range(len(pages))
    )
    return PageMap(labels, MappingProxyType(anchor_pages), tuple(first_on_page))


def to_roman(number: int) -> str:
    numerals = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
    text = ""
    for value, numeral in numerals:
        while number >= value:
            text += numeral
            number -= value
    return text


WORD_ANCHOR_STEP = 10


def first_line_words(page: Any) -> list[str]:
    """The words of the first line of a laid-out page's content (not its margins or footnotes)."""
    from weasyprint.formatting_structure import boxes

    def first_line(box: Any) -> Any:
        if isinstance(box, boxes.LineBox):
            return box
        if isinstance(box, (boxes.FootnoteAreaBox, boxes.MarginBox)):
            return None
        for child in getattr(box, "children", ()) or ():
            line = first_line(child)
            if line is not None:
                return line
        return None

    def texts(box: Any) -> list[str]:
        if isinstance(box, boxes.TextBox):
            return [box.text]
        return [text for child in getattr(box, "children", ()) or () for text in texts(child)]

    line = first_line(page._page_box)
    return " ".join(texts(line)).split() if line is not None else []


def _normal(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def _exact_word(anchor: str, line: list[str], words_of: Mapping[str, list[str]]) -> str:
    """A page's first anchor is a tenth word; the page may begin a few words before it. Find where."""
    paragraph, _, number = anchor[2:].rpartition("-")
    words = [_normal(w) for w in words_of.get(paragraph, [])]
    latest = int(number)
    line_words = [_normal(w) for w in line]
    for skip in (0, 1):  # the line may begin with the rest of a word hyphenated on the page before
        probe = line_words[skip:skip + 3]
        if not probe:
            continue
        for start in range(max(latest - WORD_ANCHOR_STEP + 1, 1), latest + 1):
            if words[start:start + len(probe)] == probe:
                return f"w-{paragraph}-{start}"
    return anchor
