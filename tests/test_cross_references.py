"""Numbered cross-references in pandoc-crossref's syntax: an author labels a figure, a table, an
equation or a section and writes @fig:x; the book prints "Figure 3" (or "Larawan 3"), linked to
the place, in the PDF and the e-book."""

from __future__ import annotations

import zipfile

import pytest

from limbag.pipeline import build

from .conftest import pdf_pages_text, png_image
from .validators import epubcheck

pytestmark = pytest.mark.build

CHAPTER_ONE = """# Maps {#sec:maps}

![The city](city.png){#fig:city}

![The river](river.png){#fig:river}

## Rivers {#sec:rivers}

| Year | Flood |
|------|-------|
| 1950 | no    |

: Floods by year {#tbl:floods}

$$E = mc^2$$ {#eq:energy}
"""

CHAPTER_TWO = """# Reading them {#sec:reading}

## First {#sec:first}

### Deeper {#sec:deeper}

As @fig:river shows, and [@fig:city; @fig:river] agree, the floods of [-@tbl:floods] follow
@eq:energy (see @sec:rivers and @sec:deeper). A missing one: @fig:nowhere.
"""


def _book(make_book, language: str = "en"):
    return make_book({"book.yaml": f"title: Maps\nlanguage: {language}\noutputs: [pdf, epub]\n",
                      "01.md": CHAPTER_ONE, "02.md": CHAPTER_TWO, "city.png": png_image(), "river.png": png_image()})


def test_references_print_the_number_of_what_they_name_and_link_to_it(make_book, tmp_path):
    result = build(_book(make_book), tmp_path / "out")
    pdf, epub = result.written
    text = " ".join(" ".join(pdf_pages_text(pdf)).split()).replace("‐ ", "")
    assert "As Figure 2 shows, and Figures 1 and 2 agree, the floods of 1 follow Equation (1)" in text
    assert "(see Section 1.1 and Section 2.1.1)" in text
    assert "Table 1. Floods by year" in text  # a labelled table is numbered in its caption
    assert "@fig:nowhere" in text
    missing = [problem for problem in result.warnings if "@fig:nowhere" in problem.message]
    assert len(missing) == 1 and missing[0].location.file.name == "02.md" and missing[0].location.line == 8
    assert not [problem for problem in result.warnings if "@fig:river" in problem.message]
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    with zipfile.ZipFile(epub) as package:
        chapter = package.read("EPUB/chapter-02.xhtml").decode()
    assert 'href="chapter-01.xhtml#fig:river">2</a>' in chapter
    assert 'href="chapter-01.xhtml#tbl:floods">1</a>' in chapter


def test_a_filipino_book_names_them_in_filipino(make_book, tmp_path):
    result = build(_book(make_book, "tl"), tmp_path / "out")
    text = " ".join(" ".join(pdf_pages_text(result.written[0])).split()).replace("‐ ", "")
    assert "As Larawan 2 shows, and Mga Larawan 1 at 2 agree" in text
    assert "Ekwasyon (1)" in text and "Seksiyon 1.1" in text
