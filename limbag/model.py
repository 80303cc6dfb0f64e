"""The neutral document model: frozen dataclasses that every writer (PDF, EPUB) reads.

Nothing here knows about Markdown tokens, HTML or pages. Ids are assigned once, by the reader,
so that the PDF page map and the EPUB point at the same places.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
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
    lang: str | None = None
    """`[background]{lang=en}`: the language of its words (hyphenation, quotes, screen readers)."""


@dataclass(frozen=True, slots=True)
class NoteRef:
    """Where a footnote is called; `first` is False for a second call of the same note."""

    footnote_id: str
    number: int
    id: str
    first: bool = True


@dataclass(frozen=True, slots=True)
class Styled:
    """Text set apart by its look alone: `kind` is sub, sup, smallcaps, strikeout, underline or mark."""

    kind: str
    children: tuple[Inline, ...]


@dataclass(frozen=True, slots=True)
class Math:
    """TeX math, inline (`$…$`) or displayed (`$$…$$`); a displayed equation with an
    `{#eq:label}` has that id and a number, counted through the book."""

    tex: str
    display: bool = False
    id: str | None = None
    number: str = ""
    """"4", or "2.4" when numbered by chapter; "" for an unnumbered formula."""


@dataclass(frozen=True, slots=True)
class CrossRef:
    """A reference to labelled figures, tables, equations or sections (`@fig:x`, `[-@tbl:y]`), as
    the reader finds it; once every label is numbered, `reader.read_book` makes it a link that
    says "Larawan 3" / "Figure 3". None is left in a finished book."""

    labels: tuple[str, ...]
    bare: bool
    """`[-@fig:x]`: the number without its word."""
    written: tuple[Inline, ...]
    """As the manuscript writes it: shown when a label is unknown."""
    location: Location


@dataclass(frozen=True, slots=True)
class PageRef:
    """`[@sec:x]{.page}`: the printed page of a labelled place, "p. 12" / "pahina 12"
    (`[-@sec:x]{.page}`: "12"; several targets: "pp. 12 and 15"), linked to it. Its number comes
    from the print layout's page map, so print and e-book name the same page."""

    targets: tuple[str, ...]
    """Element ids, each checked to exist once the whole book is read."""
    bare: bool
    written: tuple[Inline, ...]
    """As the manuscript writes it: shown when a target is unknown."""
    location: Location


Inline = Text | Emphasis | Strong | Code | LineBreak | Link | Span | NoteRef | Styled | Math | CrossRef | PageRef
CONTAINERS = (Emphasis, Strong, Link, Span, Styled)
"""The inlines that hold other inlines in `children`."""


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
    style: str = "decimal"
    """The CSS list-style-type of the numbers: decimal, lower-alpha, upper-roman …"""


@dataclass(frozen=True, slots=True)
class DefinitionList:
    id: str
    items: tuple[tuple[tuple[Inline, ...], tuple[tuple[Block, ...], ...]], ...]
    """Each term with its definitions."""


@dataclass(frozen=True, slots=True)
class Division:
    """A fenced div `::: {.note}`, an HTML `<div>` or `<details>`: blocks the layouts may style.
    `kind` is an admonition (note, tip, warning, important, caution, exercise), "details" or ""."""

    id: str
    children: tuple[Block, ...]
    classes: tuple[str, ...] = ()
    kind: str = ""
    title: tuple[Inline, ...] = ()
    """The box's own title, or the summary of a `<details>`; an admonition without one is headed
    by its kind's word in the book's language."""
    lang: str | None = None
    """`::: {lang=en}`: the language of what it holds."""


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
    rows: int = 1
    columns: int = 1
    """How many rows and columns the cell spans."""


@dataclass(frozen=True, slots=True)
class Table:
    id: str
    head: tuple[tuple[TableCell, ...], ...]
    body: tuple[tuple[TableCell, ...], ...]
    foot: tuple[tuple[TableCell, ...], ...] = ()
    caption: tuple[Inline, ...] = ()
    widths: tuple[float, ...] = ()
    """Each column's share of the text width, when the manuscript gives them (multiline and grid tables)."""
    number: str = ""
    """Counted when the table is labelled for cross-references (`{#tbl:x}`): "2" through the book,
    or "1.2" by chapter; else ""."""


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    number: str
    """"3" through the book, or "2.1" by chapter (see BookConfig.numbers_by_chapter)."""
    image: Path
    """Absolute path, checked to lie inside manuscript/."""
    alt: str
    caption: tuple[Inline, ...]
    location: Location
    """Where the image is called for, named when it cannot be shown."""


