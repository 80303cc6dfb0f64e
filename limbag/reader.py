"""Markdown chapters → the document model. markdown-it tokens never leave this module."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.footnote import footnote_plugin

from .config import BookConfig, slugify
from .dates import DateError, parse_date_value
from .errors import Location, ManuscriptError, Problem
from .images import ImageRefused, check_image
from .model import (
    Block,
    BlockQuote,
    Book,
    Chapter,
    Code,
    CodeBlock,
    DateMark,
    Emphasis,
    Figure,
    Footnote,
    Heading,
    IndexMark,
    Inline,
    LineBreak,
    Link,
    ListBlock,
    NoteRef,
    Paragraph,
    Span,
    Strong,
    Table,
    TableCell,
    Text,
    ThematicBreak,
    iter_blocks,
    plain_text,
)

HEADING_ATTRIBUTES = re.compile(r"\s*\{([^{}]*)\}\s*$")
UNDEFINED_NOTE = re.compile(r"\[\^([^\]\s]+)\]")
SAFE_URL = re.compile(r"^(https?:|mailto:|#)", re.IGNORECASE)
ID = re.compile(r"[A-Za-z][A-Za-z0-9_:.-]*")
"""An id an author may write. Every id Limbag makes begins with `_` (`_p-1-3`, `_fn-2-1`), so the two
never meet; the ids of the book's own parts are the exception, and are refused (BOOK_PARTS)."""
BOOK_PARTS = {"title-page": "title page", "imprint": "imprint", "contents": "contents", "notes": "notes",
              "index": "index", "chronology": "chronology"}


def markdown_parser() -> MarkdownIt:
    """CommonMark + GFM tables + footnotes + Pandoc-style attributes and bracketed spans.

    Like Pandoc's `smart` extension, straight quotes become curly, `--` and `---` dashes, `...` an ellipsis.
    """
    parser = (
        MarkdownIt("commonmark", {"typographer": True, "quotes": "“”‘’"})
        .enable(["table", "strikethrough", "replacements", "smartquotes"])
        .use(footnote_plugin)
        .use(attrs_plugin, spans=True)
    )
    # Every link and image is read as one, whatever its target: the reader refuses the targets it
    # does not follow with a warning and shows the text (markdown-it would leave the source as text).
    parser.validateLink = lambda url: True  # type: ignore[method-assign]
    return parser


