"""Model → print HTML → WeasyPrint → PDF bytes, plus the page map the later stages need."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html as html_text
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol
from urllib.parse import quote

from markupsafe import Markup

from .chronology import Chronology
from .config import BookConfig, PageSettings, parse_length_mm, written_moment
from .cover import (
    COVER_BLEED_MM,
    SPINE_TEXT_MIN_PAGES,
    CoverSheet,
    isbn_bar_code,
    set_trim,
    spine_width_mm,
)
from .engine import PAGE_OF, PAGE_STAND_IN
from .errors import Location, Problem
from .fonts import FontFace, families, font_folders
from .index import Index
from .join import BookJoiner, Joiner, LaidPart
from .language import Language, load_language
from .layouts import Layouts
from .markup import FlowText, MarkupOptions, blocks_html, css_string, inlines_html
from .mathtype import DrawnFormulas
from .model import (
    Bibliography,
    Book,
    Chapter,
    Figure,
    Heading,
    as_list_entry,
    bibliography_ids,
    iter_blocks,
    listed,
    note_ids,
    page_reference_targets,
    page_references,
)
from .pagemap import PageMap, build_page_map
from .parts import ELEMENT_ID, PartMaker, PartRequest, PartStore, Run, chapter_ids
from .typeset import EngineSettings, PartJob, PartLayout, RemoteLane, Typesetter


@dataclass(frozen=True, slots=True)
class BackMatter:
    """What follows the chapters; None means the book has no such part."""

    chronology: Chronology | None = None
    bibliography: Bibliography | None = None
    index: Index | None = None

    def sections(self) -> list[tuple[str, BackMatter]]:
        """Each part of the back matter on its own, in printed order: (its kind, the back matter
        with the others left out)."""
        return [(kind, section) for kind, section in (
            ("chronology", BackMatter(chronology=self.chronology)),
            ("bibliography", BackMatter(bibliography=self.bibliography)),
            ("index", BackMatter(index=self.index))) if getattr(section, kind) is not None]


class BackMatterMaker(Protocol):
    """Makes the back matter from the chapters' page map (see pipeline.back_matter_maker)."""

    @property
    def outline(self) -> BackMatter:
        """Which parts the back matter has, known before the page map: empty ones stand for them."""
        ...

    def __call__(self, page_map: PageMap) -> BackMatter: ...


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
    """How many of them the other layout processes laid out."""


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
    return written_moment(config).date()


@dataclass(frozen=True, slots=True)
class PrintHtml:
    html: str
    flows: Mapping[str, FlowText]
    """Each paragraph's and note's text with the marks left out of `html` (see markup.FlowText)."""


