"""The layout engine, one part of the book at a time, in this process or in a second one.

A part's first folio depends on how many pages the parts before it have, but its lines and
pages do not: only the folios in the margins do. So a part is laid out on a guessed first
folio and, if the guess was wrong, its margin boxes are made again once the folio is known
(`Typesetter.write`), which takes milliseconds where laying out takes a tenth of a second per
chapter. That lets two processes lay out chapters side by side. WeasyPrint is single-threaded
and its laid-out pages cannot be sent between processes, so each process keeps the parts it
laid out until they are written.

The engine itself is imported when a Typesetter is made (see engine.load_engine), so that a build
can fork its layout processes before it has loaded the engine, and go on reading the book while
they load it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from .engine import (
    PAGE_OF,
    compress_streams,
    compute_styles_quickly,
    draw_svg_once,
    engine_loaded,
    fill_page_labels,
    font_configuration,
    font_folder,
    html_document,
    keep_hyphens_off_recto_feet,
    load_engine,
    merge_leaders,
    page_label_boxes,
    remove_font_folder,
    render,
    renumber,
)
from .errors import LimbagError, Location, RenderError
from .files import system_error
from .hyphenation import register as register_hyphenation
from .markup import FlowText
from .pagemap import place_marks
from .processes import become_child, read_ahead, start_with_pipe
from .tags import install as install_tagging


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What a process needs to set the engine up for a book: plain data, sent to the second process."""

    base_url: str
    fetch_roots: tuple[Path, ...]
    stylesheets: tuple[tuple[str, str | None], ...]
    """(CSS text, base URL) of each stylesheet, in cascade order."""
    identifier: str
    """The book's identifier: the PDF's /ID and XMP document id derive from it."""
    bleed_mm: float | None
    """Press PDF: the bleed; None for the reading PDF."""
    source: Path
    """book.yaml, named when the engine gives nothing back."""


@dataclass(frozen=True, slots=True)
class PartJob:
    html: str
    flows: dict[str, FlowText]
    borrowed: frozenset[str]
    """Ids the part links to that live in other parts: they get stand-in anchors."""
    first_folio: int | None
    """The folio of its first page, as far as it is known when it is laid out (see `Typesetter.write`);
    None for a part whose pages are not numbered on from the others (the front matter, a blank)."""


Labels = tuple[tuple[str, str], ...]
"""(id, the label of the page it is on), for a part that prints page labels (see Typesetter.write)."""


@dataclass(frozen=True, slots=True)
class PartLayout:
    """What laying a part out tells, before it is written."""

    page_anchors: tuple[tuple[str, ...], ...]
    continued: tuple[str | None, ...]
    fillable: bool = False
    """The part prints page labels each alone in a box of fixed width, so they can be put in when
    it is written (see engine.page_label_boxes)."""


@dataclass(frozen=True, slots=True)
class WrittenPart:
    pdf: bytes
    messages: tuple[str, ...]
    """What the engine warned about while laying out and writing the part."""
    refused: tuple[str, ...]
    """URLs the part asked for and was refused (outside the book)."""


@contextmanager
def collect_engine_warnings() -> Iterator[list[str]]:
    """WeasyPrint's warnings (bad CSS in a layout, unloadable resources) become our problems."""
    import logging

    messages: list[str] = []

    class Collector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("weasyprint")
    handler = Collector(level=logging.WARNING)
    previous_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous_propagate


def finisher(identifier: str, bleed_mm: float | None) -> Callable[[Any, Any], None]:
    """Last touches on the engine's PDF objects before they are written (no second pass over the file):
    a stable XMP document id in place of the engine's random one (PDF/X-4), for the press PDF a
    BleedBox exactly `bleed` around the TrimBox, and the streams compressed (see `compress_streams`)."""
    import pydyf

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
        compress_streams(pdf)

    return finish


def first_folio_css(number: int) -> str:
    """The layouts name the numbered pages `body`; a part's numbering starts at its first folio."""
    return f"@page :nth(1 of body) {{ counter-reset: page {number}; }}\n"


