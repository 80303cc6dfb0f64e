"""A teacher prints the booklet double-sided on A4 or letter, folds it and staples it: pages in order."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from limbag.booklet import Side, booklet_order, padded_order
from limbag.pipeline import build

from .conftest import pdf_pages_text, words


def test_a_handout_reads_straight_through_with_the_blank_pages_at_the_end():
    assert padded_order(8) == list(range(8))
    assert padded_order(1) == [0, None, None, None]
    for count in (13, 14, 15, 16):
        padded = padded_order(count)
        assert len(padded) == 16 and padded[:count] == list(range(count))  # no blank between pages of text
        assert padded[count:] == [None] * (16 - count)  # the outside back page is blank, not the last page


def test_a_booklet_too_thick_to_fold_is_a_warning_at_the_outputs(tmp_path):
    from limbag.booklet import binding_problem
    from limbag.errors import Location

    where = Location(tmp_path / "book.yaml", 4)
    assert binding_problem(64, where) is None
    problem = binding_problem(65, where)
    assert problem is not None and problem.location == where
    assert "65 pages (17 sheets" in problem.message and "64" in problem.hint


def test_sheets_carry_the_saddle_stitch_order():
    assert booklet_order(8) == [Side(7, 0, 0), Side(1, 6, 0), Side(5, 2, 1), Side(3, 4, 1)]


def test_folded_sheets_read_in_order():
    """Stack the sheets, fold them: reading each half-page in turn gives 0, 1, 2, … again."""
    for count in (4, 8, 13, 30, 201):
        sides = booklet_order(count)
        sheets = len(sides) // 2
        order: list[int | None] = []
        for sheet in range(sheets):  # first half of the booklet: right of each front, left of each back
            order += [sides[2 * sheet].right, sides[2 * sheet + 1].left]
        for sheet in reversed(range(sheets)):  # second half, from the middle outwards
            order += [sides[2 * sheet + 1].right, sides[2 * sheet].left]
        assert [p for p in order if p is not None] == list(range(count))


def half_text(pdf: Path, page: int, half: str) -> str:
    reader = PdfReader(pdf)
    box = reader.pages[page].mediabox
    width, height = float(box.width), float(box.height)
    x = 0 if half == "left" else width / 2
    done = subprocess.run(["pdftotext", "-f", str(page + 1), "-l", str(page + 1), "-x", str(int(x)), "-y", "0",
                           "-W", str(int(width / 2)), "-H", str(int(height)), str(pdf), "-"],
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.build
@pytest.mark.parametrize(("sheet", "size_mm", "page_scale"), [("A4", (297, 210), 1.0), ("letter", (279.4, 215.9), 0.944)])
def test_the_booklet_prints_in_order_on_a4_and_letter(make_book, sheet, size_mm, page_scale):
    chapters = {f"{n:02d}.md": f"# Kabanata {n}\n\nAng natatanging teksto ng kabanatang bilang {n}.\n" for n in range(1, 6)}
    book = make_book({"book.yaml": f"title: Munting Aklat\nlanguage: tl\noutputs: [pdf, booklet]\n"
                                   f"booklet: {{sheet: {sheet}, creep: 0.2mm}}\n", **chapters})
    result = build(book)
    pdf, booklet = result.written
    source = [" ".join(words(text)) for text in pdf_pages_text(pdf)]
    reader = PdfReader(booklet)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72, 1), round(float(box.height) * 25.4 / 72, 1)) == size_mm
    sides = booklet_order(len(source))
    assert len(reader.pages) == len(sides)
    for number, side in enumerate(sides):
        for half, index in (("left", side.left), ("right", side.right)):
            printed = " ".join(words(half_text(booklet, number, half)))
            assert printed == (source[index] if index is not None else ""), (number, half)
    assert reader.pdf_header == PdfReader(pdf).pdf_header  # the version of the features its pages use
    content = reader.pages[0].get_contents().get_data().decode()
    scales = [float(s) for s in re.findall(r"q ([\d.]+) 0 0 [\d.]+ [-\d.]+ [-\d.]+ cm", content)]
    assert scales and all(abs(s - page_scale) < 0.002 for s in scales)


@pytest.mark.build
def test_pages_are_placed_once_as_forms_not_copied(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, booklet]\n",
                      **{f"{n}.md": f"# Chapter {n}\n\nText {n}.\n" for n in range(1, 4)}})
    _, booklet = build(book).written
    reader = PdfReader(booklet)
    forms = {xobject.idnum for page in reader.pages
             for xobject in page["/Resources"]["/XObject"].values()}
    assert len(forms) == sum(1 for side in booklet_order(len(PdfReader(build(book).written[0]).pages))
                             for p in (side.left, side.right) if p is not None)
