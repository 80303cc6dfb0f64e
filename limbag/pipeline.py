"""build(book_dir, …) → BuildResult: the stages in order, and nothing else (no Click here)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import (
    CACHE_FOLDER,
    PartCache,
    fingerprint,
    input_digests,
    kept_cover_picture,
    layout_environment,
    load_build,
    save_build,
)
from .chronology import (
    Chronology,
    ChronologySettings,
    Event,
    build_chronology,
    chronology_settings,
    collect_events,
    events_yaml,
    mark_dates,
)
from .config import OUTPUT_FORMATS, BookConfig, config_path, load_config_partially, written_moment
from .errors import ConfigError, LimbagError, Location, ManuscriptErrors, Problem, RenderError, StrictModeError
from .files import check_book_folders, output_error, remove_leftovers, replace_together, system_error
from .index import Index, IndexSettings, build_index, check_references, index_settings, index_terms, mark_aliases
from .language import Language, load_language
from .layouts import Layouts, book_layouts
from .model import Book
from .pagemap import PageMap
from .pandoc import forget_others
from .reader import PendingChapters, read_book, start_reading

if TYPE_CHECKING:  # the layout engine and the PDF libraries are imported when a build needs them
    from .fonts import FontFace
    from .join import Joiner, JoiningProcess
    from .mathtype import DrawnFormulas
    from .parts import PartStore
    from .pdf import BackMatter, RenderedPdf
    from .typeset import RemoteLane


@dataclass(frozen=True, slots=True)
class BuildResult:
    slug: str
    written: tuple[Path, ...]
    warnings: tuple[Problem, ...]
    page_count: int
    book: Book | None = None
    """None when nothing had changed and the last build's files were kept (`cached`)."""
    rendered: RenderedPdf | None = None
    back_matter: BackMatter | None = None

    @property
    def cached(self) -> bool:
        return self.rendered is None

    @property
    def page_map(self) -> PageMap:
        assert self.rendered is not None, "a cached build has no layout"
        return self.rendered.page_map

    @property
    def index(self) -> Index | None:
        return self.back_matter.index if self.back_matter else None

    @property
    def chronology(self) -> Chronology | None:
        return self.back_matter.chronology if self.back_matter else None


def output_name(slug: str, output_format: str) -> str:
    return {"pdf": f"{slug}.pdf", "booklet": f"{slug}-booklet.pdf",
            "press": f"{slug}-press.pdf", "epub": f"{slug}.epub", "cover": f"{slug}-cover.pdf"}[output_format]


def lay_out(book: Book, layouts: Layouts, faces: tuple[FontFace, ...], settings: IndexSettings,
            events: tuple[Event, ...], language: Language, press: bool = False,
            store: PartStore | None = None, environment: str = "",
            others: Sequence[RemoteLane] = (),
            on_part: Callable[[str], None] | None = None,
            joiner: Joiner | None = None,
            while_joining: Callable[[PageMap, BackMatter, bytes | None], None] | None = None,
            formulas: DrawnFormulas | None = None) -> tuple[RenderedPdf, BackMatter]:
    """Lay the book out once; the chronology and index take their pages from the chapters' layout.
    Parts found in `store` (see cache.PartCache) are taken as they are; `others` are the other
    layout processes, `on_part` is told each part laid out, `joiner` joins them, `while_joining` works
    meanwhile, `formulas` are the drawings of formulas kept (see pdf.render_book)."""
    from .pdf import render_book

    return render_book(book, layouts, faces, back_matter_maker(book, settings, events, language), press, store,
                       environment, others, on_part, joiner, while_joining, formulas)


def back_matter_maker(book: Book, settings: IndexSettings, events: tuple[Event, ...],
                      language: Language) -> BackMatterMaker:
    """The chronology and the index, made from the chapters' page map once it is known (and the
    bibliography, which the page map does not change)."""
    return BackMatterMaker(book, settings, events, language, bool(index_terms(book, settings)))