def print_image_url(path: Path, manuscript: Path) -> str:
    """A figure's file relative to manuscript/; a picture taken out of a Word or ODT file (kept in
    the build cache, which may lie outside the book) travels in the HTML as a data: URL."""
    if path.is_relative_to(manuscript):
        return quote(path.relative_to(manuscript).as_posix())
    kind = "svg+xml" if path.suffix.lower() == ".svg" else path.suffix.lower().lstrip(".").replace("jpg", "jpeg")
    return f"data:image/{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def print_html(book: Book, language: Language, layouts: Layouts, fonts: list[tuple[str, str]],
               back_matter: BackMatter, part: str, pages: Mapping[str, str] = MappingProxyType({}),
               formulas: DrawnFormulas | None = None) -> PrintHtml:
    """One part of the printed book ('front', 'body' or 'back') as HTML, from the `print/book.html.j2`
    layout; `pages` gives the contents, and the chapters' page references, their page labels;
    `formulas`, the drawings of formulas kept from the last build."""
    manuscript = book.config.manuscript_dir.resolve()
    chapters = []
    flows: dict[str, FlowText] = {}
    for chapter in book.chapters:
        options = MarkupOptions(
            language=language,
            notes={note.id: note for note in chapter.footnotes},
            image_url=lambda path: print_image_url(path, manuscript),
            notes_inline=True,
            page_labels=pages,
            flows=flows,
            formulas=formulas,
        )
        chapters.append(_chapter_view(chapter, options, with_body=part == "body"))
    config = book.config
    bibliography = None
    if back_matter.bibliography is not None:
        options = MarkupOptions(language=language, notes={}, image_url=lambda path: print_image_url(path, manuscript),
                                notes_inline=True, flows=flows)
        bibliography = {"title": back_matter.bibliography.title or language.word("bibliography"),
                        "entries": [{"id": entry.id, "body": Markup(blocks_html(entry.blocks, options))}
                                    for entry in back_matter.bibliography.entries] if part == "back" else []}
    options = MarkupOptions(language=language, notes={}, image_url=lambda path: "", notes_inline=True)
    lists = [{"kind": kind, "id": f"list-of-{kind}", "title": language.word(f"list_of_{kind}"),
              "entries": [{"id": item.id, "number": item.number,
                           "caption": Markup(inlines_html(as_list_entry(item.caption), options))}
                          for item in listed(book, kind)]}
             for kind in config.lists] if part == "front" else []
    html = layouts.render(
        "print/book.html.j2",
        book=config,
        ui=language.ui,
        date_text=language.format_date(config.date) if config.date else None,
        created=document_date(config).isoformat(),
        fonts=fonts,
        chapters=chapters,
        chronology=back_matter.chronology,
        bibliography=bibliography,
        index=back_matter.index,
        lists=lists,
        part=part,
        pages=pages,
    )
    return PrintHtml(html, MappingProxyType(flows))


COVER_PAGES = (2, 2)
"""Pages of covers in the reading PDF: the front cover and its blank inside; the inside of the back
cover and the back cover."""


def cover_html(book: Book, language: Language, layouts: Layouts, sheet: CoverSheet, which: str) -> str:
    """The covers from the `print/cover.html.j2` layout: 'front' (the front cover and its inside),
    'back' (the inside of the back cover and the back cover) or 'wrap' (see CoverSheet)."""
    config = book.config
    cover = config.cover
    assert cover is not None
    manuscript = config.manuscript_dir.resolve()
    options = MarkupOptions(language=language, notes={}, image_url=lambda path: print_image_url(path, manuscript),
                            notes_inline=True)
    # The bar code is drawn for the back cover only (ReportLab's drawing, twice a build otherwise).
    bar_code, bar_code_size = isbn_bar_code(config.isbn, cover.price) if config.isbn and which != "front" \
        else (None, None)
    return layouts.render(
        "print/cover.html.j2",
        book=config,
        ui=language.ui,
        cover=cover,
        which=which,
        sheet=sheet,
        panels=sheet.panels(),
        picture=print_image_url(cover.image, manuscript) if cover.image is not None else None,
        background_picture=print_image_url(cover.background_image, manuscript)
        if cover.background_image is not None else None,
        alt=config.cover_alt,
        blurb=Markup(blocks_html(book.blurb, options)),
        bar_code=bar_code,
        bar_code_size=bar_code_size,
    )


def page_cover_sheet(config: BookConfig) -> CoverSheet:
    """A cover on a page of the reading PDF: the trimmed page, no bleed."""
    return CoverSheet(config.page.width_mm, config.page.height_mm)


def wrap_sheet(config: BookConfig, interior_pages: int) -> CoverSheet:
    """The full-wrap cover of a paperback of `interior_pages` pages on the book's paper."""
    return CoverSheet(config.page.width_mm, config.page.height_mm,
                      spine=spine_width_mm(interior_pages, config.page.paper_mm),
                      bleed=config.page.bleed_mm or COVER_BLEED_MM, wrap=True,
                      spine_text=interior_pages >= SPINE_TEXT_MIN_PAGES)


