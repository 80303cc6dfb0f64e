"""The build cache, kept in the output folder: what a rebuild can take instead of redoing.

- A fingerprint of every input (the book's files, the built-in layouts, fonts and language data,
  Limbag's own code, the requested formats, SOURCE_DATE_EPOCH) and the hashes of the outputs it
  gave: when both still match, a rebuild does nothing at all.
- Subset fonts for the e-book, keyed by the font file and the characters used.
- The drawings of the book's formulas for print, keyed by their TeX (see mathtype.DrawnFormulas).
- Laid-out parts of the print book (each chapter, the front and back matter), keyed by their
  HTML, marks, first folio and everything else that shapes a layout: an edit to one chapter
  lays out that chapter (and the contents and index if they change), not the book.

Everything here is a plain file under `<out>/.limbag-cache/`; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import CHAPTER_SUFFIXES
from .errors import Location, Problem
from .files import is_temporary, remove_leftovers, write_atomically
from .layouts import PACKAGE_DIR, SYSTEM_FONTS, builtin_folder

if TYPE_CHECKING:
    from .join import LaidPart

CACHE_FOLDER = ".limbag-cache"
MANIFEST = "manifest.json"


ENGINE_PACKAGES = ("limbag", "weasyprint", "pydyf", "tinycss2", "cssselect2", "pikepdf", "fonttools",
                   "pillow", "jinja2", "pyyaml", "pypandoc-binary", "ziamath", "ziafont",
                   "latex2mathml", "pygments", "selectolax")
"""Packages whose version can change what a build makes: part of every fingerprint."""


def package_versions() -> str:
    """`name version` of each package in ENGINE_PACKAGES: an upgraded engine lays the book out anew."""
    return "; ".join(f"{name} {package_version(name)}" for name in ENGINE_PACKAGES)


@cache
def package_version(name: str) -> str:
    """The installed version, read from the distribution's metadata header (a tenth of the time
    importlib.metadata.version takes to parse it all: the fingerprint is on the no-op path)."""
    try:
        metadata = distribution(name).read_text("METADATA") or ""
    except PackageNotFoundError:
        return "absent"
    for line in metadata.splitlines():
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
        if not line:
            break
    return "unknown"


def _files(root: Path) -> Iterator[Path]:
    """The files below `root`, in a stable order; links are followed only to folders inside `root`.
    Links to files outside are listed but not read (see input_digests)."""
    seen: set[Path] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        here = Path(folder).resolve()
        if here in seen or not here.is_relative_to(root):
            subfolders[:] = []
            continue
        seen.add(here)
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(names):
            path = Path(folder) / name
            if path.suffix == ".pyc" or is_temporary(name):
                continue
            if path.is_file() or path.is_symlink():
                yield path


def input_digests(book_dir: Path) -> dict[tuple[Path, Path], bytes]:
    """The sha256 of every file a build reads, by (root folder, path inside it): the book's files,
    the built-in layouts, fonts and language data, Limbag's own code (and the system's fallback
    fonts' sizes and times). Read once per build,
    in pieces, so that a large file costs time but not memory."""
    roots = [book_dir / "manuscript", book_dir / "layouts", book_dir / "fonts",
             builtin_folder("layouts"), builtin_folder("fonts"), PACKAGE_DIR]
    digests: dict[tuple[Path, Path], bytes] = {}
    for root in dict.fromkeys(root.resolve() for root in roots if root.is_dir()):
        for path in _files(root):
            target = path.resolve()
            if not target.is_relative_to(root):  # refused where the build would read it: not read here
                digests[root, path.relative_to(root)] = f"a link to {target}".encode()
                continue
            try:
                with path.open("rb") as stream:
                    digests[root, path.relative_to(root)] = hashlib.file_digest(stream, "sha256").digest()
            except OSError:  # unreadable: the stage that reads it says so, with its place
                digests[root, path.relative_to(root)] = b"unreadable"
    for font, _, _ in SYSTEM_FONTS:  # installed, removed or updated: by size and time, not 26 MB read
        with suppress(OSError):
            status = font.stat()
            digests[font.parent, Path(font.name)] = f"{status.st_size}:{status.st_mtime_ns}".encode()
    return digests


def fingerprint(inputs: dict[tuple[Path, Path], bytes], formats: tuple[str, ...], strict: bool) -> str:
    """A hash of everything a build reads and the versions of what lays it out; equal fingerprints
    give byte-identical outputs."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(formats), strict, os.environ.get("SOURCE_DATE_EPOCH", ""),
                              package_versions()]).encode())
    for (_, relative), file_digest in inputs.items():
        digest.update(str(relative).encode() + b"\0")
        digest.update(file_digest)
    return digest.hexdigest()


