"""Real manuscripts, as an editor would bring them: each builds as found, nothing printed as raw
syntax, nothing of what Pandoc reads lost, and an e-book EPUBCheck accepts."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

from limbag.pandoc import pandoc_program

from .conftest import run_command
from .corpus import CORPUS, Manuscript, make_book
from .validators import epubcheck

pytestmark = pytest.mark.build

WORD = re.compile(r"[^\W_]+")
SOURCE_SYNTAX = ("](", "{#", ":::", "$$", "[^", "\\frac", "<div", "<details", "~~", "^[", "{.")
"""Markdown that a reader of the printed book should never see (unless the text itself shows it)."""
LEAVE_OUT = """
function Math(element) return {} end
function Figure(figure) return pandoc.Div(figure.caption.long) end
"""
"""Math prints as drawings, and a figure's picture shows its caption, not its alternative text."""


def pandoc_words(book_dir: Path, chapters: list[Path], scratch: Path, markdown: str = "markdown") -> str:
    """Pandoc's own reading of the chapters as plain text, without what print shows otherwise (LEAVE_OUT)."""
    drop_math = scratch / "leave-out.lua"
    drop_math.write_text(LEAVE_OUT, encoding="utf-8")
    texts = []
    for chapter in chapters:
        reader = {".docx": "docx", ".odt": "odt"}.get(chapter.suffix, markdown)
        done = subprocess.run([str(pandoc_program()), "-f", reader, "-t", "plain", "--wrap=none",
                               f"--lua-filter={drop_math}", str(chapter)], capture_output=True, check=True,
                              cwd=book_dir)
        texts.append(done.stdout.decode("utf-8"))
    return "\n".join(texts)


def squashed(text: str) -> str:
    """Text without spaces or the hyphens a line break adds, so words split across lines still match
    (and in compatibility form: Pandoc's plain text writes H~2~O as H₂O)."""
    return re.sub(r"[\s\u00ad\u2010]", "", unicodedata.normalize("NFKC", text).replace("-\n", "")).casefold()


FOLIO = re.compile(r"^(\d+|[ivxlcdm]+)$")


def body_text(printed: str, pdf: Path) -> str:
    """The pages' text without running heads and folios, so that a word hyphenated across a page
    turn reads whole."""
    from pypdf import PdfReader

    def titles(outline: list) -> set[str]:
        found: set[str] = set()
        for item in outline:
            found |= titles(item) if isinstance(item, list) else {" ".join(item.title.split())}
        return found

    heads = titles(PdfReader(pdf).outline) | {pdf.stem}
    pages = []
    for page in printed.split("\f"):
        lines = [line for line in page.split("\n") if line.strip()]
        if lines and " ".join(lines[0].split()) in heads:
            lines = lines[1:]
        if lines and FOLIO.match(lines[-1].strip()):
            lines = lines[:-1]
        pages.append("\n".join(lines))
    return "\n".join(pages)


def squashed_words(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@pytest.mark.parametrize("manuscript", CORPUS, ids=[m.name for m in CORPUS])
def test_a_real_manuscript_builds_as_found_with_nothing_raw_and_nothing_lost(manuscript: Manuscript, tmp_path):
    book = make_book(manuscript, tmp_path)
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr

    pdf = next((book / "build").glob("*.pdf"))
    printed = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True,
                             ).stdout.decode("utf-8")
    chapters = [book / "manuscript" / name for _, name in manuscript.files[:manuscript.chapters]]
    dialect = re.search(r"markdown: (\S+)", manuscript.settings)
    told = pandoc_words(book, chapters, tmp_path, dialect.group(1) if dialect else "markdown")

    # Print sets a web link's address after its words, <like this>: the book's own words, not syntax.
    words_only = re.sub(r"<(?:https?|mailto):[^<>]*>", "", printed)
    for syntax in SOURCE_SYNTAX:
        assert words_only.count(syntax) <= told.count(syntax), f"{syntax!r} printed as raw syntax"
    in_print = squashed(body_text(printed, pdf))
    missing = sorted({word for word in WORD.findall(squashed_words(told)) if word not in in_print})
    assert missing == [], f"{len(missing)} words of Pandoc's reading are not in the PDF: {missing[:20]}"

    report = epubcheck(next((book / "build").glob("*.epub")))
    assert (report.fatals, report.errors) == (0, 0), report.output