@dataclass(frozen=True, slots=True)
class BackMatterMaker:
    """See back_matter_maker."""

    book: Book
    settings: IndexSettings
    events: tuple[Event, ...]
    language: Language
    has_index: bool

    @property
    def outline(self) -> BackMatter:
        """Which parts the back matter has, before the page map is known: empty ones stand for them."""
        from .pdf import BackMatter

        return BackMatter(chronology=Chronology() if self.events else None, index=Index() if self.has_index else None,
                          bibliography=self.book.bibliography)

    def __call__(self, page_map: PageMap) -> BackMatter:
        from .pdf import BackMatter

        return BackMatter(
            chronology=build_chronology(self.events, page_map, self.language) if self.events else None,
            index=build_index(self.book, self.settings, page_map, self.language) if self.has_index else None,
            bibliography=self.book.bibliography)


@dataclass(frozen=True, slots=True)
class PreparedBook:
    """Everything known before layout: the book with its index and date marks, and the warnings so far."""

    config: BookConfig
    book: Book
    language: Language
    index_settings: IndexSettings
    events: tuple[Event, ...]
    warnings: tuple[Problem, ...]


def prepare(book_dir: Path, detect_all: bool = False,
            loaded: tuple[BookConfig, list[Problem]] | None = None, cache_dir: Path | None = None,
            pending: PendingChapters | None = None) -> PreparedBook:
    """Read the book and mark what the index and chronology need (detect_all: find every date, curate
    none). `loaded` is book.yaml as `load_config` gave it, if it was read already; the chapters'
    syntax trees are kept in `cache_dir` (by default the cache of the book's build/ folder)."""
    if loaded is None:
        loaded = load_config_or_all_problems(book_dir, cache_dir)
    config, config_warnings = loaded
    written_moment(config)  # a SOURCE_DATE_EPOCH the outputs cannot carry stops the build here
    book, reader_warnings, settings, index_warnings, timeline, timeline_warnings = _read_all(
        config, cache_dir or book_dir / "build" / CACHE_FOLDER, pending=pending)
    language = load_language(config.language)
    book, alias_warnings = mark_aliases(book, settings)
    if detect_all:
        timeline = dataclasses.replace(timeline, detect=True, events=())
    book, date_warnings = mark_dates(book, timeline, language)
    events, event_warnings = collect_events(book, timeline)
    warnings = (*config_warnings, *reader_warnings, *index_warnings, *alias_warnings,
                *check_references(book, settings), *timeline_warnings, *date_warnings, *event_warnings)
    return PreparedBook(config, book, language, settings, events, warnings)


def load_config_or_all_problems(book_dir: Path, cache_dir: Path | None = None) -> tuple[BookConfig, list[Problem]]:
    """book.yaml's settings; if it has errors, every error of the book is raised at once: book.yaml's
    (its index and chronology settings included) and every chapter's."""
    config, warnings, errors = load_config_partially(book_dir)
    if errors:
        _read_all(config, cache_dir or book_dir / "build" / CACHE_FOLDER, errors)
    return config, warnings


def _read_all(config: BookConfig, cache_dir: Path, errors: list[Problem] | None = None,
              pending: PendingChapters | None = None) -> tuple[
        Book, list[Problem], IndexSettings, list[Problem], ChronologySettings, list[Problem]]:
    """The chapters, the index settings and the chronology settings, each read even when another
    has errors, so that one run reports them all (with `errors` found before, in book.yaml)."""
    problems = list(errors or ())
    book = Book(config)
    reader_warnings: list[Problem] = []
    try:
        book, reader_warnings = read_book(config, cache_dir, pending)
    except ManuscriptErrors as error:
        problems.extend(error.problems)
    except LimbagError as error:
        problems.append(Problem(error.location or Location(config.source), error.what, error.hint))
    found: list[tuple[Any, list[Problem]]] = []
    for read_settings in (index_settings, chronology_settings):
        try:
            found.append(read_settings(config))  # type: ignore[operator]
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        only_chapters = not errors and all(p.location.file != config.source for p in problems)
        raise ManuscriptErrors(problems) if only_chapters else ConfigError(problems)
    (settings, index_warnings), (timeline, timeline_warnings) = found
    return book, reader_warnings, settings, index_warnings, timeline, timeline_warnings