def layout_environment(inputs: dict[tuple[Path, Path], bytes]) -> str:
    """A hash of what shapes a layout besides the text: layouts, fonts, images, Limbag's code and
    the versions of the layout engine and its libraries (the chapters and book.yaml reach the
    layout as HTML and CSS, which the parts' keys hold; a Word file's pictures as data: URLs)."""
    digest = hashlib.sha256(package_versions().encode())
    for (root, relative), file_digest in inputs.items():
        if relative.suffix.lower() in CHAPTER_SUFFIXES or relative.name == "book.yaml":
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
        self._by_first_anchor: dict[str, int] | None = None
        """Kept parts' page counts by the first element on their first page (read when first asked)."""
        self._folios: dict[str, int] | None = None
        """The folio each element was printed on in the kept numbered parts (read when first asked)."""
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
        try:
            part = LaidPart(pdf, tuple(tuple(str(a) for a in page) for page in record["page_anchors"]),
                            tuple(None if word is None else str(word) for word in record["continued"]),
                            frozenset(str(a) for a in record["borrowed"]), tuple(str(m) for m in record["messages"]),
                            tuple(str(u) for u in record["refused"]))
        except (KeyError, TypeError):  # written by another version, or damaged: laid out again
            return None
        if len(part.continued) != part.page_count:
            return None
        self.used.add(name)
        return part

    def has(self, name: str) -> bool:
        return (self.folder / f"{name}.json").is_file()

    def page_count(self, layout_key: str) -> int | None:
        name = self._by_layout.get(layout_key)
        record = self._record(name) if name else None
        anchors = record.get("page_anchors") if record else None
        return len(anchors) if isinstance(anchors, list) else None

    def earlier_page_count(self, first_anchor: str) -> int | None:
        if self._by_first_anchor is None:
            self._by_first_anchor = {}
            for name in self._by_layout.values():
                record = self._record(name)
                anchors = record.get("page_anchors") if record else None
                if isinstance(anchors, list) and anchors and isinstance(anchors[0], list) and anchors[0]:
                    self._by_first_anchor.setdefault(str(anchors[0][0]), len(anchors))
        return self._by_first_anchor.get(first_anchor)

    def earlier_folio(self, anchor: str) -> int | None:
        if self._folios is None:
            self._folios = {}
            for name in self._by_layout.values():
                first_folio = name.rsplit("-", 1)[1]
                record = self._record(name) if first_folio.isdigit() else None
                pages = record.get("page_anchors") if record else None
                for index, anchors in enumerate(pages if isinstance(pages, list) else ()):
                    for element in anchors if isinstance(anchors, list) else ():
                        self._folios.setdefault(str(element), int(first_folio) + index)
        return self._folios.get(anchor)

    def _record(self, name: str) -> dict[str, Any] | None:
        if name not in self._records:
            try:
                record = json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = None
            self._records[name] = record if isinstance(record, dict) else None
        return self._records[name]

    def put(self, name: str, part: LaidPart) -> None:
        """Keep a part; a cache that cannot be written (full or read-only disk) only costs time."""
        record = {"pdf": _digest(part.pdf), "page_anchors": part.page_anchors, "continued": part.continued,
                  "borrowed": sorted(part.borrowed), "messages": part.messages, "refused": part.refused}
        self._records.pop(name, None)
        self.used.add(name)
        with suppress(OSError):
            write_atomically(self.folder / f"{name}.pdf", part.pdf)
            write_atomically(self.folder / f"{name}.json", json.dumps(record).encode())

    def prune(self) -> None:
        """Forget the parts this build did not use, so the cache does not grow with every edit (and
        the temporary files of builds that were killed)."""
        if not self.folder.is_dir():
            return
        remove_leftovers(self.folder)
        with suppress(OSError):
            for path in self.folder.iterdir():
                if not path.name.startswith(".") and path.name.split(".")[0] not in self.used:
                    path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class CachedBuild:
    outputs: dict[str, str]
    """Output file name → sha256 of its bytes."""
    warnings: tuple[Problem, ...]
    page_count: int


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MANIFEST_FORMAT = 2
"""Changes when the manifest's shape does: an older manifest is simply not used."""