@dataclass(slots=True)
class _Held:
    """A part laid out and not yet written."""

    job: PartJob
    document: Any
    context: Any
    """The engine's layout context, which margin boxes are made from."""
    messages: list[str]
    refused: tuple[str, ...]


class Typesetter:
    """The engine set up for one book in this process: lays parts out, keeps them, writes them."""

    def __init__(self, settings: EngineSettings) -> None:
        load_engine()
        from weasyprint import CSS

        from .fetch import BookFetcher

        register_hyphenation()
        draw_svg_once()
        compute_styles_quickly()
        keep_hyphens_off_recto_feet()
        install_tagging()
        self.settings = settings
        self.fetcher = BookFetcher(settings.fetch_roots)
        self.font_config = font_configuration()
        with collect_engine_warnings() as messages:
            self.stylesheets = [CSS(string=text, base_url=base_url, font_config=self.font_config,
                                    url_fetcher=self.fetcher) for text, base_url in settings.stylesheets]
        self.setup_messages = tuple(messages)
        press = settings.bleed_mm is not None
        variant: dict[str, Any] = {"pdf_variant": "pdf/x-4", "output_intent": "srgb"} if press else {"pdf_variant": "pdf/ua-1"}
        pdf_identifier = hashlib.sha256(settings.identifier.encode()).hexdigest()[:32].encode()
        self.write_options = {"pdf_identifier": pdf_identifier,
                              "finisher": finisher(settings.identifier, settings.bleed_mm), **variant}
        self._held: dict[int, _Held] = {}

    def lay_out(self, ticket: int, job: PartJob) -> PartLayout:
        """Lay the part out and keep it under `ticket` until `write`. The marks left out of its HTML
        become anchors of the pages they fall on; ids of other parts it links to get stand-in
        anchors so that the engine keeps those links (joining points them home)."""
        from weasyprint import CSS

        refused_before = len(self.fetcher.refused)
        with collect_engine_warnings() as messages:
            stylesheets = self.stylesheets + ([CSS(string=first_folio_css(job.first_folio), font_config=self.font_config)]
                                              if job.first_folio is not None else [])
            html = html_document(job.html, self.settings.base_url, self.fetcher)
            document, context = render(html, stylesheets, self.font_config)
        places = place_marks(document.pages, job.flows)
        merge_leaders(document, context)
        for page, anchors in zip(document.pages, places.anchors, strict=True):
            for anchor, position in anchors.items():
                page.anchors.setdefault(anchor, position)
        page_anchors = tuple(tuple(page.anchors) for page in document.pages)
        if job.borrowed and document.pages:
            stand_ins = document.pages[0].anchors
            for target in sorted(job.borrowed):
                stand_ins.setdefault(target, (0, 0, 0, 0))
        self._held[ticket] = _Held(job, document, context, messages, tuple(self.fetcher.refused[refused_before:]))
        fillable = PAGE_OF in job.html and page_label_boxes(document) is not None
        return PartLayout(page_anchors, places.continued, fillable)

    def setup_report(self) -> SetupReport:
        return SetupReport(self.setup_messages, tuple(self.fetcher.refused))

    def close(self) -> None:
        """Remove what the engine keeps on disk for this book (its folder of fonts)."""
        remove_font_folder(self.font_config)

    def __enter__(self) -> Typesetter:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def forget(self, ticket: int) -> bool:
        """Let go of the part laid out under `ticket` without writing it (another process lays it
        out instead); False if there is none."""
        return self._held.pop(ticket, None) is not None

    def warm_up(self) -> None:
        """Lay out and write a line in each face, so that fonts are loaded before the first part
        (a tenth of a second, spent while the other process reads the book)."""
        faces = "".join(f"<p{style}>Aa 1</p>" for style in ("", ' style="font-weight: bold"',
                                                           ' style="font-style: italic"'))
        self.lay_out(0, PartJob(f"<html><body>{faces}</body></html>", {}, frozenset(), None))
        self.write(0, None)

    def write(self, ticket: int, first_folio: int | None, labels: Labels = ()) -> WrittenPart:
        """Write the part laid out under `ticket`, its pages numbered from `first_folio`, with the
        page `labels` put in (of a fillable part, see PartLayout). If it was laid out on another
        first folio, its margin boxes are made again; should the engine not allow that, the part
        is laid out again."""
        held = self._held.pop(ticket)
        if first_folio != held.job.first_folio:
            if first_folio is None or held.job.first_folio is None:  # numbered, or not: laid out anew
                self.lay_out(ticket, dataclasses.replace(held.job, first_folio=first_folio))
                held = self._held.pop(ticket)
            else:
                renumber(held.document, held.context, first_folio - held.job.first_folio)
        if labels:
            fill_page_labels(held.document, held.context, dict(labels))
        refused_before = len(self.fetcher.refused)
        with collect_engine_warnings() as messages:
            pdf = held.document.write_pdf(**self.write_options)
        if pdf is None:
            raise RenderError("the layout engine produced no PDF", Location(self.settings.source), "check the layouts")
        return WrittenPart(pdf, (*held.messages, *messages), (*held.refused, *self.fetcher.refused[refused_before:]))


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What the engine said while it was set up for a book (read the stylesheets and fonts)."""

    messages: tuple[str, ...]
    refused: tuple[str, ...]


Answer = tuple[int, PartLayout | WrittenPart | None]
"""(ticket, what laying out or writing the part under that ticket gave; None for a part given up
before it was laid out, see Lane.give_up)."""


class Lane(Protocol):
    """A place parts are laid out and written: this process, or another one. Requests are
    answered in the order they were made."""

    here: bool
    """True for this process, which carries a request out when its answer is asked for."""

    def ready(self) -> bool: ...

    def lay_out(self, ticket: int, job: PartJob) -> None: ...

    def write(self, ticket: int, first_folio: int | None, labels: Labels = ()) -> None: ...

    def pending(self) -> int:
        """Requests made and not yet answered."""
        ...

    def answered(self) -> bool:
        """True if an answer can be taken without waiting."""
        ...

    def answer(self) -> Answer:
        """The oldest answer not yet taken, waiting for it if need be."""
        ...

    def not_begun(self, ticket: int) -> bool:
        """True if the part to be laid out under `ticket` waits behind other requests: another
        process with nothing to do may take it over (see give_up)."""
        ...

    def give_up(self, ticket: int) -> None:
        """Leave the part under `ticket` to another process: it is not laid out here, or if it
        already is, let go of. Its answer still comes, and is to be ignored."""
        ...


WRITES_PUT_OFF = 3
"""How many writes this process's queue may hold while it lays out a part asked for after them."""


