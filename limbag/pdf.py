"""Model → print HTML → WeasyPrint → PDF bytes, plus the page map the later stages need."""

from __future__ import annotations

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


def _chapter_view(chapter: Chapter, options: MarkupOptions) -> dict[str, object]:
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
        "body": Markup(blocks_html(chapter.blocks, options)),
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
        chapters.append(_chapter_view(chapter, options))
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


def _finisher(front_matter_end: int, page_count: int, identifier: str, bleed_mm: float | None) -> Callable[[Any, Any], None]:
    """Last touches on the engine's PDF objects before they are written (no second pass over the file):
    page labels (i, ii, … then 1, 2, …), a stable XMP document id in place of the engine's random one
    (PDF/X-4), and, for the press PDF, a BleedBox exactly `bleed` around the TrimBox."""
    stable_id = f"xmp.did:{uuid.uuid5(uuid.NAMESPACE_URL, 'limbag-pdf:' + identifier)}".encode()

    def finish(document: Any, pdf: Any) -> None:
        numbers = pydyf.Array()
        if front_matter_end:
            numbers.extend([0, pydyf.Dictionary({"S": "/r"})])
        if front_matter_end < page_count:
            numbers.extend([front_matter_end, pydyf.Dictionary({"S": "/D", "St": 1})])
        pdf.catalog["PageLabels"] = pydyf.Dictionary({"Nums": numbers})
        for item in pdf.objects:
            if isinstance(item, pydyf.Stream) and item.extra.get("Type") == "/Metadata":
                data = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in item.stream)
                item.stream = [re.sub(rb"xmp\.did:[0-9a-f-]{36}", stable_id, data)]
            elif bleed_mm is not None and isinstance(item, pydyf.Dictionary) and item.get("Type") == "/Page":
                left, bottom, right, top = (float(v) for v in item["TrimBox"])
                points = bleed_mm * 72 / 25.4
                item["BleedBox"] = pydyf.Array([left - points, bottom - points, right + points, top + points])

    return finish


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

    def render(self, html: str, extra_css: str = "") -> Any:
        stylesheets = self.stylesheets + ([CSS(string=extra_css, font_config=self.font_config)] if extra_css else [])
        return HTML(string=html, base_url=self.book.config.manuscript_dir.resolve().as_uri() + "/",
                    url_fetcher=self.fetcher).render(stylesheets=stylesheets, font_config=self.font_config)

    def part(self, part: str, back: BackMatter, pages: Mapping[str, str] = MappingProxyType({}),
             extra_css: str = "") -> tuple[str, Any, tuple[str | None, ...]]:
        """Lay one part out: its HTML, the engine's document, and for each page the word it
        begins with if it begins inside a paragraph. The marks left out of the HTML become
        anchors of the pages they fall on, so links and the page map find them."""
        written = print_html(self.book, self.language, self.layouts, self.fonts, back, part, pages)
        document = self.render(written.html, extra_css)
        places = place_marks(document.pages, written.flows)
        for page, anchors in zip(document.pages, places.anchors, strict=True):
            for anchor, position in anchors.items():
                page.anchors.setdefault(anchor, position)
        return written.html, document, places.continued

    def blank_page(self) -> Any:
        """A page with nothing on it, to keep chapters and appendices on right-hand pages."""
        return self.render(f'<html lang="{self.book.config.language}"><body></body></html>').pages[0]


def _title_string_css(title: str) -> str:
    # Each part is its own document, so the running head's book title is set on every part's root.
    escaped = title.replace("\\", "\\\\").replace('"', '\\"')
    return f'html {{ string-set: book-title "{escaped}"; }}\n'


