"""`serve`: a preview in the browser that follows every save.

The book is built as `watch` builds it; after each build the browser is told (server-sent events)
and shows the reading PDF's pages, as pages or as the spreads of the printed book, the booklet's
sheets, and the e-book in epub.js, with the last build's errors and warnings. The server listens on
the loopback only, answers only for its own host name, and serves nothing but its page, its
scripts and the images and e-book of the last good build: no path from a request reaches the disk.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pikepdf

from .errors import LimbagError, Location, Problem, SeveralProblems, StrictModeError
from .pipeline import BuildResult, output_name

PREVIEW_FORMATS = ("pdf", "booklet", "epub")
"""What the preview shows, so what `serve` builds unless told otherwise."""
LOOPBACK = ("127.0.0.1", "::1", "localhost")
PAGE_WIDTH_PX = 1000
"""Pages and sheets are drawn this many pixels wide: sharp on a high-density screen at half width."""
IMAGES_KEPT = 400
"""Page images kept in memory, the least recently shown dropped first (some 100 kB each)."""
KEEP_ALIVE_S = 15.0

ASSETS = {
    "preview.js": "text/javascript; charset=utf-8",
    "preview.css": "text/css; charset=utf-8",
    "vendor/epub.min.js": "text/javascript; charset=utf-8",
    "vendor/jszip.min.js": "text/javascript; charset=utf-8",
    "vendor/LICENSE-epubjs.txt": "text/plain; charset=utf-8",
    "vendor/LICENSE-jszip.md": "text/plain; charset=utf-8",
}
"""The files of the preview page, by the name it asks for them: nothing else is read from disk."""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self' blob: data:; script-src 'self'; "
                               "style-src 'self' blob: data: 'unsafe-inline'; object-src 'none'; "
                               "base-uri 'self'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Only the preview's own scripts run: not inline script, not the book's (epub.js also renders the
e-book in a frame without `allow-scripts`). Styles may be inline: epub.js lays out the e-book so."""


@dataclass(frozen=True, slots=True)
class Message:
    """One error or warning of the last build, as the page shows it."""

    kind: str
    """"error" or "warning"."""
    where: str
    """The file, relative to the book folder, and line: `manuscript/01.md:12`."""
    text: str
    hint: str


@dataclass(frozen=True, slots=True)
class Pages:
    """A PDF of the last good build: a digest of each page's drawing, and its label."""

    path: Path
    digests: tuple[str, ...]
    labels: tuple[str, ...]
    sizes: tuple[tuple[float, float], ...]
    """Each page's width and height in points."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the preview shows: the last good outputs and the last build's messages."""

    version: int = 0
    building: bool = True
    failed: bool = False
    language: str = "en"
    title: str = ""
    pages: Pages | None = None
    sheets: Pages | None = None
    epub: bytes | None = field(default=None, repr=False)
    messages: tuple[Message, ...] = ()
    finished_at: float = 0.0
    """When the last build ended (seconds since the epoch), for the page to time its update."""

    def as_json(self) -> dict[str, Any]:
        def pages(found: Pages | None) -> list[dict[str, Any]]:
            if found is None:
                return []
            return [{"digest": digest, "label": label, "width": width, "height": height}
                    for digest, label, (width, height) in zip(found.digests, found.labels, found.sizes, strict=True)]

        return {"version": self.version, "building": self.building, "failed": self.failed,
                "language": self.language, "title": self.title, "pages": pages(self.pages),
                "sheets": pages(self.sheets), "epub": self.epub is not None,
                "messages": [{"kind": m.kind, "where": m.where, "text": m.text, "hint": m.hint} for m in self.messages],
                "finished_at": self.finished_at}


def page_digests(pdf: Path) -> Pages:
    """A digest of what each page draws: its content streams, the pictures and forms it uses and the
    names of its fonts (not the fonts' programs, which grow with every glyph the book adds, while
    the glyphs a page shows stay the same). Pages whose digest is unchanged are not drawn again."""
    digests, labels, sizes = [], [], []
    with pikepdf.open(pdf) as document:
        page_labels = _labels(document)
        for number, page in enumerate(document.pages):
            digest = hashlib.sha256()
            box = [float(value) for value in page.mediabox]
            digest.update(repr(box).encode())
            for stream in _contents(page.obj):
                digest.update(stream.read_bytes())
            _resources_digest(page.obj.get("/Resources"), digest, set())
            digests.append(digest.hexdigest()[:24])
            labels.append(page_labels.get(number, str(number + 1)))
            sizes.append((box[2] - box[0], box[3] - box[1]))
    return Pages(pdf, tuple(digests), tuple(labels), tuple(sizes))


def _contents(page: Any) -> Iterator[Any]:
    contents = page.get("/Contents")
    if isinstance(contents, pikepdf.Array):
        yield from contents
    elif contents is not None:
        yield contents