def render_wrap(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], interior_pages: int) -> tuple[bytes, CoverSheet]:
    """The full-wrap cover laid out (back, spine, front, with bleed on one sheet) as a PDF/X-4 in
    RGB, its trim box set; press.make_press_ready and cover.add_guides finish it."""
    sheet = wrap_sheet(book.config, interior_pages)
    settings = dataclasses.replace(engine_settings(book.config, layouts, faces, press=True), bleed_mm=0.0)
    html = cover_html(book, load_language(book.config.language), layouts, sheet, "wrap")
    with Typesetter(settings) as typesetter:
        typesetter.lay_out(0, PartJob(html, {}, frozenset(), None))
        return set_trim(typesetter.write(0, None).pdf, sheet), sheet


MARKS_SLUG_MM = 9.0
"""Room outside the bleed for crop and cross marks on the press PDF."""


def press_css(page: PageSettings) -> str:
    """Bleed, reaching past the real one to leave room for the printer's marks, which press.py
    draws (in the Registration colour, which the engine has not)."""
    slug = MARKS_SLUG_MM if page.marks else 0.0
    return f"@page {{ bleed: {page.bleed_mm + slug:.2f}mm; marks: none; }}\n"


def _title_string_css(title: str) -> str:
    # Each part is its own document, so the running head's book title is set on every part's root
    # (on one line, whatever line breaks the title has).
    return f"html {{ string-set: book-title {css_string(' '.join(title.split()))}; }}\n"


def engine_settings(config: BookConfig, layouts: Layouts, faces: tuple[FontFace, ...], press: bool) -> EngineSettings:
    """How the layout engine is set up for this book: stylesheets, fonts, where files may come from.
    Only book.yaml is needed, so the other layout processes can set up while the chapters are read."""
    stylesheet_path = layouts.find("print/book.css")
    css = page_css(config.page) + _title_string_css(config.title) + (press_css(config.page) if press else "")
    stylesheets = (("\n".join(face.css() for face in faces), None),
                   (stylesheet_path.read_text(encoding="utf-8"), stylesheet_path.resolve().as_uri()),
                   (css, None))
    return EngineSettings(
        base_url=config.manuscript_dir.resolve().as_uri() + "/",
        fetch_roots=(config.book_dir, *layouts.folders, *font_folders(config.book_dir),
                     *sorted({face.path.parent for face in faces if face.system})),
        stylesheets=stylesheets,
        identifier=config.identifier,
        bleed_mm=config.page.bleed_mm if press else None,
        source=config.source,
    )


def rehearse(book: Book, layouts: Layouts, faces: tuple[FontFace, ...],
             make_back: Callable[[PageMap], BackMatter]) -> tuple[BackMatter, PageMap, tuple[Problem, ...]]:
    """Everything `render_book` does before and around the layout, without laying out: the engine set
    up (stylesheets parsed, fonts loaded) and every part's HTML written from the layouts, with a
    stand-in page map that puts everything on page 1. What `check` runs, so that a book it passes
    does not fail before its layout."""
    language = load_language(book.config.language)
    stylesheet = layouts.find("print/book.css")
    with Typesetter(engine_settings(book.config, layouts, faces, press=False)) as typesetter:
        setup_messages = typesetter.setup_messages
    fonts = families(faces, stylesheet.read_text(encoding="utf-8"))
    body = [print_html(dataclasses.replace(book, chapters=(chapter,)), language, layouts, fonts, BackMatter(), "body")
            for chapter in book.chapters]
    body_html = "".join(part.html for part in body)
    anchors = [*ELEMENT_ID.findall(body_html), *(mark for part in body for flow in part.flows.values()
                                                  for mark, _ in flow.marks)]
    page_map = build_page_map([tuple(dict.fromkeys(anchors))], 0, _source_order(body_html), frozenset(note_ids(book)))
    back = make_back(page_map)
    back_html = "".join(print_html(book, language, layouts, fonts, section, "back").html for _, section in back.sections())
    pages = dict.fromkeys([*page_map.anchor_pages, *ELEMENT_ID.findall(back_html)], "1")
    print_html(book, language, layouts, fonts, back, "front", pages)
    if book.config.cover is not None:
        for which in ("front", "back"):
            cover_html(book, language, layouts, page_cover_sheet(book.config), which)
        cover_html(book, language, layouts, wrap_sheet(book.config, 100), "wrap")
    problems = tuple(_engine_problem(message, book, stylesheet) for message in dict.fromkeys(setup_messages))
    return back, page_map, problems


