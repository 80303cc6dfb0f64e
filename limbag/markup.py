"""Model → HTML fragments, well-formed as XHTML so that the print and e-book writers share them.

Print and e-book differ only in footnotes: print puts the note's text where it is called (CSS
`float: footnote` moves it to the foot of the page); the e-book links to a note aside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from .language import Language
from .model import (
    Block,
    BlockQuote,
    Code,
    CodeBlock,
    CrossRef,
    DefinitionList,
    Division,
    Emphasis,
    Figure,
    Footnote,
    Heading,
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
    block_groups,
    plain_text,
)

if TYPE_CHECKING:
    from .mathtype import DrawnFormulas


@dataclass(slots=True)
class FlowText:
    """A paragraph's or a print footnote's text as the layout engine sets it, with its marks.

    Positions count the non-space characters before them: the engine collapses spaces, breaks
    lines at them and adds a hyphen where it breaks a word, but never changes the other characters.
    """

    pieces: list[str] = field(default_factory=list)
    """The non-space characters, in pieces as written; `text` joins them."""
    length: int = 0
    marks: list[tuple[str, int]] = field(default_factory=list)
    """(id, position) of each id-only span: index, alias and date marks, an author's `[words]{#id}`."""
    word_starts: list[int] = field(default_factory=list)
    """Where each word begins, numbered as the e-book numbers them (see _WordCounter)."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def add(self, text: str) -> None:
        solid = solid_text(text)
        self.pieces.append(solid)
        self.length += len(solid)


def solid_text(text: str) -> str:
    """The characters that count for a FlowText position: no spaces, no soft hyphens."""
    return "".join(text.split()).replace("\u00ad", "")


@dataclass(frozen=True, slots=True)
class MarkupOptions:
    language: Language
    notes: Mapping[str, Footnote]
    """Every footnote of the chapter being written, by id."""
    image_url: Callable[[Path], str]
    """Where the writer's output finds a figure's file."""
    notes_inline: bool
    """True for print: the note's text stands at its call."""
    before_id: Callable[[str], str] = lambda element_id: ""
    """Markup to put just before the element with this id (the e-book's page-break markers)."""
    link_href: Callable[[str], str] = lambda url: url
    """Where a link goes in this writer's output: the e-book adds the file to a `#id` of another chapter."""
    page_labels: Mapping[str, str] = field(default_factory=dict)
    """The printed page label of each element a page reference names (see model.PageRef)."""
    flows: dict[str, FlowText] | None = None
    """Print: filled in while writing with each paragraph's and note's FlowText, by its id. The
    id-only spans are then left out of the HTML: thousands of spans that only say where something
    stands double the layout engine's work, and the page map places them from the FlowText."""
    formulas: DrawnFormulas | None = None
    """Print: the formulas' drawings kept between builds (see mathtype.DrawnFormulas)."""


WORD = re.compile(r"\S+")


class _WordCounter:
    """Numbers the words of one paragraph (or note) so that print and e-book agree on positions.

    The e-book asks at every word whether a printed page begins there, since the page map knows
    pages to the word; print records in the paragraph's FlowText where each word and mark stands.
    """

    def __init__(self, paragraph_id: str, flow: FlowText | None = None) -> None:
        self.paragraph_id = paragraph_id
        self.words = 0
        self.flow = flow

    def anchors_in(self, text: str, options: MarkupOptions) -> str:
        pieces: list[str] = []
        position = 0
        for match in WORD.finditer(text):
            if self.flow is not None:
                self.flow.word_starts.append(self.flow.length)
                self.flow.add(match.group(0))
            else:  # word 0 too: a page may begin inside a paragraph's one long word
                marker = options.before_id(f"_w-{self.paragraph_id}-{self.words}")
                if marker:
                    pieces.append(escape(text[position:match.start()], quote=False))
                    pieces.append(marker + escape(match.group(0), quote=False))
                    position = match.end()
            self.words += 1
        pieces.append(escape(text[position:], quote=False))
        return "".join(pieces)

    def other_text(self, text: str) -> None:
        """Text the layout sets that holds no counted words: code, a repeated note call's number."""
        if self.flow is not None:
            self.flow.add(text)

    def mark(self, element_id: str) -> bool:
        """Print: record an id-only span's place instead of writing the span. False: write it."""
        if self.flow is None:
            return False
        self.flow.marks.append((element_id, self.flow.length))
        return True