@dataclass
class _ChapterReader:
    """Converts one chapter's syntax tree; holds the counters that make ids unique."""

    source: Path
    manuscript_dir: Path
    chapter_number: int
    used_ids: set[str]
    figure_count: int
    problems: list[Problem] = field(default_factory=list)
    index_marks: list[IndexMark] = field(default_factory=list)
    date_marks: list[DateMark] = field(default_factory=list)
    notes_called: dict[int, int] = field(default_factory=dict)
    block_count: int = 0
    mark_count: int = 0

    # ids ---------------------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        self.block_count += 1
        return f"_{kind}-{self.chapter_number}-{self.block_count}"

    def claim_id(self, wanted: str, line: int, explicit: bool) -> str:
        if explicit:
            if not ID.fullmatch(wanted):
                raise ManuscriptError(f"id {wanted!r} is not a valid identifier", self.at(line),
                                      "start with a letter; use letters, digits, '-', '_', '.' or ':'")
            if wanted in BOOK_PARTS:
                raise ManuscriptError(f"id {wanted!r} is the name of the book's {BOOK_PARTS[wanted]}", self.at(line),
                                      "choose another id")
            if wanted in self.used_ids:
                raise ManuscriptError(f"duplicate id {wanted!r}", self.at(line),
                                      "every {#id} must be unique in the whole book; rename one")
            self.used_ids.add(wanted)
            return wanted
        base = wanted if ID.fullmatch(wanted) else f"s-{wanted}" if wanted else "section"
        candidate, suffix = base, 1
        while candidate in self.used_ids:
            suffix += 1
            candidate = f"{base}-{suffix}"
        self.used_ids.add(candidate)
        return candidate

    def at(self, line: int | None) -> Location:
        return Location(self.source, line)

    def warn(self, line: int | None, message: str, hint: str) -> None:
        self.problems.append(Problem(self.at(line), message, hint))

    # blocks ------------------------------------------------------------------------------------
    def blocks(self, nodes: Iterable[SyntaxTreeNode], fallback_line: int) -> tuple[Block, ...]:
        result: list[Block] = []
        for node in nodes:
            block = self.block(node, _line(node, fallback_line))
            if block is not None:
                result.append(block)
        return tuple(result)

    def block(self, node: SyntaxTreeNode, line: int) -> Block | None:
        kind = node.type
        if kind == "paragraph":
            inline = node.children[0] if node.children else None
            children = inline.children if inline else []
            if len(children) == 1 and children[0].type == "image":
                return self.figure(children[0], line)
            if inline is not None and len(inline.content) > MAX_PARAGRAPH_CHARACTERS:
                raise ManuscriptError(f"a paragraph of {len(inline.content):,} characters; at most "
                                      f"{MAX_PARAGRAPH_CHARACTERS:,} are laid out as one", self.at(line),
                                      "break it into paragraphs with blank lines")
            return Paragraph(self.new_id("p"), self.inlines(children, line))
        if kind == "heading":
            return self.heading(node, line)
        if kind == "blockquote":
            return BlockQuote(self.new_id("q"), self.blocks(node.children, line))
        if kind in ("bullet_list", "ordered_list"):
            list_id = self.new_id("l")
            start = int(str(node.attrs.get("start", 1))) if kind == "ordered_list" else 1
            items = tuple(self.blocks(item.children, _line(item, line)) for item in node.children)
            return ListBlock(list_id, kind == "ordered_list", items, start)
        if kind in ("fence", "code_block"):
            language = node.info.split()[0] if node.info.strip() else None
            return CodeBlock(self.new_id("code"), node.content, language)
        if kind == "table":
            return self.table(node, line)
        if kind == "hr":
            return ThematicBreak(self.new_id("hr"))
        if kind == "html_block":
            if not node.content.lstrip().startswith("<!--"):
                self.warn(line, "raw HTML is not passed through; this block is dropped",
                          "write it in Markdown instead")
            return None
        if kind == "footnote_block":
            return None
        self.warn(line, f"unsupported Markdown construct {kind!r} dropped", "write it as plain Markdown")
        return None

    def heading(self, node: SyntaxTreeNode, line: int) -> Heading:
        level = max(2, int(node.tag[1]))
        children = self.inlines(node.children[0].children if node.children else [], line)
        explicit = str(node.attrs["id"]) if "id" in node.attrs else None
        heading_id = self.claim_id(explicit or slugify(plain_text(children)), line, explicit is not None)
        return Heading(heading_id, level, children, tuple(str(node.attrs.get("class", "")).split()))

    def figure(self, node: SyntaxTreeNode, line: int) -> Figure | Paragraph:
        src = str(node.attrs.get("src", ""))
        caption = self.inlines(node.children, line)
        try:
            image = check_image(src, self.manuscript_dir, self.at(line))
        except ImageRefused as refused:
            self.problems.append(Problem(self.at(line), refused.what, refused.hint))
            alt = str(node.attrs.get("alt", "")).strip()
            return Paragraph(self.new_id("p"), caption or ((Text(alt),) if alt else ()))
        alt = str(node.attrs.get("alt") or plain_text(caption)).strip()
        if not alt:
            self.warn(line, f"image {src!r} has neither caption nor alt text",
                      'add a caption ![Caption](…) or {alt="…"} so that every reader knows what it shows')
        self.figure_count += 1
        figure_id = self.claim_id(str(node.attrs["id"]), line, True) if "id" in node.attrs else self.new_id("fig")
        return Figure(figure_id, self.figure_count, image, alt, caption, self.at(line))

    def table(self, node: SyntaxTreeNode, line: int) -> Table:
        rows_in_all = sum(len(section.children) for section in node.children)
        if rows_in_all > MAX_TABLE_ROWS:
            raise ManuscriptError(f"a table of {rows_in_all:,} rows; at most {MAX_TABLE_ROWS:,} in one table",
                                  self.at(line), "split it, or give the data as a file to download")
        head: list[tuple[TableCell, ...]] = []
        body: list[tuple[TableCell, ...]] = []
        for section in node.children:
            rows = head if section.type == "thead" else body
            for row in section.children:
                rows.append(tuple(self.cell(cell, _line(row, line)) for cell in row.children))
        return Table(self.new_id("tbl"), tuple(head), tuple(body))

    def cell(self, node: SyntaxTreeNode, line: int) -> TableCell:
        style = str(node.attrs.get("style", ""))
        align = style.split(":", 1)[1] if style.startswith("text-align:") else None
        children = node.children[0].children if node.children else []
        return TableCell(self.inlines(children, line), align)

    # inlines -----------------------------------------------------------------------------------
    def inlines(self, nodes: Iterable[SyntaxTreeNode], line: int) -> tuple[Inline, ...]:
        result: list[Inline] = []
        for node in nodes:
            kind = node.type
            if kind == "text":
                for match in UNDEFINED_NOTE.finditer(node.content):
                    self.warn(line, f"footnote [^{match.group(1)}] is not defined",
                              f"add a line `[^{match.group(1)}]: text` at the end of the chapter")
                result.append(Text(node.content))
            elif kind == "softbreak":
                result.append(Text("\n"))
                line += 1
            elif kind == "hardbreak":
                result.append(LineBreak())
                line += 1
            elif kind == "em":
                result.append(Emphasis(self.inlines(node.children, line)))
            elif kind == "strong":
                result.append(Strong(self.inlines(node.children, line)))
            elif kind == "s":
                result.append(Span(self.inlines(node.children, line), classes=("strikeout",)))
            elif kind == "code_inline":
                result.append(Code(node.content))
            elif kind == "link":
                result.append(self.link(node, line))
            elif kind == "span":
                result.append(self.span(node, line))
            elif kind == "footnote_ref":
                result.append(self.note_ref(node))
            elif kind == "image":
                self.warn(line, "an image inside a paragraph is shown as its caption",
                          "put the image in a paragraph of its own to make it a figure")
                result.extend(self.inlines(node.children, line))
            elif kind == "html_inline":
                self.warn(line, f"raw HTML {node.content!r} is not passed through; shown as text",
                          "write it in Markdown instead")
                result.append(Text(node.content))
            elif kind == "footnote_anchor":
                continue
            else:
                self.warn(line, f"unsupported inline {kind!r} dropped", "write it as plain Markdown")
        return _merge_text(result)

    def link(self, node: SyntaxTreeNode, line: int) -> Inline:
        url = str(node.attrs.get("href", ""))
        children = self.inlines(node.children, line)
        if not SAFE_URL.match(url):
            self.warn(line, f"link target {url!r} is not a web address or #id; its text is shown without the link",
                      "link to https://…, mailto:… or a #heading-id")
            return Span(children)
        title = node.attrs.get("title")
        return Link(url, children, str(title) if title else None)

    def span(self, node: SyntaxTreeNode, line: int) -> Span:
        attrs = {str(k): str(v) for k, v in node.attrs.items()}
        children = self.inlines(node.children, line)
        text = plain_text(children).strip()
        span_id = self.claim_id(attrs["id"], line, True) if "id" in attrs else None
        location = Location(self.source, line)
        if ("idx" in attrs or "date" in attrs) and span_id is None:
            self.mark_count += 1
            span_id = f"_m-{self.chapter_number}-{self.mark_count}"
        if "idx" in attrs:
            terms = tuple(term.strip() for term in attrs["idx"].split("!"))
            if len(terms) > MAX_INDEX_LEVELS:
                raise ManuscriptError(f"an index entry of {len(terms)} levels; at most {MAX_INDEX_LEVELS}",
                                      location, 'write idx="Term", "Term!Sub-term" or "Term!Sub-term!Sub-sub-term"')
            if not all(terms):
                self.warn(line, f"empty index term in idx={attrs['idx']!r}", 'write idx="Term" or idx="Term!Sub-term"')
            else:
                self.index_marks.append(IndexMark(span_id or "", terms, text, location))
        if "date" in attrs:
            try:
                if attrs["date"].strip():  # empty: the chronology reads the date from the visible text
                    parse_date_value(attrs["date"])
            except DateError as error:
                raise ManuscriptError(f"bad date {attrs['date']!r} in a date mark: {error}", location,
                                      "write YYYY, YYYY-MM, YYYY-MM-DD or a range such as 1954-01/1954-02") from None
            event = attrs.get("event", "").strip() or None
            self.date_marks.append(DateMark(span_id or "", attrs["date"].strip(), event, text, location))
        return Span(children, span_id, tuple(attrs.get("class", "").split()))

    def note_ref(self, node: SyntaxTreeNode) -> NoteRef:
        note = int(node.meta["id"])
        calls = self.notes_called.get(note, 0)
        self.notes_called[note] = calls + 1
        ref_id = f"_fnref-{self.chapter_number}-{note + 1}" + (f"-{calls + 1}" if calls else "")
        return NoteRef(f"_fn-{self.chapter_number}-{note + 1}", note + 1, ref_id, first=calls == 0)

    def footnotes(self, block: SyntaxTreeNode | None, call_lines: dict[int, int]) -> tuple[Footnote, ...]:
        if block is None:
            return ()
        notes: list[Footnote] = []
        for node in block.children:
            note = int(node.meta["id"])
            line = _line(node, call_lines.get(note, 1))
            children = self.blocks(node.children, line)
            notes.append(Footnote(f"_fn-{self.chapter_number}-{note + 1}", note + 1, children, self.at(line)))
        return tuple(notes)


