"""Model → print HTML → WeasyPrint → PDF bytes, plus the page map the later stages need."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from markupsafe import Markup

from .chronology import Chronology
from .config import BookConfig, PageSettings, parse_length_mm
from .errors import Location, Problem
from .fonts import FontFace, families, font_folders
from .index import Index
from .join import LaidPart, PartStore, join_parts
from .language import Language, load_language
from .layouts import Layouts
from .markup import FlowText, MarkupOptions, blocks_html, inlines_html
from .model import Book, Chapter, Heading, note_ids
from .pagemap import PageMap, build_page_map
from .typeset import EngineSettings, Lane, LocalLane, PartJob, PartLayout, RemoteLane, Typesetter

ELEMENT_ID = re.compile(r'\sid="([^"]+)"')


@dataclass(frozen=True, slots=True)
class BackMatter:
    """What follows the chapters; None means the book has no such part."""

    chronology: Chronology | None = None
    index: Index | None = None


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    pdf: bytes
    page_map: PageMap
    html: str
    """The print HTML that was laid out, for snapshots and debugging."""
    fonts: tuple[tuple[str, str], ...]
    """(family, licence) of the fonts the layout uses."""
    problems: tuple[Problem, ...]
    laid_out: tuple[str, ...] = ()
    """The parts this build laid out; the others were taken as they were from the last build."""
    laid_out_elsewhere: int = 0
    """How many of them the second process laid out."""


def page_css(page: PageSettings) -> str:
    """Page geometry from book.yaml; margins are top, outer, bottom, inner (mirrored on left pages)."""
    scale = min(max(page.width_mm / 148.0, 0.8), 1.5)
    if page.margins:
        top, outer, bottom, inner = _expand_margins([f"{parse_length_mm(v):.2f}mm" for v in page.margins.split()])
    else:
        top, outer, bottom, inner = (f"{value * scale:.2f}mm" for value in (17, 15, 20, 19))
    font_size = 10.5 if page.width_mm < 180 else 11.5
    # Full-page front matter (title, imprint) places text at the foot of the page area.
    area_height = page.height_mm - float(top[:-2]) - float(bottom[:-2]) - 1
    return (f"@page {{ size: {page.css_size}; margin: {top} {outer} {bottom} {inner}; }}\n"
            f"@page :left {{ margin-left: {outer}; margin-right: {inner}; }}\n"
            f"html {{ font-size: {font_size}pt; }}\n"
            f".full-page {{ height: {area_height:.2f}mm; }}\n")


def _expand_margins(values: list[str]) -> tuple[str, str, str, str]:
    """CSS shorthand order: one to four values → top, outer, bottom, inner."""
    if len(values) == 1:
        return values[0], values[0], values[0], values[0]
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    if len(values) == 3:
        return values[0], values[1], values[2], values[1]
    return values[0], values[1], values[2], values[3]


def _chapter_view(chapter: Chapter, options: MarkupOptions, with_body: bool) -> dict[str, object]:
    sections = [
        {"id": block.id, "title": Markup(inlines_html(block.children, options))}
        for block in chapter.blocks if isinstance(block, Heading) and block.level == 2
    ]
    return {
        "id": chapter.id,
        "number": chapter.number,
        "title": Markup(inlines_html(chapter.title, options)),
        "title_text": chapter.title_text,
        "sections": sections,
        "body": Markup(blocks_html(chapter.blocks, options)) if with_body else Markup(""),
    }


def document_date(config: BookConfig) -> dt.date:
    """The date written into the PDF: SOURCE_DATE_EPOCH, else the book's date, else a fixed one,
    never the clock, so that two builds are byte-identical."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date()
    return config.date or dt.date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class PrintHtml:
    html: str
    flows: Mapping[str, FlowText]
    """Each paragraph's and note's text with the marks left out of `html` (see markup.FlowText)."""


