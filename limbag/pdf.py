"""Model → print HTML → WeasyPrint → PDF bytes, plus the page map the later stages need."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pydyf
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from .chronology import Chronology
from .config import BookConfig, PageSettings, parse_length_mm
from .errors import Location, Problem, RenderError
from .fetch import BookFetcher
from .fonts import FontFace, families, font_folders
from .hyphenation import register as register_hyphenation
from .index import Index
from .join import LaidPart, PartStore, join_parts
from .language import Language, load_language
from .layouts import Layouts
from .markup import FlowText, MarkupOptions, blocks_html, inlines_html
from .model import Book, Chapter, Heading, note_ids
from .pagemap import PageMap, build_page_map, place_marks

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


@contextmanager
def _collect_engine_warnings() -> Iterator[list[logging.LogRecord]]:
    """WeasyPrint's warnings (bad CSS in a layout, unloadable resources) become our problems."""
    records: list[logging.LogRecord] = []

    class Collector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("weasyprint")
    handler = Collector(level=logging.WARNING)
    previous_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous_propagate


MARKS_SLUG_MM = 9.0
"""Room outside the bleed for crop and cross marks on the press PDF."""


def press_css(page: PageSettings) -> str:
    """Bleed and printer's marks: the CSS bleed reaches past the real one to leave room for marks."""
    marks = " ".join(page.marks) or "none"
    slug = MARKS_SLUG_MM if page.marks else 0.0
    return f"@page {{ bleed: {page.bleed_mm + slug:.2f}mm; marks: {marks}; }}\n"


def _finisher(identifier: str, bleed_mm: float | None) -> Callable[[Any, Any], None]:
    """Last touches on the engine's PDF objects before they are written (no second pass over the file):
    a stable XMP document id in place of the engine's random one (PDF/X-4), and, for the press PDF,
    a BleedBox exactly `bleed` around the TrimBox."""
    stable_id = f"xmp.did:{uuid.uuid5(uuid.NAMESPACE_URL, 'limbag-pdf:' + identifier)}".encode()

    def finish(document: Any, pdf: Any) -> None:
        for item in pdf.objects:
            if isinstance(item, pydyf.Stream) and item.extra.get("Type") == "/Metadata":
                data = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in item.stream)
                item.stream = [re.sub(rb"xmp\.did:[0-9a-f-]{36}", stable_id, data)]
            elif bleed_mm is not None and isinstance(item, pydyf.Dictionary) and item.get("Type") == "/Page":
                left, bottom, right, top = (float(v) for v in item["TrimBox"])
                points = bleed_mm * 72 / 25.4
                item["BleedBox"] = pydyf.Array([left - points, bottom - points, right + points, top + points])

    return finish


LINK_TARGET = re.compile(r'\shref="#([^"]+)"')