def _merge_text(nodes: list[Inline]) -> tuple[Inline, ...]:
    """One Text for a run of text and line breaks, so that a phrase is found even across lines."""
    merged: list[Inline] = []
    for node in nodes:
        if isinstance(node, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].text + node.text)
        else:
            merged.append(node)
    return tuple(merged)


def _line(node: SyntaxTreeNode, fallback: int) -> int:
    """The 1-based line where a node starts, or the fallback for nodes without a map."""
    for candidate in (node, *node.children[:1]):
        if candidate.map:
            return candidate.map[0] + 1
    return fallback


def _take_heading_attributes(tokens: list[Token]) -> None:
    """Pandoc's `# Title {#id .class}`: move trailing braces from the heading text to its attrs."""
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open" or not inline.children or inline.children[-1].type != "text":
            continue
        last = inline.children[-1]
        match = HEADING_ATTRIBUTES.search(last.content)
        if not match:
            continue
        for part in match.group(1).split():
            if part.startswith("#"):
                opening.attrs["id"] = part[1:]
            elif part.startswith("."):
                opening.attrs["class"] = (str(opening.attrs.get("class", "")) + " " + part[1:]).strip()
        last.content = last.content[: match.start()]


MAX_CHAPTER_BYTES = 2 * 1024 * 1024
"""Some 600 printed pages: a book in one file is fine, a file that is not a book is refused."""
MAX_PARAGRAPH_CHARACTERS = 100_000
"""Some 30 pages of one paragraph."""
MAX_TABLE_ROWS = 3_000
"""Some 100 pages of table, laid out in ten seconds."""
MAX_NESTING = 32
"""Quotes, lists and emphasis within each other."""
MAX_INDEX_LEVELS = 3


