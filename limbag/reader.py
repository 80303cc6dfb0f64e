"""Chapter files → the document model, through Pandoc's syntax tree (see pandoc.py).

Pandoc's types never leave this module. Everything Pandoc reads either becomes the model or is
shown as text with a located warning; nothing is dropped in silence. Pandoc gives no source
positions for Markdown, so lines are found in the source text (`_Lines`).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .citations import BIBLIOGRAPHY_SUFFIXES, DEFAULT_STYLE, CitationSettings, bundled_style, cite, holds
from .config import LANGUAGE_TAG, BookConfig, slugify
from .dates import DateError, parse_date_value
from .errors import Location, ManuscriptError, ManuscriptErrors, Problem
from .images import ImageRefused, check_image
from .language import Language, load_language
from .mathtype import MathError, check_tex
from .model import (
    CONTAINERS,
    BibEntry,
    Bibliography,
    Block,
    BlockQuote,
    Book,
    Chapter,
    Code,
    CodeBlock,
    CrossRef,
    DateMark,
    DefinitionList,
    Division,
    Emphasis,
    Figure,
    Footnote,
    Heading,
    IndexMark,
    Inline,
    LineBreak,
    Link,
    ListBlock,
    Math,
    NoteRef,
    PageRef,
    Paragraph,
    Span,
    Strong,
    Styled,
    Table,
    TableCell,
    Text,
    ThematicBreak,
    bibliography_ids,
    chapter_ids,
    iter_blocks,
    map_inline_runs,
    page_reference_targets,
    plain_text,
)
from .pandoc import Parsed, Reading, Source, pandoc_program

Node = dict[str, Any]

UNDEFINED_NOTE = re.compile(r"\[\^([^\]\s]+)\]")
TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}")
EQUATION_LABEL = re.compile(r"^\{#(eq:[A-Za-z0-9_:.-]+)\}$")
SAFE_URL = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
ID = re.compile(r"[A-Za-z][A-Za-z0-9_:.-]*")
"""An id an author may write. Every id Limbag makes begins with `_` (`_p-1-3`, `_fn-2-1`), so the two
never meet; the ids of the book's own parts are the exception, and are refused (BOOK_PARTS)."""
BOOK_PARTS = {"title-page": "title page", "imprint": "imprint", "contents": "contents", "notes": "notes",
              "index": "index", "chronology": "chronology", "bibliography": "bibliography"}
ADMONITIONS = ("note", "tip", "warning", "important", "caution", "exercise")
"""Boxes a teacher's handout has; the layouts style them and head them with the kind's word."""
LIST_STYLES = {"Decimal": "decimal", "LowerAlpha": "lower-alpha", "UpperAlpha": "upper-alpha",
               "LowerRoman": "lower-roman", "UpperRoman": "upper-roman", "Example": "decimal",
               "DefaultStyle": "decimal"}
STYLED = {"Subscript": "sub", "Superscript": "sup", "SmallCaps": "smallcaps", "Strikeout": "strikeout",
          "Underline": "underline"}
QUOTES = {"DoubleQuote": ("\u201c", "\u201d"), "SingleQuote": ("\u2018", "\u2019")}
ALIGNS = {"AlignLeft": "left", "AlignRight": "right", "AlignCenter": "center"}
INLINE_HTML = {"strong": "strong", "b": "strong", "em": "em", "i": "em", "sup": "sup", "sub": "sub",
               "u": "underline", "ins": "underline", "s": "strikeout", "del": "strikeout", "strike": "strikeout",
               "mark": "mark", "small": "", "span": "", "a": "", "code": "", "kbd": "", "abbr": "", "cite": "em",
               "q": ""}
"""Raw HTML inline elements that become the model; every other tag is shown as text with a warning."""
BOOK_KEYS = {"author", "date", "lang", "language", "subtitle", "publisher", "rights", "identifier", "isbn",
             "description", "abstract", "keywords", "subject"}
CHAPTER_KEYS = {"title", "bibliography"}
CROSS_REFERENCE = re.compile(r"(fig|tbl|eq|sec|lst):")
"""The labels pandoc-crossref (and Quarto) refer to with @fig:x: not citations."""
CROSS_REFERENCE_SET_ASIDE = "limbag-cross-reference"
PAGE_REFERENCE_SET_ASIDE = "limbag-page-reference"
CITATION_ID = "_c-"
"""The ids of citations' spans: _c-<chapter>-<n>."""


MAX_CHAPTER_BYTES = 2 * 1024 * 1024
"""Some 600 printed pages: a book in one file is fine, a file that is not a book is refused."""
MAX_BINARY_BYTES = 50 * 1024 * 1024
"""A Word or ODT file with its pictures."""
MAX_PARAGRAPH_CHARACTERS = 100_000
"""Some 30 pages of one paragraph."""
MAX_TABLE_ROWS = 3_000
"""Some 100 pages of table, laid out in ten seconds."""
MAX_NESTING = 32
"""Quotes, lists and emphasis within each other."""
MAX_INDEX_LEVELS = 3


UNTITLED = "the chapter has no title; its file name is used"


