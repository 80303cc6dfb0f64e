"""Pages a typographer would sign: measured where the glyphs stand (pdfminer.six reads them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from limbag.pipeline import build

from .conftest import REPO

pytestmark = pytest.mark.build


def _lines(pdf: Path, page_number: int) -> list[tuple[str, float, float, list]]:
    """Each text line of a page: its text, left x, top y, and its characters."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    page = next(iter(extract_pages(str(pdf), page_numbers=[page_number])))
    lines = []

    def walk(item) -> None:
        if isinstance(item, LTTextLine):
            chars = [char for char in item if isinstance(char, LTChar)]
            lines.append((item.get_text().strip(), item.x0, item.y1, chars))
        elif isinstance(item, LTTextContainer) or hasattr(item, "__iter__"):
            for child in item:
                walk(child)

    walk(page)
    return lines


def test_the_index_columns_start_level(tmp_path):
    result = build(REPO, tmp_path / "out", formats=("pdf",))
    index_page = result.page_map.anchor_pages["index"]
    letters = [(x, top) for text, x, top, _ in _lines(result.written[0], index_page)
               if len(text) == 1 and text.isupper()]
    middle = (min(x for x, _ in letters) + max(x for x, _ in letters)) / 2
    first = max(top for x, top in letters if x < middle)
    second = max(top for x, top in letters if x > middle)
    assert abs(first - second) < 1.0, (first, second)


def test_contents_sections_stand_under_their_chapter_and_leaders_keep_clear_of_titles(make_book, tmp_path):
    chapters = {f"0{n}.md": f"# Chapter {n}\n\nText.\n\n## A Section Whose Title Is Long Enough\n\nMore.\n\n"
                            f"## Preferences\n\nMore.\n" for n in (1, 2)}
    book = make_book({"book.yaml": "title: Contents Test\nlanguage: en\noutputs: [pdf]\n", **chapters})
    result = build(book, tmp_path / "out")
    lines = _lines(result.written[0], result.page_map.anchor_pages["contents"])
    rows: dict[float, list] = {}  # the characters of each printed line, left to right
    for _, _, top, chars in lines:
        rows.setdefault(round(top), []).extend(chars)
    texts = {top: "".join(char.get_text() for char in sorted(chars, key=lambda c: c.x0)) for top, chars in rows.items()}
    chapter_title = min(x for text, x, _, _ in lines if text.startswith("Chapter"))
    sections = [x for text, x, _, _ in lines if text.startswith(("A Section", "Preferences"))]
    assert len(sections) == 4 and all(x > chapter_title + 5 for x in sections)
    checked = 0
    for top, chars in rows.items():
        chars = sorted(chars, key=lambda c: c.x0)
        if ". ." not in texts[top]:
            continue
        first_dot = next(index for index, char in enumerate(chars) if char.get_text() == "."
                         and all(later.get_text() in ". " for later in chars[index:index + 3]))
        last_letter = max(index for index, char in enumerate(chars[:first_dot]) if char.get_text().strip())
        assert chars[first_dot].x0 - chars[last_letter].x1 > 2.0, texts[top]  # a space before the dots
        checked += 1
    assert checked == 6


def test_a_caption_that_numbers_itself_is_not_numbered_again(make_book, tmp_path):
    from .conftest import pdf_pages_text, png_image

    book = make_book({"book.yaml": "title: Optik\nlanguage: de\noutputs: [pdf]\n", "lens.png": png_image(1600, 800),
                      "01.md": "# Linsen\n\n![Fig. 1. Eine Sammellinse.](lens.png)\n\n![Eine Zerstreuungslinse.](lens.png)\n\n"
                               "| a | b |\n|---|---|\n| 1 | 2 |\n\n: Tab. 1. Brechzahlen {#tbl:n}\n"})
    text = " ".join(" ".join(pdf_pages_text(build(book, tmp_path / "out").written[0])).split())
    assert "Fig. 1. Eine Sammellinse." in text and "Abbildung 1. Fig. 1" not in text
    assert "Abbildung 2. Eine Zerstreuungslinse." in text  # the book's own label, in German, where the author wrote none
    assert "Tab. 1. Brechzahlen" in text and "Tabelle 1. Tab. 1" not in text