@dataclass(frozen=True, slots=True)
class ThematicBreak:
    id: str


Block = (Paragraph | Heading | BlockQuote | ListBlock | CodeBlock | Table | Figure | ThematicBreak | DefinitionList
         | Division)


def block_groups(block: Block) -> tuple[tuple[Block, ...], ...]:
    """The runs of blocks nested in a block: a quote's or a box's, each list item's, each definition's."""
    if isinstance(block, (BlockQuote, Division)):
        return (block.children,)
    if isinstance(block, ListBlock):
        return block.items
    if isinstance(block, DefinitionList):
        return tuple(definition for _, definitions in block.items for definition in definitions)
    return ()


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
class BibEntry:
    """One work of the bibliography, as the citation style writes it."""

    id: str
    blocks: tuple[Block, ...]
    cited_at: tuple[str, ...] = ()
    """The ids of the citations of the work, in reading order (the e-book links back to the first)."""


@dataclass(frozen=True, slots=True)
class Bibliography:
    """The works cited (and those listed with `nocite:`), in the style's order."""

    title: str | None
    """The heading book.yaml gives (`reference-section-title:`); else the language's word."""
    entries: tuple[BibEntry, ...]


@dataclass(frozen=True, slots=True)
class Book:
    config: BookConfig
    chapters: tuple[Chapter, ...] = field(default=())
    bibliography: Bibliography | None = None
    blurb: tuple[Block, ...] = ()
    """The back cover's text (`cover: {blurb: …}`)."""

    @property
    def index_marks(self) -> tuple[IndexMark, ...]:
        return tuple(mark for chapter in self.chapters for mark in chapter.index_marks)

    @property
    def date_marks(self) -> tuple[DateMark, ...]:
        return tuple(mark for chapter in self.chapters for mark in chapter.date_marks)


def anchor_ids(book: Book) -> set[str]:
    """Every id a reference may point at: chapters, blocks and spans."""
    return {element_id for chapter in book.chapters for element_id in chapter_ids(chapter)}


def iter_blocks(blocks: Iterable[Block]) -> Iterator[Block]:
    """Every block, nested ones (in quotes and list items) included, in reading order."""
    for block in blocks:
        yield block
        for group in block_groups(block):
            yield from iter_blocks(group)