def _check_nesting(tokens: list[Token], source: Path) -> None:
    """Refuse structures nested deeper than MAX_NESTING, at their line, before anything recurses into them."""
    for token in tokens:
        deepest = max([token.level, *(child.level for child in token.children or ())])
        if deepest > MAX_NESTING:
            line = token.map[0] + 1 if token.map else None
            raise ManuscriptError(f"quotes, lists or emphasis nested more than {MAX_NESTING} deep", Location(source, line),
                                  "write the passage with fewer levels")


def read_chapter_text(path: Path) -> str:
    """A chapter's text; unreadable, non-UTF-8 and oversized files are errors naming the spot."""
    try:
        size = path.stat().st_size
        if size > MAX_CHAPTER_BYTES:
            raise ManuscriptError(f"the chapter file is {size / 2**20:.1f} MB; at most {MAX_CHAPTER_BYTES >> 20} MB a file",
                                  Location(path), "split it into chapters (one file each)")
        data = path.read_bytes()
    except OSError as error:
        raise ManuscriptError(f"cannot read chapter: {error.strerror}", Location(path),
                              "check that the file exists and is readable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ManuscriptError(f"not UTF-8 text (byte 0x{data[error.start]:02x})", Location(path, line),
                              "save the file as UTF-8") from None


def _unused_definitions(text: str, env: dict, source: Path) -> list[Problem]:
    refs = env.get("footnotes", {}).get("refs", {})
    problems = []
    for key, note_id in refs.items():
        if note_id == -1:
            label = key[1:]
            match = re.search(rf"^[ \t]*\[\^{re.escape(label)}\]:", text, re.MULTILINE)
            line = text[: match.start()].count("\n") + 1 if match else None
            problems.append(Problem(Location(source, line), f"footnote [^{label}] is defined but never called",
                                    f"call it with [^{label}] in the text, or delete the definition"))
    return problems