def _flow_for(element_id: str, options: MarkupOptions) -> _WordCounter:
    flow = None if options.flows is None else options.flows.setdefault(element_id, FlowText())
    return _WordCounter(element_id, flow)


def css_string(text: str) -> str:
    """`text` as a quoted CSS string: quotes, backslashes and control characters escaped, so that text
    from a book (a title, a font's family name) can never end the string or the rule."""
    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', lambda match: f"\\{ord(match.group()):x} ", text) + '"'


def attr(value: str) -> str:
    return escape(value, quote=True)


def inlines_html(nodes: Iterable[Inline], options: MarkupOptions, words: _WordCounter | None = None) -> str:
    return "".join(inline_html(node, options, words) for node in nodes)


SOFT_HYPHEN_RUN = 200
"""Print: the longest run of text with soft hyphens the layout engine is given as one piece."""
BREAK_BEFORE = re.compile(r"[ \u200b]")


def _short_runs(html: str) -> str:
    """Print: text with soft hyphens cut into runs of some SOFT_HYPHEN_RUN characters, each its own
    piece of text for the layout engine, which otherwise tries every soft hyphen of the rest of the
    text at every line (a paragraph's time grows with the square of its soft hyphens). The cuts
    stand before a space or zero-width space, where they change no line."""
    if "\u00ad" not in html or len(html) <= SOFT_HYPHEN_RUN:
        return html
    runs: list[str] = []
    start = 0
    for match in BREAK_BEFORE.finditer(html):
        if match.start() - start >= SOFT_HYPHEN_RUN:
            runs.append(html[start:match.start()])
            start = match.start()
    runs.append(html[start:])
    return "<span></span>".join(runs)


def inline_html(node: Inline, options: MarkupOptions, words: _WordCounter | None = None) -> str:
    if isinstance(node, Text):
        html = words.anchors_in(node.text, options) if words else escape(node.text, quote=False)
        return _short_runs(html) if options.flows is not None else html
    if isinstance(node, Emphasis):
        return f"<em>{inlines_html(node.children, options, words)}</em>"
    if isinstance(node, Strong):
        return f"<strong>{inlines_html(node.children, options, words)}</strong>"
    if isinstance(node, Code):
        if words:
            words.other_text(node.text)
        return f"<code>{escape(node.text, quote=False)}</code>"
    if isinstance(node, LineBreak):
        return "<br/>"
    if isinstance(node, Link):
        title = f' title="{attr(node.title)}"' if node.title else ""
        # A link that shows its own address (an autolink, a bibliography's URL) is not followed by
        # it again in print (see book.css).
        shown = plain_text(node.children).strip()
        own = ' class="url"' if shown and shown.rstrip("/") in (node.url.rstrip("/"), node.url.split(":", 1)[-1]) else ""
        return (f'<a href="{attr(options.link_href(node.url))}"{title}{own}>'
                f'{inlines_html(node.children, options, words)}</a>')
    if isinstance(node, Span):
        id_attr = f' id="{attr(node.id)}"' if node.id else ""
        class_attr = f' class="{attr(" ".join(node.classes))}"' if node.classes else ""
        lang_attr = _lang_attributes(node.lang)
        if node.id and not node.classes and not node.lang and words and words.mark(node.id):
            return inlines_html(node.children, options, words)
        inner = inlines_html(node.children, options, words)
        before = options.before_id(node.id) if node.id else ""
        return (f"{before}<span{id_attr}{class_attr}{lang_attr}>{inner}</span>" if id_attr or class_attr or lang_attr
                else inner)
    if isinstance(node, NoteRef):
        return note_ref_html(node, options, words)
    if isinstance(node, Styled):
        inner = inlines_html(node.children, options, words)
        tag = STYLED_TAGS.get(node.kind)
        return f"<{tag}>{inner}</{tag}>" if tag else f'<span class="{attr(node.kind)}">{inner}</span>'
    if isinstance(node, CrossRef):  # the reader resolves every one; shown as written if one is left
        return inlines_html(node.written, options, words)
    if isinstance(node, PageRef):
        return inlines_html(page_reference_inlines(node, options.language, options.page_labels), options, words)
    if isinstance(node, Math):
        return math_html(node, options)
    raise TypeError(f"unknown inline {node!r}")