def print_html(book: Book, language: Language, layouts: Layouts, fonts: list[tuple[str, str]],
               back_matter: BackMatter, part: str, pages: Mapping[str, str] = MappingProxyType({})) -> PrintHtml:
    """One part of the printed book ('front', 'body' or 'back') as HTML, from the `print/book.html.j2`
    layout; `pages` gives the contents its page labels."""
    manuscript = book.config.manuscript_dir.resolve()
    chapters = []
    flows: dict[str, FlowText] = {}
    for chapter in book.chapters:
        options = MarkupOptions(
            language=language,
            notes={note.id: note for note in chapter.footnotes},
            image_url=lambda path: path.relative_to(manuscript).as_posix(),
            notes_inline=True,
            flows=flows,
        )
        chapters.append(_chapter_view(chapter, options, with_body=part == "body"))
    config = book.config
    html = layouts.render(
        "print/book.html.j2",
        book=config,
        ui=language.ui,
        date_text=language.format_date(config.date) if config.date else None,
        created=document_date(config).isoformat(),
        fonts=fonts,
        chapters=chapters,
        chronology=back_matter.chronology,
        index=back_matter.index,
        part=part,
        pages=pages,
    )
    return PrintHtml(html, MappingProxyType(flows))


MARKS_SLUG_MM = 9.0
"""Room outside the bleed for crop and cross marks on the press PDF."""


def press_css(page: PageSettings) -> str:
    """Bleed and printer's marks: the CSS bleed reaches past the real one to leave room for marks."""
    marks = " ".join(page.marks) or "none"
    slug = MARKS_SLUG_MM if page.marks else 0.0
    return f"@page {{ bleed: {page.bleed_mm + slug:.2f}mm; marks: {marks}; }}\n"


LINK_TARGET = re.compile(r'\shref="#([^"]+)"')


@dataclass(frozen=True, slots=True)
class _Slot:
    """A part in the making: laid out (what the page map needs) and, once written, whole."""

    key: str
    layout: PartLayout
    borrowed: frozenset[str]


class _PartMaker:
    """Makes the book's parts in order: from the store when unchanged, else laid out in turns in
    the lanes, each part written while the next one is laid out."""

    def __init__(self, lanes: list[Lane], store: PartStore | None, settings_key: str,
                 second_lane: Callable[[], RemoteLane] | None = None) -> None:
        self.lanes = lanes
        self.second_lane = second_lane
        """Starts the second process; called once two parts in a row must be laid out, since an
        edit that lays out a part or two would only pay for the process's start-up."""
        self._misses_in_a_row = 0
        self.store = store
        self.settings_key = settings_key
        self.parts: list[LaidPart | _Slot] = []
        self.writing: list[tuple[Lane, int]] = []
        """(lane, index in parts) of parts laid out but not yet written, oldest first."""
        self.laid_out: list[str] = []
        self.laid_out_elsewhere = 0
        self.messages: list[str] = []
        self.refused: list[str] = []
        self._last: Lane | None = None

    def make(self, kind: str, written: PrintHtml, known_ids: frozenset[str], extra_css: str = "") -> PartLayout:
        """Start making one part; what its layout tells comes back at once, its PDF with `finish`."""
        own = set(ELEMENT_ID.findall(written.html))
        own |= {mark for owner, flow in written.flows.items() if owner in own for mark, _ in flow.marks}
        borrowed = frozenset(t for t in LINK_TARGET.findall(written.html) if t in known_ids and t not in own)
        marks = repr(sorted((owner, flow.marks, flow.word_starts) for owner, flow in written.flows.items()))
        key = hashlib.sha256("\0".join(
            (self.settings_key, extra_css, *sorted(borrowed), marks, written.html)).encode()).hexdigest()
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:  # its warnings still count: a kept part is the same part
            self._misses_in_a_row = 0
            self.parts.append(stored)
            self.messages.extend(stored.messages)
            self.refused.extend(stored.refused)
            return PartLayout(stored.page_anchors, stored.continued)
        self._misses_in_a_row += 1
        if self._misses_in_a_row == 2 and self.second_lane is not None:
            self.lanes.append(self.second_lane())
            self.second_lane = None
        lane = self._next_lane()
        if lane.here:  # one part at a time in an engine: write the last one first
            self._finish_writes(lane)
        lane.start_layout(PartJob(written.html, dict(written.flows), extra_css, borrowed))
        for other in self.lanes:  # this process writes its last part while the other one lays out
            if other is not lane and other.here:
                self._finish_writes(other)
        self._finish_writes(lane)  # the other process answers in order: its last write comes first
        layout = lane.layout()
        lane.start_write()
        self.parts.append(_Slot(key, layout, borrowed))
        self.writing.append((lane, len(self.parts) - 1))
        self.laid_out.append(kind)
        self.laid_out_elsewhere += 0 if lane.here else 1
        self._last = lane
        return layout

    def finish(self) -> list[LaidPart]:
        for lane in self.lanes:
            self._finish_writes(lane)
        return [part for part in self.parts if isinstance(part, LaidPart)]

    def close(self) -> None:
        for lane in self.lanes:
            if isinstance(lane, RemoteLane):
                lane.close()

    def _next_lane(self) -> Lane:
        ready = [lane for lane in self.lanes if lane.ready()]
        return next((lane for lane in ready if lane is not self._last), ready[0])

    def _finish_writes(self, lane: Lane) -> None:
        for pending in [entry for entry in self.writing if entry[0] is lane]:
            self.writing.remove(pending)
            slot = self.parts[pending[1]]
            assert isinstance(slot, _Slot)
            written = lane.written()
            part = LaidPart(written.pdf, slot.layout.page_anchors, slot.layout.continued, slot.borrowed,
                            written.messages, written.refused)
            self.parts[pending[1]] = part
            self.messages.extend(written.messages)
            self.refused.extend(written.refused)
            if self.store is not None:
                self.store.put(slot.key, part)