class _Lines:
    """Finds where a piece of a chapter stands in its source text (Pandoc's Markdown reader gives
    no positions): each block is looked for after the one before it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.cursor = 0

    def line_at(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def find(self, needle: str, start: int | None = None) -> int | None:
        """The offset of `needle` at or after `start` (the current block), else anywhere, else None."""
        if not needle or not self.text:
            return None
        offset = self.text.find(needle, self.cursor if start is None else start)
        return offset if offset >= 0 else (self.text.find(needle) if self.text.find(needle) >= 0 else None)


@dataclass
class _ChapterReader:
    """Converts one file's Pandoc tree; holds the counters that make ids unique."""

    source: Path
    manuscript_dir: Path
    lines: _Lines
    used_ids: set[str]
    counts: dict[str, int]
    """Figures, labelled tables and equations counted so far (see next_number)."""
    media: Path | None = None
    chapter_number: int = 0
    problems: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    index_marks: list[IndexMark] = field(default_factory=list)
    date_marks: list[DateMark] = field(default_factory=list)
    notes: dict[str, tuple[int, Node, int]] = field(default_factory=dict)
    """Each note's content (as JSON) → its number, its blocks and the line of its first call."""
    notes_called: dict[int, int] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """Pandoc's ids for headings → the ids the headings have (shared by a file's chapters)."""
    block_count: int = 0
    mark_count: int = 0
    depth: int = 0
    line: int = 1
    """The line of the block being read."""
    block_start: int = 0
    cited: _Cited | None = None
    """What citeproc made of the book's citations, when the book has a bibliography."""
    by_chapter: bool = False
    """Figures, tables and equations numbered within each chapter ("2.3"), not through the book."""

    def next_number(self, kind: str) -> str:
        """The number of the next figure, table or equation: "3" through the book, or "2.3" for the
        third of chapter 2."""
        key = f"{kind} {self.chapter_number}" if self.by_chapter else kind
        self.counts[key] = self.counts.get(key, 0) + 1
        return f"{self.chapter_number}.{self.counts[key]}" if self.by_chapter else str(self.counts[key])

    # where -------------------------------------------------------------------------------------
    def at(self, line: int | None) -> Location:
        return Location(self.source, line)

    def line_of(self, needle: str) -> int:
        """The line of `needle` inside the current block (or the block's own line)."""
        if self.lines.text:
            offset = self.lines.find(needle, self.block_start)
            if offset is not None:
                return self.lines.line_at(offset)
        return self.line

    def start_block(self, probe: str) -> None:
        """Moves to the block that begins with the words `probe`."""
        if not self.lines.text:
            return
        offset = self.lines.find(probe) if probe else None
        if offset is not None and offset >= self.lines.cursor:
            self.lines.cursor = offset + len(probe)
            self.block_start = self.lines.starts[self.lines.line_at(offset) - 1]
            self.line = self.lines.line_at(offset)

    def warn(self, line: int | None, message: str, hint: str) -> None:
        self.problems.append(Problem(self.at(line), message, hint))

    def error(self, line: int | None, message: str, hint: str) -> None:
        self.errors.append(Problem(self.at(line), message, hint))

    # ids ---------------------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        self.block_count += 1
        return f"_{kind}-{self.chapter_number}-{self.block_count}"

    def claim_id(self, wanted: str, explicit: bool, kind: str = "section") -> str:
        if explicit:
            line = self.line_of("#" + wanted) if self.lines.text else self.line
            problem = None
            if not ID.fullmatch(wanted):
                problem = (f"id {wanted!r} is not a valid identifier",
                           "start with a letter; use letters, digits, '-', '_', '.' or ':'")
            elif wanted in BOOK_PARTS:
                problem = (f"id {wanted!r} is the name of the book's {BOOK_PARTS[wanted]}", "choose another id")
            elif wanted in self.used_ids:
                problem = (f"duplicate id {wanted!r}", "every {#id} must be unique in the whole book; rename one")
            if problem is None:
                self.used_ids.add(wanted)
                return wanted
            self.error(line, *problem)
            return self.new_id(kind)
        base = wanted if ID.fullmatch(wanted) else f"s-{wanted}" if wanted else kind
        candidate, suffix = base, 1
        while candidate in self.used_ids:
            suffix += 1
            candidate = f"{base}-{suffix}"
        self.used_ids.add(candidate)
        return candidate

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ManuscriptError(f"quotes, lists or emphasis nested more than {MAX_NESTING} deep", self.at(self.line),
                                  "write the passage with fewer levels")

    # blocks ------------------------------------------------------------------------------------
    def blocks(self, nodes: Sequence[Node], top: bool = False) -> tuple[Block, ...]:
        self.deeper()
        result: list[Block] = []
        position = 0
        while position < len(nodes):
            node = nodes[position]
            if top:
                self.start_block(_probe(node))
            if node["t"] == "RawBlock" and _is_html(node):
                consumed, made = self.raw_html_block(nodes, position)
                result.extend(made)
                position += consumed
                continue
            if node["t"] == "Plain" and _unsafe_html(nodes, position + 1):
                # Pandoc ends a paragraph at a block-level tag (`May <script>…</script> dito.`): the
                # paragraph is put together again, the tag in it as text.
                consumed, raw = _raw_run(nodes, position + 1)
                after = nodes[position + 1 + consumed] if position + 1 + consumed < len(nodes) else None
                joined = [*node["c"], {"t": "Space"}, {"t": "Str", "c": raw}]
                if after is not None and after["t"] == "Para":
                    joined += [{"t": "Space"}, *after["c"]]
                    consumed += 1
                self.warn(self.line_of(raw.split("\n")[0]), f"raw HTML {_short(raw)!r} is shown as text",
                          "write it in Markdown instead")
                result.append(self.paragraph(joined))
                position += 1 + consumed
                continue
            result.extend(self.block(node))
            position += 1
        self.depth -= 1
        return tuple(result)

    def block(self, node: Node) -> list[Block]:
        kind: str = node["t"]
        content: Any = node.get("c")
        if kind in ("Para", "Plain"):
            return [self.paragraph(content)]
        if kind == "Header":
            return [self.heading(content)]
        if kind == "BlockQuote":
            return [BlockQuote(self.new_id("q"), self.blocks(content))]
        if kind == "BulletList":
            return [ListBlock(self.new_id("l"), False, tuple(self.blocks(item) for item in content))]
        if kind == "OrderedList":
            (start, style, _), items = content
            return [ListBlock(self.new_id("l"), True, tuple(self.blocks(item) for item in items), start,
                              LIST_STYLES.get(style["t"], "decimal"))]
        if kind == "DefinitionList":
            return [self.definition_list(content)]
        if kind == "CodeBlock":
            (_, classes, _), text = content
            return [CodeBlock(self.new_id("code"), text, classes[0] if classes else None)]
        if kind == "LineBlock":
            children: list[Inline] = []
            for number, line in enumerate(content):
                if number:
                    children.append(LineBreak())
                children.extend(self.inlines(line))
            return [Paragraph(self.new_id("p"), _merge_text(children))]
        if kind == "HorizontalRule":
            return [ThematicBreak(self.new_id("hr"))]
        if kind == "Table":
            return [self.table(content)]
        if kind == "Figure":
            return self.figure(content)
        if kind == "Div":
            return [self.division(content)]
        if kind == "RawBlock":
            return self.raw_block(content)
        if kind == "Null":
            return []
        self.warn(self.line, f"unsupported block {kind!r} is shown as text", "write it as plain Markdown")
        return [Paragraph(self.new_id("p"), (Text(_node_text(node)),))]

    def paragraph(self, content: list[Node]) -> Block:
        pieces = [node for node in content if node["t"] not in ("Space", "SoftBreak", "LineBreak")]
        if len(pieces) == 1 and pieces[0]["t"] == "Image":
            return self.image_figure(pieces[0], None, None)
        children = self.inlines(content)
        length = len(plain_text(children))
        if length > MAX_PARAGRAPH_CHARACTERS:
            raise ManuscriptError(f"a paragraph of {length:,} characters; at most {MAX_PARAGRAPH_CHARACTERS:,} are "
                                  "laid out as one", self.at(self.line), "break it into paragraphs with blank lines")
        return Paragraph(self.new_id("p"), children)

    def heading(self, content: list[Any], shift: int = 0) -> Heading:
        level, (wanted, classes, _), inlines = content
        children = self.inlines(inlines)
        return Heading(self.heading_id(wanted, children), max(2, level - shift), children, tuple(classes))

    def heading_id(self, given: str, words: tuple[Inline, ...]) -> str:
        """The id the editor wrote (`{#id}`), else one made from the words. The id Pandoc made for
        the heading then stays an alias of it, so a link written for Pandoc (`#extension-raw_html`)
        still leads there."""
        if given and self.explicit_ids and re.search(r"\{[^{}]*#" + re.escape(given) + r"[\s}]", self.lines.text):
            return self.claim_id(given, True)
        made = self.claim_id(slugify(plain_text(words)), False)
        if given and given != made:
            self.aliases.setdefault(given, made)
        return made

    @property
    def explicit_ids(self) -> bool:
        """A Word or ODT file's ids are made by its reader, not written by the editor."""
        return self.media is None

    def definition_list(self, content: list[Any]) -> DefinitionList:
        list_id = self.new_id("dl")
        items = tuple((self.inlines(term), tuple(self.blocks(definition) for definition in definitions))
                      for term, definitions in content)
        return DefinitionList(list_id, items)

    def division(self, content: list[Any]) -> Block:
        (wanted, classes, pairs), children = content
        attributes = dict(pairs)
        kind = next((name.removeprefix("callout-") for name in classes
                     if name.removeprefix("callout-") in ADMONITIONS), "")
        if "details" in classes:
            kind = "details"
        title: tuple[Inline, ...] = ()
        if attributes.get("title"):
            title = (Text(attributes["title"]),)
        elif kind and children and children[0]["t"] == "Header":
            title = self.inlines(children[0]["c"][2])
            children = children[1:]
        division_id = self.claim_id(wanted, True) if wanted else self.new_id("d")
        lang = self.language_of(attributes, self.line_of(attributes.get("lang", "")))
        return Division(division_id, self.blocks(children), tuple(classes), kind, title, lang)

    def raw_block(self, content: list[Any]) -> list[Block]:
        (raw_format, text) = content
        raw_format = raw_format.lower()
        if raw_format in ("tex", "latex") and not self.raw_attribute(text, raw_format):
            self.warn(self.line_of(text.strip().split("\n")[0]), f"raw TeX `{_short(text)}` is shown as text",
                      "write it in Markdown, or as math between $ signs")
            return [Paragraph(self.new_id("p"), (Text(text),))]
        self.warn(self.line_of("{=" + raw_format), f"a raw {raw_format} block is left out: it is for {raw_format} output only",
                  "write it in Markdown to have it in the book")
        return []

    def raw_attribute(self, text: str, raw_format: str) -> bool:
        """True if the raw text was marked in the source as for one output only (```{=latex}`` or
        `{=latex}`), rather than written as TeX in the running text."""
        if not self.lines.text:
            return False
        offset = self.lines.find(text.strip().split("\n")[0], self.block_start)
        before = self.lines.text[max(0, (offset or 0) - 40):offset or 0]
        return offset is not None and "{=" + raw_format in before

    def raw_html_block(self, nodes: Sequence[Node], position: int) -> tuple[int, list[Block]]:
        """A raw HTML block: a comment is left out, `<details>` … `</details>` becomes a box, a safe
        element its content; anything else is shown as text with a warning. Returns how many nodes
        were used."""
        text = nodes[position]["c"][1]
        stripped = text.strip()
        if stripped.startswith("<!--"):
            return 1, []
        tag = _tag(stripped)
        if tag and tag.name == "details" and not tag.closing:
            end = _closing(nodes, position, "details")
            if end is not None:
                inner = list(nodes[position + 1:end])
                title: tuple[Inline, ...] = ()
                first = _tag(_raw_html(inner[0])) if inner else None
                if first is not None and first.name == "summary":
                    summary_end = _closing(inner, 0, "summary")
                    if summary_end is not None:
                        title = tuple(inline for node in inner[1:summary_end]
                                      for inline in self.inlines(node["c"] if node["t"] in ("Plain", "Para") else []))
                        inner = inner[summary_end + 1:]
                return end - position + 1, [Division(self.new_id("d"), self.blocks(inner), ("details",), "details",
                                                     title)]
        if tag and tag.name == "hr":
            return 1, [ThematicBreak(self.new_id("hr"))]
        if tag and tag.name in SAFE_BLOCK_TAGS:
            return 1, []  # the element's content is read as Markdown around it; its tags are structure only
        if tag and tag.name == "table" and not tag.closing:
            end = _closing(nodes, position, "table")
            if end is not None:
                table = self.raw_html_table(nodes[position:end + 1])
                if table is not None:
                    return end - position + 1, [table]
        consumed, raw = _raw_run(nodes, position)
        self.warn(self.line_of(raw.split("\n")[0]), f"raw HTML {_short(raw)!r} is shown as text",
                  "write it in Markdown instead")
        return consumed, [Paragraph(self.new_id("p"), (Text(raw),))]

    def raw_html_table(self, nodes: Sequence[Node]) -> Table | None:
        """A table written in HTML, whose tags Pandoc gives as raw pieces and whose cells as Markdown:
        its rows, header cells, spans, alignment and caption become the model's table (no other
        tag or attribute is kept). None if it is not one plain table."""
        head: list[tuple[TableCell, ...]] = []
        body: list[tuple[TableCell, ...]] = []
        caption: list[Inline] = []
        row: list[TableCell] | None = None
        cell: list[Inline] | None = None
        cell_tag = ""
        in_head = in_caption = False
        row_of_heads = True
        tables = 0

        def end_cell() -> None:
            nonlocal cell, row_of_heads
            if cell is not None and row is not None:
                attributes = dict(re.findall(r'([a-z]+)\s*=\s*"([^"]*)"', cell_tag.lower()))
                align = attributes.get("align") or re.sub(r".*text-align:\s*([a-z]+).*", r"\1",
                                                          attributes.get("style", ""))
                row.append(TableCell(_merge_text(cell), align if align in ("left", "right", "center") else None,
                                     _span_count(attributes.get("rowspan")), _span_count(attributes.get("colspan"))))
                row_of_heads = row_of_heads and cell_tag.lower().startswith("<th")
            cell = None

        def end_row() -> None:
            nonlocal row
            end_cell()
            if row:
                (head if in_head or (not body and row_of_heads) else body).append(tuple(row))
            row = None

        for node in nodes:
            if not (node["t"] == "RawBlock" and _is_html(node)):
                words = self.block_inlines(node)
                target = caption if in_caption else cell
                if target is None:
                    return None  # words outside any cell
                if target and words:
                    target.append(LineBreak())
                target.extend(words)
                continue
            for piece in re.findall(r"<[^<>]*>|[^<>]+", node["c"][1]):
                tag = _tag(piece)
                if tag is None:
                    if piece.strip():
                        (caption if in_caption else cell if cell is not None else []).append(Text(piece))
                    continue
                if tag.name == "table":
                    tables += 0 if tag.closing else 1
                    if tables > 1:
                        return None
                elif tag.name == "thead":
                    end_row()
                    in_head = not tag.closing
                elif tag.name == "caption":
                    in_caption = not tag.closing
                elif tag.name == "tr":
                    end_row()
                    if not tag.closing:
                        row, row_of_heads = [], True
                elif tag.name in ("td", "th"):
                    end_cell()
                    if not tag.closing:
                        if row is None:
                            row, row_of_heads = [], True
                        cell, cell_tag = [], piece
                elif tag.name == "br" and cell is not None:
                    cell.append(LineBreak())
        end_row()
        if not (head or body):
            return None
        return Table(self.new_id("tbl"), tuple(head), tuple(body), caption=_merge_text(caption))

    def figure(self, content: list[Any]) -> list[Block]:
        (wanted, _, _), (_, caption_blocks), body = content
        caption = tuple(inline for block in caption_blocks if block["t"] in ("Plain", "Para")
                        for inline in self.inlines(block["c"]))
        images = [node for block in body if block["t"] in ("Plain", "Para") for node in block["c"]
                  if node["t"] not in ("Space", "SoftBreak")]
        if len(images) == 1 and images[0]["t"] == "Image":
            return [self.image_figure(images[0], wanted or None, caption)]
        made = list(self.blocks(body))
        if caption:
            made.append(Paragraph(self.new_id("p"), caption))
        return made

    def image_figure(self, image: Node, wanted: str | None, caption: tuple[Inline, ...] | None) -> Block:
        (image_id, _, pairs), alt_inlines, (src, _) = image["c"]
        attributes = dict(pairs)
        alt_words = self.inlines(alt_inlines)
        if caption is None:
            caption = alt_words
        line = self.line_of(src)
        try:
            image_path = self.image(src, line)
        except ImageRefused as refused:
            self.problems.append(Problem(self.at(line), refused.what, refused.hint))
            alt = attributes.get("alt", "").strip()
            return Paragraph(self.new_id("p"), caption or ((Text(alt),) if alt else ()))
        except ManuscriptError as error:
            self.errors.append(Problem(error.location or self.at(line), error.what, error.hint))
            return Paragraph(self.new_id("p"), caption)
        alt = (attributes.get("alt") or plain_text(alt_words) or plain_text(caption)).strip()
        if not alt:
            self.warn(line, f"image {src!r} has neither caption nor alt text",
                      'add a caption ![Caption](…) or {alt="…"} so that every reader knows what it shows')
        wanted = wanted or image_id or None
        figure_id = self.claim_id(wanted, True, "fig") if wanted else self.new_id("fig")
        return Figure(figure_id, self.next_number("figure"), image_path, alt, caption, self.at(line))

    def image(self, src: str, line: int) -> Path:
        if self.media is not None:
            if src.startswith(str(self.media)):
                return check_image(src[len(str(self.media)):].lstrip("/"), self.media, self.at(line))
            raise ImageRefused(f"image {src!r} is linked, not kept in the file; it is left out", self.at(line),
                               "insert the picture into the document instead of linking it")
        return check_image(src, self.manuscript_dir, self.at(line))

    def table(self, content: list[Any]) -> Table:
        (wanted, _, _), (_, caption_blocks), columns, head, bodies, foot = content
        if not wanted:  # `: Caption {#tbl:x}`, which older Pandoc leaves in the caption's text
            wanted, caption_blocks = _caption_label(caption_blocks)
        aligns = [ALIGNS.get(align["t"]) for align, _ in columns]
        widths = tuple(width["c"] if width["t"] == "ColWidth" else 0.0 for _, width in columns)
        caption = tuple(inline for block in caption_blocks for inline in self.block_inlines(block))
        head_rows = self.rows(head[1], aligns)
        body_rows = [row for body in bodies for row in self.rows([*body[2], *body[3]], aligns)]
        foot_rows = self.rows(foot[1], aligns)
        count = len(head_rows) + len(body_rows) + len(foot_rows)
        if count > MAX_TABLE_ROWS:
            raise ManuscriptError(f"a table of {count:,} rows; at most {MAX_TABLE_ROWS:,} in one table",
                                  self.at(self.line), "split it, or give the data as a file to download")
        table_id = self.claim_id(wanted, True, "tbl") if wanted else self.new_id("tbl")
        number = self.next_number("table") if CROSS_REFERENCE.match(table_id) else ""  # labelled {#tbl:x}
        return Table(table_id, tuple(head_rows), tuple(body_rows), tuple(foot_rows), caption,
                     widths if any(widths) else (), number)

    def rows(self, rows: list[Any], aligns: list[str | None]) -> list[tuple[TableCell, ...]]:
        result = []
        for _, cells in rows:
            row = []
            for column, (_, align, rows_spanned, columns_spanned, blocks) in enumerate(cells):
                children = tuple(inline for number, block in enumerate(blocks)
                                 for inline in ((LineBreak(),) if number else ()) + self.block_inlines(block))
                cell_align = ALIGNS.get(align["t"]) or (aligns[column] if column < len(aligns) else None)
                row.append(TableCell(_merge_text(list(children)), cell_align, rows_spanned, columns_spanned))
            result.append(tuple(row))
        return result

    def block_inlines(self, block: Node) -> tuple[Inline, ...]:
        """A block inside a table cell or caption, as inlines: paragraphs as they are, list items
        each on its own line."""
        if block["t"] in ("Plain", "Para"):
            return self.inlines(block["c"])
        if block["t"] in ("BulletList", "OrderedList"):
            items = block["c"] if block["t"] == "BulletList" else block["c"][1]
            start = 1 if block["t"] == "BulletList" else block["c"][0][0]
            made: list[Inline] = []
            for number, item in enumerate(items):
                if number:
                    made.append(LineBreak())
                made.append(Text("• " if block["t"] == "BulletList" else f"{start + number}. "))
                for inner_number, inner in enumerate(item):
                    if inner_number:
                        made.append(LineBreak())
                    made.extend(self.block_inlines(inner))
            return tuple(made)
        if block["t"] == "CodeBlock":
            return (Code(block["c"][1]),)
        if block["t"] == "LineBlock":
            made = []
            for number, line in enumerate(block["c"]):
                if number:
                    made.append(LineBreak())
                made.extend(self.inlines(line))
            return tuple(made)
        if block["t"] == "Div":
            return tuple(inline for inner in block["c"][1] for inline in self.block_inlines(inner))
        if block["t"] == "RawBlock" and _is_html(block) and block["c"][1].strip().startswith("<!--"):
            return ()
        self.warn(self.line, f"a {block['t']} inside a table cell is shown as its text",
                  "keep table cells to paragraphs and lists")
        return (Text(_node_text(block)),)

    # inlines -----------------------------------------------------------------------------------
    def inlines(self, nodes: Sequence[Node]) -> tuple[Inline, ...]:
        self.deeper()
        result: list[Inline] = []
        stack: list[tuple[str, str, list[Inline]]] = []  # open raw HTML elements: tag, raw text, children

        def out() -> list[Inline]:
            return stack[-1][2] if stack else result

        for position, node in enumerate(nodes):
            kind: str = node["t"]
            content: Any = node.get("c")
            if kind == "RawInline" and _is_html(node):
                self.raw_html_inline(content[1], stack, out)
                continue
            label = EQUATION_LABEL.match(content) if kind == "Str" and content.startswith("{#eq:") else None
            if label and _after_display_math(out()):
                self.number_equation(out(), label.group(1))
                continue
            out().extend(self.inline(node, nodes, position))
        while stack:  # an element never closed: its tag shown as text, its content kept
            name, raw, children = stack.pop()
            self.warn(self.line_of(raw), f"raw HTML {raw!r} is never closed; shown as text",
                      f"close it with </{name}>, or write it in Markdown")
            out().extend([Text(raw), *children])
        self.depth -= 1
        return _merge_text(result)

    def inline(self, node: Node, siblings: Sequence[Node], position: int) -> list[Inline]:
        kind: str = node["t"]
        content: Any = node.get("c")
        if kind == "Str":
            self.check_text(content)
            return [Text(content)]
        if kind == "Space":
            return [Text(" ")]
        if kind == "SoftBreak":
            return [Text(" ")]
        if kind == "LineBreak":
            return [LineBreak()]
        if kind == "Emph":
            return [Emphasis(self.inlines(content))]
        if kind == "Strong":
            return [Strong(self.inlines(content))]
        if kind in STYLED:
            return [Styled(STYLED[kind], self.inlines(content))]
        if kind == "Quoted":
            opening, closing = QUOTES[content[0]["t"]]
            return [Text(opening), *self.inlines(content[1]), Text(closing)]
        if kind == "Code":
            return [Code(content[1])]
        if kind == "Math":
            tex = content[1]
            try:
                check_tex(tex)
            except MathError as error:
                self.warn(self.line_of(tex.strip()[:30]), f"math ${_short(tex)}$ cannot be typeset ({error}); "
                          "it is shown as TeX", "check the braces and commands of the formula")
            return [Math(tex, content[0]["t"] == "DisplayMath")]
        if kind == "Link":
            return [self.link(content)]
        if kind == "Span":
            return [self.span(content)]
        if kind == "Note":
            return [self.note_ref(content)]
        if kind == "Image":
            (_, alt, (src, _)) = content[0], content[1], content[2]
            line = self.line_of(src)
            try:
                self.image(src, line)
            except ImageRefused as refused:
                self.problems.append(Problem(self.at(line), refused.what, refused.hint))
                return list(self.inlines(alt))
            except ManuscriptError as error:
                self.errors.append(Problem(error.location or self.at(line), error.what, error.hint))
                return list(self.inlines(alt))
            self.warn(line, "an image inside a paragraph is shown as its caption",
                      "put the image in a paragraph of its own to make it a figure")
            return list(self.inlines(alt))
        if kind == "Cite":
            citations, words = content
            keys = ", ".join("@" + citation["citationId"] for citation in citations)
            reference = _cross_reference(citations)
            if reference is not None:
                return [self.cross_reference(*reference, words)]
            if self.cited is None:
                self.warn(self.line_of("@" + citations[0]["citationId"]), f"citation {keys} is shown as written",
                          "name the bibliography in book.yaml (`bibliography: works.bib`) to have it formatted")
            else:
                for citation in citations:
                    key = citation["citationId"]
                    if key in self.cited.missing:
                        self.warn(self.line_of("@" + key), f"cited work @{key} is not in the bibliography",
                                  f"add it to {self.cited.files}, or correct the key")
            return list(self.inlines(words))
        if kind == "RawInline":
            raw_format, text = content
            if raw_format.lower() in ("tex", "latex"):
                self.warn(self.line_of(text), f"raw TeX `{_short(text)}` is shown as text",
                          "write it in Markdown, or as math between $ signs")
                return [Text(text)]
            self.warn(self.line, f"raw {raw_format} {_short(text)!r} is left out: it is for {raw_format} output only",
                      "write it in Markdown to have it in the book")
            return []
        self.warn(self.line, f"unsupported inline {kind!r} is shown as text", "write it as plain Markdown")
        return [Text(_node_text(node))]

    def check_text(self, text: str) -> None:
        for match in UNDEFINED_NOTE.finditer(text):
            self.warn(self.line_of(match.group(0)), f"footnote [^{match.group(1)}] is not defined",
                      f"add a line `[^{match.group(1)}]: text` at the end of the chapter")
        if "{%" in text or "{{" in text:
            self.warn(self.line_of(text), f"template tag {_short(text)!r} is shown as text",
                      "the manuscript is not a template: write the words themselves")

    def number_equation(self, children: list[Inline], label: str) -> None:
        while children and isinstance(children[-1], Text) and not children[-1].text.strip():
            children.pop()
        math = children.pop()
        assert isinstance(math, Math)
        equation_id = self.claim_id(label, True, "eq")
        children.append(dataclasses.replace(math, id=equation_id, number=self.next_number("equation")))

    def raw_html_inline(self, raw: str, stack: list[tuple[str, str, list[Inline]]],
                        out: Callable[[], list[Inline]]) -> None:
        stripped = raw.strip()
        if stripped.startswith("<!--"):
            return
        tag = _tag(stripped)
        if tag and tag.name == "br":
            out().append(LineBreak())
            return
        if tag and tag.name in INLINE_HTML and not tag.closing and not tag.empty:
            stack.append((tag.name, raw, []))
            return
        if tag and tag.closing and stack and stack[-1][0] == tag.name:
            name, opening, children = stack.pop()
            out().append(self.html_element(name, opening, tuple(_merge_text(children))))
            return
        self.warn(self.line_of(stripped), f"raw HTML {_short(stripped)!r} is shown as text",
                  "write it in Markdown instead")
        out().append(Text(raw))

    def html_element(self, name: str, opening: str, children: tuple[Inline, ...]) -> Inline:
        kind = INLINE_HTML[name]
        if name == "strong" or kind == "strong":
            return Strong(children)
        if kind == "em":
            return Emphasis(children)
        if kind:
            return Styled(kind, children)
        if name == "a":
            href = re.search(r"""href\s*=\s*["']([^"']*)["']""", opening)
            if href:
                return self.link([["", [], []], [], [href.group(1), ""]], children)
        if name == "code":
            return Code(plain_text(children))
        return Span(children)

    def link(self, content: list[Any], children: tuple[Inline, ...] | None = None) -> Inline:
        _, inlines, (url, title) = content
        children = _without_links(self.inlines(inlines) if children is None else children)
        if self.cited is not None and url.startswith("#") and url[1:] in self.cited.entry_ids:
            # A citation, linking to its work; its span's id is where the work links back to.
            self.mark_count += 1
            return Span((Link("#" + self.cited.entry_ids[url[1:]], children),),
                        f"{CITATION_ID}{self.chapter_number}-{self.mark_count}")
        if self.cited is not None and url.startswith("#ref-") and url[5:] in self.cited.missing:
            return Span(children)  # a work the bibliography lacks (warned of at its citation)
        if SAFE_URL.match(url) or (not URL_SCHEME.match(url) and url and not url.startswith("/")):
            return Link(_valid_url(url), children, title or None)
        self.warn(self.line_of(url), f"link target {url!r} is not a web address or #id; its text is shown without "
                  "the link", "link to https://…, mailto:…, a chapter file or a #heading-id")
        return Span(children)

    def cross_reference(self, keys: str, bare: bool, words: list[Node]) -> CrossRef:
        """`@fig:x`, `[@fig:x; @fig:y]`, `[-@tbl:x]`: numbered once the whole book is read (see
        _number_cross_references)."""
        labels = tuple(key.strip().lstrip("@") for key in keys.split(","))
        return CrossRef(labels, bare, self.inlines(words), self.at(self.line_of(keys.split(", ")[0])))

    def page_reference(self, keys: str, bare: bool) -> PageRef:
        """`[@sec:x]{.page}`: the page the target is printed on, checked once the whole book is
        read (see _check_page_references) and numbered from the layout's page map."""
        targets = tuple(key.strip().lstrip("@") for key in keys.split(","))
        written = f"[{'-' if bare else ''}{'; '.join('@' + target for target in targets)}]{{.page}}"
        return PageRef(targets, bare, (Text(written),), self.at(self.line_of(keys.split(", ")[0])))

    def span(self, content: list[Any]) -> Inline:
        (wanted, classes, pairs), inlines = content
        if CROSS_REFERENCE_SET_ASIDE in classes:  # see _set_aside_cross_references
            attributes = dict(pairs)
            return self.cross_reference(attributes["keys"], attributes.get("bare") == "1", inlines)
        if PAGE_REFERENCE_SET_ASIDE in classes:
            attributes = dict(pairs)
            return self.page_reference(attributes["keys"], attributes.get("bare") == "1")
        if "page" in classes and not wanted and (reference := _page_reference(inlines)) is not None:
            return self.page_reference(*reference)
        attributes = dict(pairs)
        children = self.inlines(inlines)
        text = plain_text(children).strip()
        line = self.line_of(next(iter(attributes.values()))) if attributes else self.line_of(text or "]{")
        self.line, saved = line, self.line
        span_id = self.claim_id(wanted, True) if wanted else None
        self.line = saved
        location = self.at(line)
        if ("idx" in attributes or "date" in attributes) and span_id is None:
            self.mark_count += 1
            span_id = f"_m-{self.chapter_number}-{self.mark_count}"
        if "idx" in attributes:
            terms = tuple(term.strip() for term in attributes["idx"].split("!"))
            if len(terms) > MAX_INDEX_LEVELS:
                self.error(line, f"an index entry of {len(terms)} levels; at most {MAX_INDEX_LEVELS}",
                           'write idx="Term", "Term!Sub-term" or "Term!Sub-term!Sub-sub-term"')
            elif not all(terms):
                self.warn(line, f"empty index term in idx={attributes['idx']!r}",
                          'write idx="Term" or idx="Term!Sub-term"')
            else:
                self.index_marks.append(IndexMark(span_id or "", terms, text, location))
        if "date" in attributes:
            try:
                if attributes["date"].strip():  # empty: the chronology reads the date from the visible text
                    parse_date_value(attributes["date"])
                event = attributes.get("event", "").strip() or None
                self.date_marks.append(DateMark(span_id or "", attributes["date"].strip(), event, text, location))
            except DateError as error:
                self.error(line, f"bad date {attributes['date']!r} in a date mark: {error}",
                           "write YYYY, YYYY-MM, YYYY-MM-DD or a range such as 1954-01/1954-02")
        if "mark" in classes:
            return Styled("mark", children)
        return Span(children, span_id, tuple(classes), self.language_of(attributes, line))

    def language_of(self, attributes: dict[str, str], line: int | None) -> str | None:
        """A span's or div's `lang=`: a BCP 47 tag, or a warning and the book's language."""
        lang = attributes.get("lang", "").strip()
        if not lang:
            return None
        if not LANGUAGE_TAG.fullmatch(lang):
            self.warn(line, f"lang={lang!r} is not a language tag; the text keeps the book's language",
                      "write a BCP 47 tag such as en, es, de or en-US")
            return None
        return lang

    def note_ref(self, content: list[Node]) -> NoteRef:
        key = json.dumps(content, sort_keys=True)
        if key not in self.notes:
            self.notes[key] = (len(self.notes) + 1, content, self.line)  # type: ignore[assignment]
        number = self.notes[key][0]
        calls = self.notes_called.get(number, 0)
        self.notes_called[number] = calls + 1
        ref_id = f"_fnref-{self.chapter_number}-{number}" + (f"-{calls + 1}" if calls else "")
        return NoteRef(f"_fn-{self.chapter_number}-{number}", number, ref_id, first=calls == 0)

    def footnotes(self) -> tuple[Footnote, ...]:
        notes = []
        for number, content, line in self.notes.values():
            self.line = line
            children = self.blocks(content)  # type: ignore[arg-type]
            notes.append(Footnote(f"_fn-{self.chapter_number}-{number}", number, children, self.at(line)))
        return tuple(notes)


