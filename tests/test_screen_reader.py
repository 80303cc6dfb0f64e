"""A reader with a screen reader follows the reading PDF's structure tree, not its pages: every
paragraph is read whole, whatever pages it crosses; a footnote right after the paragraph that
calls it; a table once, row by row; running heads, folios and leaders not at all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from limbag.markup import block_text
from limbag.model import CONTAINERS, Code, Figure, Heading, LineBreak, Paragraph, Table, Text, iter_blocks
from limbag.pipeline import build

from .conftest import png_image, words
from .structure import Element, structure_tree

pytestmark = pytest.mark.build

LONG = " ".join(["Ang ilog ay umaapaw tuwing tag-ulan, at muling itinatayo ng bayan ang mga bahay nito."] * 14)

CHAPTER = f"""# Mga Baha

{LONG}[^una]

{LONG}

- Unang bagay sa listahan, na may [diin]{{.mark}}.
- Ikalawang bagay.[^ikalawa]

1. Bilang isa.
2. Bilang dalawa.

![Ang mapa ng ilog](mapa.png)

## Mga Taon

| Taon | Baha | Tala |
|------|------|------|
{chr(10).join(f"| {1900 + year} | {'oo' if year % 3 else 'hindi'} | Talaan ng taong {1900 + year} |" for year in range(70))}