@dataclass
class _Engine:
    """One layout engine set-up shared by the parts of a book: stylesheets, fonts and the fetcher."""

    book: Book
    layouts: Layouts
    language: Language
    stylesheets: list[CSS]
    font_config: FontConfiguration
    fetcher: BookFetcher
    fonts: list[tuple[str, str]]
    write_options: dict[str, Any]
    settings_key: str
    """A digest of everything but the HTML that shapes a part: stylesheets, fonts, code, variant."""
    store: PartStore | None
    laid_out: list[str]
    """The parts laid out in this build (not taken from the store), by kind."""

    def render(self, html: str, extra_css: str = "") -> Any:
        stylesheets = self.stylesheets + ([CSS(string=extra_css, font_config=self.font_config)] if extra_css else [])
        return HTML(string=html, base_url=self.book.config.manuscript_dir.resolve().as_uri() + "/",
                    url_fetcher=self.fetcher).render(stylesheets=stylesheets, font_config=self.font_config)

    def part(self, kind: str, written: PrintHtml, known_ids: frozenset[str], extra_css: str = "") -> LaidPart:
        """Lay one part out and write it, or take it from the store when nothing that shapes it changed.

        The marks left out of the HTML become anchors of the pages they fall on. Links to ids of
        other parts get stand-in anchors, so that the engine keeps them; joining points them home.
        """
        own = set(ELEMENT_ID.findall(written.html))
        own |= {mark for owner, flow in written.flows.items() if owner in own for mark, _ in flow.marks}
        borrowed = frozenset(t for t in LINK_TARGET.findall(written.html) if t in known_ids and t not in own)
        marks = repr(sorted((owner, flow.marks, flow.word_starts) for owner, flow in written.flows.items()))
        key = hashlib.sha256("\0".join(
            (self.settings_key, extra_css, *sorted(borrowed), marks, written.html)).encode()).hexdigest()
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:
            return stored
        with _collect_engine_warnings() as records:
            document = self.render(written.html, extra_css)
            places = place_marks(document.pages, written.flows)
            for page, anchors in zip(document.pages, places.anchors, strict=True):
                for anchor, position in anchors.items():
                    page.anchors.setdefault(anchor, position)
            page_anchors = tuple(tuple(page.anchors) for page in document.pages)
            if borrowed and document.pages:
                stand_ins = document.pages[0].anchors
                for target in sorted(borrowed):
                    stand_ins.setdefault(target, (0, 0, 0, 0))
            pdf = document.write_pdf(**self.write_options)
        if pdf is None:
            raise RenderError("the layout engine produced no PDF", Location(self.book.config.source), "check the layouts")
        laid = LaidPart(pdf, page_anchors, places.continued, borrowed,
                        tuple(record.getMessage() for record in records))
        self.laid_out.append(kind)
        if self.store is not None:
            self.store.put(key, laid)
        return laid

    def html(self, part: str, back: BackMatter, pages: Mapping[str, str] = MappingProxyType({}),
             book: Book | None = None) -> PrintHtml:
        return print_html(book or self.book, self.language, self.layouts, self.fonts, back, part, pages)


def _title_string_css(title: str) -> str:
    # Each part is its own document, so the running head's book title is set on every part's root.
    escaped = title.replace("\\", "\\\\").replace('"', '\\"')
    return f'html {{ string-set: book-title "{escaped}"; }}\n'


def _first_folio_css(number: int) -> str:
    return f"@page :nth(1 of body) {{ counter-reset: page {number}; }}\n"


def _engine(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], press: bool, store: PartStore | None,
            environment: str) -> tuple[_Engine, list[str]]:
    """The layout engine set up for this book, and what it warned about while reading the stylesheets."""
    config = book.config
    language = load_language(config.language)
    register_hyphenation()
    stylesheet_path = layouts.find("print/book.css")
    stylesheet_text = stylesheet_path.read_text(encoding="utf-8")
    fetcher = BookFetcher((config.book_dir, *layouts.folders, *font_folders(config.book_dir)))
    font_config = FontConfiguration()
    identifier = hashlib.sha256(config.identifier.encode()).hexdigest()[:32].encode()
    variant = {"pdf_variant": "pdf/x-4", "output_intent": "srgb"} if press else {"pdf_variant": "pdf/ua-1"}
    write_options = {"pdf_identifier": identifier, **variant,
                     "finisher": _finisher(config.identifier, config.page.bleed_mm if press else None)}
    css = page_css(config.page) + _title_string_css(config.title) + (press_css(config.page) if press else "")
    face_css = "\n".join(face.css() for face in faces)
    with _collect_engine_warnings() as records:
        stylesheets = [
            CSS(string=face_css, font_config=font_config, url_fetcher=fetcher),
            CSS(string=stylesheet_text, base_url=stylesheet_path.resolve().as_uri(), font_config=font_config,
                url_fetcher=fetcher),
            CSS(string=css, font_config=font_config, url_fetcher=fetcher),
        ]
    settings_key = hashlib.sha256("\0".join(
        (environment, str(stylesheet_path), stylesheet_text, face_css, css, repr(sorted(variant.items())),
         config.identifier)).encode()).hexdigest()
    engine = _Engine(book, layouts, language, stylesheets, font_config, fetcher, families(faces, stylesheet_text),
                     write_options, settings_key, store, [])
    return engine, [record.getMessage() for record in records]


def lay_out_body_in_one_pass(book: Book, layouts: Layouts, faces: tuple[FontFace, ...]) -> LaidPart:
    """All chapters laid out as one document, as a plain single-pass layout would: the reference
    that the chapter-by-chapter layout is checked against (it must give the same pages)."""
    engine, _ = _engine(book, layouts, faces, press=False, store=None, environment="")
    return engine.part("body", engine.html("body", BackMatter()), frozenset())