def map_inline_runs(block: Block, change: Callable[[tuple[Inline, ...]], tuple[Inline, ...]],
                    titles: bool = True) -> Block:
    """A copy of `block` with each run of inlines in it, nested blocks' included (paragraphs, list
    items, definitions, boxes, table cells and captions, figure captions; headings, definition
    terms and box titles if `titles`), replaced by `change(run)`."""

    def again(inner: Block) -> Block:
        return map_inline_runs(inner, change, titles)

    def title(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        return change(run) if titles else run

    def cells(rows: tuple[tuple[TableCell, ...], ...]) -> tuple[tuple[TableCell, ...], ...]:
        return tuple(tuple(dataclasses.replace(cell, children=change(cell.children)) for cell in row) for row in rows)

    if isinstance(block, Paragraph) or (titles and isinstance(block, Heading)):
        return dataclasses.replace(block, children=change(block.children))
    if isinstance(block, BlockQuote):
        return dataclasses.replace(block, children=tuple(again(b) for b in block.children))
    if isinstance(block, Division):
        return dataclasses.replace(block, children=tuple(again(b) for b in block.children), title=title(block.title))
    if isinstance(block, DefinitionList):
        return dataclasses.replace(block, items=tuple(
            (title(term), tuple(tuple(again(b) for b in definition) for definition in definitions))
            for term, definitions in block.items))
    if isinstance(block, ListBlock):
        return dataclasses.replace(block, items=tuple(tuple(again(b) for b in item) for item in block.items))
    if isinstance(block, Table):
        return dataclasses.replace(block, head=cells(block.head), body=cells(block.body), foot=cells(block.foot),
                                   caption=change(block.caption))
    if isinstance(block, Figure):
        return dataclasses.replace(block, caption=change(block.caption))
    return block


def rewrite_text(block: Block, rewrite: Callable[[str], list[Inline]], keep: Callable[[Span], bool]) -> Block:
    """A copy of `block` whose running text (paragraphs, quotes, lists, definitions, boxes, table
    cells, captions; not headings, terms, box titles or code) is replaced by `rewrite(text)`; a span for which
    `keep(span)` is true stays as it is. The stages that anchor aliases and dates are built on it."""

    def inlines(nodes: tuple[Inline, ...]) -> tuple[Inline, ...]:
        result: list[Inline] = []
        for node in nodes:
            if isinstance(node, Text):
                result.extend(rewrite(node.text))
            elif isinstance(node, Span) and keep(node):
                result.append(node)
            elif isinstance(node, CONTAINERS):
                result.append(dataclasses.replace(node, children=inlines(node.children)))
            else:
                result.append(node)
        return tuple(result)

    return map_inline_runs(block, inlines, titles=False)


def chapter_ids(chapter: Chapter) -> set[str]:
    """Every id inside one chapter, its notes included."""
    ids = {chapter.id, *_block_ids(chapter.blocks)}
    for note in chapter.footnotes:
        ids.add(note.id)
        ids.update(_block_ids(note.children))
    return ids


def page_references(block: Block) -> list[PageRef]:
    """The page references in a block, nested blocks' included."""
    found: list[PageRef] = []

    def collect(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        for node in run:
            if isinstance(node, PageRef):
                found.append(node)
            elif isinstance(node, CONTAINERS):
                collect(node.children)
        return run

    map_inline_runs(block, collect)
    return found


def page_reference_targets(chapters: Iterable[Chapter]) -> set[str]:
    """The ids whose printed page the chapters name (`[@sec:x]{.page}`)."""
    return {target for chapter in chapters
            for block in (*chapter.blocks, *(child for note in chapter.footnotes for child in note.children))
            for reference in page_references(block) for target in reference.targets}


def listed(book: Book, kind: str) -> list[Figure | Table]:
    """What a list of figures (`kind` "figures") or of tables ("tables") names, in reading order:
    every figure; the tables that are numbered or have a caption."""
    return [block for chapter in book.chapters for block in iter_blocks(chapter.blocks)
            if (kind == "figures" and isinstance(block, Figure))
            or (kind == "tables" and isinstance(block, Table) and (block.number or block.caption))]


def as_list_entry(caption: tuple[Inline, ...]) -> tuple[Inline, ...]:
    """A caption as a list of figures or tables shows it, inside the link to its figure: without
    its notes, links, page references and ids (which stay the caption's own)."""
    out: list[Inline] = []
    for node in caption:
        if isinstance(node, Link):
            out.append(Span(as_list_entry(node.children)))
        elif isinstance(node, Span):
            out.append(Span(as_list_entry(node.children), None, node.classes))
        elif isinstance(node, Math):
            out.append(dataclasses.replace(node, id=None))
        elif isinstance(node, CONTAINERS):
            out.append(dataclasses.replace(node, children=as_list_entry(node.children)))
        elif not isinstance(node, (NoteRef, PageRef)):
            out.append(node)
    return tuple(out)


def note_ids(book: Book) -> set[str]:
    """The footnotes' ids and every id inside them."""
    ids: set[str] = set()
    for chapter in book.chapters:
        for note in chapter.footnotes:
            ids.add(note.id)
            ids.update(_block_ids(note.children))
    return ids


def bibliography_ids(bibliography: Bibliography | None) -> set[str]:
    """Every id in the bibliography: its entries' (the targets of citations) and any inside them."""
    ids: set[str] = set()
    for entry in bibliography.entries if bibliography is not None else ():
        ids.add(entry.id)
        ids.update(_block_ids(entry.blocks))
    return ids


def _block_ids(nodes: tuple[Block, ...]) -> set[str]:
    ids: set[str] = set()

    def inlines(nodes: tuple[Inline, ...]) -> None:
        for node in nodes:
            if isinstance(node, (Span, Math, NoteRef)) and node.id:  # a note's call may begin a page
                ids.add(node.id)
            if isinstance(node, CONTAINERS):
                inlines(node.children)

    def blocks(nodes: tuple[Block, ...]) -> None:
        for block in nodes:
            ids.add(block.id)
            if isinstance(block, (Paragraph, Heading)):
                inlines(block.children)
            for group in block_groups(block):
                blocks(group)

    blocks(nodes)
    return ids


def plain_text(inlines: tuple[Inline, ...]) -> str:
    """The words of some inlines, without notes or markup."""
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, (Text, Code)):
            parts.append(node.text)
        elif isinstance(node, Math):
            parts.append(node.tex.strip())
        elif isinstance(node, LineBreak):
            parts.append(" ")
        elif isinstance(node, CONTAINERS):
            parts.append(plain_text(node.children))
    return "".join(parts)
