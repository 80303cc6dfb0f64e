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

from .language import Language
from .model import (
    Block,
    BlockQuote,
    Code,
    CodeBlock,
    Emphasis,
    Figure,
    Footnote,
    Heading,
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
    plain_text,
)


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
    flows: dict[str, FlowText] | None = None
    """Print: filled in while writing with each paragraph's and note's FlowText, by its id. The
    id-only spans are then left out of the HTML: thousands of spans that only say where something
    stands double the layout engine's work, and the page map places them from the FlowText."""


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
        return f'<a href="{attr(node.url)}"{title}>{inlines_html(node.children, options, words)}</a>'
    if isinstance(node, Span):
        id_attr = f' id="{attr(node.id)}"' if node.id else ""
        class_attr = f' class="{attr(" ".join(node.classes))}"' if node.classes else ""
        if node.id and not node.classes and words and words.mark(node.id):
            return inlines_html(node.children, options, words)
        inner = inlines_html(node.children, options, words)
        before = options.before_id(node.id) if node.id else ""
        return f"{before}<span{id_attr}{class_attr}>{inner}</span>" if id_attr or class_attr else inner
    if isinstance(node, NoteRef):
        return note_ref_html(node, options, words)
    raise TypeError(f"unknown inline {node!r}")


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
    if isinstance(block, ListBlock):
        return " ".join(block_text(child) for item in block.items for child in item)
    if isinstance(block, CodeBlock):
        return block.text
    if isinstance(block, Table):
        return " ".join(plain_text(cell.children) for row in (*block.head, *block.body) for cell in row)
    if isinstance(block, Figure):
        return plain_text(block.caption)
    return ""


def blocks_html(blocks: Iterable[Block], options: MarkupOptions) -> str:
    return "\n".join(options.before_id(block.id) + block_html(block, options) for block in blocks)


def block_html(block: Block, options: MarkupOptions) -> str:
    if isinstance(block, Paragraph):
        return f'<p id="{attr(block.id)}">{inlines_html(block.children, options, _flow_for(block.id, options))}</p>'
    if isinstance(block, Heading):
        classes = f' class="{attr(" ".join(block.classes))}"' if block.classes else ""
        return f'<h{block.level} id="{attr(block.id)}"{classes}>{inlines_html(block.children, options)}</h{block.level}>'
    if isinstance(block, BlockQuote):
        return f'<blockquote id="{attr(block.id)}">\n{blocks_html(block.children, options)}\n</blockquote>'
    if isinstance(block, ListBlock):
        tag = "ol" if block.ordered else "ul"
        start = f' start="{block.start}"' if block.ordered and block.start != 1 else ""
        items = "".join(f"<li>{_list_item_html(item, options)}</li>" for item in block.items)
        return f'<{tag} id="{attr(block.id)}"{start}>{items}</{tag}>'
    if isinstance(block, CodeBlock):
        language = f' class="language-{attr(block.language)}"' if block.language else ""
        return f'<pre id="{attr(block.id)}"><code{language}>{escape(block.text, quote=False)}</code></pre>'
    if isinstance(block, Table):
        return _table_html(block, options)
    if isinstance(block, Figure):
        label = f'{escape(options.language.word("figure"))} {block.number}'
        caption = inlines_html(block.caption, options)
        separator = ". " if caption else ""
        return (f'<figure id="{attr(block.id)}"><img src="{attr(options.image_url(block.image))}" '
                f'alt="{attr(block.alt)}"/><figcaption><span class="figure-label">{label}</span>'
                f'{separator}{caption}</figcaption></figure>')
    if isinstance(block, ThematicBreak):
        return f'<hr id="{attr(block.id)}"/>'
    raise TypeError(f"unknown block {block!r}")


def _list_item_html(item: tuple[Block, ...], options: MarkupOptions) -> str:
    # A tight list item is one paragraph: write its words without <p> so lists stay compact.
    if len(item) == 1 and isinstance(item[0], Paragraph):
        return inlines_html(item[0].children, options)
    return blocks_html(item, options)


def _cell_html(tag: str, cell: TableCell, options: MarkupOptions) -> str:
    align = f' class="align-{cell.align}"' if cell.align else ""
    return f"<{tag}{align}>{inlines_html(cell.children, options)}</{tag}>"


def _table_html(table: Table, options: MarkupOptions) -> str:
    head = "".join("<tr>" + "".join(_cell_html("th", c, options) for c in row) + "</tr>" for row in table.head)
    body = "".join("<tr>" + "".join(_cell_html("td", c, options) for c in row) + "</tr>" for row in table.body)
    thead = f"<thead>{head}</thead>" if head else ""
    return f'<table id="{attr(table.id)}">{thead}<tbody>{body}</tbody></table>'
