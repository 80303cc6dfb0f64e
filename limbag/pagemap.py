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
    """The first element id that begins on each page (None on a page where nothing begins)."""

    def label_of(self, anchor_id: str) -> str:
        return self.labels[self.anchor_pages[anchor_id]]


def build_page_map(pages: list[Any], front_matter_end: int, source_order: Mapping[str, int],
                   floating: frozenset[str] = frozenset()) -> PageMap:
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
        first_on_page.append(min(candidates, key=source_order.__getitem__) if candidates else None)
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
