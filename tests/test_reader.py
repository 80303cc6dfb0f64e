"""The manuscript as an editor writes it: what the reader keeps, and how mistakes are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from limbag.config import load_config
from limbag.errors import ManuscriptError
from limbag.language import load_language
from limbag.markup import MarkupOptions, blocks_html
from limbag.model import plain_text
from limbag.reader import read_book, read_chapter

from .conftest import png_image

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_cases(name: str) -> list[tuple[str, str, str]]:
    """Cases written as: title line, '.', Markdown, '.', expected HTML, '.'."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").split("\n")
    cases, position = [], 0
    while position < len(lines):
        if not lines[position].strip():
            position += 1
            continue
        title = lines[position]
        parts, current, position = [], [], position + 2
        while len(parts) < 2:
            if lines[position] == ".":
                parts.append("\n".join(current))
                current = []
            else:
                current.append(lines[position])
            position += 1
        cases.append((title, parts[0] + "\n", parts[1]))
    return cases


def chapter_html(tmp_path: Path, markdown: str) -> str:
    source = tmp_path / "chapter.md"
    source.write_text(markdown, encoding="utf-8")
    chapter, _ = read_chapter(source, 1, tmp_path, set())
    options = MarkupOptions(load_language("tl"), {n.id: n for n in chapter.footnotes}, lambda p: p.name, True)
    return blocks_html(chapter.blocks, options)


@pytest.mark.parametrize(("title", "markdown", "expected"), fixture_cases("reader.txt"),
                         ids=[case[0] for case in fixture_cases("reader.txt")])
def test_markdown_fixture(tmp_path, title, markdown, expected):
    assert chapter_html(tmp_path, markdown) == expected


def read(make_book, chapter: str, extra: dict | None = None):
    book_dir = make_book({"book.yaml": "title: T\nlanguage: tl\n", "01.md": chapter, **(extra or {})})
    config, _ = load_config(book_dir)
    return read_book(config, book_dir / "build" / ".limbag-cache")


def test_marks_keep_their_terms_file_and_line(make_book):
    book, problems = read(make_book, '# K\n\nUna.\n\nAng [USSR]{idx="Unyong Sobyet!Ministri"} at\n'
                                     '[Mayo 7, 1954]{date="1954-05-07" event="Tumanggi."}.\n')
    assert problems == []
    (index_mark,) = book.index_marks
    assert index_mark.terms == ("Unyong Sobyet", "Ministri")
    assert index_mark.text == "USSR"
    assert (index_mark.location.file.name, index_mark.location.line) == ("01.md", 5)
    (date_mark,) = book.date_marks
    assert (date_mark.date, date_mark.event, date_mark.location.line) == ("1954-05-07", "Tumanggi.", 6)


def test_figures_are_numbered_through_the_book(make_book):
    files = {"images/a.png": png_image(), "02.md": '# Dalawa\n\n![Ikalawa](images/a.png)\n'}
    book, _ = read(make_book, '# Isa\n\n![Una](images/a.png){alt="Isang kahon"}\n', files)
    figures = [block for chapter in book.chapters for block in chapter.blocks]
    assert [(f.number, f.alt) for f in figures] == [("1", "Isang kahon"), ("2", "Ikalawa")]


def test_undefined_and_unused_footnotes_are_warnings_with_lines(make_book):
    _, problems = read(make_book, "# K\n\nTeksto[^wala].\n\n[^hindi]: Hindi tinawag.\n")
    texts = [str(p) for p in problems]
    assert any("01.md:3: footnote [^wala] is not defined" in t for t in texts)
    assert any("01.md:5: footnote [^hindi] is defined but never called" in t for t in texts)


def test_raw_html_is_a_warning_naming_the_line(make_book):
    _, problems = read(make_book, "# K\n\nUna.\n\nMay <font>HTML</font>.\n")
    assert any("01.md:5: raw HTML '<font>'" in str(p) for p in problems)


