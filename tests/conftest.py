"""Shared helpers: write small real book folders in tmp_path and read back what was built."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

REPO = Path(__file__).resolve().parent.parent

MakeBook = Callable[..., Path]


@pytest.fixture
def make_book(tmp_path: Path) -> MakeBook:
    """make_book({"book.yaml": "...", "01.md": "..."}) → a book folder; bytes values are written raw."""

    def make(files: dict[str, str | bytes], name: str = "book") -> Path:  # noqa: C901
        book = tmp_path / name
        for relative, content in files.items():
            path = book / "manuscript" / relative if not relative.startswith(("layouts/", "fonts/")) else book / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return book

    return make


def live_processes() -> dict[int, tuple[int, int, str]]:
    """Every live process (zombies, already ended, left out): pid → (parent, session, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[3]), command)
    return found


def children(pid: int) -> list[int]:
    """The processes `pid` started, oldest first."""
    return sorted(child for child, (parent, _, _) in live_processes().items() if parent == pid)


@dataclass(frozen=True)
class Ran:
    """What the command line did: its exit status and what it printed."""

    code: int
    stdout: str
    stderr: str


def run_command(*args: str) -> Ran:
    """The command line, run in this process (no interpreter to start): for the tests of many small books."""
    from click.testing import CliRunner

    from limbag.cli import main

    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # Click < 8.2
    except TypeError:
        runner = CliRunner()
    result = runner.invoke(main, list(args))
    return Ran(result.exit_code, result.stdout, result.stderr)


def pdf_pages_text(path: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(path).pages]


def words(text: str) -> list[str]:
    """Words for comparing source and PDF: joins line-end hyphenation, drops punctuation and case."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[-‐­]\s*\n\s*", "", text)  # a word broken at a line end
    # Letters and digits apart: a footnote call's number is printed right after its word ("Ukraine2").
    return [w.lower() for w in re.findall(r"[^\W\d_]+(?:[’'][^\W\d_]+)*|\d+", text)]


def png_image(width: int = 300, height: int = 150) -> bytes:
    """A small real PNG, drawn with Pillow."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([4, 4, width - 5, height - 5], outline="black", width=3)
    draw.line([4, height - 5, width - 5, 4], fill="navy", width=4)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def manuscript_words(source: str) -> list[str]:
    """The words a reader sees, from a chapter's Markdown: attributes, note labels and syntax removed."""
    source = re.sub(r"\{[^}]*\}|\[\^\w+\]:?|\^\[|\]\([^)]*\)|[*#>|]", " ", source)
    return words(source)


def assert_every_word_printed(result, pdf: Path) -> None:
    text = "\n".join(pdf_pages_text(pdf))
    # A hyphen at a line end is either a break the layout made or the word's own (sama-samang): take both.
    printed = set(words(text)) | set(words(re.sub(r"[-‐]\s*\n\s*", "-", text)))
    printed_text = " ".join(words(text))
    for chapter in result.book.chapters:
        source_words = manuscript_words(chapter.source.read_text(encoding="utf-8"))
        missing = [w for w in source_words if w not in printed and not (w.isdigit() and w in printed_text)]
        assert missing == [], (chapter.source.name, missing)
    for leak in ("{idx", "{date", "[^", "](", "**", "{#", "<span", "&lt;"):
        assert leak not in text, leak


def assert_footnotes_on_their_call_pages(result, pdf: Path) -> int:
    """Each note's first words stand on the page where it is called; returns how many were checked."""
    from limbag.markup import block_text

    texts = [" ".join(words(text)) for text in pdf_pages_text(pdf)]
    checked = 0
    for chapter in result.book.chapters:
        for note in chapter.footnotes:
            call_page = result.page_map.anchor_pages[f"_fnref-{chapter.number}-{note.number}"]
            first_words = " ".join(words(block_text(note.children[0]))[:6])
            assert first_words in texts[call_page], (note.id, call_page)
            checked += 1
    return checked


def assert_index_is_true(result, pdf: Path) -> int:
    """Every printed page number of every entry is a page where the entry's words stand; returns the count."""
    texts = [" ".join(words(text)) for text in pdf_pages_text(pdf)]
    page_map = result.page_map
    index_text = " ".join("\n".join(pdf_pages_text(pdf)[page_map.anchor_pages["index"]:]).split())
    marks = {mark.anchor_id: mark for mark in result.book.index_marks}
    checked = 0

    def check(entry) -> None:
        nonlocal checked
        pages_of_entry = {page_map.anchor_pages[a] for a in entry.anchors}
        printed = []
        for page_range in entry.pages:
            start = page_map.anchor_pages[page_range.start_anchor]
            end = page_map.anchor_pages[page_range.end_anchor or page_range.start_anchor]
            for page in range(start, end + 1):
                assert page in pages_of_entry, (entry.term, page)
                spots = [marks[a] for a in entry.anchors if page_map.anchor_pages[a] == page]
                assert any(" ".join(words(m.text)) in texts[page] for m in spots if m.text), (entry.term, page)
                checked += 1
            printed.append(page_range.start_label + (f"–{page_range.end_label}" if page_range.end_label else ""))
        if printed:
            assert f"{entry.term}, {', '.join(printed)}" in index_text, entry.term
        for child in entry.children:
            check(child)

    for group in result.index.groups:
        for entry in group.entries:
            check(entry)
    return checked


@pytest.fixture(autouse=True)
def _layout_only_in_build_tests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that lays a book out must be marked `build`, so that `pytest -m "not build"` stays quick."""
    if request.node.get_closest_marker("build") is not None:
        return
    from limbag import typeset

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("this test lays a book out: mark it @pytest.mark.build")

    monkeypatch.setattr(typeset.Typesetter, "lay_out", refuse)


def hyphenated_page_feet(pdf: Path) -> list[int]:
    """The pages (1-based) whose last line of body text (the size most of the page's text is set in,
    so not the notes or the folio) ends in the hyphen the layout adds when it breaks a word."""
    found = []
    for number, page in enumerate(PdfReader(pdf).pages, start=1):
        runs: list[tuple[float, float, str]] = []

        def visit(text: str, _cm: object, tm: list[float], _font: object, size: float,
                  runs: list[tuple[float, float, str]] = runs) -> None:
            if text.strip():
                runs.append((tm[5], round(size, 1), text))

        page.extract_text(visitor_text=visit)
        if not runs:
            continue
        body = Counter(size for _, size, text in runs for _ in text).most_common(1)[0][0]
        lines: dict[float, str] = {}
        for y, size, text in runs:
            if size == body:
                lines[round(y, 1)] = lines.get(round(y, 1), "") + text
        if lines[max(lines)].rstrip().endswith("\u2010"):
            found.append(number)
    return found
