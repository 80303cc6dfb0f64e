"""Shared helpers: write small real book folders in tmp_path and read back what was built."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader

REPO = Path(__file__).resolve().parent.parent

MakeBook = Callable[..., Path]


@pytest.fixture
def make_book(tmp_path: Path) -> MakeBook:
    """make_book({"book.yaml": "...", "01.md": "..."}) → a book folder; bytes values are written raw."""

    def make(files: dict[str, str | bytes], name: str = "book") -> Path:
        book = tmp_path / name
        for relative, content in files.items():
            path = book / "manuscript" / relative if not relative.startswith(("layouts/", "fonts/")) else book / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return book

    return make


def pdf_pages_text(path: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(path).pages]


def words(text: str) -> list[str]:
    """Words for comparing source and PDF: joins line-end hyphenation, drops punctuation and case."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[-‐­]\s*\n\s*", "", text)  # a word broken at a line end
    return [w.lower() for w in re.findall(r"[\w’']+", text) if not w.isdigit() or len(w) > 1]


def png_image(width: int = 300, height: int = 150) -> bytes:
    """A small real PNG, drawn with Pillow."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([4, 4, width - 5, height - 5], outline="black", width=3)
    draw.line([4, height - 5, width - 5, 4], fill="navy", width=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