def _resources_digest(resources: Any, digest: Any, seen: set[tuple[int, int]]) -> None:
    if not isinstance(resources, pikepdf.Dictionary):
        return
    fonts = resources.get("/Font")
    if isinstance(fonts, pikepdf.Dictionary):
        for name, font in sorted(fonts.items()):
            digest.update(f"{name}={font.get('/BaseFont')}".encode())
    objects = resources.get("/XObject")
    if isinstance(objects, pikepdf.Dictionary):
        for name, item in sorted(objects.items()):
            digest.update(name.encode())
            if item.objgen in seen:
                continue
            seen.add(item.objgen)
            digest.update(item.read_raw_bytes())
            _resources_digest(item.get("/Resources"), digest, seen)


def _labels(document: Any) -> dict[int, str]:
    """Page index → the label the PDF gives it (i, ii, 1, 2, Cover 1 …), from /PageLabels."""
    labels = {}
    for number, page in enumerate(document.pages):
        try:
            labels[number] = str(page.label)
        except (ValueError, pikepdf.PdfError):  # labels are a nicety; the page number stands in
            continue
    return labels


def messages_of(result: BuildResult | None, error: LimbagError | None, book_dir: Path) -> tuple[Message, ...]:
    """The build's error (one per problem) and warnings, located relative to the book folder."""
    found: list[Message] = []
    if error is not None:
        problems = error.problems if isinstance(error, (SeveralProblems, StrictModeError)) else \
            [Problem(error.location or Location(book_dir), error.what, error.hint)]
        found.extend(_message("error", problem, book_dir) for problem in problems)
    if result is not None:
        found.extend(_message("warning", problem, book_dir) for problem in result.warnings)
    return tuple(found)


def _message(kind: str, problem: Problem, book_dir: Path) -> Message:
    path = problem.location.file
    try:
        shown = str(path.resolve().relative_to(book_dir.resolve()))
    except ValueError:
        shown = str(path)
    if problem.location.line is not None:
        shown += f":{problem.location.line}"
    return Message(kind, shown, problem.message, problem.hint)


class Preview:
    """The snapshot the page shows, replaced whole after each build, and the page images drawn."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()
        self._changed = threading.Condition()
        self._images: OrderedDict[str, bytes] = OrderedDict()
        self._drawing = threading.Lock()
        self._documents: dict[Path, tuple[tuple[str, ...], Any]] = {}
        """Each shown PDF, open in the renderer, by path, with the page digests of the file it was opened as."""

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def publish(self, change: Callable[[Snapshot], Snapshot]) -> None:
        with self._changed:
            self._snapshot = replace(change(self._snapshot), version=self._snapshot.version + 1)
            self._changed.notify_all()

    def wait_for_change(self, version: int, timeout: float) -> Snapshot:
        with self._changed:
            self._changed.wait_for(lambda: self._snapshot.version != version, timeout=timeout)
            return self._snapshot

    def open_documents(self, pages: Pages | None, sheets: Pages | None) -> None:
        """Open the new build's PDFs for drawing (before they are published, so that a page image
        always comes from the file its digest was taken of, even if a later build replaces it)."""
        import pypdfium2

        with self._drawing:
            for found in (pages, sheets):
                if found is None:
                    continue
                known = self._documents.get(found.path)
                if known is None or known[0] != found.digests:
                    if known is not None:
                        known[1].close()
                    self._documents[found.path] = (found.digests, pypdfium2.PdfDocument(found.path.read_bytes()))

    def image(self, digest: str) -> bytes | None:
        """The PNG of the page (or sheet) of the shown build with this digest, drawn once."""
        with self._drawing:
            if digest in self._images:
                self._images.move_to_end(digest)
                return self._images[digest]
            snapshot = self._snapshot
            for found in (snapshot.pages, snapshot.sheets):
                if found is None or digest not in found.digests or found.path not in self._documents:
                    continue
                document = self._documents[found.path][1]
                index = found.digests.index(digest)
                data = _draw(document, index, found.sizes[index][0])
                self._images[digest] = data
                while len(self._images) > IMAGES_KEPT:
                    self._images.popitem(last=False)
                return data
        return None


def _draw(document: Any, index: int, width_pt: float) -> bytes:
    import io

    page = document[index]
    try:
        bitmap = page.render(scale=PAGE_WIDTH_PX / width_pt)
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()
    finally:
        page.close()


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def handler_for(preview: Preview, allowed_hosts: frozenset[str]) -> type[http.server.BaseHTTPRequestHandler]:
    """The request handler: a fixed table of what can be asked for, nothing looked up on disk by a
    name from the request. Requests naming another host (a page elsewhere reaching the preview
    through DNS rebinding) are refused."""
    assets = Path(__file__).parent / "preview"

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "Limbag"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — quiet: the terminal shows builds
            return

        def do_GET(self) -> None:  # noqa: N802 — the standard library's name
            host = (self.headers.get("Host") or "").lower()
            if allowed_hosts and host not in allowed_hosts:
                self._send(403, b"this preview answers only at its own address\n", "text/plain; charset=utf-8")
                return
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                self._send(200, (assets / "index.html").read_bytes(), "text/html; charset=utf-8")
            elif path.startswith("/assets/") and path[len("/assets/"):] in ASSETS:
                name = path[len("/assets/"):]
                self._send(200, (assets / name).read_bytes(), ASSETS[name])
            elif path == "/state":
                self._send(200, json.dumps(preview.snapshot.as_json()).encode(), "application/json",
                           cache="no-store")
            elif path == "/events":
                self._events()
            elif path.startswith("/image/") and path.endswith(".png"):
                data = preview.image(path[len("/image/"):-len(".png")])
                if data is None:
                    self._send(404, b"no such page in the last build\n", "text/plain; charset=utf-8")
                else:
                    self._send(200, data, "image/png", cache="max-age=31536000, immutable")
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            elif path == "/book.epub" and preview.snapshot.epub is not None:
                self._send(200, preview.snapshot.epub or b"", "application/epub+zip", cache="no-store")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, media_type: str, cache: str = "no-cache") -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _events(self) -> None:
            """Server-sent events: the snapshot's version now and after each change, a comment
            every KEEP_ALIVE_S seconds, until the browser goes or the server stops."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            version = -1
            try:
                while not getattr(self.server, "stopping", False):
                    snapshot = preview.wait_for_change(version, KEEP_ALIVE_S)
                    if snapshot.version != version:
                        version = snapshot.version
                        self.wfile.write(f"data: {version}\n\n".encode())
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            self.close_connection = True

    return Handler


class PreviewServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stopping = False

    def __init__(self, address: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def start_server(preview: Preview, host: str, port: int) -> PreviewServer:
    """Listen on host:port (port 0: any free one) in a thread of its own; the caller stops it."""
    server = PreviewServer((host, port), handler_for(preview, frozenset()))
    bound = server.server_address[1]
    names = {host, "localhost", "127.0.0.1", "[::1]"} if is_loopback(host) else set()
    allowed = frozenset(f"{name}:{bound}" for name in names)
    server.RequestHandlerClass = handler_for(preview, allowed)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


def stop_server(server: PreviewServer, preview: Preview) -> None:
    server.stopping = True
    preview.publish(lambda snapshot: snapshot)  # wakes the event streams, which then end
    server.shutdown()
    server.server_close()


def published_build(preview: Preview, book_dir: Path, result: BuildResult | None, error: LimbagError | None) -> None:
    """Show a build's outcome: its outputs if it succeeded (else the last good ones stay) and its messages."""
    finished = time.time()
    messages = messages_of(result, error, book_dir)
    if result is None:
        preview.publish(lambda snapshot: replace(snapshot, building=False, failed=True, messages=messages,
                                                 finished_at=finished))
        return
    written = {path.name: path for path in result.written}
    found = {kind: written.get(output_name(result.slug, kind)) for kind in PREVIEW_FORMATS}
    pages = page_digests(found["pdf"]) if found["pdf"] else None
    sheets = page_digests(found["booklet"]) if found["booklet"] else None
    epub = found["epub"].read_bytes() if found["epub"] else None
    preview.open_documents(pages, sheets)
    config = result.book.config if result.book is not None else None

    def shown(snapshot: Snapshot) -> Snapshot:
        return replace(snapshot, building=False, failed=False, messages=messages, finished_at=finished,
                       pages=pages or snapshot.pages, sheets=sheets or snapshot.sheets, epub=epub or snapshot.epub,
                       language=config.language if config else snapshot.language,
                       title=config.title if config else snapshot.title)

    preview.publish(shown)


def serve(book_dir: Path, out_dir: Path | None, formats: tuple[str, ...], host: str, port: int,
          ready: Callable[[str], None], changed: Callable[[list[Path]], None],
          built: Callable[[BuildResult | None, LimbagError | None], None],
          stop_after: int | None = None) -> None:
    """Serve the preview at host:port, build now and after every save (as `watch` does), and show
    each build; `ready` is told the address once the server listens."""
    from .pipeline import build
    from .watch import watch

    preview = Preview()
    server = start_server(preview, host, port)
    shown_host = f"[{host}]" if ":" in host else host
    ready(f"http://{shown_host}:{server.server_address[1]}/")

    def rebuild() -> None:
        preview.publish(lambda snapshot: replace(snapshot, building=True))
        result, error = None, None
        try:
            result = build(book_dir, out_dir, formats or PREVIEW_FORMATS)
        except LimbagError as failure:  # keep serving: the editor fixes the file and saves again
            error = failure
        published_build(preview, book_dir, result, error)
        built(result, error)

    try:
        watch(book_dir, rebuild, changed, stop_after=stop_after)
    finally:
        stop_server(server, preview)