def page_reference_inlines(ref: PageRef, language: Language, labels: Mapping[str, str]) -> tuple[Inline, ...]:
    """"p. 12", "pp. 12 and 15" ("pahina 12 at 15"), or the numbers alone; each number links to its
    target, and targets on the same page are named once."""
    first_target: dict[str, str] = {}
    for target in ref.targets:
        first_target.setdefault(labels.get(target, "?"), target)
    pages = list(first_target.items())
    out: list[Inline] = []
    if not ref.bare:
        out.append(Text(language.word("page_reference" if len(pages) == 1 else "page_references") + "\u00a0"))
    for place, (label, target) in enumerate(pages):
        if place:
            out.append(Text(f" {language.word('and')} " if place == len(pages) - 1 else ", "))
        out.append(Link("#" + target, (Text(label),)))
    return tuple(out)


STYLED_TAGS = {"sub": "sub", "sup": "sup", "strikeout": "s", "underline": "u", "mark": "mark"}


def math_html(node: Math, options: MarkupOptions) -> str:
    """Print: the formula as a drawing (mathtype.svg_image); e-book: MathML. A displayed equation
    stands on its own line, with its number at the right when it has a label."""
    from .mathtype import MathError, mathml, svg_image

    try:
        if not options.notes_inline:
            formula = mathml(node.tex, node.display)
        elif options.formulas is not None:
            formula = options.formulas.image(node.tex, node.display)
        else:
            formula = svg_image(node.tex, node.display)
    except MathError:  # the reader warned already
        formula = f'<code class="tex">{escape(node.tex, quote=False)}</code>'
    if not node.display:
        return f'<span class="math inline">{formula}</span>'
    id_attr = f' id="{attr(node.id)}"' if node.id else ""
    number = f'<span class="equation-number">({node.number})</span>' if node.number else ""
    return f'{options.before_id(node.id) if node.id else ""}<span class="math display"{id_attr}>{formula}{number}</span>'



def note_ref_html(ref: NoteRef, options: MarkupOptions, words: _WordCounter | None = None) -> str:
    return options.before_id(ref.id) + _note_ref(ref, options, words)


def _note_ref(ref: NoteRef, options: MarkupOptions, words: _WordCounter | None) -> str:
    number = str(ref.number)
    if options.notes_inline and ref.first:
        note = options.notes[ref.footnote_id]
        note_words = _flow_for(note.id, options)
        paragraphs = "".join(
            f'<span class="footnote-p">{_note_block_inline(block, options, note_words)}</span>'
            for block in note.children
        )
        # The empty anchor stays at the call, so the page map knows where the note was called.
        return (f'<span class="note-call" id="{attr(ref.id)}"></span>'
                f'<span class="footnote" id="{attr(note.id)}" data-n="{number}">{paragraphs}</span>')
    if options.notes_inline:
        if words:
            words.other_text(number)
        return f'<a class="note-again" id="{attr(ref.id)}" href="#{attr(ref.footnote_id)}">{number}</a>'
    return (f'<sup><a class="noteref" epub:type="noteref" role="doc-noteref" id="{attr(ref.id)}" '
            f'href="#{attr(ref.footnote_id)}">{number}</a></sup>')


def _note_block_inline(block: Block, options: MarkupOptions, words: _WordCounter) -> str:
    """A note's block as inline markup: in print, a note lives inside its call's paragraph."""
    if isinstance(block, Paragraph):
        return inlines_html(block.children, options, words)
    text = block_text(block)
    words.other_text(text)
    return escape(text, quote=False)


def block_text(block: Block) -> str:
    if isinstance(block, (Paragraph, Heading)):
        return plain_text(block.children)
    if isinstance(block, BlockQuote):
        return " ".join(block_text(child) for child in block.children)
    if isinstance(block, (ListBlock, Division, DefinitionList)):
        return " ".join(block_text(child) for group in block_groups(block) for child in group)
    if isinstance(block, CodeBlock):
        return block.text
    if isinstance(block, Table):
        return " ".join(plain_text(cell.children) for row in (*block.head, *block.body, *block.foot) for cell in row)
    if isinstance(block, Figure):
        return plain_text(block.caption)
    return ""


def blocks_html(blocks: Iterable[Block], options: MarkupOptions) -> str:
    return "\n".join(options.before_id(block.id) + block_html(block, options) for block in blocks)