@pytest.mark.parametrize(("chapter", "extra", "expected"), [
    ("", {}, "01.md:1: chapter is empty"),
    ("# K\n\n## A {#x}\n\n## B {#x}\n", {}, "01.md:5: duplicate id 'x'"),
    ("# K\n\n![Wala](images/wala.png)\n", {}, "01.md:3: image 'images/wala.png' not found"),
    ("# K\n\n![Sira](images/sira.png)\n", {"images/sira.png": b"not a png"}, "01.md:3: image 'images/sira.png' cannot be read"),
    ('# K\n\n[Marso 32, 1954]{date="1954-03-32"}\n', {}, "01.md:3: bad date '1954-03-32'"),
    ("# K\n\nNi\xf1o\n".encode("latin-1"), {}, "01.md:3: not UTF-8 text"),
    ("# K\n\n![Guhit](images/g.svg)\n", {"images/g.svg": b"<svg><g>"}, "01.md:3: image 'images/g.svg' is not a readable SVG"),
    ("# K\n\n![Guhit](images/g.svg)\n", {"images/g.svg": b"<html/>"}, "01.md:3: image 'images/g.svg' is XML but not an SVG"),
    ("# K\n\n![Laki](images/l.png)\n", {"images/l.png": png_image(9000, 7000)},
     "01.md:3: image 'images/l.png' has 9000 × 7000 = 63,000,000 pixels; at most 60,000,000 are decoded"),
    ("# K\n\n## Indeks {#index}\n", {}, "01.md:3: id 'index' is the name of the book's index"),
    ("# K\n\n[x]{idx=\"a!b!c!d\"}\n", {}, "01.md:3: an index entry of 4 levels; at most 3"),
    ("# K\n\n" + "> " * 40 + "x\n", {}, "01.md:3: quotes, lists or emphasis nested more than 32 deep"),
    ("# K\n\n" + "salita " * 20_000 + "\n", {}, "01.md:3: a paragraph of 139,999 characters; at most 100,000"),
    ("# K\n\n| A |\n|---|\n" + "| x |\n" * 3001, {}, "01.md:3: a table of 3,002 rows; at most 3,000 in one table"),
    ("# K\n\n" + "Teksto.\n\n" * 250_000, {}, "01.md: the chapter file is 2.1 MB; at most 2 MB a file"),
], ids=lambda value: value.split(": ", 1)[-1][:40] if isinstance(value, str) and value.startswith("01.md") else "")
def test_bad_chapters_are_errors_naming_file_and_line(make_book, chapter, extra, expected):
    with pytest.raises(ManuscriptError) as raised:
        read(make_book, chapter, extra)
    assert expected in raised.value.format_message()
    assert " — " in raised.value.format_message()  # every message says what to do


def test_images_and_links_whose_targets_are_refused_show_their_text_with_a_warning(make_book):
    chapter = ("# K\n\n![Ang mapa ng Europa](file:///etc/passwd)\n\n![](https://example.org/a.png){alt=\"Isang larawan\"}\n\n"
               "![Labas](../../../etc/hosts)\n\nTingnan ang [talaksan](file:///etc/passwd) at [ito](javascript:alert(1)).\n")
    book, problems = read(make_book, chapter)
    texts = [plain_text(block.children) for block in book.chapters[0].blocks]
    assert texts == ["Ang mapa ng Europa", "Isang larawan", "Labas", "Tingnan ang talaksan at ito."]
    where = f"{book.config.manuscript_dir}/"
    assert [str(p).split(" — ")[0].replace(where, "") for p in problems] == [
        "01.md:3: image 'file:///etc/passwd' is not a file in the book; its alt text is shown instead",
        "01.md:5: image 'https://example.org/a.png' is not a file in the book; its alt text is shown instead",
        "01.md:7: image '../../../etc/hosts' lies outside manuscript/; its alt text is shown instead",
        "01.md:9: link target 'file:///etc/passwd' is not a web address or #id; its text is shown without the link",
        "01.md:9: link target 'javascript:alert(1)' is not a web address or #id; its text is shown without the link"]


def test_generated_ids_never_meet_the_author_s(make_book):
    book, _ = read(make_book, "# K\n\nUna.[^a]\n\n## p-1-1\n\n## fn-1-1 {#fn-1-1}\n\n[m]{#m-1-1} [x]{idx=\"X\"}\n\n"
                              "[^a]: Tala.\n")
    ids = [block.id for block in book.chapters[0].blocks] + [note.id for note in book.chapters[0].footnotes]
    ids += [mark.anchor_id for mark in book.index_marks]
    assert len(ids) == len(set(ids)) and {"p-1-1", "fn-1-1"} <= set(ids)
    assert all(i.startswith("_") for i in ids if i not in ("k", "p-1-1", "fn-1-1"))