def lay_out_body_in_one_pass(book: Book, layouts: Layouts, faces: tuple[FontFace, ...]) -> LaidPart:
    """All chapters laid out as one document, as a plain single-pass layout would: the reference
    that the chapter-by-chapter layout is checked against (it must give the same pages)."""
    fonts = families(faces, layouts.find("print/book.css").read_text(encoding="utf-8"))
    written = print_html(book, load_language(book.config.language), layouts, fonts, BackMatter(), "body")
    with Typesetter(engine_settings(book.config, layouts, faces, press=False)) as typesetter:
        layout = typesetter.lay_out(0, PartJob(written.html, dict(written.flows), frozenset(), None))
        result = typesetter.write(0, None)
    return LaidPart(result.pdf, layout.page_anchors, layout.continued, frozenset(), result.messages)


def render_book(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], make_back: BackMatterMaker,
                press: bool = False, store: PartStore | None = None, environment: str = "",
                others: Sequence[RemoteLane] = (),
                on_part: Callable[[str], None] | None = None,
                joiner: Joiner | None = None,
                while_joining: Callable[[PageMap, BackMatter, bytes | None], None] | None = None,
                formulas: DrawnFormulas | None = None) -> tuple[RenderedPdf, BackMatter]:
    """Lay the book out part by part and join the parts into one PDF, with where everything landed.

    The chapters of each file are a document of their own (see chapters_by_file) that begins on
    a right-hand page with the folio it has in the book, so a part whose text and first folio
    are unchanged is taken from `store` as it was. Body folios start at 1 whatever the front matter holds, so once the
    chapters are laid out their page map is final: the back matter (index, chronology) is made
    from it, with its folios following on; the front matter comes last, its contents printing
    every page number as text. Blank pages keep each part on a right-hand page. The reading PDF
    is tagged PDF/UA-1; the press PDF (`press=True`) is PDF/X-4 with bleed and marks.
    `environment` is a digest of the files that shape the layout besides the book's text. With
    `others`, those processes lay out parts alongside this one (see parts.PartMaker). `on_part` is told
    each part as it is laid out (or taken from the store): 'chapter 1', …, 'index', 'front matter'.
    `joiner` joins the parts (default: a BookJoiner in this process); `while_joining` is given the
    page map, the back matter and the laid-out front cover (if the book has covers) once they are
    final, while the joiner finishes the book. With `cover:` in book.yaml, the reading PDF begins
    with the front cover and its blank inside and ends with the back cover and its blank inside
    (labelled "Cover 1" to "Cover 4", as printers name them); the press PDF is the interior alone.
    `formulas` holds the drawings of formulas kept from the last build, and gets this build's.
    """
    config = book.config
    language = load_language(config.language)
    stylesheet = layouts.find("print/book.css")
    fonts = families(faces, stylesheet.read_text(encoding="utf-8"))
    settings = engine_settings(config, layouts, faces, press)
    settings_key = hashlib.sha256(repr((environment, settings)).encode()).hexdigest()
    maker = PartMaker(settings, store, settings_key, f'<html lang="{config.language}"><body></body></html>', others)
    try:
        maker.on_part = on_part
        # Parts are joined as soon as they are written and their folios settled (see
        # PartMaker.printed_part). The front matter, printed first, is written last (its contents
        # print every page number) and put before them.
        joiner = joiner if joiner is not None else BookJoiner()
        covered = config.cover is not None and not press
        back, front_run, html, settling = _make_parts(book, language, layouts, fonts, maker, make_back,
                                                      lambda: _join_next(joiner, maker), covered, formulas)
        body_and_back = maker.written()
        for part in body_and_back[joiner.appended:]:
            joiner.append(part)
        joiner.share_fonts()  # while the front matter is laid out or written
        maker.while_waiting = None
        front = maker.run_layouts(front_run)
        if len(front[-1].page_anchors) % 2:
            maker.blank_page()
        front_parts = maker.written()[len(body_and_back):]
        joiner.prepend(front_parts)
        parts = [*front_parts, *body_and_back]
        front_count = sum(part.page_count for part in front_parts)
        covers = COVER_PAGES if covered else (0, 0)
        page_map = _page_map(parts, front_count, _source_order(html), frozenset(note_ids(book)), covers,
                             language.word("cover"))
        finished = joiner.finish_later(front_count, "1.6" if press else "1.7", covers, language.word("cover"))
        if while_joining is not None:
            while_joining(page_map, back, front_parts[0].pdf if covered else None)
        pdf = finished()
        setup = maker.setup_report()
        problems = [*settling, *(_engine_problem(message, book, stylesheet)
                                 for message in dict.fromkeys([*setup.messages, *maker.messages]))]
        for url in dict.fromkeys([*setup.refused, *maker.refused]):
            problems.append(Problem(Location(stylesheet), f"refused to load {url}",
                                    "only files inside the book folder, its layouts and fonts are read"))
        rendered = RenderedPdf(pdf, page_map, html, tuple(fonts), tuple(problems), tuple(dict.fromkeys(maker.laid_out)),
                               maker.laid_out_elsewhere)
        return rendered, back
    finally:
        maker.close()  # its engine's files, which the process would otherwise leave behind


