"""The layout engine, one part of the book at a time, in this process or in a second one.

Laying a part out (line and page breaking) tells how many pages it has, which the next chapter's
first folio needs; writing its PDF (painting, fonts, tags) holds nothing up. WeasyPrint is
single-threaded and its laid-out pages cannot be sent between processes, so two processes take
turns: while one writes part k, the other lays out part k + 1.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pydyf
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from .errors import LimbagError, Location, RenderError
from .fetch import BookFetcher
from .hyphenation import register as register_hyphenation
from .markup import FlowText
from .pagemap import place_marks

T = TypeVar("T")


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
    extra_css: str
    borrowed: frozenset[str]
    """Ids the part links to that live in other parts: they get stand-in anchors."""


@dataclass(frozen=True, slots=True)
class PartLayout:
    """What laying a part out tells, before it is written."""

    page_anchors: tuple[tuple[str, ...], ...]
    continued: tuple[str | None, ...]


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


class Typesetter:
    """The engine set up for one book in this process; lays out one part, then writes it."""

    def __init__(self, settings: EngineSettings) -> None:
        register_hyphenation()
        self.settings = settings
        self.fetcher = BookFetcher(settings.fetch_roots)
        self.font_config = FontConfiguration()
        with collect_engine_warnings() as messages:
            self.stylesheets = [CSS(string=text, base_url=base_url, font_config=self.font_config,
                                    url_fetcher=self.fetcher) for text, base_url in settings.stylesheets]
        self.setup_messages = tuple(messages)
        press = settings.bleed_mm is not None
        variant: dict[str, Any] = {"pdf_variant": "pdf/x-4", "output_intent": "srgb"} if press else {"pdf_variant": "pdf/ua-1"}
        pdf_identifier = hashlib.sha256(settings.identifier.encode()).hexdigest()[:32].encode()
        self.write_options = {"pdf_identifier": pdf_identifier,
                              "finisher": finisher(settings.identifier, settings.bleed_mm), **variant}
        self._document: Any = None
        self._messages: list[str] = []
        self._refused_before = 0

    def lay_out(self, job: PartJob) -> PartLayout:
        """Lay the part out and keep it for `write`. The marks left out of its HTML become anchors
        of the pages they fall on; ids of other parts it links to get stand-in anchors so that the
        engine keeps those links (joining points them home)."""
        self._refused_before = len(self.fetcher.refused)
        with collect_engine_warnings() as messages:
            stylesheets = self.stylesheets + (
                [CSS(string=job.extra_css, font_config=self.font_config)] if job.extra_css else [])
            document = HTML(string=job.html, base_url=self.settings.base_url, url_fetcher=self.fetcher).render(
                stylesheets=stylesheets, font_config=self.font_config)
        places = place_marks(document.pages, job.flows)
        for page, anchors in zip(document.pages, places.anchors, strict=True):
            for anchor, position in anchors.items():
                page.anchors.setdefault(anchor, position)
        page_anchors = tuple(tuple(page.anchors) for page in document.pages)
        if job.borrowed and document.pages:
            stand_ins = document.pages[0].anchors
            for target in sorted(job.borrowed):
                stand_ins.setdefault(target, (0, 0, 0, 0))
        self._document = document
        self._messages = messages
        return PartLayout(page_anchors, places.continued)

    def write(self) -> WrittenPart:
        with collect_engine_warnings() as messages:
            pdf = self._document.write_pdf(**self.write_options)
        self._document = None
        if pdf is None:
            raise RenderError("the layout engine produced no PDF", Location(self.settings.source), "check the layouts")
        return WrittenPart(pdf, (*self._messages, *messages), tuple(self.fetcher.refused[self._refused_before:]))


class Lane(Protocol):
    """A place parts are laid out and written: this process, or the second one."""

    here: bool
    """True for this process: its steps run when their results are asked for."""

    def ready(self) -> bool: ...

    def start_layout(self, job: PartJob) -> None: ...

    def layout(self) -> PartLayout: ...

    def start_write(self) -> None: ...

    def written(self) -> WrittenPart: ...


class LocalLane:
    """This process: each step runs when its result is asked for."""

    here = True

    def __init__(self, typesetter: Typesetter) -> None:
        self.typesetter = typesetter
        self._job: PartJob | None = None

    def ready(self) -> bool:
        return True

    def start_layout(self, job: PartJob) -> None:
        self._job = job

    def layout(self) -> PartLayout:
        assert self._job is not None
        job, self._job = self._job, None
        return self.typesetter.lay_out(job)

    def start_write(self) -> None:
        pass

    def written(self) -> WrittenPart:
        return self.typesetter.write()


class RemoteLane:
    """A second process with its own engine; requests are answered in the order they were sent."""

    here = False

    def __init__(self, settings: EngineSettings) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(settings, theirs), daemon=True)
        self._process.start()
        theirs.close()
        self._ready = False
        self._failed = False

    def ready(self) -> bool:
        """True once the second process has set its engine up (it starts while this one works);
        never, if it could not start: this process then does all the work."""
        if not self._ready and not self._failed and self._connection.poll():
            try:
                self._receive(type(None))
                self._ready = True
            except (RenderError, RuntimeError):
                self._failed = True
        return self._ready

    def start_layout(self, job: PartJob) -> None:
        self._connection.send(("lay out", job))

    def layout(self) -> PartLayout:
        return self._receive(PartLayout)

    def start_write(self) -> None:
        self._connection.send(("write", None))

    def written(self) -> WrittenPart:
        return self._receive(WrittenPart)

    def close(self) -> None:
        if not self.ready():  # still setting up: nothing of it is needed
            self._process.kill()
        with suppress(OSError):
            self._connection.send(("stop", None))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._connection.close()

    def _receive(self, kind: type[T]) -> T:
        """The next answer, which must be a `kind`; the second process's errors are raised here."""
        try:
            status, value = self._connection.recv()
        except (EOFError, OSError):
            raise RenderError("the second layout process stopped", Location(Path(".")),
                              "run the build again; if it keeps failing, report it") from None
        if status == "error":
            _, message, location, hint = value  # type: ignore[misc]
            raise RenderError(message, location, hint)
        if status == "failed":
            raise RuntimeError(f"in the second layout process: {value}")
        assert isinstance(value, kind)
        return value


def _serve(settings: EngineSettings, connection: Connection) -> None:
    """The second process: set the engine up, then lay out and write parts as asked."""
    try:
        typesetter = Typesetter(settings)
        connection.send(("ready", None))
        while True:
            request, job = connection.recv()
            if request == "stop":
                return
            try:
                result = typesetter.lay_out(job) if request == "lay out" else typesetter.write()
                connection.send(("done", result))
            except LimbagError as error:  # sent as its parts: exceptions do not all survive pickling
                location = error.location or Location(settings.source)
                connection.send(("error", (type(error).__name__, error.message, location, error.hint)))
            except Exception as error:  # noqa: BLE001 — reported in the main process
                connection.send(("failed", f"{type(error).__name__}: {error}"))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return
