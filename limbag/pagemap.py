"""Where the print layout put things: the one fact that flows from the PDF to the index, chronology and EPUB."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .engine import PlacedText, placed_texts
from .markup import FlowText, solid_text


@dataclass(frozen=True, slots=True)
class PageMap:
    """Where the print layout put things: what the index, chronology and EPUB cite."""

    labels: tuple[str, ...]
    """The printed label of each page, by page index: 'i', 'ii', … then '1', '2', …"""
    anchor_pages: Mapping[str, int]
    """Page index on which each element id begins."""
    first_on_page: tuple[str | None, ...]
    """Where each page begins: an element id, or `_w-<paragraph id>-<n>` for a page that begins at
    word n of a paragraph; None on a page where nothing begins (a blank page)."""
    covers: tuple[int, int] = (0, 0)
    """How many of the first and of the last pages are covers (see build_page_map)."""

    def is_cover(self, index: int) -> bool:
        return index < self.covers[0] or index >= len(self.labels) - self.covers[1]

    @property
    def interior_pages(self) -> int:
        """The pages between the covers: what a printer binds into them."""
        return len(self.labels) - sum(self.covers)

    def label_of(self, anchor_id: str) -> str:
        return self.labels[self.anchor_pages[anchor_id]]


def build_page_map(page_anchors: Sequence[Sequence[str]], front_matter_end: int, source_order: Mapping[str, int],
                   floating: frozenset[str] = frozenset(),
                   continued: Sequence[str | None] = (), covers: tuple[int, int] = (0, 0),
                   cover_word: str = "Cover") -> PageMap:
    """Labels and anchors from the ids found on each laid-out page; body pages are numbered from 1.
    The first `covers[0]` and last `covers[1]` pages are the covers: "Cover 1", "Cover 2", then the
    front matter from i; "Cover 3", "Cover 4" at the end.

    A page that `continued` says begins inside a paragraph begins at that word; otherwise its first
    element is the one earliest in the source among those beginning there. `floating` ids
    (footnotes and what is inside them) may be moved by the layout, so never count.
    """
    anchor_pages: dict[str, int] = {}
    first_on_page: list[str | None] = []
    for index, anchors in enumerate(page_anchors):
        beginning = [anchor for anchor in anchors if anchor not in anchor_pages]
        for anchor in beginning:
            anchor_pages[anchor] = index
        candidates = [a for a in beginning if a in source_order and a not in floating]
        first = min(candidates, key=source_order.__getitem__) if candidates else None
        if index < len(continued) and continued[index] is not None:
            first = continued[index]
        first_on_page.append(first)
    count = len(page_anchors)
    front, back = covers
    labels = tuple(
        f"{cover_word} {index + 1}" if index < front else
        f"{cover_word} {front + index - (count - back) + 1}" if index >= count - back else
        to_roman(index - front + 1) if index < front_matter_end else str(index - front_matter_end + 1)
        for index in range(count)
    )
    return PageMap(labels, MappingProxyType(anchor_pages), tuple(first_on_page), covers)


def to_roman(number: int) -> str:
    numerals = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
    text = ""
    for value, numeral in numerals:
        while number >= value:
            text += numeral
            number -= value
    return text


@dataclass(frozen=True, slots=True)
class MarkPlaces:
    """Where the layout set the marks that print leaves out of its HTML (see markup.FlowText)."""

    anchors: tuple[dict[str, tuple[float, float, float, float]], ...]
    """For each page, the marks on it: id → (x, y, width, height) of the text they begin in."""
    continued: tuple[str | None, ...]
    """For each page that begins inside a paragraph, `_w-<paragraph id>-<n>`: it begins at word n."""


@dataclass
class _Fragment:
    page: int
    piece: PlacedText
    start: int = 0


def place_marks(pages: list[Any], flows: Mapping[str, FlowText]) -> MarkPlaces:
    """Find each paragraph's and note's pieces of text on the laid-out pages, line by line, and
    with them the page and position of every mark and of the word each page begins with."""
    fragments: dict[str, list[_Fragment]] = {}
    first_text: list[tuple[str, _Fragment] | None] = []
    for number, page in enumerate(pages):
        first_text.append(None)
        for piece in placed_texts(page, flows):
            if piece.owner is not None and solid_text(piece.text):
                fragment = _Fragment(number, piece)
                fragments.setdefault(piece.owner, []).append(fragment)
                if piece.in_flow and first_text[number] is None:
                    first_text[number] = (piece.owner, fragment)

    anchors: list[dict[str, tuple[float, float, float, float]]] = [{} for _ in pages]
    for owner, pieces in fragments.items():
        flow = flows[owner]
        _align(pieces, flow.text)
        starts = [piece.start for piece in pieces]
        for mark, position in flow.marks:
            fragment = pieces[max(bisect_right(starts, position) - 1, 0)]
            anchors[fragment.page].setdefault(mark, fragment.piece.box)

    continued: list[str | None] = []
    for first in first_text:
        label = None
        if first is not None:
            owner, fragment = first
            flow = flows[owner]
            began_before = fragments[owner][0].page < fragment.page
            if began_before and flow.word_starts:
                word = min(bisect_left(flow.word_starts, fragment.start), len(flow.word_starts) - 1)
                label = f"_w-{owner}-{word}"
        continued.append(label)
    return MarkPlaces(tuple(anchors), tuple(continued))


def _align(pieces: list[_Fragment], text: str) -> None:
    """Set where each piece begins in `text`: each is the next stretch of it, but for the hyphen
    the engine adds where it breaks a word (a character or two at the piece's end)."""
    position = 0
    for piece in pieces:
        piece.start = min(position, len(text))
        solid = solid_text(piece.piece.text)
        if text.startswith(solid, position):
            position += len(solid)
            continue
        matched = 0
        while (matched < len(solid) and position + matched < len(text)
               and solid[matched].lower() == text[position + matched].lower()):
            matched += 1
        # An added hyphen leaves at most a character or two unmatched; anything else (text the
        # layout transformed) still moves on by the piece's length, so positions stay close.
        position += matched if len(solid) - matched <= 2 else len(solid)