FAILED_IMAGE = re.compile(r"^Failed to load image at '([^']+)'")


def _engine_problem(message: str, book: Book, stylesheet: Path) -> Problem:
    """What the layout engine warned about, at the place it concerns: an image it could not load at
    the chapter line that calls for it, anything else at the stylesheet."""
    failed = FAILED_IMAGE.match(message)
    if failed:
        for figure in (block for chapter in book.chapters for block in iter_blocks(chapter.blocks)):
            if isinstance(figure, Figure) and figure.image.as_uri() == failed.group(1):
                reason = message[failed.end():].strip(" :") or "it could not be read"
                return Problem(figure.location, f"the layout engine could not load image "
                               f"{figure.image.name!r}: {reason}", "check the file; if it was moved or changed "
                               "during the build, build again")
    return Problem(Location(stylesheet), f"layout engine: {message}", "check the layout's CSS and the files it refers to")


def chapters_by_file(chapters: Sequence[Chapter]) -> list[tuple[Chapter, ...]]:
    """The chapters in runs that come from one file: each run is laid out as one part. A file
    is what an editor changes, and a part has a cost of its own (some 20 ms to set up and write,
    as much as a page of text), which a manuscript of many short chapters would pay for each."""
    runs: list[tuple[Chapter, ...]] = []
    for chapter in chapters:
        if runs and runs[-1][-1].source == chapter.source:
            runs[-1] = (*runs[-1], chapter)
        else:
            runs.append((chapter,))
    return runs


def _join_next(joiner: Joiner, maker: PartMaker) -> bool:
    """Join the next printed part if it is written; False if it is not (or there is none yet)."""
    part = maker.printed_part(joiner.appended)
    if part is None:
        return False
    joiner.append(part)
    return True


PAGE_REFERENCE_PASSES = 4
"""How many times the chapters with page references may be laid out before their numbers settle."""