class LocalLane:
    """This process: requests wait until their answers are asked for, and are carried out then, so
    that this process first hands the second one its work. Its engine is set up when it first has
    work (see `typesetter`)."""

    here = True

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._typesetter: Typesetter | None = None
        self._requests: deque[tuple[str, int, Any]] = deque()

    @property
    def typesetter(self) -> Typesetter:
        """This process's engine, made (and the engine loaded, if it is not yet) when first needed:
        after an edit, the other processes may lay out all there is while this one loads it."""
        if self._typesetter is None:
            self._typesetter = Typesetter(self.settings)
        return self._typesetter

    def loaded(self) -> bool:
        """True once this process has loaded the engine (setting it up for the book then takes a
        tenth of a second)."""
        return self._typesetter is not None or engine_loaded()

    def setup_report(self) -> SetupReport | None:
        """What the engine said while it was set up; None if it has not been."""
        return self._typesetter.setup_report() if self._typesetter is not None else None

    def ready(self) -> bool:
        return True

    def lay_out(self, ticket: int, job: PartJob) -> None:
        self._requests.append(("lay out", ticket, job))

    def write(self, ticket: int, first_folio: int | None, labels: Labels = ()) -> None:
        self._requests.append(("write", ticket, (first_folio, labels)))

    def pending(self) -> int:
        return len(self._requests)

    def answered(self) -> bool:
        return bool(self._requests)

    def answer(self) -> Answer:
        return self.carry_out(self.next_request())

    def next_request(self) -> tuple[str, int, Any]:
        """Take the request to carry out next (see `carry_out`; `answer` does both)."""
        # A layout goes before the writes asked earlier (a few at most, which hold their pages in
        # memory): the parts after it wait for its page count, perhaps in another process.
        writes = sum(1 for request, _, _ in self._requests if request == "write")
        first = next((index for index, (request, _, _) in enumerate(self._requests) if request == "lay out"), 0) \
            if writes < WRITES_PUT_OFF else 0
        taken = self._requests[first]
        del self._requests[first]
        return taken

    def carry_out(self, taken: tuple[str, int, Any]) -> Answer:
        """Lay out or write, as `taken` asks. Requests may be added meanwhile, from another thread."""
        request, ticket, argument = taken
        if request == "lay out":
            return ticket, self.typesetter.lay_out(ticket, argument)
        return ticket, self.typesetter.write(ticket, *argument)

    def not_begun(self, ticket: int) -> bool:
        return False  # this process's parts are laid out when it would take them over

    def close(self) -> None:
        if self._typesetter is not None:
            self._typesetter.close()

    def give_up(self, ticket: int) -> None:
        raise NotImplementedError


