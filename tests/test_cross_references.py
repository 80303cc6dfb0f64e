"""Numbered cross-references in pandoc-crossref's syntax: an author labels a figure, a table, an
equation or a section and writes @fig:x; the book prints "Figure 3" (or "Larawan 3"), linked to
the place, in the PDF and the e-book."""

from __future__ import annotations

import re
import zipfile

import pypdf
import pytest

import limbag.pdf
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


def _book(make_book, language: str = "en", settings: str = ""):
    return make_book({"book.yaml": f"title: Maps\nlanguage: {language}\noutputs: [pdf, epub]\n{settings}",
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


def test_numbered_by_chapter_with_lists_of_figures_and_tables_that_name_their_pages(make_book, tmp_path):
    book = _book(make_book, settings="crossref: {chapters: true}\nlists: [figures, tables]\n")
    result = build(book, tmp_path / "out")
    pdf, epub = result.written
    page = _printed_pages(pdf)
    pages = pdf_pages_text(pdf)
    text = " ".join(" ".join(pages).split()).replace("‐ ", "")
    assert "As Figure 1.2 shows, and Figures 1.1 and 1.2 agree, the floods of 1.1 follow Equation (1.1)" in text
    assert "Figure 1.1. The city" in text and "Table 1.1. Floods by year" in text
    front = [" ".join(words.split()) for words in pages[:6]]
    figures = next(words for words in front if words.startswith("List of Figures"))
    assert re.search(rf"1\.1 The city[ .]+{page['fig:city']} 1\.2 The river[ .]+{page['fig:river']}", figures)
    tables = next(words for words in front if words.startswith("List of Tables"))
    assert re.search(rf"1\.1 Floods by year[ .]+{page['tbl:floods']}", tables)
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    with zipfile.ZipFile(epub) as package:
        nav = package.read("EPUB/nav.xhtml").decode()
    assert f'<a href="chapter-01.xhtml#fig:river">Figure 1.2. The river (p.\xa0{page["fig:river"]})</a>' in nav
    assert 'epub:type="lot"' in nav and f"Table 1.1. Floods by year (p.\xa0{page['tbl:floods']})</a>" in nav


FILLER = " ".join(["The floods came every year, and every year the town was built again."] * 30)

PAGES_ONE = f"""# Start {{#sec:start}}

The river is described on [@sec:river]{{.page}}, its map on [-@fig:map]{{.page}}, both on
[@sec:river; @fig:map]{{.page}}.[^note]

[^note]: The spot is on [@spot]{{.page}}.

{FILLER}

{FILLER}

## Middle {{#sec:middle}}

{FILLER} And [this very spot]{{#spot}} is marked. {FILLER}

A place that is not there: [@nowhere]{{.page}}.
"""

PAGES_TWO = f"""# River {{#sec:river}}

{FILLER}

{FILLER}

![A map](map.png){{#fig:map}}

Back to the start: [@sec:start]{{.page}}; the middle: [-@sec:middle]{{.page}}.
"""


def _printed_pages(pdf) -> dict[str, str]:
    """Each named place's printed page label, read from the PDF's own destinations."""
    reader = pypdf.PdfReader(pdf)
    return {name: reader.page_labels[reader.get_destination_page_number(destination)]
            for name, destination in reader.named_destinations.items()}


def _pages_book(make_book, language: str = "en", settings: str = ""):
    return make_book({"book.yaml": f"title: Pages\nlanguage: {language}\noutputs: [pdf, epub]\n{settings}",
                      "01.md": PAGES_ONE, "02.md": PAGES_TWO, "map.png": png_image()})


def test_a_page_reference_prints_the_page_its_place_is_printed_on_in_the_book_and_the_e_book(make_book, tmp_path):
    result = build(_pages_book(make_book), tmp_path / "out")
    pdf, epub = result.written
    page = _printed_pages(pdf)
    assert page["sec:river"] != page["sec:start"] and page["spot"] not in (page["sec:start"], page["sec:middle"])
    text = " ".join(" ".join(pdf_pages_text(pdf)).split()).replace("‐ ", "")
    assert (f"The river is described on p. {page['sec:river']}, its map on {page['fig:map']}, both on "
            f"pp. {page['sec:river']} and {page['fig:map']}.") in text
    assert f"The spot is on p. {page['spot']}." in text
    assert f"Back to the start: p. {page['sec:start']}; the middle: {page['sec:middle']}." in text
    assert "[@nowhere]{.page}" in text
    missing = [problem for problem in result.warnings if "@nowhere" in problem.message]
    assert len(missing) == 1 and missing[0].location.file.name == "01.md" and missing[0].location.line == 16
    assert len([problem for problem in result.warnings if "ppi" not in problem.message]) == 1, result.warnings
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    with zipfile.ZipFile(epub) as package:
        chapter = package.read("EPUB/chapter-01.xhtml").decode()
        nav = package.read("EPUB/nav.xhtml").decode()
    assert f'described on p.\xa0<a href="chapter-02.xhtml#sec:river">{page["sec:river"]}</a>' in chapter
    assert f'The spot is on p.\xa0<a href="chapter-01.xhtml#spot">{page["spot"]}</a>' in chapter
    assert f">{page['spot']}</a></li>" in nav  # the e-book's page list has the page it names


def test_page_references_in_filipino_and_after_an_edit_that_moves_the_pages(make_book, tmp_path):
    book = _pages_book(make_book, "tl", "lists: [figures]\n")
    result = build(book, tmp_path / "out")
    page = _printed_pages(result.written[0])
    text = " ".join(" ".join(pdf_pages_text(result.written[0])).split()).replace("‐ ", "")
    assert f"pahina {page['sec:river']} at {page['fig:map']}" in text
    assert re.search(rf"Talaan ng mga Larawan 1 A map[ .]+{page['fig:map']}\b", text)
    with zipfile.ZipFile(result.written[1]) as package:
        assert f"Larawan 1. A map (pahina\xa0{page['fig:map']})" in package.read("EPUB/nav.xhtml").decode()
    # A page more before the river moves it, its map, and every number that names them.
    chapter = book / "manuscript" / "01.md"
    chapter.write_text(chapter.read_text().replace("## Middle", f"{FILLER}\n\n" * 6 + "## Middle"))
    again = build(book, tmp_path / "out")
    moved = _printed_pages(again.written[0])
    assert int(moved["sec:river"]) > int(page["sec:river"])
    text = " ".join(" ".join(pdf_pages_text(again.written[0])).split()).replace("‐ ", "")
    assert f"pahina {moved['sec:river']} at {moved['fig:map']}" in text
    assert f"Back to the start: pahina {moved['sec:start']}; the middle: {moved['sec:middle']}." in text
    clean = build(book, tmp_path / "clean")
    assert clean.written[0].read_bytes() == again.written[0].read_bytes()
    assert clean.written[1].read_bytes() == again.written[1].read_bytes()


def test_page_numbers_that_do_not_settle_are_a_located_warning(make_book, tmp_path, monkeypatch):
    monkeypatch.setattr(limbag.pdf, "PAGE_REFERENCE_PASSES", 1)  # a first build's guesses are kept
    result = build(_pages_book(make_book), tmp_path / "out")
    unsettled = [problem for problem in result.warnings if "changes the layout" in problem.message]
    assert len(unsettled) == 1 and unsettled[0].location.file.name in ("01.md", "02.md")
    assert unsettled[0].location.line is not None