def _make_parts(book: Book, language: Language, layouts: Layouts, fonts: list[tuple[str, str]], maker: PartMaker,
                make_back: BackMatterMaker,
                join_next: Callable[[], bool], covered: bool,
                formulas: DrawnFormulas | None) -> tuple[BackMatter, Run, str, list[Problem]]:
    """Make the parts (see render_book): body, back matter, then start the front matter; the parts
    are joined (`join_next`) while this process waits, once the chapters are settled. With
    `covered`, the front cover opens the front matter and the back cover ends the book. Returns the
    back matter, the front matter's run (see PartMaker.send_run), the HTML of all parts in printed
    order, and a warning if page references did not settle."""
    floating = frozenset(note_ids(book))

    def request(kind: str, part: str, back: BackMatter, pages: Mapping[str, str] = MappingProxyType({}),
                of: Book = book, holds: tuple[str, ...] = ()) -> PartRequest:
        written = print_html(of, language, layouts, fonts, back, part, pages, formulas)
        return PartRequest(kind, written.html, written.flows, holds)

    # The front matter's contents print page numbers that only the layout of everything else gives.
    # Laid out with stand-ins, it can be laid out while the chapters are, and written at the end
    # with the numbers put in: it is handed out after the first chapter when that one is laid out
    # anew (a first build, where the other processes wait for the chapters' HTML at the start),
    # never ahead of a chapter an edit changed.
    early_front = request("front matter", "front", make_back.outline, _StandIns())
    fillable = PAGE_LABEL.search(early_front.html) is not None
    # The ids a chapter may link to that no chapter defines.
    outside_ids = frozenset({"title-page", "imprint", "contents", "chronology", "bibliography", "index",
                             "list-of-figures", "list-of-tables"} | bibliography_ids(book.bibliography))

    def chapter_requests(pages: Mapping[str, str]) -> list[PartRequest]:
        """The chapters' parts, each offered to another process as soon as it is made, so that the
        layout begins while the rest are made (a file of formulas takes seconds)."""
        requests: list[PartRequest] = []
        for group in chapters_by_file(book.chapters):
            requests.append(request(f"chapter {group[0].number}" if len(group) == 1 else
                                    f"chapters {group[0].number}–{group[-1].number}", "body", BackMatter(), pages,
                                    of=dataclasses.replace(book, chapters=group),
                                    holds=tuple(f"chapter {chapter.number}" for chapter in group)))
            if maker.offer(requests[-1], outside_ids, first=len(requests) == 1) and len(requests) == 1 and fillable:
                maker.offer_unnumbered(early_front)
        return requests

    # A page reference prints the page its target lands on, which only the layout tells: the
    # chapters are laid out with the numbers of the last build (or a guess), and those whose
    # numbers came out different are laid out again, until no number changes. Meanwhile nothing
    # is joined.
    targets = page_reference_targets(book.chapters)
    pages = {target: _earlier_label(maker.store, target) for target in sorted(targets)}
    problems: list[Problem] = []
    start = maker.mark()
    if not targets:
        maker.while_waiting = join_next
    for attempt in range(1, PAGE_REFERENCE_PASSES + 1):
        chapters = chapter_requests(pages)
        known = chapter_ids(chapters) | outside_ids
        body = maker.make_run(chapters, known, first_folio=1)
        body_html = "".join(chapter.html for chapter in chapters)
        body_map = _page_map(body, 0, _source_order(body_html), floating)
        found = {target: body_map.label_of(target) if target in body_map.anchor_pages else "?" for target in pages}
        if found == pages:
            break
        if attempt == PAGE_REFERENCE_PASSES:
            problems.append(_unsettled(book, pages, found))
            break
        maker.forget_since(start)
        pages = found
    maker.while_waiting = join_next
    back = make_back(body_map)
    # The chronology, the bibliography and the index are parts of their own (each begins on a
    # right-hand page), laid out side by side; a layout writes each as the "back" part with the
    # others left out, as for a book that has only one of them.
    sections = [request(kind, "back", section) for kind, section in back.sections()]
    sheet = page_cover_sheet(book.config)
    if covered:
        sections.append(PartRequest("back cover", cover_html(book, language, layouts, sheet, "back"), {}))
    # The chronology, the largest of them, goes to another process if there is one, unless every
    # other is still writing the last chapters and this one has nothing queued (see PartMaker).
    back_first = 1 + sum(len(part.page_anchors) for part in body)
    back_run = maker.start_run(sections, known, first_folio=back_first, first_away=True)
    # The front cover needs no page number: it is laid out meanwhile, the front matter once the
    # back matter's pages are known (its contents print them).
    front_run = maker.send_run([PartRequest("front cover", cover_html(book, language, layouts, sheet, "front"), {})],
                               known) if covered else []
    back_parts = maker.run_layouts(back_run, back_first)
    back_html = "".join(section.html for section in sections)
    labels = _page_map([*body, *back_parts], 0, _source_order(body_html + back_html), floating)
    contents_pages = {anchor: labels.labels[index] for anchor, index in labels.anchor_pages.items()}
    front_request = request("front matter", "front", back, contents_pages)
    if _with_stand_ins(front_request.html) == early_front.html:
        put_in = tuple(dict.fromkeys(_page_labels(front_request.html)))
        front_run += maker.send_run([dataclasses.replace(early_front, labels=put_in, unfilled=front_request)], known)
    else:  # the layout prints page numbers elsewhere too, or the back matter changed what the front shows
        maker.withdraw(early_front)
        front_run += maker.send_run([front_request], known)
    return back, front_run, front_request.html + body_html + back_html, problems