def _title_string_css(title: str) -> str:
    # Each part is its own document, so the running head's book title is set on every part's root.
    escaped = title.replace("\\", "\\\\").replace('"', '\\"')
    return f'html {{ string-set: book-title "{escaped}"; }}\n'


def _first_folio_css(number: int) -> str:
    return f"@page :nth(1 of body) {{ counter-reset: page {number}; }}\n"


def engine_settings(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], press: bool) -> EngineSettings:
    """How the layout engine is set up for this book: stylesheets, fonts, where files may come from."""
    config = book.config
    stylesheet_path = layouts.find("print/book.css")
    css = page_css(config.page) + _title_string_css(config.title) + (press_css(config.page) if press else "")
    stylesheets = (("\n".join(face.css() for face in faces), None),
                   (stylesheet_path.read_text(encoding="utf-8"), stylesheet_path.resolve().as_uri()),
                   (css, None))
    return EngineSettings(
        base_url=config.manuscript_dir.resolve().as_uri() + "/",
        fetch_roots=(config.book_dir, *layouts.folders, *font_folders(config.book_dir)),
        stylesheets=stylesheets,
        identifier=config.identifier,
        bleed_mm=config.page.bleed_mm if press else None,
        source=config.source,
    )


def lay_out_body_in_one_pass(book: Book, layouts: Layouts, faces: tuple[FontFace, ...]) -> LaidPart:
    """All chapters laid out as one document, as a plain single-pass layout would: the reference
    that the chapter-by-chapter layout is checked against (it must give the same pages)."""
    typesetter = Typesetter(engine_settings(book, layouts, faces, press=False))
    fonts = families(faces, layouts.find("print/book.css").read_text(encoding="utf-8"))
    written = print_html(book, load_language(book.config.language), layouts, fonts, BackMatter(), "body")
    layout = typesetter.lay_out(PartJob(written.html, dict(written.flows), "", frozenset()))
    result = typesetter.write()
    return LaidPart(result.pdf, layout.page_anchors, layout.continued, frozenset(), result.messages)


def render_book(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], make_back: Callable[[PageMap], BackMatter],
                press: bool = False, store: PartStore | None = None, environment: str = "",
                parallel: bool = False) -> tuple[RenderedPdf, BackMatter]:
    """Lay the book out part by part and join the parts into one PDF, with where everything landed.

    Each chapter is a document of its own that begins on a right-hand page with the folio it
    will have in the book, so a chapter whose text and first folio are unchanged is taken from
    `store` as it was. Body folios start at 1 whatever the front matter holds, so once the
    chapters are laid out their page map is final: the back matter (index, chronology) is made
    from it, with its folios following on; the front matter comes last, its contents printing
    every page number as text. Blank pages keep each part on a right-hand page. The reading PDF
    is tagged PDF/UA-1; the press PDF (`press=True`) is PDF/X-4 with bleed and marks.
    `environment` is a digest of the files that shape the layout besides the book's text. With
    `parallel`, a second process lays out every other part while this one writes the last.
    """
    config = book.config
    language = load_language(config.language)
    stylesheet = layouts.find("print/book.css")
    fonts = families(faces, stylesheet.read_text(encoding="utf-8"))
    settings = engine_settings(book, layouts, faces, press)
    settings_key = hashlib.sha256(repr((environment, settings)).encode()).hexdigest()
    here = Typesetter(settings)
    maker = _PartMaker([LocalLane(here)], store, settings_key, (lambda: RemoteLane(settings)) if parallel else None)
    try:
        back, front_parts, html = _make_parts(book, language, layouts, fonts, maker, make_back)
        made = maker.finish()
    finally:
        maker.close()
    parts = made[-front_parts:] + made[:-front_parts]  # the front matter is made last, printed first
    front_count = sum(part.page_count for part in parts[:front_parts])
    page_map = _page_map(parts, front_count, _source_order(html), frozenset(note_ids(book)))
    pdf = join_parts(parts, front_count, "1.6" if press else "1.7")
    problems = [Problem(Location(stylesheet), f"layout engine: {message}",
                        "check the layout's CSS and the files it refers to")
                for message in dict.fromkeys([*here.setup_messages, *maker.messages])]
    for url in dict.fromkeys([*here.fetcher.refused, *maker.refused]):
        problems.append(Problem(Location(stylesheet), f"refused to load {url}",
                                "only files inside the book folder, its layouts and fonts are read"))
    rendered = RenderedPdf(pdf, page_map, html, tuple(fonts), tuple(problems), tuple(maker.laid_out),
                           maker.laid_out_elsewhere)
    return rendered, back