def find_events(book_dir: Path) -> tuple[str, tuple[Problem, ...]]:
    """The events the text tells (marked and detected), as YAML for book.yaml; no layout."""
    prepared = prepare(book_dir, detect_all=True)
    return events_yaml(prepared.events, prepared.book), prepared.warnings


@dataclass(frozen=True, slots=True)
class CheckSummary:
    book: Book
    events: int
    warnings: tuple[Problem, ...]

    def describe(self) -> str:
        chapters = self.book.chapters
        notes = sum(len(chapter.footnotes) for chapter in chapters)
        counts = ((len(chapters), "chapter"), (notes, "footnote"), (len(self.book.index_marks), "index mark"),
                  (self.events, "dated event"), (len(self.warnings), "warning"))
        return ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)


def check(book_dir: Path, strict: bool = False) -> CheckSummary:
    """Everything a build would reject before laying the book out, found without laying it out: the
    book read and marked, the layout engine set up, and every layout rendered (print and e-book)
    with a stand-in page map. A book that passes builds, or fails only in the layout itself."""
    prepared = prepare(book_dir)
    layouts = book_layouts(book_dir)
    from .engine import check_version

    check_version()
    from .epub import epub_faces, write_epub
    from .fonts import find_fonts, missing_characters, source_characters
    from .pdf import rehearse

    faces, font_problems = find_fonts(book_dir, source_characters(prepared.config))
    font_problems = [*font_problems, *missing_characters(prepared.book, faces)]
    make_back = back_matter_maker(prepared.book, prepared.index_settings, prepared.events, prepared.language)
    back, page_map, engine_problems = rehearse(prepared.book, layouts, faces, make_back)
    unsubset = {face.path: face.path.read_bytes() for face in epub_faces(faces, layouts)}
    write_epub(prepared.book, back, page_map, layouts, prepared.language, faces, lambda: unsubset)
    warnings = (*prepared.warnings, *font_problems, *engine_problems)
    if strict and warnings:
        raise StrictModeError(list(warnings))
    return CheckSummary(prepared.book, len(prepared.events), warnings)


Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Step:
    """How far a build has got, for a progress bar: `done` of its `total` steps, the last one `what`."""

    what: str
    done: int
    total: int


Steps = Callable[[Step], None]


@dataclass(slots=True)
class _StepCounter:
    report: Steps | None
    total: int
    done: int = 0

    def __call__(self, what: str) -> None:
        self.done += 1
        if self.report is not None:
            self.report(Step(what, min(self.done, self.total), self.total))


def _steps_of(prepared: PreparedBook, requested: tuple[str, ...]) -> int:
    """A step for each chapter, part of the back matter, the front matter and each output made after them."""
    back = bool(prepared.events) + bool(index_terms(prepared.book, prepared.index_settings))
    covers = 2 if prepared.config.cover is not None else 0
    outputs = sum(1 for f in ("press", "epub", "booklet", "cover") if f in requested)
    return len(prepared.book.chapters) + back + 1 + covers + outputs


@contextmanager
def _stage(progress: Progress | None, describe: Callable[[], str]) -> Iterator[None]:
    """Time a stage and report it in one line, e.g. 'laid out 13 pages (0.84 s)'."""
    start = time.perf_counter()
    yield
    if progress is not None:
        progress(f"{describe()} ({time.perf_counter() - start:.2f} s)")


