#!/usr/bin/env python3
"""Prints how long a Limbag PDF build takes next to plain WeasyPrint laying out the same HTML.

Usage: python benchmarks/bench_build.py [BOOK_DIR] [--runs N]
Both sides run in this process, one after the other, several times; medians are compared.
Limbag lays the book out twice when it has an index or a chronology (the second pass prints
their page numbers), so its ratio shows that cost as well as the tool's own overhead.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from timing import median_seconds
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from limbag.fonts import find_fonts
from limbag.layouts import book_layouts
from limbag.pdf import page_css
from limbag.pipeline import build, lay_out, prepare

REPO = Path(__file__).resolve().parent.parent



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("book_dir", nargs="?", type=Path, default=REPO)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    prepared = prepare(args.book_dir)
    config = prepared.config
    layouts = book_layouts(args.book_dir)
    faces, _ = find_fonts(args.book_dir)
    rendered, _ = lay_out(prepared.book, layouts, faces, prepared.index_settings, prepared.events, prepared.language)
    stylesheet = layouts.find("print/book.css")
    css_text = "\n".join(face.css() for face in faces) + stylesheet.read_text() + page_css(config.page)
    base_url = config.manuscript_dir.resolve().as_uri() + "/"

    def plain_weasyprint() -> None:
        fonts = FontConfiguration()
        HTML(string=rendered.html, base_url=base_url).write_pdf(
            stylesheets=[CSS(string=css_text, font_config=fonts)], font_config=fonts)

    with tempfile.TemporaryDirectory() as out:
        # A fresh folder each run: into the same one, every run after the first is a no-op rebuild.
        limbag = median_seconds(lambda: build(args.book_dir, Path(tempfile.mkdtemp(dir=out)), formats=("pdf",)),
                                args.runs)
    weasy = median_seconds(plain_weasyprint, args.runs)
    pages = len(rendered.page_map.labels)
    print(f"book: {config.title} ({pages} pages), {args.runs} runs each, medians")
    print(f"{'plain WeasyPrint, the final HTML and CSS':44} {weasy:7.3f} s   1.00x")
    print(f"{'limbag build --format pdf (all passes)':44} {limbag:7.3f} s   {limbag / weasy:.2f}x")


if __name__ == "__main__":
    main()
