"""An editor builds a book folder and gets a PDF a publisher would print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from limbag.pipeline import build

from .conftest import REPO, assert_every_word_printed, assert_footnotes_on_their_call_pages, pdf_pages_text, png_image

pytestmark = pytest.mark.build

ENGLISH_BOOK = {
    "book.yaml": """\
title: A Small Test Book
subtitle: With figures and tables
authors: [Jane Roe, Juan dela Cruz]
language: en
date: 2026-11-24
publisher: Test Press
rights: "© 2026 Jane Roe."
isbn: 978-3-16-148410-0
page: {size: halfletter}
outputs: [pdf]
""",
    "images/chart.png": png_image(),
    "01-first.md": """\
# The First Chapter {#first}

This opening paragraph carries a note.[^a] It mentions [NATO]{idx="NATO"} and the date
[March 31, 1954]{date="1954-03-31" event="The request."}. Curly “quotes” — and dashes – piña.

Second paragraph with *emphasis*, **strong** and an inline note.^[An inline note about it.]

## A Section

![A chart of things](images/chart.png){alt="A diagonal line in a box"}

| Year | Event |
|:-----|------:|
| 1949 | Founding |
| 1955 | Pact |

> A block quote from somewhere.

[^a]: The first note, first paragraph.

    And its second paragraph.