def block_html(block: Block, options: MarkupOptions) -> str:
    if isinstance(block, Paragraph):
        inner = inlines_html(block.children, options, _flow_for(block.id, options))
        if any(isinstance(node, Math) and node.display for node in block.children):
            # The text after a displayed formula goes on the same paragraph, unindented: only the
            # paragraph's own first line may be (an empty box of the indent's width).
            return f'<p id="{attr(block.id)}" class="with-display"><span class="indent"></span>{inner}</p>'
        return f'<p id="{attr(block.id)}">{inner}</p>'
    if isinstance(block, Heading):
        classes = f' class="{attr(" ".join(block.classes))}"' if block.classes else ""
        return f'<h{block.level} id="{attr(block.id)}"{classes}>{inlines_html(block.children, options)}</h{block.level}>'
    if isinstance(block, BlockQuote):
        return f'<blockquote id="{attr(block.id)}">\n{blocks_html(block.children, options)}\n</blockquote>'
    if isinstance(block, ListBlock):
        tag = "ol" if block.ordered else "ul"
        start = f' start="{block.start}"' if block.ordered and block.start != 1 else ""
        if start and options.notes_inline:  # the layout engine reads the counter, not the attribute
            start += f' style="counter-reset: list-item {block.start - 1}"'

        style = f' class="{attr(block.style)}"' if block.ordered and block.style != "decimal" else ""
        items = "".join(f"<li>{_list_item_html(item, options)}</li>" for item in block.items)
        return f'<{tag} id="{attr(block.id)}"{start}{style}>{items}</{tag}>'
    if isinstance(block, CodeBlock):
        return code_html(block)
    if isinstance(block, DefinitionList):
        items = "".join(f"<dt>{inlines_html(term, options)}</dt>"
                        + "".join(f"<dd>{_list_item_html(definition, options)}</dd>" for definition in definitions)
                        for term, definitions in block.items)
        return f'<dl id="{attr(block.id)}">{items}</dl>'
    if isinstance(block, Division):
        return _division_html(block, options)
    if isinstance(block, Table):
        return _table_html(block, options)
    if isinstance(block, Figure):
        caption = inlines_html(block.caption, options)
        if not labelled_by_author(block.caption):
            label = f'<span class="figure-label">{escape(options.language.word("figure"))} {block.number}</span>'
            caption = label + (". " + caption if caption else "")
        return (f'<figure id="{attr(block.id)}"><img src="{attr(options.image_url(block.image))}" '
                f'alt="{attr(block.alt)}"/><figcaption>{caption}</figcaption></figure>')
    if isinstance(block, ThematicBreak):
        return f'<hr id="{attr(block.id)}"/>'
    raise TypeError(f"unknown block {block!r}")


def _division_html(block: Division, options: MarkupOptions) -> str:
    """A box: an admonition headed by its title or its kind's word, a `<details>` with its summary,
    or a plain div with the manuscript's classes for the layouts to style."""
    classes = [*block.classes]
    if block.kind and block.kind not in classes:
        classes.append(block.kind)
    if block.kind and block.kind != "details":
        classes.append("admonition")
    class_attr = f' class="{attr(" ".join(classes))}"' if classes else ""
    title = inlines_html(block.title, options) if block.title else ""
    if not title and block.kind:
        title = escape(options.language.word(block.kind), quote=False)
    heading = f'<p class="box-title">{title}</p>\n' if title else ""
    role = ' role="note"' if block.kind and block.kind != "details" else ""
    return (f'<div id="{attr(block.id)}"{class_attr}{role}{_lang_attributes(block.lang)}>\n{heading}'
            f'{blocks_html(block.children, options)}\n</div>')


def _lang_attributes(lang: str | None) -> str:
    """The language of a span or div, for HTML (`lang`: print's hyphenation) and XHTML (`xml:lang`)."""
    return f' lang="{attr(lang)}" xml:lang="{attr(lang)}"' if lang else ""


def code_html(block: CodeBlock) -> str:
    """A code block, coloured by Pygments when its language is known; each line its own span, so
    that a long line wraps under itself with an indent instead of running off the page."""
    lines: list[str]
    language = f' class="language-{attr(block.language)}"' if block.language else ""
    highlighted = _highlight(block.text, block.language) if block.language else None
    lines = highlighted if highlighted is not None else [escape(line, quote=False)
                                                          for line in block.text.split("\n")]
    body = "".join(f'<span class="line">{line or " "}</span>' for line in lines)
    return f'<pre id="{attr(block.id)}"><code{language}>{body}</code></pre>'


