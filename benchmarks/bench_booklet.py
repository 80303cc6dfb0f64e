#!/usr/bin/env python3
"""Prints how long imposing a 200-page A5 book on A4 takes: Limbag's form-XObject imposition next to
pypdf's merge_transformed_page (which copies every page's content stream), in one run.

Usage: python benchmarks/bench_booklet.py [--pages N] [--runs N]
"""

from __future__ import annotations

import argparse
import io

from pypdf import PdfReader, PdfWriter, Transformation
from timing import median_seconds
from weasyprint import HTML

from limbag.booklet import booklet_order, impose
from limbag.config import BookletSettings


def sample_pdf(pages: int) -> bytes:
    body = "".join(f"<section style='break-after: page'><h1>Page {n}</h1><p>{'Lorem ipsum dolor sit amet. ' * 60}</p>"
                   f"</section>" for n in range(pages))
    return HTML(string=f"<style>@page {{ size: A5 }}</style>{body}").write_pdf()


def merge_copying(pdf: bytes) -> bytes:
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    width, height = 297 * 72 / 25.4, 210 * 72 / 25.4
    for side in booklet_order(len(reader.pages)):
        sheet = writer.add_blank_page(width, height)
        for index, x in ((side.left, 0.0), (side.right, width / 2)):
            if index is not None:
                sheet.merge_transformed_page(reader.pages[index], Transformation().translate(x, 0))
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pdf = sample_pdf(args.pages)
    baseline = median_seconds(lambda: merge_copying(pdf), args.runs)
    ours = median_seconds(lambda: impose(pdf, BookletSettings()), args.runs)
    print(f"{args.pages}-page A5 book on A4, {args.runs} runs each, medians")
    print(f"{'pypdf merge_transformed_page (copies content)':48} {baseline:7.3f} s   1.00x")
    print(f"{'limbag impose (form XObjects)':48} {ours:7.3f} s   {ours / baseline:.2f}x")


if __name__ == "__main__":
    main()
