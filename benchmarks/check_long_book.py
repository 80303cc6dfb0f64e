#!/usr/bin/env python3
"""Builds a book of about 1000 A5 pages and checks that nothing is cut off: the last element of the
back matter is on the last page, every chapter is in the outline, and the PDF has every page.

Usage: python benchmarks/check_long_book.py [--chapters 185]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from large_book import make_book
from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from limbag.pipeline import build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chapters", type=int, default=185)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        book = make_book(args.chapters, Path(folder) / "book")
        start = time.perf_counter()
        result = build(book, Path(folder) / "out", formats=("pdf",))
        seconds = time.perf_counter() - start
        reader = PdfReader(result.written[0])
        ids = re.findall(r'\sid="([^"]+)"', result.rendered.html)
        last = ids[-1]
        last_page = result.page_map.anchor_pages[last]
        outline = [item for item in reader.outline if isinstance(item, dict)]
        print(f"{args.chapters} chapters: {len(reader.pages)} pages in {seconds:.1f} s")
        print(f"last element {last!r} is on page {last_page + 1} of {len(reader.pages)}")
        print(f"outline entries: {len(outline)} (chapters {args.chapters} + contents, chronology, index)")
        ok = last_page == len(reader.pages) - 1 and len(outline) == args.chapters + 3
        print("complete" if ok else "TRUNCATED")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