@dataclass(frozen=True, slots=True)
class _Tag:
    name: str
    closing: bool
    empty: bool


HTML_TAG = re.compile(r"^<(/?)([A-Za-z][A-Za-z0-9]*)\b[^<>]*?(/?)>$", re.DOTALL)


def _tag(raw: str) -> _Tag | None:
    match = HTML_TAG.match(raw.strip())
    return _Tag(match.group(2).lower(), bool(match.group(1)), bool(match.group(3))) if match else None


def _is_html(node: Node) -> bool:
    return str(node["c"][0]).lower() == "html"


def _raw_html(node: Node) -> str:
    return node["c"][1] if node["t"] == "RawBlock" and _is_html(node) else ""


SAFE_BLOCK_TAGS = ("div", "section", "article", "aside", "figure", "center", "summary", "details", "p", "span", "br",
                   "thead", "tbody", "hr")


def _unsafe_html(nodes: Sequence[Node], position: int) -> bool:
    """True if the node at `position` is a raw HTML block that is shown as text."""
    if position >= len(nodes):
        return False
    raw = _raw_html(nodes[position]).strip()
    tag = _tag(raw)
    return bool(raw) and not raw.startswith("<!--") and not (tag and tag.name in SAFE_BLOCK_TAGS)


def _raw_run(nodes: Sequence[Node], position: int) -> tuple[int, str]:
    """The raw HTML blocks shown as text from `position` on, as one text: how many, and the text."""
    end = position + 1
    while _unsafe_html(nodes, end):
        end += 1
    return end - position, "".join(_raw_html(node) for node in nodes[position:end])