def render_book(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], make_back: Callable[[PageMap], BackMatter],
                press: bool = False, store: PartStore | None = None,
                environment: str = "") -> tuple[RenderedPdf, BackMatter]:
    """Lay the book out part by part and join the parts into one PDF, with where everything landed.

    Each chapter is a document of its own that begins on a right-hand page with the folio it
    will have in the book, so a chapter whose text and first folio are unchanged is taken from
    `store` as it was. Body folios start at 1 whatever the front matter holds, so once the
    chapters are laid out their page map is final: the back matter (index, chronology) is made
    from it, with its folios following on; the front matter comes last, its contents printing
    every page number as text. Blank pages keep each part on a right-hand page. The reading PDF
    is tagged PDF/UA-1; the press PDF (`press=True`) is PDF/X-4 with bleed and marks.
    `environment` is a digest of the files that shape the layout besides the book's text.
    """
    config = book.config
    engine, records = _engine(book, layouts, faces, press, store, environment)
    blank_html = PrintHtml(f'<html lang="{config.language}"><body></body></html>', MappingProxyType({}))
    floating = frozenset(note_ids(book))

    chapters = [engine.html("body", BackMatter(), book=dataclasses.replace(book, chapters=(chapter,)))
                for chapter in book.chapters]
    known = frozenset(
        {anchor for written in chapters for anchor in ELEMENT_ID.findall(written.html)}
        | {mark for written in chapters for flow in written.flows.values() for mark, _ in flow.marks}
        | {"title-page", "imprint", "contents", "chronology", "index"})
    body: list[LaidPart] = []
    htmls: list[str] = []
    folio = 1
    for chapter, written in zip(book.chapters, chapters, strict=True):
        if body and body[-1].page_count % 2:
            body.append(engine.part("blank", blank_html, known))
            folio += 1
        body.append(engine.part(f"chapter {chapter.number}", written, known, _first_folio_css(folio)))
        htmls.append(written.html)
        folio += body[-1].page_count
    body_html = "".join(htmls)
    body_map = _page_map(body, 0, _source_order(body_html), floating)
    back = make_back(body_map)
    back_parts: list[LaidPart] = []
    back_html = ""
    if back.chronology is not None or back.index is not None:
        if folio % 2 == 0:
            back_parts.append(engine.part("blank", blank_html, known))
            folio += 1
        written = engine.html("back", back)
        back_html = written.html
        back_parts.append(engine.part("back matter", written, known, _first_folio_css(folio)))
    labels = _page_map([*body, *back_parts], 0, _source_order(body_html + back_html), floating)
    contents_pages = {anchor: labels.labels[index] for anchor, index in labels.anchor_pages.items()}
    front_written = engine.html("front", back, contents_pages)
    front = [engine.part("front matter", front_written, known)]
    if front[0].page_count % 2:
        front.append(engine.part("blank", blank_html, known))
    parts = [*front, *body, *back_parts]
    front_matter_end = sum(part.page_count for part in front)
    html = front_written.html + body_html + back_html
    page_map = _page_map(parts, front_matter_end, _source_order(html), floating)
    pdf = join_parts(parts, front_matter_end, "1.6" if press else "1.7")
    stylesheet = layouts.find("print/book.css")
    problems = [Problem(Location(stylesheet), f"layout engine: {message}",
                        "check the layout's CSS and the files it refers to")
                for message in dict.fromkeys([*records, *(m for part in parts for m in part.messages)])]
    for url in dict.fromkeys(engine.fetcher.refused):
        problems.append(Problem(Location(stylesheet), f"refused to load {url}",
                                "only files inside the book folder, its layouts and fonts are read"))
    rendered = RenderedPdf(pdf, page_map, html, tuple(engine.fonts), tuple(problems), tuple(engine.laid_out))
    return rendered, back


def _page_map(parts: list[LaidPart], front_matter_end: int, source_order: Mapping[str, int],
              floating: frozenset[str]) -> PageMap:
    page_anchors = [anchors for part in parts for anchors in part.page_anchors]
    continued = [word for part in parts for word in part.continued]
    return build_page_map(page_anchors, front_matter_end, source_order, floating, continued)


def _source_order(html: str) -> dict[str, int]:
    return {match.group(1): number for number, match in enumerate(ELEMENT_ID.finditer(html))}