def read_chapter(source: Path, number: int, manuscript_dir: Path, used_ids: set[str],
                 figures_before: int = 0) -> tuple[Chapter, list[Problem]]:
    """One chapter file: `# Title` first, then its blocks and footnotes."""
    text = read_chapter_text(source)
    parser = markdown_parser()
    env: dict = {}
    tokens = parser.parse(text, env)
    _check_nesting(tokens, source)
    _take_heading_attributes(tokens)
    tree = SyntaxTreeNode(tokens)
    reader = _ChapterReader(source, manuscript_dir, number, used_ids, figures_before)

    body = [node for node in tree.children if node.type != "footnote_block"]
    notes_block = next((node for node in tree.children if node.type == "footnote_block"), None)
    if not body or not (body[0].type == "heading" and body[0].tag == "h1"):
        first_line = _line(body[0], 1) if body else 1
        what = "is empty" if not text.strip() else "does not start with a chapter title"
        raise ManuscriptError(f"chapter {what}", Location(source, first_line),
                              "start the file with a line `# Chapter title`")
    title_node = body[0]
    title_line = _line(title_node, 1)
    title = reader.inlines(title_node.children[0].children if title_node.children else [], title_line)
    explicit = str(title_node.attrs["id"]) if "id" in title_node.attrs else None
    chapter_id = reader.claim_id(explicit or slugify(plain_text(title)), title_line, explicit is not None)

    for node in body[1:]:
        if node.type == "heading" and node.tag == "h1":
            reader.warn(_line(node, 1), "a second `# ` heading in one chapter is set as a section",
                        "start a new chapter in a new file, or use `## ` for a section")
    blocks = reader.blocks(body[1:], title_line)

    call_lines: dict[int, int] = {}
    for token in tokens:
        for child in token.children or []:
            if child.type == "footnote_ref" and token.map:
                call_lines.setdefault(int(child.meta["id"]), token.map[0] + 1)
    footnotes = reader.footnotes(notes_block, call_lines)
    reader.problems.extend(_unused_definitions(text, env, source))
    chapter = Chapter(
        id=chapter_id,
        number=number,
        title=title,
        title_text=plain_text(title).strip(),
        source=source,
        blocks=blocks,
        footnotes=footnotes,
        index_marks=tuple(reader.index_marks),
        date_marks=tuple(reader.date_marks),
    )
    return chapter, reader.problems


def read_book(config: BookConfig) -> tuple[Book, list[Problem]]:
    """Every chapter of the book, in order, with the warnings found on the way."""
    used_ids: set[str] = set(BOOK_PARTS)
    chapters: list[Chapter] = []
    problems: list[Problem] = []
    figures = 0  # figures are numbered through the whole book
    for number, source in enumerate(config.chapters, start=1):
        chapter, found = read_chapter(source, number, config.manuscript_dir, used_ids, figures)
        figures += sum(1 for block in iter_blocks(chapter.blocks) if isinstance(block, Figure))
        chapters.append(chapter)
        problems.extend(found)
    return Book(config, tuple(chapters)), problems