def _closing(nodes: Sequence[Node], position: int, name: str) -> int | None:
    """The index of the raw `</name>` that closes the element opened at `position`."""
    depth = 0
    for index in range(position + 1, len(nodes)):
        tag = _tag(_raw_html(nodes[index]))
        if tag and tag.name == name:
            if tag.closing:
                if depth == 0:
                    return index
                depth -= 1
            else:
                depth += 1
    return None


def _span_count(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1000))
    except ValueError:
        return 1


def _after_display_math(children: list[Inline]) -> bool:
    for node in reversed(children):
        if isinstance(node, Text) and not node.text.strip():
            continue
        return isinstance(node, Math) and node.display and node.id is None
    return False


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "…"


def _node_text(node: Any) -> str:
    """The words of any Pandoc node."""
    if isinstance(node, dict):
        if node.get("t") in ("Space", "SoftBreak", "LineBreak"):
            return " "
        if node.get("t") in ("Str", "Code", "Math", "RawInline", "CodeBlock", "RawBlock"):
            content = node["c"]
            return content if isinstance(content, str) else str(content[-1])
        return _node_text(node.get("c", []))
    if isinstance(node, list):
        return "".join(_node_text(child) for child in node if isinstance(child, (dict, list)))
    return ""


def _probe(node: Node) -> str:
    """Words a block's source surely holds, to find its line: its first word of letters or digits."""
    if node["t"] == "CodeBlock":
        return node["c"][1].strip().split("\n")[0][:40]
    if node["t"] == "RawBlock":
        return node["c"][1].strip().split("\n")[0][:40]
    if node["t"] == "Figure":
        for image in _walk(node):
            if image.get("t") == "Image":
                return image["c"][2][0]
    if node["t"] == "Header" and node["c"][1][0]:
        return "#" + node["c"][1][0]
    for child in _walk(node):
        if child.get("t") == "Str":
            word = re.search(r"\w+", child["c"])
            if word:
                return word.group(0)
        if child.get("t") in ("Code", "Math"):
            return child["c"][1][:20]
    return ""