class RemoteLane:
    """A second process with its own engine. It is started first thing in a build, forked where the
    system allows (with the engine, if this process has loaded it; else it loads the engine
    itself), and set up for a book once the book's settings are known (`set_up`, again for the
    press PDF)."""

    here = False

    def __init__(self) -> None:
        self._connection, self._process = start_with_pipe(_serve)
        self._setting_up = 0
        """Set-ups asked for and not yet answered."""
        self._failed = False
        self._asked: deque[tuple[str, int]] = deque()
        """The requests not yet answered, oldest first: the second process works on the first."""
        self._settings: EngineSettings | None = None
        self._setup_report: SetupReport | None = None
        self._font_folders: list[str] = []
        """The second process's folders of fonts, removed here should it be stopped before it does."""

    def set_up(self, settings: EngineSettings) -> None:
        """Set the engine up for a book, unless it is already (all earlier answers taken)."""
        assert not self._asked
        if not self._failed and settings != self._settings:
            self._settings = settings
            self._setting_up += 1
            try:
                self._connection.send(("set up", 0, settings))
            except OSError:  # it has stopped: this process does all the work
                self._failed = True

    def ready(self) -> bool:
        """True once the second process has set its engine up for the last settings given (it does
        so while this one works); never, if it could not: this process then does all the work."""
        self._take_setups(wait=False)
        return self._settings is not None and not self._setting_up and not self._failed

    def setup_report(self) -> SetupReport | None:
        """What the engine said while it was set up for the last settings given, waiting for it if
        need be; None if the process could not set it up."""
        self._take_setups(wait=True)
        return None if self._failed else self._setup_report

    def _take_setups(self, wait: bool) -> None:
        while self._setting_up and not self._failed and (wait or self._connection.poll()):
            try:
                self._receive()
                self._setting_up -= 1
            except (RenderError, RuntimeError):
                self._failed = True

    def lay_out(self, ticket: int, job: PartJob) -> None:
        self._send(("lay out", ticket, job))
        self._asked.append(("lay out", ticket))

    def write(self, ticket: int, first_folio: int | None, labels: Labels = ()) -> None:
        self._send(("write", ticket, (first_folio, labels)))
        self._asked.append(("write", ticket))

    def pending(self) -> int:
        return len(self._asked)

    def answered(self) -> bool:
        return bool(self._asked) and self._connection.poll()

    def waitable(self) -> Connection:
        """What to wait on for its next answer (see multiprocessing.connection.wait)."""
        return self._connection

    def answer(self) -> Answer:
        answer = self._receive()
        assert answer is not None
        self._asked.popleft()
        return answer

    def not_begun(self, ticket: int) -> bool:
        return ("lay out", ticket) in self._asked and self._asked[0] != ("lay out", ticket)

    def give_up(self, ticket: int) -> None:
        self._send(("give up", ticket, None))  # not queued there, and not answered (see _serve)

    def close(self) -> None:
        if self._asked or not self.ready():  # busy, or still setting up: nothing of it is needed
            self._process.kill()
        with suppress(OSError):
            self._connection.send(("stop", 0, None))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        self._connection.close()
        for folder in self._font_folders:
            shutil.rmtree(folder, ignore_errors=True)

    def _send(self, request: tuple[str, int, Any]) -> None:
        try:
            self._connection.send(request)
        except OSError:
            raise self._stopped() from None

    def _stopped(self) -> RenderError:
        book = self._settings.source if self._settings is not None else Path(".")
        return RenderError("the second layout process stopped", Location(book),
                           "run the build again; if it keeps failing, report it")

    def _receive(self) -> Answer | None:
        """The next message: an answer, or None for "ready"; the second process's errors are raised here."""
        try:
            status, value = self._connection.recv()
        except (EOFError, OSError):
            raise self._stopped() from None
        if status == "error":
            _, message, location, hint = value
            raise RenderError(message, location, hint)
        if status == "failed":
            raise RuntimeError(f"in the second layout process: {value}")
        if status == "ready":
            self._setup_report, folder = value
            if folder is not None:
                self._font_folders.append(folder)
            return None
        ticket, result = value
        assert isinstance(ticket, int) and isinstance(result, PartLayout | WrittenPart | None)
        return ticket, result


