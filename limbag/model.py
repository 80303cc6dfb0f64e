"""The neutral document model: frozen dataclasses that every writer (PDF, EPUB) reads.

Nothing here knows about Markdown tokens, HTML or pages. Ids are assigned once, by the reader,
so that the PDF page map and the EPUB point at the same places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import BookConfig
from .errors import Location

# Inlines --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Emphasis:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Strong:
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Code:
    text: str


@dataclass(frozen=True, slots=True)
class LineBreak:
    pass


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    children: tuple[Inline, ...]
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """A bracketed span `[text]{.class key="value"}`; shows as its text."""

    children: tuple[Inline, ...]
    id: str | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoteRef:
    """Where a footnote is called; `first` is False for a second call of the same note."""

    footnote_id: str
    number: int
    id: str
    first: bool = True


Inline = Text | Emphasis | Strong | Code | LineBreak | Link | Span | NoteRef


# Blocks ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Paragraph:
    id: str
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Heading:
    id: str
    level: int
    """2 for `##`, 3 for `###` …; the chapter title (level 1) is Chapter.title."""
    children: tuple[Inline, ...]
    classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BlockQuote:
    id: str
    children: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class ListBlock:
    id: str
    ordered: bool
    items: tuple[tuple[Block, ...], ...]
    start: int = 1


@dataclass(frozen=True, slots=True)
class CodeBlock:
    id: str
    text: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class TableCell:
    children: tuple[Inline, ...]
    align: str | None = None
    """left, right or center."""


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    head: tuple[tuple[TableCell, ...], ...]
    body: tuple[tuple[TableCell, ...], ...]


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    number: int
    image: Path
    """Absolute path, checked to lie inside manuscript/."""
    alt: str
    caption: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class ThematicBreak:
    id: str


Block = Paragraph | Heading | BlockQuote | ListBlock | CodeBlock | Table | Figure | ThematicBreak


# Notes and marks ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Footnote:
    id: str
    number: int
    """Numbered in order of first call, restarting in each chapter."""
    children: tuple[Block, ...]
    location: Location


@dataclass(frozen=True, slots=True)
class IndexMark:
    """`[text]{idx="Term!Sub-term"}`: an index entry pointing at this spot."""

    anchor_id: str
    terms: tuple[str, ...]
    """The entry and its sub-entries, outermost first."""
    text: str
    """The visible words ('' for an invisible mark)."""
    location: Location


@dataclass(frozen=True, slots=True)
class DateMark:
    """`[Marso 31, 1954]{date="1954-03-31" event="…"}`: a dated event told at this spot."""

    anchor_id: str
    date: str
    """As written in the mark: YYYY, YYYY-MM, YYYY-MM-DD or a range A/B; '' to read the visible text."""
    event: str | None
    """The event's words; None until the chronology stage fills in the sentence that holds the mark."""
    text: str
    location: Location
    detected: bool = False
    """True when found by date detection rather than marked by the editor."""


# The book -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Chapter:
    id: str
    number: int
    title: tuple[Inline, ...]
    title_text: str
    source: Path
    blocks: tuple[Block, ...]
    footnotes: tuple[Footnote, ...] = ()
    index_marks: tuple[IndexMark, ...] = ()
    date_marks: tuple[DateMark, ...] = ()


@dataclass(frozen=True, slots=True)
class Book:
    config: BookConfig
    chapters: tuple[Chapter, ...] = field(default=())

    @property
    def index_marks(self) -> tuple[IndexMark, ...]:
        return tuple(mark for chapter in self.chapters for mark in chapter.index_marks)

    @property
    def date_marks(self) -> tuple[DateMark, ...]:
        return tuple(mark for chapter in self.chapters for mark in chapter.date_marks)


def anchor_ids(book: Book) -> set[str]:
    """Every id a reference may point at: chapters, blocks and spans."""
    return {element_id for chapter in book.chapters for element_id in chapter_ids(chapter)}


def chapter_ids(chapter: Chapter) -> set[str]:
    """Every id inside one chapter, its notes included."""
    ids = {chapter.id, *_block_ids(chapter.blocks)}
    for note in chapter.footnotes:
        ids.add(note.id)
        ids.update(_block_ids(note.children))
    return ids


def note_ids(book: Book) -> set[str]:
    """The footnotes' ids and every id inside them."""
    ids: set[str] = set()
    for chapter in book.chapters:
        for note in chapter.footnotes:
            ids.add(note.id)
            ids.update(_block_ids(note.children))
    return ids


def _block_ids(nodes: tuple[Block, ...]) -> set[str]:
    ids: set[str] = set()

    def inlines(nodes: tuple[Inline, ...]) -> None:
        for node in nodes:
            if isinstance(node, Span) and node.id:
                ids.add(node.id)
            if isinstance(node, (Emphasis, Strong, Link, Span)):
                inlines(node.children)

    def blocks(nodes: tuple[Block, ...]) -> None:
        for block in nodes:
            ids.add(block.id)
            if isinstance(block, (Paragraph, Heading)):
                inlines(block.children)
            elif isinstance(block, BlockQuote):
                blocks(block.children)
            elif isinstance(block, ListBlock):
                for item in block.items:
                    blocks(item)

    blocks(nodes)
    return ids


def plain_text(inlines: tuple[Inline, ...]) -> str:
    """The words of some inlines, without notes or markup."""
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, (Text, Code)):
            parts.append(node.text)
        elif isinstance(node, LineBreak):
            parts.append(" ")
        elif isinstance(node, (Emphasis, Strong, Link, Span)):
            parts.append(plain_text(node.children))
    return "".join(parts)