def _walk(node: Any) -> Iterable[Node]:
    if isinstance(node, dict):
        yield node
        yield from _walk(node.get("c", []))
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child)


def _valid_url(url: str) -> str:
    """The address with the characters an address may not hold (spaces, brackets, quotes …)
    percent-escaped, as a reading system and a PDF reader expect it; escapes already there stay."""
    address, hash_mark, fragment = url.strip().partition("#")
    safe = ":/?@!$&'()*+,;=%~-._"
    return quote(address, safe=safe) + hash_mark + quote(fragment, safe=safe)


def _without_links(nodes: tuple[Inline, ...]) -> tuple[Inline, ...]:
    """A link's words with the links inside them made plain (GitHub's Markdown makes a web address
    in a link's text a link of its own; a link cannot hold a link)."""
    plain: list[Inline] = []
    for node in nodes:
        if isinstance(node, Link):
            plain.append(Span(_without_links(node.children)))
        elif isinstance(node, CONTAINERS):
            plain.append(dataclasses.replace(node, children=_without_links(node.children)))
        else:
            plain.append(node)
    return tuple(plain)


def _merge_text(nodes: list[Inline]) -> tuple[Inline, ...]:
    """One Text for a run of text, so that a phrase is found even across lines (joined once: Pandoc
    gives a word and a space a node each)."""
    merged: list[Inline] = []
    run: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            run.append(node.text)
            continue
        if any(run):
            merged.append(Text("".join(run)))
        run.clear()
        merged.append(node)
    if any(run):
        merged.append(Text("".join(run)))
    return tuple(merged)


def _meta_text(value: Any) -> str:
    """A metadata value's words."""
    if not isinstance(value, dict):
        return ""
    kind: Any = value.get("t")
    content: Any = value.get("c")
    if kind == "MetaString":
        return str(content)
    if kind in ("MetaInlines", "MetaBlocks"):
        return _node_text(content).strip()
    if kind == "MetaList":
        return ", ".join(_meta_text(item) for item in content)
    if kind == "MetaBool":
        return str(content).lower()
    if kind == "MetaMap":
        return ", ".join(f"{key}: {_meta_text(item)}" for key, item in content.items())
    return ""


def read_source(path: Path, markdown: str = "markdown") -> tuple[Source, str]:
    """A chapter's bytes and, for Markdown, its text; unreadable, non-UTF-8 and oversized files are
    errors naming the spot."""
    binary = path.suffix.lower() in (".docx", ".odt")
    limit = MAX_BINARY_BYTES if binary else MAX_CHAPTER_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise ManuscriptError(f"the chapter file is {size / 2**20:.1f} MB; at most {limit >> 20} MB a file",
                                  Location(path), "split it into chapters (one file each)")
        data = path.read_bytes()
    except OSError as error:
        raise ManuscriptError(f"cannot read chapter: {error.strerror}", Location(path),
                              "check that the file exists and is readable") from None
    if binary:
        return Source(path, data), ""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ManuscriptError(f"not UTF-8 text (byte 0x{data[error.start]:02x})", Location(path, line),
                              "save the file as UTF-8") from None
    if not text.strip():
        raise ManuscriptError("chapter is empty", Location(path, 1), "write the chapter, or take it out of the book")
    deep = NESTED_ON_ONE_LINE.search(text)
    if deep:
        raise ManuscriptError(f"quotes, lists or emphasis nested more than {MAX_NESTING} deep",
                              Location(path, text.count("\n", 0, deep.start()) + 1), "write the passage with fewer levels")
    return Source(path, text.encode("utf-8"), markdown), text


NESTED_ON_ONE_LINE = re.compile(r"^[ \t]*(?:(?:>[ \t]?|(?:[-+*]|\d{1,9}[.)])[ \t]+)[ \t]*){" + str(MAX_NESTING + 1) + "}",
                                re.MULTILINE)
"""Quote and list markers that open more levels on one line than the reader takes: refused before
Pandoc spends seconds nesting them."""


def _most_indented(text: str) -> int | None:
    """The line that starts furthest right: where a structure nested too deep to read is deepest."""
    best, best_line = -1, None
    for number, line in enumerate(text.split("\n"), start=1):
        indent = len(line) - len(line.lstrip(" \t>"))
        if line.strip() and indent > best:
            best, best_line = indent, number
    return best_line