: Ang mga baha ayon sa taon {{#tbl:baha}}

{LONG}

[^una]: Ang unang tala, na mahaba rin: {LONG[:300]}

[^ikalawa]: Ang ikalawang tala.
"""


def _prose(block) -> str:
    """A block's words as they are read: a formula is a picture with its TeX as alternative text,
    not text."""
    def walk(nodes) -> str:
        return "".join(node.text if isinstance(node, (Text, Code)) else " " if isinstance(node, LineBreak)
                       else walk(node.children) if isinstance(node, CONTAINERS) else "" for node in nodes)

    if isinstance(block, (Paragraph, Heading)):
        return walk(block.children)
    return block_text(block)


def _words(text: str) -> list[str]:
    """Words without numbers: a note's call and number, and page numbers, stand apart."""
    return [word for word in words(text) if not word.isdigit()]


def _check_with_accessibility_checkers(pdf: Path, explained: frozenset[str] = frozenset()) -> None:
    """PyPI's pdfua and outloud find nothing but what the README explains: outloud's ORD-001 (a
    footnote is read after its paragraph but printed at the foot of the page) and the book's own
    `explained` findings, and pdfua's UA-14-001, which it cannot run (the checker itself raises an
    error on number arrays)."""
    done = subprocess.run([sys.executable, "-m", "pdfua", "check", "--format", "json", str(pdf)],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert report["findings"] == [], report["findings"]
    assert [skipped["rule_id"] for skipped in report["skipped"]] in ([], ["UA-14-001"])
    done = subprocess.run([str(Path(sys.executable).parent / "outloud"), "--json", "-", str(pdf)],
                          capture_output=True, text=True, timeout=300)
    findings = json.loads(done.stdout)["results"][0]["findings"]
    assert {finding["rule"] for finding in findings} <= {"ORD-001", *explained}, findings


def _check_reading_order(result, pdf: Path) -> Element:
    tree, referred, texts, artifacts = structure_tree(pdf)
    # Every piece of marked content is in the tree once; the rest is pagination artifacts.
    assert len(referred) == len(set(referred))
    assert set(referred) == set(texts), (set(texts) - set(referred), set(referred) - set(texts))
    pages_with_text = {page for page, _ in texts}
    for number, label in enumerate(result.page_map.labels):
        if label.isdigit() and number in pages_with_text:  # a body page's folio is an artifact
            assert label in " ".join(artifacts[number]).split(), (number, label, artifacts[number])
    # Each paragraph of the book is one P, read whole.
    paragraphs = [element for element in tree.all("P")]
    by_words: dict[tuple[str, ...], int] = {}
    for element in paragraphs:
        key = tuple(_words(element.text))
        by_words[key] = by_words.get(key, 0) + 1
    for chapter in result.book.chapters:
        for block in chapter.blocks:
            if isinstance(block, Paragraph) and _words(_prose(block)):
                assert by_words.get(tuple(_words(_prose(block))), 0) >= 1, _prose(block)[:80]
        # Each note is a Note, right after the paragraph (or block) that calls it.
        for note in chapter.footnotes:
            expected = _words(" ".join(_prose(child) for child in note.children))
            notes = [element for element in tree.all("Note") if _words(element.text) == expected]
            assert len(notes) == 1, expected[:8]
        headings = [block for block in iter_blocks(chapter.blocks) if isinstance(block, Heading)]
        for heading in headings:
            level = [element for element in tree.all(f"H{heading.level}")
                     if _words(element.text) == _words(_prose(heading))]
            assert len(level) == 1, _prose(heading)
        for table in (block for block in iter_blocks(chapter.blocks) if isinstance(block, Table)):
            rows = [_words(" ".join(_prose(Paragraph("", cell.children)) for cell in row))
                    for row in (*table.head, *table.body, *table.foot)]
            found = [element for element in tree.all("Table") if [_words(row.text) for row in element.all("TR")] == rows]
            assert len(found) == 1, rows[:2]
        for figure in (block for block in iter_blocks(chapter.blocks) if isinstance(block, Figure)):
            assert [element for element in tree.all("Figure") if element.attributes.get("Alt") == figure.alt]
    for note in tree.all("Note"):
        assert note.elements() and note.elements()[0].role == "Lbl"
    return tree


def test_a_book_reads_in_order_paragraphs_whole_notes_after_them_tables_once(make_book, tmp_path):
    book = make_book({"book.yaml": "title: Ang mga Baha sa Ating Bayan\nlanguage: tl\noutputs: [pdf]\n", "01.md": CHAPTER,
                      "mapa.png": png_image()})
    result = build(book, tmp_path / "out")
    pdf = result.written[0]
    tree = _check_reading_order(result, pdf)
    # The long paragraphs cross pages, and the table too: still one P each, one Table.
    assert len(result.page_map.labels) > 6
    crossing = [element for element in tree.all("P") if len(_words(element.text)) > 150]
    assert len(crossing) >= 3
    assert len(tree.all("Table")) == 1
    # The first note comes right after the paragraph that calls it.
    section = next(element for element in tree.all("Sect") if element.all("Note"))
    kids = section.elements()
    first_note = next(index for index, element in enumerate(kids) if element.role == "Note")
    assert kids[first_note - 1].role == "P" and kids[first_note - 1].all("Reference")
    lists = tree.all("L")
    assert len(lists) == 2 and all(item.elements()[0].role == "Lbl" for lst in lists for item in lst.elements())
    # Words the layout hyphenated at a line's end are whole in what is read.
    assert "tag-ulan" in tree.text or "tag" in tree.text
    assert not any(word.endswith("‐") for word in tree.text.split())
    _check_with_accessibility_checkers(pdf)


def test_the_sample_book_reads_in_order(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    result = build(repo, tmp_path / "out", formats=("pdf",))
    _check_reading_order(result, result.written[0])
    _check_with_accessibility_checkers(result.written[0])


def test_a_real_textbook_reads_in_order(tmp_path):
    book = tmp_path / "rlhf"
    source = Path(__file__).parent / "fixtures" / "rlhf-book"
    shutil.copytree(source, book / "manuscript", ignore=shutil.ignore_patterns("LICENSE", "SOURCE.md"))
    (book / "manuscript" / "book.yaml").write_text(
        "title: Reinforcement Learning from Human Feedback\nlanguage: en\n"
        "chapters: [02-related-works.md, 03-training-overview.md]\noutputs: [pdf]\n"
        "bibliography: bib.bib\n", encoding="utf-8")
    result = build(book, tmp_path / "out")
    tree = _check_reading_order(result, result.written[0])
    assert tree.all("Formula") and all(formula.attributes.get("Alt") for formula in tree.all("Formula"))
    assert tree.all("BibEntry") and tree.all("TOC")
    # The book's formulas have their TeX as alternative text, not its spoken form (MATH-010), and
    # one picture's alternative text, the author's, is a caption with TeX in it (FIG-010).
    _check_with_accessibility_checkers(result.written[0], frozenset({"MATH-010", "FIG-010"}))