def _make_parts(book: Book, language: Language, layouts: Layouts, fonts: list[tuple[str, str]], maker: _PartMaker,
                make_back: Callable[[PageMap], BackMatter]) -> tuple[BackMatter, int, str]:
    """Make the parts (see render_book): body, back matter, then front matter. Returns the back
    matter, how many parts the front matter made (the last ones) and the HTML of all parts in
    printed order."""
    config = book.config
    blank_html = PrintHtml(f'<html lang="{config.language}"><body></body></html>', MappingProxyType({}))
    floating = frozenset(note_ids(book))

    def html(part: str, back: BackMatter, pages: Mapping[str, str] = MappingProxyType({}),
             of: Book = book) -> PrintHtml:
        return print_html(of, language, layouts, fonts, back, part, pages)

    chapters = [html("body", BackMatter(), of=dataclasses.replace(book, chapters=(chapter,))) for chapter in book.chapters]
    known = frozenset(
        {anchor for written in chapters for anchor in ELEMENT_ID.findall(written.html)}
        | {mark for written in chapters for flow in written.flows.values() for mark, _ in flow.marks}
        | {"title-page", "imprint", "contents", "chronology", "index"})
    body: list[PartLayout] = []
    folio = 1
    for chapter, written in zip(book.chapters, chapters, strict=True):
        if body and len(body[-1].page_anchors) % 2:
            body.append(maker.make("blank", blank_html, known))
            folio += 1
        body.append(maker.make(f"chapter {chapter.number}", written, known, _first_folio_css(folio)))
        folio += len(body[-1].page_anchors)
    body_html = "".join(written.html for written in chapters)
    back = make_back(_page_map(body, 0, _source_order(body_html), floating))
    back_parts: list[PartLayout] = []
    back_html = ""
    # The chronology and the index are parts of their own (both begin on a right-hand page), so
    # one is written while the other is laid out; a layout writes each as the "back" part with
    # the other left out, as for a book that has only one of them.
    for kind, section in (("chronology", BackMatter(chronology=back.chronology)),
                          ("index", BackMatter(index=back.index))):
        if section.chronology is None and section.index is None:
            continue
        if folio % 2 == 0:
            back_parts.append(maker.make("blank", blank_html, known))
            folio += 1
        written = html("back", section)
        back_html += written.html
        back_parts.append(maker.make(kind, written, known, _first_folio_css(folio)))
        folio += len(back_parts[-1].page_anchors)
    labels = _page_map([*body, *back_parts], 0, _source_order(body_html + back_html), floating)
    contents_pages = {anchor: labels.labels[index] for anchor, index in labels.anchor_pages.items()}
    front_written = html("front", back, contents_pages)
    front = [maker.make("front matter", front_written, known)]
    if len(front[0].page_anchors) % 2:
        front.append(maker.make("blank", blank_html, known))
    return back, len(front), front_written.html + body_html + back_html


def _page_map(parts: Sequence[LaidPart | PartLayout], front_matter_end: int, source_order: Mapping[str, int],
              floating: frozenset[str]) -> PageMap:
    page_anchors = [anchors for part in parts for anchors in part.page_anchors]
    continued = [word for part in parts for word in part.continued]
    return build_page_map(page_anchors, front_matter_end, source_order, floating, continued)


def _source_order(html: str) -> dict[str, int]:
    return {match.group(1): number for number, match in enumerate(ELEMENT_ID.finditer(html))}
