"""The build cache, kept in the output folder: what a rebuild can take instead of redoing.

- A fingerprint of every input (the book's files, the built-in layouts, fonts and language data,
  Limbag's own code, the requested formats, SOURCE_DATE_EPOCH) and the hashes of the outputs it
  gave: when both still match, a rebuild does nothing at all.
- Subset fonts for the e-book, keyed by the font file and the characters used.

Everything here is a plain file under `<out>/.limbag-cache/`; deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import Location, Problem
from .layouts import PACKAGE_DIR, builtin_folder

CACHE_FOLDER = ".limbag-cache"
MANIFEST = "manifest.json"


def _files(folder: Path) -> Iterable[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def fingerprint(book_dir: Path, formats: tuple[str, ...], strict: bool) -> str:
    """A hash of everything a build reads; equal fingerprints give byte-identical outputs."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(formats), strict, os.environ.get("SOURCE_DATE_EPOCH", "")]).encode())
    roots = [book_dir / "manuscript", book_dir / "layouts", book_dir / "fonts",
             builtin_folder("layouts"), builtin_folder("fonts"), PACKAGE_DIR]
    for root in dict.fromkeys(root.resolve() for root in roots):
        for path in _files(root):
            if path.suffix in (".pyc",):
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


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


def _font_path(cache_dir: Path, font: Path, characters: str) -> Path:
    key = hashlib.sha256(hashlib.sha256(font.read_bytes()).digest() + characters.encode()).hexdigest()
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