""",
    "02-second.md": "# Second Chapter\n\n" + "\n\n".join(
        f"Paragraph {n} of filler text that runs on for a while so that the chapter spans "
        f"several pages of the half-letter book.[^n{n}]" for n in range(1, 40)
    ) + "\n\n" + "\n".join(f"[^n{n}]: Note number {n} for paragraph {n}." for n in range(1, 40)) + "\n",
}

FILIPINO_BOOK = {
    "book.yaml": "title: Isang Aklat\nauthors: [Juan dela Cruz]\nlanguage: tl\ndate: 1954-03-31\noutputs: [pdf]\n",
    "01.md": "# Unang Kabanata\n\nNoong [Marso 31, 1954]{date=\"1954-03-31\"} ay nagsumite ng kahilingan.[^a]\n\n"
             "[^a]: Ang tala sa paanan ng pahina.\n",
    "02.md": "# Ikalawang Kabanata\n\nAng wakas ng aklat, kasama ang ñ at Ñ.\n",
}


@pytest.fixture(scope="module")
def english_pdf(tmp_path_factory) -> tuple[Path, object]:
    book = tmp_path_factory.mktemp("english") / "book"
    for relative, content in ENGLISH_BOOK.items():
        path = book / "manuscript" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = build(book, book.parent / "out")
    return result.written[0], result


def test_pdf_has_the_book_page_size_and_metadata(english_pdf):
    path, result = english_pdf
    # The only warning: the chart, 300 pixels wide, prints at 96 ppi.
    assert [problem.location.file.name for problem in result.warnings] == ["01-first.md"]
    assert "'chart.png' (300×150 pixels) prints at 96 ppi" in result.warnings[0].message
    reader = PdfReader(path)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4, 1), round(float(box.height) / 72 * 25.4, 1)) == (139.7, 215.9)
    assert reader.metadata.title == "A Small Test Book"
    assert reader.metadata.author == "Jane Roe, Juan dela Cruz"
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert reader.xmp_metadata.dc_title == {"x-default": "A Small Test Book"}  # PDF/UA asks for it in XMP


def test_front_matter_is_roman_and_the_first_chapter_is_page_one(english_pdf):
    path, result = english_pdf
    reader = PdfReader(path)
    labels = reader.page_labels
    first_chapter = result.page_map.anchor_pages["first"]
    assert labels[:first_chapter] == ["i", "ii", "iii", "iv"][:first_chapter]
    assert labels[first_chapter] == "1"
    assert list(result.page_map.labels) == labels
    texts = pdf_pages_text(path)
    # The folio printed at the foot of a body page is its label.
    for index in range(first_chapter, len(texts)):
        if texts[index].strip():
            assert texts[index].strip().split("\n")[-1].strip() == labels[index]


def test_title_imprint_and_contents(english_pdf):
    path, result = english_pdf
    texts = pdf_pages_text(path)
    assert "A Small Test Book" in texts[0] and "Jane Roe" in texts[0]
    assert "ISBN 978-3-16-148410-0" in texts[1]
    assert "Gentium Book Plus" in texts[1] and "Open Font License" in texts[1]
    contents = texts[result.page_map.anchor_pages["contents"]]
    second = result.page_map.label_of(result.book.chapters[1].id)
    assert re.search(rf"Second Chapter[ .]*{second}\b", contents)


def test_chapters_open_on_right_hand_pages(english_pdf):
    _, result = english_pdf
    for chapter in result.book.chapters:
        assert result.page_map.anchor_pages[chapter.id] % 2 == 0  # page index 0 is a right-hand page


def test_running_heads_book_title_left_chapter_title_right(english_pdf):
    path, result = english_pdf
    texts = pdf_pages_text(path)
    start = result.page_map.anchor_pages[result.book.chapters[1].id]
    assert "Second Chapter" not in texts[start].split("\n")[0]  # no running head on the opening page
    assert "A Small Test Book" in texts[start + 1]
    assert "Second Chapter" in texts[start + 2] and "A Small Test Book" not in texts[start + 2]


def test_each_footnote_stands_on_the_page_of_its_call(english_pdf):
    path, result = english_pdf
    assert assert_footnotes_on_their_call_pages(result, path) == 41


def test_figures_tables_and_quotes_are_printed(english_pdf):
    path, result = english_pdf
    page = pdf_pages_text(path)[result.page_map.anchor_pages["first"]]
    assert "Figure 1. A chart of things" in page
    assert "1949 Founding" in page and "A block quote from somewhere." in page
    reader = PdfReader(path)
    first = reader.pages[result.page_map.anchor_pages["first"]]
    assert any(name.startswith("/") for name in first["/Resources"]["/XObject"])  # the image is embedded


def test_outline_lists_chapters_and_sections(english_pdf):
    path, _ = english_pdf
    outline = PdfReader(path).outline
    titles = [item["/Title"] for item in outline if isinstance(item, dict)]
    assert titles == ["Contents", "The First Chapter", "Second Chapter", "Chronology", "Index"]
    assert outline[2][0]["/Title"] == "A Section"


def test_all_fonts_are_embedded_and_bundled(english_pdf):
    path, _ = english_pdf
    fonts = set()
    for page in PdfReader(path).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = (font.get("/FontDescriptor") or font["/DescendantFonts"][0].get_object()["/FontDescriptor"])
            descriptor = descriptor.get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
            fonts.add(str(font["/BaseFont"]).split("+")[-1])
    assert fonts and all(name.startswith("Gentium-Book-Plus") for name in fonts)


def test_every_word_of_the_manuscript_is_printed_and_no_markup_leaks(english_pdf):
    path, result = english_pdf
    assert_every_word_printed(result, path)


def test_a_filipino_book_uses_filipino_words(make_book, tmp_path):
    book = make_book(FILIPINO_BOOK)
    result = build(book)
    assert result.written == (book / "build" / "isang-aklat.pdf",)
    texts = pdf_pages_text(result.written[0])
    assert "Nilalaman" in texts[result.page_map.anchor_pages["contents"]]
    assert "Marso 31, 1954" in texts[1]  # the imprint's date, written in Filipino
    assert "Kabanata 1" in texts[result.page_map.anchor_pages[result.book.chapters[0].id]]
    assert PdfReader(result.written[0]).trailer["/Root"]["/Lang"] == "tl"


def test_same_input_gives_identical_pdf(make_book, tmp_path):
    book = make_book(FILIPINO_BOOK)
    first = build(book, tmp_path / "one").written[0].read_bytes()
    second = build(book, tmp_path / "two").written[0].read_bytes()
    assert first == second


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_builds_another_book_from_another_directory(make_book, tmp_path):
    book = make_book(FILIPINO_BOOK)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cli("build", str(book), "--out", "somewhere", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "somewhere" / "isang-aklat.pdf").is_file()
    assert "wrote somewhere/isang-aklat.pdf" in done.stdout


def test_cli_builds_the_book_in_the_current_directory(make_book):
    book = make_book(FILIPINO_BOOK)
    done = run_cli("build", cwd=book)
    assert done.returncode == 0, done.stderr
    assert "wrote build/isang-aklat.pdf" in done.stdout


def test_cli_reports_bad_input_with_file_and_line_and_no_traceback(make_book, tmp_path):
    book = make_book({"book.yaml": "title: T\nlanguage: en\n", "01.md": "# K\n\n![x](images/none.png)\n"})
    done = run_cli("build", str(book), cwd=tmp_path)
    assert done.returncode == 1
    assert "01.md:3: image 'images/none.png' not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_turns_warnings_into_failure_and_keeps_the_last_good_output(make_book, tmp_path):
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf]\n", "01.md": "# K\n\nText.\n"})
    assert run_cli("build", str(book), cwd=tmp_path).returncode == 0
    good = (book / "build" / "t.pdf").read_bytes()
    (book / "manuscript" / "01.md").write_text("# K\n\nText[^nope].\n", encoding="utf-8")
    done = run_cli("build", str(book), "--strict", cwd=tmp_path)
    assert done.returncode == 1
    assert "01.md:3: footnote [^nope] is not defined" in done.stderr
    assert (book / "build" / "t.pdf").read_bytes() == good
    assert run_cli("build", str(book), cwd=tmp_path).returncode == 0  # without --strict it is a warning


def test_a_title_with_a_line_break_still_runs_at_the_head_of_the_pages(make_book):
    book = make_book({"book.yaml": 'title: "Line one\\nLine two \\" and a quote"\nlanguage: en\noutputs: [pdf]\n',
                      "01.md": "# One\n\n" + "A sentence of the chapter. " * 600 + "\n"})
    result = build(book)
    pages = pdf_pages_text(result.written[0])
    body = pages[result.page_map.anchor_pages["one"] + 1:]
    assert body and all('Line one Line two " and a quote' in text for text in body[::2]), body[:2]  # left pages