def _highlight(text: str, language: str) -> list[str] | None:
    """Each line of `text` as HTML with Pygments' short token classes (`k`, `s`, `c` …), or None
    if Pygments does not know the language."""
    from pygments import lex
    from pygments.lexers import get_lexer_by_name
    from pygments.token import STANDARD_TYPES
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
    lines: list[str] = [""]
    for token, value in lex(text, lexer):
        css = ""
        while token is not None and not css:
            css = STANDARD_TYPES.get(token, "")
            token = token.parent
        for number, piece in enumerate(value.split("\n")):
            if number:
                lines.append("")
            if piece:
                escaped = escape(piece, quote=False)
                lines[-1] += f'<span class="{css}">{escaped}</span>' if css else escaped
    return lines


def _list_item_html(item: tuple[Block, ...], options: MarkupOptions) -> str:
    # A tight list item is one paragraph: write its words without <p> so lists stay compact.
    if len(item) == 1 and isinstance(item[0], Paragraph):
        return inlines_html(item[0].children, options)
    return blocks_html(item, options)


def _cell_html(tag: str, cell: TableCell, options: MarkupOptions) -> str:
    align = f' class="align-{cell.align}"' if cell.align else ""
    rows = f' rowspan="{cell.rows}"' if cell.rows > 1 else ""
    columns = f' colspan="{cell.columns}"' if cell.columns > 1 else ""
    return f"<{tag}{align}{rows}{columns}>{inlines_html(cell.children, options)}</{tag}>"


def _rows_html(rows: tuple[tuple[TableCell, ...], ...], tag: str, options: MarkupOptions) -> str:
    return "".join("<tr>" + "".join(_cell_html(tag, cell, options) for cell in row) + "</tr>" for row in rows)


AUTHORS_LABEL = re.compile(r"(fig(ure|\.)?|abb(ildung|\.)|tab(le|\.|elle)|tabla|tableau|larawan|talahanayan|"
                           r"figura|plate|map|chart)\s*[0-9ivxlc]+[a-z]?(\.\d+)*\s*[.:—–-]", re.IGNORECASE)
"""A caption that begins with its own label and number ("Fig. 1.", "Abb. 3:", "Table IV."), as
manuscripts numbered by hand write them."""


def labelled_by_author(caption: tuple[Inline, ...]) -> bool:
    """Whether the caption numbers itself: then the book's label ("Figure 1.") is not added to it,
    which would print "Figure 1. Fig. 1."."""
    return bool(AUTHORS_LABEL.match(plain_text(caption).lstrip()))


def _table_html(table: Table, options: MarkupOptions) -> str:
    """A table; its head rows repeat on each page it crosses (the engine repeats a <thead>), and a
    caption stands above it, numbered when the table is labelled. Widths given in the manuscript
    become a <colgroup>."""
    caption = inlines_html(table.caption, options)
    if table.number and not labelled_by_author(table.caption):
        label = f'<span class="table-label">{escape(options.language.word("table"))} {table.number}</span>'
        caption = label + (". " + caption if caption else "")
    caption = f"<caption>{caption}</caption>" if caption else ""
    columns = ""
    if table.widths:
        columns = "<colgroup>" + "".join(f'<col style="width:{width * 100:.1f}%"/>' if width else "<col/>"
                                         for width in table.widths) + "</colgroup>"
    thead = f"<thead>{_rows_html(table.head, 'th', options)}</thead>" if table.head else ""
    tfoot = f"<tfoot>{_rows_html(table.foot, 'td', options)}</tfoot>" if table.foot else ""
    body = _rows_html(table.body, "td", options)
    count = max((sum(cell.columns for cell in row) for row in (*table.head, *table.body, *table.foot)), default=0)
    wide = ' class="wide"' if count >= WIDE_TABLE_COLUMNS else ""
    return f'<table id="{attr(table.id)}"{wide}>{caption}{columns}{thead}<tbody>{body}</tbody>{tfoot}</table>'


WIDE_TABLE_COLUMNS = 5
"""A table of this many columns is set across the whole text width in columns of fixed share, its
words broken wherever they must be: it never runs off the page."""