def _unused_definitions(text: str, source: Path) -> list[Problem]:
    """Pandoc drops a note that is defined but never called; the editor should know."""
    problems = []
    for match in re.finditer(r"^[ ]{0,3}\[\^([^\]\s]+)\]:", text, re.MULTILINE):
        label = match.group(1)
        calls = re.findall(rf"\[\^{re.escape(label)}\](?!:)", text)
        if not calls:
            line = text[: match.start()].count("\n") + 1
            problems.append(Problem(Location(source, line), f"footnote [^{label}] is defined but never called",
                                    f"call it with [^{label}] in the text, or delete the definition"))
    return problems


@dataclass
class _FileChapters:
    """The chapters one file gives (or all files), with what was found on the way."""

    chapters: list[Chapter]
    problems: list[Problem]
    errors: list[Problem]
    aliases: dict[Path, dict[str, str]] = field(default_factory=dict)
    """For each file, Pandoc's ids of its headings → the headings' ids."""
    bibliography: Bibliography | None = None


def _chapters_of(parsed: Parsed, source: Path, text: str, first_number: int, folders: _Folders,
                 used_ids: set[str], counts: dict[str, int]) -> _FileChapters:
    """A file is one chapter, or several when it has several `#` headings: each starts a chapter.
    Text before the first `#` heading is a chapter of its own, titled by the metadata's `title:`,
    else by its first heading of any level, else by the file's name (with a warning)."""
    tree = parsed.tree
    blocks: list[Node] = tree.get("blocks", [])
    meta: dict[str, Any] = tree.get("meta", {})
    lines = _Lines(text)
    base = _ChapterReader(source, folders.manuscript_dir, lines, used_ids, counts, parsed.media, cited=folders.cited,
                          by_chapter=folders.by_chapter)
    _metadata_problems(base, meta, folders.book_file, text)

    groups: list[tuple[Node | None, list[Node]]] = []
    current: tuple[Node | None, list[Node]] = (None, [])
    for node in blocks:
        if node["t"] == "Header" and node["c"][0] == 1:
            if current[0] is not None or _has_content(current[1]):
                groups.append(current)
            current = (node, [])
        else:
            current[1].append(node)
    if current[0] is not None or _has_content(current[1]):
        groups.append(current)
    if not groups:
        raise ManuscriptError("chapter is empty", Location(source, 1), "write the chapter, or take it out of the book")

    result = _FileChapters([], base.problems, base.errors)
    number = first_number
    for heading, body in groups:
        reader = dataclasses.replace(base, chapter_number=number, problems=result.problems, errors=result.errors,
                                     index_marks=[], date_marks=[], notes={}, notes_called={}, block_count=0,
                                     mark_count=0, depth=0)
        shift = -1
        if heading is None:
            meta_title = meta.get("title")
            first_heading = next((index for index, node in enumerate(body) if node["t"] == "Header"), None)
            if meta_title is not None and number == first_number:
                title_inlines = meta_title["c"] if meta_title.get("t") == "MetaInlines" else \
                    [{"t": "Str", "c": _meta_text(meta_title)}]
                wanted, title_line = "", lines.line_at(lines.find("title") or 0) if text else 1
            elif first_heading is not None:
                heading = body.pop(first_heading)
                shift = heading["c"][0] - 1
            else:
                title_inlines = [{"t": "Str", "c": _title_from_name(source)}]
                wanted, title_line = "", 1
                reader.warn(None if parsed.media else 1, UNTITLED,
                            "give the document a title or a first heading (Heading 1)" if parsed.media else
                            "start the file with a line `# Chapter title`, or give it `title:` in a metadata block")
        if heading is not None:
            shift = max(shift, 0)
            reader.start_block(_probe(heading))
            title_line = reader.line
            _, (wanted, _, _), title_inlines = heading["c"]
        reader.line = title_line
        title = reader.inlines(title_inlines)
        chapter_id = reader.heading_id(wanted, title)
        made = reader.blocks(body, top=True)
        if shift < 0:  # titled by metadata or file name: the highest section heading becomes `##`
            levels = [block.level for block in made if isinstance(block, Heading)]
            shift = min(levels) - 2 if levels else 0
        made = _shifted(made, shift)
        footnotes = reader.footnotes()
        result.chapters.append(Chapter(
            id=chapter_id, number=number, title=title, title_text=plain_text(title).strip(), source=source,
            blocks=made, footnotes=footnotes, index_marks=tuple(reader.index_marks),
            date_marks=tuple(reader.date_marks)))
        number += 1
    if text:
        result.problems.extend(_unused_definitions(text, source))
    result.aliases[source.resolve()] = base.aliases
    return result


def _title_from_name(source: Path) -> str:
    """`03-the_long_war.docx` → 'The long war'."""
    words = re.sub(r"^[\d\s._-]+", "", source.stem).replace("_", " ").replace("-", " ").strip() or source.stem
    return words[:1].upper() + words[1:]


def _shifted(blocks: tuple[Block, ...], shift: int) -> tuple[Block, ...]:
    """Section headings one level up when the chapter's title was a `##` heading."""
    if not shift:
        return blocks
    return tuple(dataclasses.replace(block, level=max(2, block.level - shift)) if isinstance(block, Heading) else block
                 for block in blocks)


def _has_content(blocks: list[Node]) -> bool:
    return any(not (node["t"] == "RawBlock" and node["c"][1].strip().startswith("<!--")) and node["t"] != "Null"
               for node in blocks)


def _metadata_problems(reader: _ChapterReader, meta: dict[str, Any], book_file: Path, text: str) -> None:
    """A chapter's metadata block may title the chapter; the book's own settings are book.yaml's."""
    for key in sorted(meta):
        if key in CHAPTER_KEYS:
            continue
        offset = reader.lines.find(f"{key}:", 0) if text else None
        line = reader.lines.line_at(offset) if offset is not None else 1
        if offset is None and text.startswith("%") and key in ("author", "date"):  # a title block: % title, % author, % date
            line = 2 if key == "author" else 3
        if key in BOOK_KEYS:
            reader.warn(line, f"the chapter's metadata sets {key!r}; the book's settings come from book.yaml",
                        f"set {key} in {book_file.name} ({book_file.name} wins when both do)")
        else:
            reader.warn(line, f"the chapter's metadata key {key!r} is not used",
                        "Limbag reads the title: of a chapter's metadata block; the book's settings are in book.yaml")


def _resolve_links(chapters: list[Chapter], problems: list[Problem],
                   aliases: dict[Path, dict[str, str]], elsewhere: frozenset[str] = frozenset()) -> list[Chapter]:
    """Links to other chapter files (`other.md`, `other.md#id`) point into the book; a link to a
    chapter or an id that is not there is a warning. `elsewhere`: ids outside the chapters (the
    bibliography's entries)."""
    by_file: dict[Path, str] = {}
    for chapter in chapters:
        by_file.setdefault(chapter.source.resolve(), chapter.id)
    known = {element for chapter in chapters for element in chapter_ids(chapter)} | elsewhere

    def resolve(link: Link, chapter: Chapter) -> Inline:
        url = link.url
        if URL_SCHEME.match(url):
            return link
        path_part, _, fragment = url.partition("#")
        target = chapter.source.resolve()
        if path_part:
            target = (chapter.source.parent / path_part).resolve()
            if target not in by_file:
                problems.append(Problem(_location_of(chapter.source, f"]({url}"),
                                        f"link to {url!r}: no chapter of the book is that file; its text "
                                        "is shown without the link", "link to a chapter file listed in the book"))
                return Span(link.children)
            fragment = fragment or by_file[target]
        if fragment and fragment not in known:  # Pandoc's id of a heading, in that file or another
            fragment = aliases.get(target, {}).get(fragment) or next(
                (named[fragment] for named in aliases.values() if fragment in named), fragment)
        if fragment and fragment not in known:
            problems.append(Problem(_location_of(chapter.source, f"]({url}"),
                                    f"link to {url!r}: there is no id {fragment!r} in the book",
                                    "give the heading or span an {#id}, or correct the link"))
            return Span(link.children)
        return dataclasses.replace(link, url="#" + fragment)

    return [_map_inlines(chapter, functools.partial(resolve, chapter=chapter)) for chapter in chapters]


def _location_of(source: Path, needle: str) -> Location:
    """Where `needle` first stands in a Markdown file (the file alone if not found)."""
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return Location(source)
    offset = text.find(needle)
    return Location(source, text.count("\n", 0, offset) + 1 if offset >= 0 else None)


def _map_inlines(chapter: Chapter, on_link: Callable[[Link], Inline]) -> Chapter:
    """The chapter with each of its links replaced by `on_link(link)`."""

    def inlines(nodes: tuple[Inline, ...]) -> tuple[Inline, ...]:
        out: list[Inline] = []
        for node in nodes:
            if isinstance(node, CONTAINERS):
                node = dataclasses.replace(node, children=inlines(node.children))
            out.append(on_link(node) if isinstance(node, Link) else node)
        return tuple(out)

    def blocks(nodes: tuple[Block, ...]) -> tuple[Block, ...]:
        return tuple(map_inline_runs(block, inlines) for block in nodes)

    notes = tuple(dataclasses.replace(note, children=blocks(note.children)) for note in chapter.footnotes)
    return dataclasses.replace(chapter, blocks=blocks(chapter.blocks), footnotes=notes)


@dataclass(frozen=True, slots=True)
class _Folders:
    manuscript_dir: Path
    book_file: Path
    cache_dir: Path
    markdown: str = "markdown"
    citations: CitationSettings | None = None
    language: str = "en"
    cited: _Cited | None = None
    by_chapter: bool = False


