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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import Location, ManuscriptError, RenderError
from .files import write_atomically

SUPPORTED = ((3, 1), (4, 0))
"""Pandoc versions from the first up to (not including) the second: the JSON tree of Pandoc 3
(API 1.23) with Figure blocks; tested with 3.9."""
MARKDOWN = "markdown-auto_identifiers"
"""Pandoc's own Markdown with every default extension; headings without an {#id} get Limbag's ids."""
OWN_IDENTIFIERS = {"markdown": "-auto_identifiers", "markdown_mmd": "-auto_identifiers", "gfm": "-gfm_auto_identifiers",
                   "commonmark_x": "-gfm_auto_identifiers"}
"""The extension that makes ids of headings in each dialect that has one on by default."""


def markdown_reader(dialect: str) -> str:
    """Pandoc's reader for a dialect as book.yaml names it (`gfm+footnotes`), without ids made up
    for headings: Limbag makes its own."""
    base = re.match(r"[a-z_]+", dialect)
    return dialect + OWN_IDENTIFIERS.get(base.group(0) if base else "", "")
FORMATS = {".md": MARKDOWN, ".markdown": MARKDOWN, ".txt": MARKDOWN, ".docx": "docx", ".odt": "odt"}
MEMORY_LIMIT = "1g"
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
                          hint="install a tested one: pip install 'pypandoc-binary>=1.13,<1.18'")
    return version


def _command(source: Source, media: Path | None) -> list[str]:
    command = [str(pandoc_program()), "--sandbox", "-f", source.format, "-t", "json"]
    if media is not None:
        command.append(f"--extract-media={media}")
    command += ["+RTS", f"-M{MEMORY_LIMIT}", "-RTS"]
    return command


def _digest(source: Source) -> str:
    key = hashlib.sha256()
    key.update(repr((pandoc_version(), source.format, MEMORY_LIMIT)).encode())
    key.update(source.data)
    return key.hexdigest()[:32]


def parse_sources(sources: Sequence[Source], cache_dir: Path) -> list[Parsed | ManuscriptError]:
    """Each source's tree, or the error that names why Pandoc could not read it, in order. Trees
    come from `cache_dir` when there; the others are read by Pandoc processes side by side."""
    pandoc_version()
    workers = max(1, min(len(sources), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pandoc") as pool:
        return list(pool.map(lambda source: _parse(source, cache_dir), sources))


def _parse(source: Source, cache_dir: Path) -> Parsed | ManuscriptError:
    digest = _digest(source)
    kept = cache_dir / "trees" / f"{digest}.json"
    media = cache_dir / "media" / digest if source.binary else None
    with suppress(OSError, ValueError):
        if media is None or media.is_dir():
            return Parsed(json.loads(kept.read_bytes()), media)
    if media is not None:
        shutil.rmtree(media, ignore_errors=True)
        media.mkdir(parents=True, exist_ok=True)
    try:
        result = _run(source, media)
    except ManuscriptError as error:
        return error
    try:
        tree = json.loads(result)
    except RecursionError:
        return ManuscriptError("quotes, lists or emphasis nested too deep to read", Location(source.path),
                               "write the passage with fewer levels")
    with suppress(OSError):
        kept.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(kept, result)
    return Parsed(tree, media)


def _run(source: Source, media: Path | None) -> bytes:
    """Pandoc's JSON for one source. Pandoc ends when this process does (the kernel kills it when its
    parent thread ends) and is given its input on stdin, so it never opens a path of the book."""
    command = _command(source, media)
    if sys.platform.startswith("linux") and shutil.which("setpriv"):
        command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
    try:
        done = subprocess.run(command, input=source.data, capture_output=True, timeout=TIME_LIMIT,
                              cwd=media if media is not None else None)
    except subprocess.TimeoutExpired:
        raise ManuscriptError(f"reading the chapter took more than {TIME_LIMIT:.0f} s", Location(source.path),
                              "split it into smaller chapters") from None
    except OSError as error:
        raise RenderError(f"Pandoc could not be started: {error.strerror}",
                          hint="reinstall pypandoc-binary: pip install --force-reinstall pypandoc-binary") from None
    if done.returncode != 0:
        raise _pandoc_error(source, done.stderr.decode("utf-8", "replace"), done.returncode)
    return done.stdout


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
        return ManuscriptError(f"reading the chapter needs more than {MEMORY_LIMIT}B of memory",
                               Location(source.path), "split it into smaller chapters")
    if source.binary:
        kind = "Word" if source.format == "docx" else "OpenDocument"
        return ManuscriptError(f"not a readable {kind} file: {text or f'status {status}'}", Location(source.path),
                               f"open it in a word processor and save it again as {source.path.suffix.lower()}")
    return ManuscriptError(f"Pandoc could not read the chapter: {text or f'status {status}'}", Location(source.path),
                           "check the file around the place named")