def build(book_dir: Path, out_dir: Path | None = None, formats: tuple[str, ...] = (),
          strict: bool = False, progress: Progress | None = None, processes: int | None = None,
          steps: Steps | None = None) -> BuildResult:
    """Read, lay out and write the requested outputs (default: book.yaml's `outputs`).

    Every output is made in memory first and written only when all are whole, each through a
    temporary file renamed into place: a failed or interrupted build keeps the last good files.
    When no input changed since the last build into the same folder, nothing is redone.
    The book is laid out by `processes` processes (default: one a core; see `layout_processes`);
    with more than one, a process of its own joins the parts as they come and imposes the booklet
    while the e-book is written, and a helper subsets the e-book's fonts during the layout.
    `progress` is told each stage with its time, `steps` how far the build has got.
    """
    target = out_dir if out_dir is not None else book_dir / "build"
    check_book_folders(book_dir)  # before anything is read through them
    inputs = input_digests(book_dir)
    key = fingerprint(inputs, formats, strict)
    cached, cache_problems = load_build(target, key)
    if cached is not None:
        if progress is not None:
            progress("nothing changed since the last build: its files are kept")
        if strict and cached.warnings:
            raise StrictModeError(list(cached.warnings))
        slug = next((n[:-4] for n in cached.outputs
                     if n.endswith(".pdf") and not n.endswith(("-booklet.pdf", "-press.pdf", "-cover.pdf"))), "")
        return BuildResult(slug, tuple(target / name for name in cached.outputs), cached.warnings, cached.page_count)

    from .processes import collecting_less_often, with_stack_room

    with collecting_less_often():
        return with_stack_room(_build_changed, book_dir, target, formats, strict, processes, progress, steps, inputs,
                               key, cache_problems)


def _build_changed(book_dir: Path, target: Path, formats: tuple[str, ...], strict: bool, processes: int | None,
                   progress: Progress | None, steps: Steps | None, inputs: dict[tuple[Path, Path], bytes], key: str,
                   cache_problems: tuple[Problem, ...]) -> BuildResult:
    """The build of a book that changed since the last build into `target` (or was never built)."""
    loaded = load_config_or_all_problems(book_dir, target / CACHE_FOLDER)
    processes = layout_processes(processes)
    # The joining process needs no layout engine: started before this process loads one, it holds
    # only what it joins.
    from .join import JoiningProcess

    joining = JoiningProcess(config_path(book_dir)) if processes > 1 else None
    # Pandoc reads the chapters on the other cores while this process loads the engine.
    pending = start_reading(loaded[0].chapters, target / CACHE_FOLDER, loaded[0].markdown)
    try:
        return _build_read(book_dir, target, formats, strict, processes, progress, steps, inputs, key, cache_problems,
                           loaded, pending, joining)
    finally:
        pending.close()
        if joining is not None:
            joining.close()


