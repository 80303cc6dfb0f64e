"""Pandoc, the manuscript reader: each chapter file becomes Pandoc's JSON syntax tree.

Pandoc is the binary that PyPI's `pypandoc-binary` ships, checked against the versions Limbag is
tested with. It runs in its sandbox (it reads only the file it is given and reaches no network),
with a memory and a time limit, one process per chapter, several at once. Each tree is kept in
the build cache under a digest of the file's bytes and the command, so an unchanged chapter is
not read again. Pandoc's types never leave `reader.py`, which turns the trees into the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from .errors import Location, ManuscriptError, RenderError
from .files import write_atomically

SUPPORTED = ((3, 5), (4, 0))
"""Pandoc versions from the first up to (not including) the second: the JSON tree of Pandoc 3
(API 1.23) with Figure blocks, and the server's CGI form with a settable time limit; tested with
3.5 (pypandoc-binary 1.14) and 3.9 (1.17)."""
MARKDOWN = "markdown"
"""Pandoc's own Markdown with every default extension."""


def markdown_reader(dialect: str) -> str:
    """Pandoc's reader for a dialect as book.yaml names it (`gfm+footnotes`). Its identifiers for
    headings are kept: links written for Pandoc lead to them (see reader._ChapterReader.heading)."""
    return dialect


FORMATS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".txt": MARKDOWN, ".docx": "docx", ".odt": "odt"}
MEMORY_MB = 1024
"""Pandoc's heap: a 2 MB chapter takes some 200 MB."""
TIME_LIMIT = 120.0
"""Seconds for one chapter; a 2 MB chapter takes some 5."""


@dataclass(frozen=True, slots=True)
class Source:
    """A chapter file to read, with its bytes (read and checked by the reader) and, for Markdown,
    the dialect book.yaml names."""

    path: Path
    data: bytes
    markdown: str = "markdown"

    @property
    def format(self) -> str:
        found = FORMATS.get(self.path.suffix.lower(), MARKDOWN)
        return markdown_reader(self.markdown) if found == MARKDOWN else found

    @property
    def binary(self) -> bool:
        return self.format in ("docx", "odt")


@dataclass(frozen=True, slots=True)
class Parsed:
    """Pandoc's tree of one source; `media` is where the pictures of a Word or ODT file were put."""

    tree: dict[str, Any]
    media: Path | None = None


@cache
def pandoc_program() -> Path:
    """The Pandoc binary that came with `pypandoc-binary`; another Pandoc on PATH is not used, since
    its version would be untested."""
    try:
        from importlib.util import find_spec

        spec = find_spec("pypandoc")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "files" / ("pandoc.exe" if sys.platform == "win32" else "pandoc")
        if bundled.is_file():
            return bundled
    found = shutil.which("pandoc")
    if found:
        return Path(found)
    raise RenderError("Pandoc, the manuscript reader, is not installed",
                      hint="install Limbag with its dependencies: pip install limbag (it brings pypandoc-binary)")


@cache
def pandoc_version() -> tuple[int, ...]:
    """Pandoc's version, checked once: a version outside SUPPORTED is an error before anything is read."""
    program = pandoc_program()
    try:
        shown = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30,
                               check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise RenderError(f"Pandoc ({program}) does not run: {error}",
                          hint="reinstall pypandoc-binary: pip install --force-reinstall pypandoc-binary") from None
    match = re.match(r"pandoc(?:\.exe)? ([0-9.]+)", shown)
    version = tuple(int(part) for part in match.group(1).split(".")) if match else ()
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        low, high = (".".join(map(str, bound)) for bound in SUPPORTED)
        seen = ".".join(map(str, version)) or "unknown"
        raise RenderError(f"Pandoc {seen} at {program} is not a version Limbag reads with (>= {low}, < {high})",
                          hint="install a tested one: pip install 'pypandoc-binary>=1.14,<1.18'")
    return version


def _command(source: Source, media: Path | None) -> list[str]:
    command = [str(pandoc_program()), "--sandbox", "-f", source.format, "-t", "json"]
    if media is not None:
        command.append(f"--extract-media={media}")
    command += ["+RTS", f"-M{MEMORY_MB}m", "-RTS"]
    return command


