"""Editors rebuild all day on work they cannot lose: odd input never crashes, a killed build keeps the
last good files, and the same input always gives the same bytes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limbag.errors import LimbagError
from limbag.pipeline import build, prepare

from .conftest import REPO, children, live_processes

MARKDOWN_PIECES = st.sampled_from([
    "# ", "## ", "### ", "\n", "\n\n", "*", "**", "_", "`", "[", "]", "(", ")", "{", "}", "^", "[^", "]:", "!",
    "> ", "- ", "1. ", "| ", "|---|", "---", "<b>", "</b>", "<!--", "-->", "#id", ".cls", '="', '"', "idx=", "date=",
    "event=", "1954-03-31", "Marso 31, 1954", "March 1954", "Ñ", "ng", "pag-uugali", "USSR", " ", "text", "\t", "\\",
    "images/x.png", "&amp;", "<script>", "\u00ad", "\u200b", "é", "😀",
])
markdown = st.lists(MARKDOWN_PIECES, max_size=40).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 3000), st.text(max_size=12), st.sampled_from(
    ["A5", "letter", "5.5in 8.5in", "3mm", "tl", "en", "fil", "1954-03-31", "1954-13-01", "pdf", "epub", "crop"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(["size", "sheet", "bleed",
                                                       "marks", "terms", "see", "detect", "events", "date", "text",
                                                       "aliases", "x"]), inner, max_size=3)), max_leaves=8)
book_yaml = st.fixed_dictionaries(
    {"title": st.one_of(st.text(max_size=20), scalars), "language": st.sampled_from(["tl", "en", "fil", "xx", 5])},
    optional={key: values for key in ("page", "booklet", "outputs", "index", "chronology", "authors", "date", "isbn",
                                      "chapters", "slug", "subtitle")},
)


def write_book(root: Path, settings_data: object, chapters: list[str]) -> Path:
    manuscript = root / "manuscript"
    manuscript.mkdir(parents=True)
    (manuscript / "book.yaml").write_text(yaml.safe_dump(settings_data, allow_unicode=True), encoding="utf-8")
    for number, text in enumerate(chapters, start=1):
        (manuscript / f"{number:02d}.md").write_text(text, encoding="utf-8")
    return root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(settings_data=book_yaml, chapters=st.lists(markdown, min_size=1, max_size=3))
def test_any_input_is_read_or_refused_with_a_located_message(settings_data, chapters):
    with tempfile.TemporaryDirectory() as folder:
        book = write_book(Path(folder) / "book", settings_data, chapters)
        try:
            prepare(book)
        except LimbagError as error:
            assert error.format_message().strip()


@pytest.mark.build
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chapters=st.lists(markdown.map(lambda text: "# Title\n\n" + text), min_size=1, max_size=2))
def test_any_chapter_builds_every_output_or_is_refused(chapters):
    with tempfile.TemporaryDirectory() as folder:
        book = write_book(Path(folder) / "book", {"title": "T", "language": "tl",
                                                   "outputs": ["pdf", "booklet", "press", "epub"]}, chapters)
        try:
            result = build(book)
        except LimbagError as error:
            assert error.format_message().strip()
        else:
            assert len(result.written) == 4 and all(path.stat().st_size for path in result.written)


@pytest.mark.build
def test_two_builds_of_every_output_are_byte_identical(tmp_path):
    first = build(REPO, tmp_path / "one", formats=("pdf", "booklet", "press", "epub"))
    second = build(REPO, tmp_path / "two", formats=("pdf", "booklet", "press", "epub"))
    for one, two in zip(first.written, second.written, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


@pytest.mark.build
def test_source_date_epoch_sets_the_dates_and_still_repeats(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "946684800")  # 2000-01-01
    first = build(REPO, tmp_path / "one", formats=("pdf", "epub"))
    second = build(REPO, tmp_path / "two", formats=("pdf", "epub"))
    assert [p.read_bytes() for p in first.written] == [p.read_bytes() for p in second.written]
    import zipfile

    with zipfile.ZipFile(first.written[1]) as archive:
        assert b"2000-01-01T00:00:00Z" in archive.read("EPUB/package.opf")


@pytest.mark.build
def test_a_killed_build_leaves_the_last_good_outputs_whole(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(REPO / "manuscript", book / "manuscript")
    long_text = "\n\n".join(["Isang mahabang talata tungkol sa kasaysayan ng NATO at ng Unyong Sobyet. " * 30] * 40)
    (book / "manuscript" / "04-dagdag.md").write_text(f"# Dagdag\n\n{long_text}\n", encoding="utf-8")
    yaml_path = book / "manuscript" / "book.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("  - 03-pagtanggi.md\n", "  - 03-pagtanggi.md\n  - 04-dagdag.md\n"))
    command = [sys.executable, str(REPO / "build.py"), "build", str(book), "--format", "pdf", "--format", "booklet",
               "--format", "epub"]
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    good = {path.name: path.read_bytes() for path in (book / "build").iterdir() if path.is_file()}
    assert len(good) == 3
    (book / "manuscript" / "04-dagdag.md").write_text(f"# Binago\n\n{long_text}\n", encoding="utf-8")
    for delay in (0.3, 0.8, 1.5, 2.5):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        now = {path.name: path.read_bytes() for path in (book / "build").iterdir()
               if path.is_file() and not path.name.endswith(".part")}
        assert set(now) == set(good)
        for name, data in now.items():  # each file is either the last good one or a complete new one
            assert data == good[name] or _is_whole(name, data)
        for leftover in (book / "build").glob("*.part"):
            leftover.unlink()


def _is_whole(name: str, data: bytes) -> bool:
    if name.endswith(".pdf"):
        return data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    import io
    import zipfile

    return zipfile.ZipFile(io.BytesIO(data)).testzip() is None


@pytest.mark.build
@pytest.mark.parametrize(("rank", "stopped"), [(0, "the joining process"), (1, "the second layout process"),
                                               (2, "the helper process")])
def test_if_a_helping_process_dies_the_build_says_so_and_keeps_the_last_outputs(make_book, rank, stopped):
    """The joining process is started first (before Pandoc), the second layout process next, then
    the helper (e-book fonts)."""
    chapters = {f"{n:02}.md": f"# Chapter {n}\n\n" + "A sentence of the chapter. " * 700 + "\n" for n in range(1, 41)}
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, booklet, epub]\n", **chapters})
    first = build(book)
    kept = first.written[0].read_bytes()
    shutil.rmtree(book / "build" / ".limbag-cache")  # every chapter to be laid out again, by both processes
    process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "build", str(book), "--processes", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    helpers: list[int] = []
    seen: dict[int, int] = {}  # a child started for Pandoc is Python for an instant, until it runs Pandoc
    while len(helpers) < 3 and time.monotonic() < deadline and process.poll() is None:
        processes = live_processes()
        for child in children(process.pid):
            if child not in processes:  # started a moment ago: looked at next time
                continue
            pandoc = "pandoc" in processes[child][2] or seen.get(child, 0) < 0
            seen[child] = -1 if pandoc else seen.get(child, 0) + 1
        helpers = sorted(child for child, polls in seen.items() if polls >= 2)
        time.sleep(0.02)
    if len(helpers) < 3:
        process.kill()
        pytest.skip("the build's helper processes were not seen")
    # The layout processes well into the chapters (stopped while setting up, one is done without);
    # the helper at once, before it has subset the e-book's fonts (after that, it is not needed).
    time.sleep(1.5 if rank < 2 else 0)
    try:
        os.kill(helpers[rank], signal.SIGKILL)
    except ProcessLookupError:
        pytest.skip(f"the build finished before {stopped} was stopped")
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip(f"the build finished before {stopped} was stopped")
    assert process.returncode == 1, stderr
    assert f"book.yaml: {stopped} stopped" in stderr and "Traceback" not in stderr
    assert first.written[0].read_bytes() == kept


@pytest.mark.build
def test_a_rebuild_with_nothing_changed_does_no_work_and_an_edit_rebuilds(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(REPO / "manuscript", book / "manuscript")
    first = build(book)
    lines: list[str] = []
    second = build(book, progress=lines.append)
    assert second.cached and lines == ["nothing changed since the last build: its files are kept"]
    assert [p.read_bytes() for p in second.written] == [p.read_bytes() for p in first.written]
    chapter = book / "manuscript" / "01-panimula.md"
    chapter.write_text(chapter.read_text().replace("Panimula {#panimula}", "Pambungad {#panimula}"))
    third = build(book)
    assert not third.cached and "Pambungad" in third.rendered.html
    (book / "build" / first.written[0].name).write_bytes(b"damaged")  # an output touched by hand
    assert not build(book).cached