@dataclass(frozen=True, slots=True)
class _Cited:
    """The book's citations as citeproc wrote them: the bibliography's blocks (Pandoc's), the keys
    no bibliography file holds, and the id each work's entry gets (citeproc's `ref-key` → a valid id)."""

    bibliography: tuple[Node, ...]
    missing: frozenset[str]
    entry_ids: dict[str, str]
    files: str
    """The bibliography files' names, for messages."""
    settings: CitationSettings
    """book.yaml's, with the files chapters name added."""


def _caption_label(blocks: list[Node]) -> tuple[str, list[Node]]:
    """A table caption's trailing `{#tbl:x}` as the table's id, and the caption without it."""
    if not blocks or blocks[-1].get("t") not in ("Plain", "Para") or not blocks[-1]["c"]:
        return "", blocks
    inlines = blocks[-1]["c"]
    last = inlines[-1]
    found = re.fullmatch(r"\{#(tbl:[^}\s]+)\}", last["c"]) if last.get("t") == "Str" else None
    if found is None:
        return "", blocks
    kept = inlines[:-1]
    while kept and kept[-1].get("t") in ("Space", "SoftBreak"):
        kept = kept[:-1]
    return found.group(1), [*blocks[:-1], {"t": blocks[-1]["t"], "c": kept}]


def _cross_reference(citations: list[Node]) -> tuple[str, bool] | None:
    """A citation made only of cross-references (`@fig:x; @tbl:y`): its keys, and whether it asks
    for the numbers alone (`[-@fig:x]`); None for a citation of works."""
    if not all(CROSS_REFERENCE.match(citation["citationId"]) for citation in citations):
        return None
    keys = ", ".join("@" + citation["citationId"] for citation in citations)
    return keys, all(citation["citationMode"]["t"] == "SuppressAuthor" for citation in citations)


def _page_reference(inlines: list[Node]) -> tuple[str, bool] | None:
    """A `.page` span made only of citations (`[@sec:x; @fig:y]{.page}`): their keys, and whether
    it asks for the numbers alone (`[-@sec:x]{.page}`); None for any other span."""
    citations = [citation for node in inlines if node.get("t") == "Cite" for citation in node["c"][0]]
    rest = [node for node in inlines if node.get("t") not in ("Cite", "Space", "SoftBreak")
            and not (node.get("t") == "Str" and node["c"] in (";", ","))]
    if not citations or rest:
        return None
    keys = ", ".join("@" + citation["citationId"] for citation in citations)
    return keys, all(citation["citationMode"]["t"] == "SuppressAuthor" for citation in citations)


def _set_aside_cross_references(node: Any) -> Any:
    """The tree with each citation made only of cross-references (`@fig:x`), and each page
    reference (`[@x]{.page}`), put in a span, so that citeproc, which would take their labels
    for works it cannot find, leaves them alone."""
    if isinstance(node, list):
        return [_set_aside_cross_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("t") == "Span" and "page" in node["c"][0][1] and not node["c"][0][0]:
        reference = _page_reference(node["c"][1])
        if reference is not None:
            keys, bare = reference
            return {"t": "Span", "c": [["", [PAGE_REFERENCE_SET_ASIDE], [["keys", keys], ["bare", "1" if bare else "0"]]],
                                       node["c"][1]]}
    if node.get("t") == "Cite":
        citations, words = node["c"]
        reference = _cross_reference(citations)
        if reference is None:
            return node
        keys, bare = reference
        return {"t": "Span", "c": [["", [CROSS_REFERENCE_SET_ASIDE], [["keys", keys], ["bare", "1" if bare else "0"]]],
                                   words]}
    return {key: _set_aside_cross_references(value) for key, value in node.items()}


def _chapter_bibliographies(parsed_all: list[Parsed | ManuscriptError], pending: PendingChapters,
                            folders: _Folders, errors: list[Problem]) -> list[Path]:
    """The bibliography files chapters' metadata blocks name (`bibliography: works.bib`, or a list),
    each in manuscript/ and relative to its chapter."""
    found: list[Path] = []
    manuscript = folders.manuscript_dir.resolve()
    for parsed, source, text in zip(parsed_all, pending.sources, pending.texts, strict=True):
        if not isinstance(parsed, Parsed) or "bibliography" not in parsed.tree.get("meta", {}):
            continue
        value = parsed.tree["meta"]["bibliography"]
        items = value["c"] if value.get("t") == "MetaList" else [value]
        offset = _Lines(text).find("bibliography:", 0)
        where = Location(source.path, _Lines(text).line_at(offset) if offset is not None else 1)
        for item in items:
            name = _meta_text(item).strip()
            path = (source.path.parent / name).resolve()
            if not name or not path.is_relative_to(manuscript):
                errors.append(Problem(where, f"bibliography {name!r} is outside manuscript/",
                                      "put the bibliography file in manuscript/ and name it from the chapter's folder"))
            elif path.suffix.lower() not in BIBLIOGRAPHY_SUFFIXES or not path.is_file():
                errors.append(Problem(where, f"bibliography {name!r}: no such BibTeX, BibLaTeX, CSL JSON or YAML file",
                                      "check the file name (.bib, .json or .yaml, in manuscript/)"))
            elif path not in found:
                found.append(path)
    return found


def _cite(parsed_all: list[Parsed | ManuscriptError], pending: PendingChapters, folders: _Folders,
          errors: list[Problem]) -> tuple[list[Parsed | ManuscriptError], _Cited | None]:
    """Every citation of the book formatted by citeproc, in one run over all files (see citations.py)."""
    settings = folders.citations
    more = [path for path in _chapter_bibliographies(parsed_all, pending, folders, errors)
            if settings is None or path not in settings.bibliography]
    if more:
        settings = (CitationSettings(tuple(more), bundled_style(DEFAULT_STYLE)) if settings is None else
                    dataclasses.replace(settings, bibliography=(*settings.bibliography, *more)))
        folders = dataclasses.replace(folders, citations=settings)
    if settings is None:
        return parsed_all, None
    trees = [{**parsed.tree, "blocks": [_set_aside_cross_references(block) if holds(block, {"Cite"}) else block
                                        for block in parsed.tree.get("blocks", [])]}
             for parsed in parsed_all if isinstance(parsed, Parsed)]
    try:
        formatted = cite(trees, settings, folders.language, folders.cache_dir, pandoc_program())
    except ManuscriptError as error:
        errors.append(Problem(error.location or Location(settings.bibliography[0]), error.what, error.hint))
        return parsed_all, None
    given = iter(formatted.trees)
    result = [dataclasses.replace(parsed, tree=next(given)) if isinstance(parsed, Parsed) else parsed
              for parsed in parsed_all]
    entry_ids = {}
    for block in formatted.bibliography:
        if block["t"] == "Div" and block["c"][0][0].startswith("ref-"):
            wanted = block["c"][0][0]
            entry_ids[wanted] = wanted if ID.fullmatch(wanted) and ":" not in wanted else \
                "ref-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", wanted[4:]).strip("-")
    files = ", ".join(path.name for path in settings.bibliography)
    return result, _Cited(formatted.bibliography, formatted.missing, entry_ids, files, settings)


def _bibliography(cited: _Cited, folders: _Folders, used_ids: set[str], problems: list[Problem],
                  errors: list[Problem]) -> Bibliography | None:
    """The bibliography's entries as the model's blocks, each with its id."""
    settings = cited.settings
    reader = _ChapterReader(settings.bibliography[0], folders.manuscript_dir, _Lines(""), used_ids, {},
                            problems=problems, errors=errors, cited=cited)
    entries = []
    for block in cited.bibliography:
        if block["t"] != "Div":
            continue
        (wanted, _, _), children = block["c"]
        entry_id = reader.claim_id(cited.entry_ids.get(wanted, "ref"), False, "ref")
        entries.append(BibEntry(entry_id, reader.blocks(children)))
    if not entries:
        return None
    return Bibliography(settings.section_title, tuple(entries))


def read_chapter(source: Path, number: int, manuscript_dir: Path, used_ids: set[str]) -> tuple[Chapter, list[Problem]]:
    """One chapter file on its own (the first chapter it gives), its trees kept nowhere: for tests and tools."""
    with tempfile.TemporaryDirectory() as scratch:
        found = _read_files(start_reading([source], Path(scratch)), max(number, 1),
                            _Folders(manuscript_dir, manuscript_dir / "book.yaml", Path(scratch)), used_ids)
    if found.errors:
        raise ManuscriptErrors(found.errors)
    return found.chapters[0], found.problems


@dataclass
class PendingChapters:
    """Chapter files read from disk and being read by Pandoc (see pandoc.Reading)."""

    sources: list[Source]
    texts: list[str]
    errors: list[Problem]
    reading: Reading

    def close(self) -> None:
        self.reading.close()


def start_reading(paths: Sequence[Path], cache_dir: Path, markdown: str = "markdown") -> PendingChapters:
    """Reads the chapter files and sets Pandoc to work on them; `read_book` collects the result.
    Close it (or let read_book do so) to end Pandoc's processes."""
    sources: list[Source] = []
    texts: list[str] = []
    errors: list[Problem] = []
    for path in paths:
        try:
            source, text = read_source(path, markdown)
        except ManuscriptError as error:
            errors.append(Problem(error.location or Location(path), error.what, error.hint))
            continue
        sources.append(source)
        texts.append(text)
    return PendingChapters(sources, texts, errors, Reading(sources, cache_dir))