def _digest(source: Source) -> str:
    key = hashlib.sha256()
    key.update(repr((pandoc_version(), source.format)).encode())
    key.update(source.data)
    return key.hexdigest()[:32]


BATCH_BYTES = 256 * 1024
"""Markdown read by one Pandoc process at most: some half a second of work. A Pandoc process costs
some 40 ms to start, as much as reading a chapter of ten pages, so chapters are read in batches."""
SMALLEST_BATCH = 32 * 1024
"""Below this, a batch is not split further to give every core one."""


@dataclass
class _Run:
    """One Pandoc process at work, on one Word or ODT file or on a batch of Markdown chapters. Its
    input and output are files, so that it never waits for this process to read a pipe and this
    process needs no thread to read it."""

    items: list[tuple[int, Source, str]]
    """(position in the book, source, digest)."""
    media: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    output: IO[bytes] | None = None
    errors: IO[bytes] | None = None
    deadline: float = 0.0

    @property
    def batch(self) -> bool:
        return self.media is None


class Reading:
    """Pandoc at work on a book's chapters, started before they are needed: a build starts reading
    and goes on loading the layout engine while Pandoc runs (on the other cores), then collects the
    trees. Trees kept in `cache_dir` are taken from there. Markdown goes to Pandoc's server in its
    CGI form, a batch of chapters a process, which runs every conversion without any input or
    output (Pandoc's pure mode); a Word or ODT file goes to `pandoc --sandbox`, which also takes its
    pictures out into the cache. At most twice as many processes as cores run at once. No thread is
    started, so a process forked meanwhile is forked cleanly. Use as a context manager: leaving it
    ends every Pandoc still running."""

    def __init__(self, sources: Sequence[Source], cache_dir: Path) -> None:
        pandoc_version()
        self.cache_dir = cache_dir
        self.slots = 2 * (os.cpu_count() or 1)
        self.done: dict[int, Parsed | ManuscriptError] = {}
        self.waiting: list[_Run] = []
        self.running: list[_Run] = []
        self.count = len(sources)
        self.digests: set[str] = set()
        """The names under which this book's trees (and pictures) are kept."""
        unread: list[tuple[int, Source, str]] = []
        for number, source in enumerate(sources):
            digest = _digest(source)
            self.digests.add(digest)
            kept = cache_dir / "trees" / f"{digest}.json"
            media = cache_dir / "media" / digest if source.binary else None
            with suppress(OSError, ValueError):
                if media is None or media.is_dir():
                    self.done[number] = Parsed(json.loads(kept.read_bytes()), media)
                    continue
            if media is not None:
                self.waiting.append(_Run([(number, source, digest)], media))
            else:
                unread.append((number, source, digest))
        # The Markdown to read is shared out among the cores (in batches of SMALLEST_BATCH or more, and
        # BATCH_BYTES or less), so that all of them read while this process loads the layout engine.
        total = sum(len(item[1].data) for item in unread)
        share = min(BATCH_BYTES, max(SMALLEST_BATCH, -(-total // max(1, os.cpu_count() or 1))))
        batch: list[tuple[int, Source, str]] = []
        size = 0
        for item in unread:
            if batch and size + len(item[1].data) > BATCH_BYTES:
                self.waiting.append(_Run(batch))
                batch, size = [], 0
            batch.append(item)
            size += len(item[1].data)
            if size >= share:
                self.waiting.append(_Run(batch))
                batch, size = [], 0
        if batch:
            self.waiting.append(_Run(batch))
        self._start_more()

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        for run in self.running:
            if run.process is not None and run.process.poll() is None:
                run.process.kill()
                run.process.wait()
            for stream in (run.output, run.errors):
                if stream is not None:
                    stream.close()
        self.running.clear()
        self.waiting.clear()

    def unread_bytes(self) -> int:
        """How much Pandoc has yet to read or is reading (bytes of source)."""
        return sum(len(source.data) for run in (*self.waiting, *self.running) for _, source, _ in run.items)

    def _start_more(self) -> None:
        while self.waiting and len(self.running) < self.slots:
            run = self.waiting.pop(0)
            try:
                _start(run)
            except ManuscriptError as error:
                self.done.update((number, error) for number, _, _ in run.items)
                continue
            self.running.append(run)

    def results(self) -> list[Parsed | ManuscriptError]:
        """Every source's tree or error, in order, once Pandoc is done with all of them. A batch
        that fails as a whole (out of time or memory) is read again a chapter at a time, so that
        the message names the chapter."""
        while self.running:
            run = self.running[0]  # still listed while it is waited for: an interrupted build ends it (close)
            finished = _finish(run, self.cache_dir)
            self.running.pop(0)
            if finished is None:
                self.waiting[:0] = [_Run([item]) for item in run.items]
            else:
                self.done.update(finished)
            self._start_more()
        return [self.done[number] for number in range(self.count)]


def forget_others(cache_dir: Path, kept: set[str]) -> None:
    """Delete the trees and pictures of chapters as they no longer are, so that the cache does not
    grow with every edit."""
    with suppress(OSError):
        for path in (cache_dir / "trees").iterdir():
            if path.suffix == ".json" and path.stem not in kept:
                path.unlink(missing_ok=True)
    with suppress(OSError):
        for path in (cache_dir / "media").iterdir():
            if path.name not in kept:
                shutil.rmtree(path, ignore_errors=True)


def _start(run: _Run) -> None:
    """Starts Pandoc. It ends when this process's thread does (the kernel kills it), and it is
    given its input on stdin, so it never opens a path of the book."""
    environment = {"PATH": os.environ.get("PATH", ""), "GHCRTS": f"-M{MEMORY_MB}m"}
    if run.batch:
        requests = [{"text": source.data.decode("utf-8"), "from": source.format, "to": "json"}
                    for _, source, _ in run.items]
        data = json.dumps(requests).encode("utf-8")
        command = ["pandoc-server.cgi"]
        environment |= {"REQUEST_METHOD": "POST", "PATH_INFO": "/batch", "CONTENT_TYPE": "application/json",
                        "CONTENT_LENGTH": str(len(data)), "HTTP_ACCEPT": "application/json",
                        "SERVER_NAME": "localhost", "SERVER_PORT": "0", "SERVER_PROTOCOL": "HTTP/1.1",
                        "REMOTE_ADDR": "127.0.0.1", "SCRIPT_NAME": "", "QUERY_STRING": "",
                        "PANDOC_SERVER_TIMEOUT": str(int(TIME_LIMIT))}
    else:
        (_, source, _), = run.items
        data = source.data
        command = _command(source, run.media)
        environment.pop("GHCRTS")
        assert run.media is not None
        shutil.rmtree(run.media, ignore_errors=True)
        try:
            run.media.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ManuscriptError(f"the pictures of this file cannot be put in {run.media}: {error.strerror}",
                                  Location(source.path), "check that the output folder can be written") from None
    argv, executable = _program_as(command[0])
    with tempfile.TemporaryFile() as given:
        given.write(data)
        given.seek(0)
        # Closed by _finish, or by Reading.close if the build stops first.
        run.output, run.errors = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
        try:
            run.process = subprocess.Popen([*argv, *command[1:]], executable=executable, stdin=given,
                                           stdout=run.output, stderr=run.errors, cwd=run.media, env=environment)
        except OSError as error:
            raise RenderError(f"Pandoc could not be started: {error.strerror}",
                              hint="reinstall pypandoc-binary: pip install --force-reinstall pypandoc-binary") from None
    run.deadline = time.monotonic() + TIME_LIMIT


def _program_as(name: str) -> tuple[list[str], str | None]:
    """The argv that starts Pandoc under `name` (Pandoc is its server when its name is
    `pandoc-server.cgi`), ended by the kernel when this process's thread ends (util-linux's
    setpriv, where there is one; bash's `exec -a` gives the name): (argv, executable). The
    arguments follow the argv."""
    program = str(pandoc_program())
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    bash = shutil.which("bash")
    if setpriv and bash:
        # The kernel sends the signal only if this process ends after setpriv asked for it: one that
        # ended just before (killed as it started Pandoc) has left bash another parent, and bash
        # then stops rather than run Pandoc on with nobody to end it.
        named = "" if name == program else f"-a {name} "
        check = f'[ "$PPID" = {os.getpid()} ] || exit 1; exec {named}"$0" "$@"'
        return [setpriv, "--pdeathsig", "KILL", "--", bash, "-c", check, program], None
    if name == program:
        return ([setpriv, "--pdeathsig", "KILL", "--", program] if setpriv else [program]), None
    return [name], program


def _finish(run: _Run, cache_dir: Path) -> dict[int, Parsed | ManuscriptError] | None:
    """Each source's tree or error, or None when a batch of several failed as a whole."""
    assert run.process is not None and run.output is not None and run.errors is not None
    timed_out = False
    try:
        status = run.process.wait(timeout=max(0.0, run.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        run.process.kill()
        status = run.process.wait()
        timed_out = True
    finally:
        run.output.seek(0)
        run.errors.seek(0)
        result, complaint = run.output.read(), run.errors.read()
        run.output.close()
        run.errors.close()
    if run.batch:
        header, _, body = result.partition(b"\n\n")
        answers = None
        if status == 0 and header.startswith(b"Status: 200"):
            with suppress(ValueError, RecursionError):
                answers = json.loads(body)
        if isinstance(answers, list) and len(answers) == len(run.items):
            return {number: _tree(answer, source, digest, cache_dir)
                    for (number, source, digest), answer in zip(run.items, answers, strict=True)}
        if len(run.items) > 1:
            return None
        timed_out = timed_out or header.startswith(b"Status: 503")
    (number, source, digest), = run.items[:1]
    if timed_out:
        return {number: ManuscriptError(f"reading the chapter took more than {TIME_LIMIT:.0f} s",
                                        Location(source.path), "split it into smaller chapters")}
    if status != 0 or run.batch:
        return {number: _pandoc_error(source, complaint.decode("utf-8", "replace"), status)}
    return {number: _tree({"output": result.decode("utf-8")}, source, digest, cache_dir, run.media)}


def _tree(answer: dict[str, Any], source: Source, digest: str, cache_dir: Path,
          media: Path | None = None) -> Parsed | ManuscriptError:
    """One chapter's tree from Pandoc's answer, kept in the cache; or the error Pandoc gave."""
    if "error" in answer or "output" not in answer:
        return _pandoc_error(source, str(answer.get("error", "no answer")), 1)
    output = str(answer["output"])
    try:
        tree = json.loads(output)
    except RecursionError:
        return ManuscriptError("quotes, lists or emphasis nested too deep to read", Location(source.path),
                               "write the passage with fewer levels")
    with suppress(OSError):
        write_atomically(cache_dir / "trees" / f"{digest}.json", output.encode("utf-8"))
    return Parsed(tree, media)


def _pandoc_error(source: Source, message: str, status: int) -> ManuscriptError:
    """Pandoc's complaint as a located error: YAML metadata errors carry the block's line and the
    line within it."""
    text = " ".join(message.split())
    block = re.search(r"\(line (\d+), column \d+\)", text)
    inner = re.search(r"exception at line (\d+)", text)
    if block and "YAML" in text:
        line = int(block.group(1)) + (int(inner.group(1)) if inner else 0)
        detail = re.sub(r"^.*?YAML parse exception at line \d+, column \d+,?\s*", "", text) or text
        return ManuscriptError(f"the metadata block is not valid YAML: {detail}", Location(source.path, line),
                               "fix the block between the --- lines (quote values that contain ':' or '[')")
    unknown = re.search(r"The extension (\S+) is not supported for (\S+)", text)
    if unknown:
        return ManuscriptError(f"book.yaml's markdown: Pandoc's {unknown.group(2)} has no extension "
                               f"{unknown.group(1)!r}", Location(source.path),
                               f"see `pandoc --list-extensions={unknown.group(2)}` for the ones it has")
    if status in (251, 252) or "heap overflow" in text:
        return ManuscriptError(f"reading the chapter needs more than {MEMORY_MB:,} MB of memory",
                               Location(source.path), "split it into smaller chapters")
    if source.binary:
        kind = "Word" if source.format == "docx" else "OpenDocument"
        return ManuscriptError(f"not a readable {kind} file: {text or f'status {status}'}", Location(source.path),
                               f"open it in a word processor and save it again as {source.path.suffix.lower()}")
    return ManuscriptError(f"Pandoc could not read the chapter: {text or f'status {status}'}", Location(source.path),
                           "check the file around the place named")