def load_build(out_dir: Path, key: str) -> tuple[CachedBuild | None, tuple[Problem, ...]]:
    """The last build's record if it was made from the same inputs and its outputs are untouched;
    a damaged or foreign manifest is reported and not used."""
    path = out_dir / CACHE_FOLDER / MANIFEST
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, ()
    except (OSError, ValueError):
        return None, (_damaged(path),)
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT:
        return None, () if isinstance(record, dict) and "key" in record else (_damaged(path),)
    try:
        if not isinstance(record["key"], str):
            raise TypeError("the key is not text")
        outputs = {str(name): str(digest) for name, digest in record["outputs"].items()}
        warnings = tuple(Problem(Location(Path(w["file"]), w["line"]), str(w["message"]), str(w["hint"]))
                         for w in record["warnings"])
        page_count = int(record["page_count"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, (_damaged(path),)
    if record["key"] != key:
        return None, ()
    for name, digest in outputs.items():
        output = out_dir / name
        if Path(name).name != name or not output.is_file() or _file_digest(output) != digest:
            return None, ()
    return CachedBuild(outputs, warnings, page_count), ()


def _damaged(path: Path) -> Problem:
    return Problem(Location(path), "the build cache is damaged or was written by something else; not used",
                   "nothing to do: the book is built again and the cache rewritten")


def _file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def save_build(out_dir: Path, key: str, outputs: dict[str, bytes], warnings: Iterable[Problem], page_count: int) -> None:
    record = {
        "format": MANIFEST_FORMAT,
        "key": key,
        "outputs": {name: _digest(data) for name, data in outputs.items()},
        "warnings": [{"file": str(w.location.file), "line": w.location.line, "message": w.message, "hint": w.hint}
                     for w in warnings],
        "page_count": page_count,
    }
    with suppress(OSError):  # without a manifest the next build only takes longer
        write_atomically(out_dir / CACHE_FOLDER / MANIFEST, json.dumps(record, indent=1).encode())


SUBSETTING = b"hb-subset 1"
"""Changes when the way fonts are subset changes, so that no subset made the old way is kept."""


def _font_path(cache_dir: Path, font: Path, characters: str) -> Path:
    with font.open("rb") as stream:
        font_digest = hashlib.file_digest(stream, "sha256").digest()
    key = hashlib.sha256(SUBSETTING + font_digest + characters.encode()).hexdigest()
    return cache_dir / "fonts" / f"{key}{font.suffix}"


def cached_font_if_present(cache_dir: Path | None, font: Path, characters: str) -> bytes | None:
    """A subset font kept from an earlier build (`<out>/.limbag-cache/fonts/`), if there is one and it
    is whole: each is stored after the sha256 of its bytes, and one that does not match is made again."""
    if cache_dir is None:
        return None
    try:
        stored = _font_path(cache_dir, font, characters).read_bytes()
    except OSError:
        return None
    digest, data = stored[:32], stored[32:]
    return data if data and hashlib.sha256(data).digest() == digest else None


def store_font(cache_dir: Path | None, font: Path, characters: str, data: bytes) -> None:
    if cache_dir is None:
        return
    path = _font_path(cache_dir, font, characters)
    if cached_font_if_present(cache_dir, font, characters) is None:
        with suppress(OSError):
            write_atomically(path, hashlib.sha256(data).digest() + data)


COVER_PICTURE = "cover.png"
DRAWING = b"pdfium cover 1"
"""Changes when the way the cover picture is drawn changes, so that no picture drawn the old way is kept."""


def kept_cover_picture(cache_dir: Path, cover_pdf: bytes, draw: Callable[[bytes], bytes]) -> bytes:
    """The e-book's picture of the laid-out front cover, `draw`n from its PDF once and kept in the
    cache for the next build (after an edit the cover is the same part, and drawing it takes a
    tenth of a second at the end of the build). Kept after the sha256 of the cover's PDF and the
    renderer's version, and drawn again when either differs."""
    path = cache_dir / COVER_PICTURE
    key = hashlib.sha256(DRAWING + package_version("pypdfium2").encode() + b"\0" + cover_pdf).digest()
    with suppress(OSError):
        kept = path.read_bytes()
        if len(kept) > len(key) and kept[:len(key)] == key:
            return kept[len(key):]
    picture = draw(cover_pdf)
    with suppress(OSError):
        write_atomically(path, key + picture)
    return picture
