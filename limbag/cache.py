"""The build cache, kept in the output folder: what a rebuild can take instead of redoing.

- A fingerprint of every input (the book's files, the built-in layouts, fonts and language data,
  Limbag's own code, the requested formats, SOURCE_DATE_EPOCH) and the hashes of the outputs it
  gave: when both still match, a rebuild does nothing at all.
- Subset fonts for the e-book, keyed by the font file and the characters used.
- Laid-out parts of the print book (each chapter, the front and back matter), keyed by their
  HTML, marks, first folio and everything else that shapes a layout: an edit to one chapter
  lays out that chapter (and the contents and index if they change), not the book.

Everything here is a plain file under `<out>/.limbag-cache/`; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Location, Problem
from .layouts import PACKAGE_DIR, builtin_folder

if TYPE_CHECKING:
    from .join import LaidPart

CACHE_FOLDER = ".limbag-cache"
MANIFEST = "manifest.json"


def _files(folder: Path) -> Iterable[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def input_digests(book_dir: Path) -> dict[tuple[Path, Path], bytes]:
    """The sha256 of every file a build reads, by (root folder, path inside it): the book's files,
    the built-in layouts, fonts and language data, and Limbag's own code. Read once per build."""
    roots = [book_dir / "manuscript", book_dir / "layouts", book_dir / "fonts",
             builtin_folder("layouts"), builtin_folder("fonts"), PACKAGE_DIR]
    return {(root, path.relative_to(root)): hashlib.sha256(path.read_bytes()).digest()
            for root in dict.fromkeys(root.resolve() for root in roots)
            for path in _files(root) if path.suffix != ".pyc"}


def fingerprint(inputs: dict[tuple[Path, Path], bytes], formats: tuple[str, ...], strict: bool) -> str:
    """A hash of everything a build reads; equal fingerprints give byte-identical outputs."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(formats), strict, os.environ.get("SOURCE_DATE_EPOCH", "")]).encode())
    for (_, relative), file_digest in inputs.items():
        digest.update(str(relative).encode() + b"\0")
        digest.update(file_digest)
    return digest.hexdigest()


def layout_environment(inputs: dict[tuple[Path, Path], bytes]) -> str:
    """A hash of what shapes a layout besides the text: layouts, fonts, images, Limbag's code and
    the layout engine's version (the chapters' Markdown and book.yaml reach the layout as HTML and
    CSS, which the parts' keys hold)."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"weasyprint {version('weasyprint')} pydyf {version('pydyf')}".encode())
    for (root, relative), file_digest in inputs.items():
        if relative.suffix == ".md" or relative.name == "book.yaml":
            continue
        digest.update(str(root / relative).encode() + b"\0")
        digest.update(file_digest)
    return digest.hexdigest()


class PartCache:
    """Written parts kept in `<out>/.limbag-cache/parts/`: a PDF and a small JSON record each,
    named by what they lay out and their first folio (see parts.part_name)."""

    def __init__(self, cache_dir: Path) -> None:
        self.folder = cache_dir / "parts"
        self.used: set[str] = set()
        self._by_layout: dict[str, str] = {}
        """A kept part's name for each layout key."""
        self._records: dict[str, dict[str, Any] | None] = {}
        """Records read so far: a part's page count is asked for before the part itself."""
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                self._by_layout[path.stem.rsplit("-", 1)[0]] = path.stem

    def get(self, name: str) -> LaidPart | None:
        from .join import LaidPart

        record = self._record(name)
        try:
            pdf = (self.folder / f"{name}.pdf").read_bytes()
        except OSError:
            return None
        if record is None or record.get("pdf") != _digest(pdf):
            return None
        self.used.add(name)
        return LaidPart(pdf, tuple(tuple(page) for page in record["page_anchors"]), tuple(record["continued"]),
                        frozenset(record["borrowed"]), tuple(record["messages"]), tuple(record.get("refused", ())))

    def has(self, name: str) -> bool:
        return (self.folder / f"{name}.json").is_file()

    def page_count(self, layout_key: str) -> int | None:
        name = self._by_layout.get(layout_key)
        record = self._record(name) if name else None
        return len(record["page_anchors"]) if record else None

    def _record(self, name: str) -> dict[str, Any] | None:
        if name not in self._records:
            try:
                record = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = None
            self._records[name] = record if isinstance(record, dict) else None
        return self._records[name]

    def put(self, name: str, part: LaidPart) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"pdf": _digest(part.pdf), "page_anchors": part.page_anchors, "continued": part.continued,
                  "borrowed": sorted(part.borrowed), "messages": part.messages, "refused": part.refused}
        self._records.pop(name, None)
        for suffix, data in ((".pdf", part.pdf), (".json", json.dumps(record).encode())):
            temporary = self.folder / f"{name}{suffix}.{os.getpid()}.part"  # two builds may share a folder
            temporary.write_bytes(data)
            os.replace(temporary, self.folder / f"{name}{suffix}")
        self.used.add(name)

    def prune(self) -> None:
        """Forget the parts this build did not use, so the cache does not grow with every edit."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name.split(".")[0] not in self.used:
                path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class CachedBuild:
    outputs: dict[str, str]
    """Output file name → sha256 of its bytes."""
    warnings: tuple[Problem, ...]
    page_count: int


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_build(out_dir: Path, key: str) -> CachedBuild | None:
    """The last build's record if it was made from the same inputs and its outputs are untouched."""
    try:
        record = json.loads((out_dir / CACHE_FOLDER / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("key") != key:
        return None
    outputs: dict[str, str] = record.get("outputs", {})
    for name, digest in outputs.items():
        path = out_dir / name
        if not path.is_file() or _digest(path.read_bytes()) != digest:
            return None
    warnings = tuple(Problem(Location(Path(w["file"]), w["line"]), w["message"], w["hint"])
                     for w in record.get("warnings", []))
    return CachedBuild(outputs, warnings, int(record.get("page_count", 0)))


def save_build(out_dir: Path, key: str, outputs: dict[str, bytes], warnings: Iterable[Problem], page_count: int) -> None:
    folder = out_dir / CACHE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "key": key,
        "outputs": {name: _digest(data) for name, data in outputs.items()},
        "warnings": [{"file": str(w.location.file), "line": w.location.line, "message": w.message, "hint": w.hint}
                     for w in warnings],
        "page_count": page_count,
    }
    temporary = folder / (MANIFEST + ".part")
    temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)


SUBSETTING = b"hb-subset 1"
"""Changes when the way fonts are subset changes, so that no subset made the old way is kept."""


def _font_path(cache_dir: Path, font: Path, characters: str) -> Path:
    key = hashlib.sha256(SUBSETTING + hashlib.sha256(font.read_bytes()).digest() + characters.encode()).hexdigest()
    return cache_dir / "fonts" / f"{key}{font.suffix}"


def cached_font_if_present(cache_dir: Path | None, font: Path, characters: str) -> bytes | None:
    """A subset font kept from an earlier build (`<out>/.limbag-cache/fonts/`), if there is one."""
    if cache_dir is None:
        return None
    path = _font_path(cache_dir, font, characters)
    return path.read_bytes() if path.is_file() else None


def store_font(cache_dir: Path | None, font: Path, characters: str, data: bytes) -> None:
    if cache_dir is None:
        return
    path = _font_path(cache_dir, font, characters)
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