def _build_read(book_dir: Path, target: Path, formats: tuple[str, ...], strict: bool, processes: int,
                progress: Progress | None, steps: Steps | None,
                inputs: dict[tuple[Path, Path], bytes], key: str, cache_problems: tuple[Problem, ...],
                loaded: tuple[BookConfig, list[Problem]], pending: PendingChapters,
                joining: JoiningProcess | None) -> BuildResult:
    """The build once book.yaml is read and Pandoc is reading the chapters (and, with `joining`, the
    process that joins the parts has started)."""
    # Imported only now, so that an unchanged book (or a mistake in book.yaml) does not wait a third
    # of a second for the engine.
    from .engine import check_version, load_engine

    check_version()
    from .processes import process_pool
    from .typeset import RemoteLane

    # While Pandoc has much to read, this process loads the engine meanwhile, and the layout
    # processes are forked with it loaded. After an edit there is little to read: they are forked
    # first and load it themselves while this process makes the book's model, and this process
    # loads it once it has handed them their first parts, if it needs it at all.
    if processes == 1 or pending.reading.unread_bytes() >= ENGINE_WHILE_READING:
        load_engine()
    # The other layout processes and the helper (e-book fonts) start now, while this process holds
    # little and has started no thread.
    others = [RemoteLane() for _ in range(processes - 1)]
    helper = process_pool(1) if processes > 1 else None
    from .booklet import binding_problem, impose, perfect_binding_problem
    from .cover import add_guides, front_cover_picture
    from .epub import WrittenEpub, book_characters, epub_faces, subset_fonts, write_epub
    from .fonts import find_fonts, missing_characters, source_characters
    from .mathtype import load_drawn, save_drawn
    from .pdf import COVER_PAGES, engine_settings, render_wrap
    from .press import (
        PlacedImage,
        book_pictures,
        image_resolutions,
        make_press_ready,
        of_pictures,
        picture_problems,
        printing_condition,
    )

    try:
        layouts = book_layouts(book_dir)
        faces, font_problems = find_fonts(book_dir, source_characters(loaded[0]))
        for lane in others:  # they set their engines up while this process reads the chapters
            lane.set_up(engine_settings(loaded[0], layouts, faces, press=False))
        with _stage(progress, lambda: f"read {len(prepared.book.chapters)} chapters"):
            prepared = prepare(book_dir, loaded=loaded, cache_dir=target / CACHE_FOLDER, pending=pending)
        config = prepared.config
        font_problems = [*font_problems, *missing_characters(prepared.book, faces)]
        requested = tuple(f for f in OUTPUT_FORMATS if f in (formats or config.outputs))
        condition = printing_condition(config.page, config.location("page.colour")) \
            if "press" in requested or "cover" in requested else None
        back_cover = COVER_PAGES[1] if config.cover is not None else 0
        count = _StepCounter(steps, _steps_of(prepared, requested))
        parts = PartCache(target / CACHE_FOLDER)
        formulas = load_drawn(target / CACHE_FOLDER)
        environment = layout_environment(inputs)
        fonts = None
        if "epub" in requested:  # the characters are known before layout: subset the fonts meanwhile
            fonts = subset_fonts(epub_faces(faces, layouts), book_characters(prepared.book, prepared.language),
                                 target / CACHE_FOLDER, helper)
        epubs: list[WrittenEpub] = []
        booklets: list[Callable[[], bytes]] = []
        pictures = book_pictures(prepared.book)
        placed: list[Callable[[], list[PlacedImage]]] = []

        def while_joining(page_map: PageMap, back: BackMatter, front_cover: bytes | None) -> None:
            """While the joining process finishes the PDF: ask it for the booklet next, and write the
            e-book."""
            if "booklet" in requested and joining is not None:
                booklets.append(joining.impose(config.booklet, config.title, back_cover))
            if pictures and joining is not None:  # the joining process has the book open: it reads them meanwhile
                placed.append(joining.image_resolutions(frozenset(pictures)))
            if "epub" in requested:
                with _stage(progress, lambda: "wrote the e-book"):
                    picture = kept_cover_picture(target / CACHE_FOLDER, front_cover, front_cover_picture) \
                        if front_cover is not None and config.cover is not None and config.cover.image is None else None
                    epubs.append(write_epub(prepared.book, back, page_map, layouts, prepared.language, faces, fonts,
                                            picture))
                count("wrote the e-book")

        with _stage(progress, lambda: f"laid out {len(rendered.page_map.labels)} pages"
                                f" ({_reuse(rendered, len(prepared.book.chapters))})"):
            rendered, back = lay_out(prepared.book, layouts, faces, prepared.index_settings, prepared.events,
                                     prepared.language, store=parts, environment=environment, others=others,
                                     on_part=lambda kind: count(_laid_out(kind)), joiner=joining,
                                     while_joining=while_joining, formulas=formulas)
        save_drawn(target / CACHE_FOLDER, formulas)
        drawn_pictures = (placed[0]() if placed else image_resolutions(rendered.pdf, of_pictures(pictures))) \
            if pictures else []
        bindings = [binding_problem(len(rendered.page_map.labels), config.location("outputs"))
                    if "booklet" in requested else None,
                    perfect_binding_problem(rendered.page_map.interior_pages, config.location("outputs"))
                    if "cover" in requested else None]
        warnings = (*prepared.warnings, *font_problems, *rendered.problems,
                    *picture_problems(drawn_pictures, pictures, press="press" in requested or "cover" in requested),
                    *(binding for binding in bindings if binding is not None))
        if strict and warnings:
            raise StrictModeError(list(warnings))

        outputs: dict[str, bytes] = {}
        if "pdf" in requested:
            outputs["pdf"] = rendered.pdf
        booklet: Callable[[], bytes] | None = None
        if "booklet" in requested:  # imposed by the process that joined the book, asked while it joined
            booklet = booklets[0] if booklets else lambda: impose(rendered.pdf, config.booklet, config.title, back_cover)
        if "press" in requested:
            with _stage(progress, lambda: "laid out the press PDF"):
                laid = lay_out(prepared.book, layouts, faces, prepared.index_settings, prepared.events,
                               prepared.language, press=True, store=parts, environment=environment,
                               others=others, joiner=joining, formulas=formulas)[0].pdf
                assert condition is not None
                outputs["press"] = make_press_ready(laid, condition, config.page)
            count("laid out the press PDF")
        if "cover" in requested:
            with _stage(progress, lambda: "laid out the cover"):
                wrap, sheet = render_wrap(prepared.book, layouts, faces, rendered.page_map.interior_pages)
                assert condition is not None
                outputs["cover"] = add_guides(make_press_ready(wrap, condition, dataclasses.replace(config.page, marks=())),
                                              sheet)
            count("laid out the cover")
        for epub in epubs:
            warnings = (*warnings, *epub.problems)
            outputs["epub"] = epub.data
        if booklet is not None:
            with _stage(progress, lambda: "imposed the booklet"):
                outputs["booklet"] = booklet()
            count("imposed the booklet")
    except BrokenProcessPool:  # the helper was killed (out of memory, by hand): not the book's fault
        raise RenderError("the helper process stopped", Location(config_path(book_dir)),
                          "run the build again; if it keeps failing, report it") from None
    except OSError as error:  # a full temporary folder, a file gone during the build
        raise system_error(error, config_path(book_dir)) from None
    finally:
        if helper is not None:
            helper.shutdown(cancel_futures=True)
        for lane in others:
            lane.close()
    outputs = {name: outputs[name] for name in OUTPUT_FORMATS if name in outputs}

    paths = {output_format: target / output_name(config.slug, output_format) for output_format in outputs}
    remove_leftovers(target)
    try:
        replace_together({paths[output_format]: data for output_format, data in outputs.items()})
    except OSError as error:
        raise output_error(error, target) from None
    written = list(paths.values())
    page_count = len(rendered.page_map.labels)
    parts.prune()
    forget_others(target / CACHE_FOLDER, pending.reading.digests)
    save_build(target, key, {path.name: outputs[fmt] for fmt, path in paths.items()}, warnings, page_count)
    # A damaged cache is reported, but is not the book's doing: it never fails a --strict build.
    return BuildResult(config.slug, tuple(written), (*warnings, *cache_problems), page_count, prepared.book,
                       rendered, back)


ENGINE_WHILE_READING = 32 * 1024
"""Markdown left for Pandoc to read (bytes) that takes about as long as loading the layout engine."""


def layout_processes(wanted: int | None = None) -> int:
    """How many processes lay a book out: `wanted`, else one for each core this process may run on.
    Which process lays out which part never shows in the output."""
    if wanted is not None:
        return max(1, wanted)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _laid_out(kind: str) -> str:
    """'laid out chapter 3', 'laid out the index'."""
    return f"laid out {kind}" if kind.startswith("chapter") else f"laid out the {kind}"


def _reuse(rendered: RenderedPdf, chapters: int) -> str:
    """'2 of 30 chapters laid out anew, 28 kept' and the other parts laid out anew."""
    laid = [kind for kind in rendered.laid_out if kind.startswith("chapter")]
    others = [kind for kind in dict.fromkeys(rendered.laid_out) if kind != "blank" and kind not in laid]
    text = f"{len(laid)} of {chapters} chapters laid out anew, {chapters - len(laid)} kept"
    if others:
        listed = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
        text += f"; {listed} anew"
    if rendered.laid_out_elsewhere:
        text += f"; {rendered.laid_out_elsewhere} parts by the other processes"
    return text