PAGE_LABEL = re.compile(r'(\s' + PAGE_OF + r'="([^"]*)" data-page=")([^"]*)"')
"""An element that prints the page label of another (see engine.PAGE_OF), from its `data-page`."""


class _StandIns(Mapping[str, str]):
    """Page labels, all of them the stand-in."""

    def __getitem__(self, anchor: str) -> str:
        return PAGE_STAND_IN

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _with_stand_ins(html: str) -> str:
    return PAGE_LABEL.sub(lambda match: f'{match[1]}{PAGE_STAND_IN}"', html)


def _page_labels(html: str) -> Iterator[tuple[str, str]]:
    for match in PAGE_LABEL.finditer(html):
        yield html_text.unescape(match[2]), html_text.unescape(match[3])


def _earlier_label(store: PartStore | None, anchor: str) -> str:
    """The page label an element had in the last build, the first guess of a page reference."""
    folio = store.earlier_folio(anchor) if store is not None else None
    return str(folio) if folio is not None else "?"


def _unsettled(book: Book, used: Mapping[str, str], found: Mapping[str, str]) -> Problem:
    """The warning for page references whose numbers kept changing the layout (a number that moves
    its own target to another page, back and forth)."""
    moving = next(target for target in used if used[target] != found[target])
    for chapter in book.chapters:
        for block in (*chapter.blocks, *(child for note in chapter.footnotes for child in note.children)):
            for reference in page_references(block):
                if moving in reference.targets:
                    return Problem(reference.location, f"page reference @{moving}: its page number changes the "
                                   f"layout so that the number is wrong again (page {used[moving]} or "
                                   f"{found[moving]}); it may be off by a page", "reword the sentence around it, "
                                   "or refer to the place from elsewhere")
    return Problem(Location(book.config.manuscript_dir), f"page reference @{moving} did not settle", "")


def _page_map(parts: Sequence[LaidPart | PartLayout], front_matter_end: int, source_order: Mapping[str, int],
              floating: frozenset[str], covers: tuple[int, int] = (0, 0), cover_word: str = "") -> PageMap:
    page_anchors = [anchors for part in parts for anchors in part.page_anchors]
    continued = [word for part in parts for word in part.continued]
    return build_page_map(page_anchors, front_matter_end, source_order, floating, continued, covers, cover_word)


def _source_order(html: str) -> dict[str, int]:
    return {match.group(1): number for number, match in enumerate(ELEMENT_ID.finditer(html))}