def _read_files(pending: PendingChapters, first_number: int, folders: _Folders, used_ids: set[str]) -> _FileChapters:
    with pending.reading:
        parsed_all = pending.reading.results()
    errors = pending.errors
    parsed_all, cited = _cite(parsed_all, pending, folders, errors)
    found = _FileChapters([], [], errors)
    if cited is not None:
        folders = dataclasses.replace(folders, cited=cited)
    counts: dict[str, int] = {}
    number = first_number
    for source, text, parsed in zip(pending.sources, pending.texts, parsed_all, strict=True):
        if isinstance(parsed, ManuscriptError):
            location = parsed.location or Location(source.path)
            if "nested" in parsed.what:
                parsed = ManuscriptError(f"quotes, lists or emphasis nested more than {MAX_NESTING} deep",
                                         Location(source.path, _most_indented(text)), parsed.hint)
                location = parsed.location or location
            errors.append(Problem(location, parsed.what, parsed.hint))
            continue
        try:
            chapters = _chapters_of(parsed, source.path, text, number, folders, used_ids, counts)
        except ManuscriptError as error:
            errors.append(Problem(error.location or Location(source.path), error.what, error.hint))
            continue
        found.chapters.extend(chapters.chapters)
        found.aliases.update(chapters.aliases)
        found.problems.extend(chapters.problems)
        errors.extend(chapters.errors)
        number += len(chapters.chapters)
    if folders.cited is not None:
        found.bibliography = _bibliography(folders.cited, folders, used_ids, found.problems, errors)
    return found


def read_book(config: BookConfig, cache_dir: Path, pending: PendingChapters | None = None) -> tuple[Book, list[Problem]]:
    """Every chapter of the book, in order, with the warnings found on the way. Every error of every
    chapter is reported at once. Pandoc's trees and the pictures of Word and ODT files are kept in
    `cache_dir`; `pending` is the reading `start_reading` began, if it was started early."""
    used_ids: set[str] = set(BOOK_PARTS)
    if pending is None:
        pending = start_reading(config.chapters, cache_dir, config.markdown)
    found = _read_files(pending, 1, _Folders(config.manuscript_dir, config.source, cache_dir, config.markdown,
                                             config.citations, config.language,
                                             by_chapter=config.numbers_by_chapter), used_ids)
    if found.errors:
        raise ManuscriptErrors(found.errors)
    chapters = _resolve_links(found.chapters, found.problems, found.aliases,
                              frozenset(bibliography_ids(found.bibliography)))
    chapters = _number_cross_references(chapters, load_language(config.language), found.problems)
    chapters = _check_page_references(chapters, found.problems)
    blurb = _read_blurb(config, cache_dir, used_ids, found.problems)
    return Book(config, tuple(chapters), _with_citations(found.bibliography, chapters), blurb), found.problems


def _read_blurb(config: BookConfig, cache_dir: Path, used_ids: set[str], problems: list[Problem]) -> tuple[Block, ...]:
    """The back cover's text, read as a chapter is (its headings, if any, kept as text)."""
    if config.cover is None or config.cover.blurb is None:
        return ()
    found = _read_files(start_reading([config.cover.blurb], cache_dir, config.markdown), 1,
                        _Folders(config.manuscript_dir, config.source, cache_dir, config.markdown,
                                 language=config.language), used_ids)
    if found.errors:
        raise ManuscriptErrors(found.errors)
    problems.extend(problem for problem in found.problems if problem.message != UNTITLED)  # a blurb has no title
    return tuple(block for chapter in found.chapters for block in chapter.blocks)


def _labels(chapters: list[Chapter]) -> dict[str, tuple[str, str, str]]:
    """Each cross-reference label (`fig:x`, `tbl:x`, `eq:x`, `sec:x`) → (kind, number, id): figures
    and equations as the reader numbered them, labelled tables by their number, sections by their
    place (chapter 2's second section is 2.2)."""
    found: dict[str, tuple[str, str, str]] = {}

    def equations(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        for node in run:
            if isinstance(node, Math) and node.id and node.number:
                found[node.id] = ("equation", f"({node.number})", node.id)
            elif isinstance(node, CONTAINERS):
                equations(node.children)
        return run

    for chapter in chapters:
        found[chapter.id] = ("section", str(chapter.number), chapter.id)
        counters: list[int] = []  # the section numbers under the chapter's, level by level
        for block in iter_blocks((*chapter.blocks, *(child for note in chapter.footnotes for child in note.children))):
            map_inline_runs(block, equations, titles=False)
            if isinstance(block, Figure):
                found[block.id] = ("figure", block.number, block.id)
            elif isinstance(block, Table) and block.number:
                found[block.id] = ("table", block.number, block.id)
            elif isinstance(block, Heading) and block.level >= 2:
                depth = block.level - 1
                counters = (counters + [0] * depth)[:depth]
                counters[-1] += 1
                found[block.id] = ("section", ".".join(map(str, (chapter.number, *counters))), block.id)
    return {label: value for label, value in found.items() if CROSS_REFERENCE.match(label)}


def _number_cross_references(chapters: list[Chapter], language: Language, problems: list[Problem]) -> list[Chapter]:
    """Every `@fig:x` made a link that says "Larawan 3" (`[-@fig:x]`: "3"; several: "Larawan 1 at
    2"), in the book's language; a label no figure, table, equation or section has is a warning,
    and the reference is shown as written."""
    labels = _labels(chapters)

    def numbered(reference: CrossRef) -> tuple[Inline, ...]:
        unknown = [label for label in reference.labels if label not in labels]
        if unknown:
            problems.append(Problem(reference.location, f"cross-reference @{unknown[0]}: no figure, table, "
                                    "equation or section has that label; it is shown as written",
                                    "label the figure or table {#fig:x}, the equation $$…$$ {#eq:x}, the "
                                    "heading {#sec:x}, or correct the reference"))
            return reference.written
        out: list[Inline] = []
        for number, (kind, group) in enumerate(_by_kind([labels[label] for label in reference.labels])):
            if number:
                out.append(Text(", "))
            if not reference.bare:
                out.append(Text(language.word(kind if len(group) == 1 else f"{kind}s") + " "))
            for place, (_, shown, target) in enumerate(group):
                if place:
                    out.append(Text(f" {language.word('and')} " if place == len(group) - 1 else ", "))
                out.append(Link("#" + target, (Text(shown),)))
        return tuple(out)

    def change(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        out: list[Inline] = []
        for node in run:
            if isinstance(node, CrossRef):
                out.extend(numbered(node))
            elif isinstance(node, CONTAINERS):
                out.append(dataclasses.replace(node, children=change(node.children)))
            else:
                out.append(node)
        return tuple(out)

    return [dataclasses.replace(
        chapter, blocks=tuple(map_inline_runs(block, change) for block in chapter.blocks),
        footnotes=tuple(dataclasses.replace(note, children=tuple(map_inline_runs(block, change) for block in note.children))
                        for note in chapter.footnotes)) for chapter in chapters]


def _check_page_references(chapters: list[Chapter], problems: list[Problem]) -> list[Chapter]:
    """Each page reference to an id no element of the chapters has is a warning, and is shown as
    written."""
    known = {element_id for chapter in chapters for element_id in chapter_ids(chapter)}

    def change(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        out: list[Inline] = []
        for node in run:
            unknown = [target for target in node.targets if target not in known] if isinstance(node, PageRef) else []
            if isinstance(node, PageRef) and unknown:
                problems.append(Problem(node.location, f"page reference @{unknown[0]}: no heading, figure, table, "
                                        "equation or span of the chapters has that id; it is shown as written",
                                        "give the place an id ({#sec:x}, [words]{#x}) or correct the reference"))
                out.extend(node.written)
            elif isinstance(node, CONTAINERS):
                out.append(dataclasses.replace(node, children=change(node.children)))
            else:
                out.append(node)
        return tuple(out)

    if page_reference_targets(chapters) <= known:
        return chapters
    return [dataclasses.replace(
        chapter, blocks=tuple(map_inline_runs(block, change) for block in chapter.blocks),
        footnotes=tuple(dataclasses.replace(note, children=tuple(map_inline_runs(block, change) for block in note.children))
                        for note in chapter.footnotes)) for chapter in chapters]


def _by_kind(targets: list[tuple[str, str, str]]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Consecutive targets of the same kind, grouped: "Figures 1 and 2, Table 3"."""
    groups: list[tuple[str, list[tuple[str, str, str]]]] = []
    for target in targets:
        if groups and groups[-1][0] == target[0]:
            groups[-1][1].append(target)
        else:
            groups.append((target[0], [target]))
    return groups


def _with_citations(bibliography: Bibliography | None, chapters: list[Chapter]) -> Bibliography | None:
    """The bibliography with, for each work, the ids of its citations in reading order."""
    if bibliography is None:
        return None
    cited: dict[str, list[str]] = {}

    def collect(run: tuple[Inline, ...]) -> tuple[Inline, ...]:
        for node in run:
            if isinstance(node, Span) and node.id and node.id.startswith(CITATION_ID):
                for link in node.children:
                    if isinstance(link, Link):
                        cited.setdefault(link.url[1:], []).append(node.id)
            elif isinstance(node, CONTAINERS):
                collect(node.children)
        return run

    for chapter in chapters:
        for block in (*chapter.blocks, *(child for note in chapter.footnotes for child in note.children)):
            map_inline_runs(block, collect)
    return dataclasses.replace(bibliography, entries=tuple(
        dataclasses.replace(entry, cited_at=tuple(cited.get(entry.id, ()))) for entry in bibliography.entries))