def render_book(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], make_back: Callable[[PageMap], BackMatter],
                press: bool = False) -> tuple[RenderedPdf, BackMatter]:
    """Lay the book out once, part by part, and return the PDF with where every element landed.

    The chapters are laid out first: body pages are numbered from 1 whatever the front matter
    holds, so their page map is final and the back matter (index, chronology) is made from it,
    then laid out with its numbers following on. The front matter comes last, its contents
    printing every page number as text. Blank pages keep each part on a right-hand page. The
    reading PDF is tagged PDF/UA-1; the press PDF (`press=True`) is PDF/X-4 with bleed and marks.
    """
    config = book.config
    language = load_language(config.language)
    register_hyphenation()
    problems: list[Problem] = []
    stylesheet_path = layouts.find("print/book.css")
    stylesheet_text = stylesheet_path.read_text(encoding="utf-8")
    fetcher = BookFetcher((config.book_dir, *layouts.folders, *font_folders(config.book_dir)))
    font_config = FontConfiguration()
    with _collect_engine_warnings() as records:
        css = page_css(config.page) + _title_string_css(config.title) + (press_css(config.page) if press else "")
        stylesheets = [
            CSS(string="\n".join(face.css() for face in faces), font_config=font_config, url_fetcher=fetcher),
            CSS(string=stylesheet_text, base_url=stylesheet_path.resolve().as_uri(), font_config=font_config,
                url_fetcher=fetcher),
            CSS(string=css, font_config=font_config, url_fetcher=fetcher),
        ]
        engine = _Engine(book, layouts, language, stylesheets, font_config, fetcher, families(faces, stylesheet_text))
        floating = frozenset(note_ids(book))

        body_html, body, continued = engine.part("body", BackMatter())
        body_map = build_page_map(body.pages, 0, _source_order(body_html), floating, continued)
        back = make_back(body_map)
        pages = list(body.pages)
        html_parts = [body_html]
        if back.chronology is not None or back.index is not None:
            if len(pages) % 2:
                pages.append(engine.blank_page())
                continued += (None,)
            first_number = len(pages) + 1
            back_html, back_document, back_continued = engine.part(
                "back", back, extra_css=f"@page :nth(1 of body) {{ counter-reset: page {first_number}; }}\n")
            pages += back_document.pages
            continued += back_continued
            html_parts.append(back_html)
        labels = build_page_map(pages, 0, _source_order("".join(html_parts)), floating, continued)
        contents_pages = {anchor: labels.labels[index] for anchor, index in labels.anchor_pages.items()}
        front_html, front, front_continued = engine.part("front", back, contents_pages)
        front_pages = list(front.pages)
        if len(front_pages) % 2:
            front_pages.append(engine.blank_page())
            front_continued += (None,)
        all_pages = front_pages + pages
        source_order = _source_order(front_html + "".join(html_parts))
        page_map = build_page_map(all_pages, len(front_pages), source_order, floating, front_continued + continued)
        document = body.copy(all_pages)
        identifier = hashlib.sha256(config.identifier.encode()).hexdigest()[:32].encode()
        variant = {"pdf_variant": "pdf/x-4", "output_intent": "srgb"} if press else {"pdf_variant": "pdf/ua-1"}
        finish = _finisher(len(front_pages), len(all_pages), config.identifier, config.page.bleed_mm if press else None)
        pdf = document.write_pdf(pdf_identifier=identifier, finisher=finish, **variant)
    for record in records:
        problems.append(Problem(Location(stylesheet_path), f"layout engine: {record.getMessage()}",
                                "check the layout's CSS and the files it refers to"))
    for url in dict.fromkeys(fetcher.refused):
        problems.append(Problem(Location(stylesheet_path), f"refused to load {url}",
                                "only files inside the book folder, its layouts and fonts are read"))
    if pdf is None:
        raise RenderError("the layout engine produced no PDF", Location(config.source), "check the layouts")
    html = front_html + "".join(html_parts)
    return RenderedPdf(pdf, page_map, html, tuple(engine.fonts), tuple(problems)), back


def _source_order(html: str) -> dict[str, int]:
    return {match.group(1): number for number, match in enumerate(ELEMENT_ID.finditer(html))}