def _serve(connection: Connection, parents_end: Connection | None, parent: int) -> None:
    """The second process: set the engine up when told the book, then lay out and write parts as
    asked. A part given up (the main process, idle, took it over) is seen at once, ahead of the
    requests waiting: it is answered None when its turn comes, or let go of if already laid out."""
    become_child(parent)
    if parents_end is not None:
        parents_end.close()
    given_up: set[int] = set()

    def give_up(request: tuple[str, int, Any]) -> bool:
        if request[0] != "give up":
            return False
        given_up.add(request[1])
        return True

    requests = read_ahead(connection, ("stop", 0, None), at_once=give_up)
    load_engine()  # forked before the parent loaded it: loaded while the parent reads the book
    typesetter: Typesetter | None = None
    source = Path(".")
    try:
        while True:
            request, ticket, argument = requests.get()
            if request == "stop":
                return
            for held in list(given_up):
                if typesetter is not None and typesetter.forget(held):
                    given_up.discard(held)
            if request == "lay out" and ticket in given_up:
                given_up.discard(ticket)
                connection.send(("done", (ticket, None)))
                continue
            try:
                if request == "set up":
                    source = argument.source
                    if typesetter is not None:
                        typesetter.close()
                    typesetter = Typesetter(argument)
                    typesetter.warm_up()
                    connection.send(("ready", (typesetter.setup_report(), font_folder(typesetter.font_config))))
                    continue
                assert typesetter is not None
                result = (typesetter.lay_out(ticket, argument) if request == "lay out"
                          else typesetter.write(ticket, *argument))
                connection.send(("done", (ticket, result)))
            except (LimbagError, OSError) as raised:  # sent as its parts: exceptions do not all survive pickling
                error = raised if isinstance(raised, LimbagError) else system_error(raised, source)
                location = error.location or Location(source)
                connection.send(("error", (type(error).__name__, error.what, location, error.hint)))
            except Exception as error:  # noqa: BLE001 — reported in the main process
                connection.send(("failed", f"{type(error).__name__}: {error}"))
    except (EOFError, BrokenPipeError):
        return
    finally:
        if typesetter is not None:
            typesetter.close()
