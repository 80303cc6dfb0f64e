"""An editor's day: start a book, check it, build it, and let it rebuild on every save."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from limbag import cli

from .conftest import REPO


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.build
@pytest.mark.parametrize(("language", "chapter"), [("tl", "01-unang-kabanata.md"), ("en", "01-first-chapter.md")])
def test_a_new_book_checks_and_builds(tmp_path, language, chapter):
    done = run("new", "aklat", "--language", language, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "aklat" / "manuscript" / "book.yaml").read_text().startswith("# The book's settings")
    assert (tmp_path / "aklat" / "manuscript" / chapter).is_file()
    checked = run("check", "aklat", "--strict", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: 1 chapter, 1 footnote, 1 index mark, 1 dated event, 0 warnings")
    built = run("build", "aklat", "--strict", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert {p.suffix for p in (tmp_path / "aklat" / "build").iterdir() if not p.name.startswith(".")} == {".pdf", ".epub"}


def test_new_never_overwrites(tmp_path):
    (tmp_path / "aklat").mkdir()
    (tmp_path / "aklat" / "notes.txt").write_text("mine")
    done = run("new", "aklat", cwd=tmp_path)
    assert done.returncode == 1 and "aklat: the folder is not empty" in done.stderr


def test_check_is_fast_and_does_not_lay_out(tmp_path):
    start = time.perf_counter()
    done = run("check", str(REPO), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("ok: 3 chapters, 13 footnotes")
    assert not (tmp_path / "build").exists()
    assert time.perf_counter() - start < 20  # generous: a check never renders


@pytest.mark.build
def test_verbose_prints_a_line_per_stage_and_quiet_prints_nothing(make_book, tmp_path):
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, booklet, epub]\n", "01.md": "# One\n\nHi.\n"})
    verbose = run("build", str(book), "--verbose", cwd=tmp_path)
    stages = [line.strip() for line in verbose.stderr.splitlines()]
    # The e-book is written while the laid-out PDF is being finished, so its line comes first.
    assert [s.split(" (")[0] for s in stages] == ["read 1 chapters", "wrote the e-book", "laid out 5 pages",
                                                  "imposed the booklet"]
    assert all(s.endswith(" s)") for s in stages)
    again = run("-v", "build", str(book), cwd=tmp_path)  # nothing changed: nothing is redone
    assert again.stderr.strip() == "nothing changed since the last build: its files are kept"
    assert "unchanged" in again.stdout
    quiet = run("build", str(book), "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


@pytest.mark.build
def test_watch_rebuilds_on_save_and_survives_mistakes(make_book, tmp_path):
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf]\n", "01.md": "# One\n\nFirst.\n"})
    process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "watch", str(book)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                               env={"PYTHONUNBUFFERED": "1", **dict(__import__("os").environ)})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} in {seen}")

    try:
        wait_for("wrote")
        chapter = book / "manuscript" / "01.md"
        chapter.write_text("# One\n\n![Missing](images/none.png)\n")
        wait_for("01.md:3: image 'images/none.png' not found")
        chapter.write_text("# One\n\nFixed.\n")
        wait_for("wrote")
        assert process.poll() is None  # still watching
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_unexpected_failure_is_one_line_without_a_traceback(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("something unforeseen")

    monkeypatch.setattr(cli, "build", broken)
    result = CliRunner().invoke(cli.main, ["build", str(tmp_path)])
    assert result.exit_code == 2
    assert "internal error: RuntimeError: something unforeseen — this is a bug in Limbag" in result.output
    assert "Traceback" not in result.output


@pytest.mark.build
def test_a_catalog_builds_in_parallel_and_reports_each_book(make_book, tmp_path):
    good = [make_book({"book.yaml": f"title: Book {n}\nlanguage: en\noutputs: [pdf]\n", "01.md": "# One\n\nHi.\n"},
                      name=f"book{n}") for n in (1, 2)]
    broken = make_book({"book.yaml": "title: Broken\nlanguage: en\n", "01.md": "\n"}, name="broken")
    done = run("build", *map(str, good), str(broken), "--out", str(tmp_path / "catalog"), cwd=tmp_path)
    assert done.returncode == 1
    assert "01.md:1: chapter is empty" in done.stderr and "1 of 3 books failed" in done.stderr
    for n in (1, 2):
        assert (tmp_path / "catalog" / f"book{n}" / f"book-{n}.pdf").is_file()


@pytest.mark.build
def test_any_concurrent_futures_executor_can_build_a_catalog(make_book, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from limbag.catalog import build_catalog

    books = [make_book({"book.yaml": f"title: B{n}\nlanguage: tl\noutputs: [pdf]\n", "01.md": "# Isa\n\nTeksto.\n"},
                       name=f"b{n}") for n in (1, 2)]
    with ThreadPoolExecutor(max_workers=2) as executor:
        entries = build_catalog(books, executor, tmp_path / "out")
    assert [entry.error for entry in entries] == [None, None]
    assert [entry.written[0].name for entry in entries] == ["b1.pdf", "b2.pdf"]


def on_a_terminal(*args: str) -> tuple[int, str, str]:
    """The command line with its error stream on a terminal (a pseudo-terminal): what a person sees."""
    import os
    import pty
    import select

    screen, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, str(REPO / "build.py"), *args], stdout=subprocess.PIPE,
                               stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        if select.select([screen], [], [], 0.2)[0]:
            try:
                data = os.read(screen, 65536)
            except OSError:  # the other end is closed: the command has ended
                break
            if not data:
                break
            shown += data
        elif process.poll() is not None:
            break
    os.close(screen)
    return process.wait(timeout=60), process.stdout.read().decode(), shown.decode()


@pytest.mark.build
def test_a_build_on_a_terminal_shows_how_far_it_has_got(make_book, tmp_path):
    chapters = {f"0{n}.md": f"# Chapter {n}\n\nText of chapter {n}.\n" for n in range(1, 4)}
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, booklet, epub]\n", **chapters})
    code, stdout, screen = on_a_terminal("build", str(book))
    assert code == 0 and stdout.count("wrote") == 3
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\n", "\r").split("\r")
    steps = [match.groups() for line in lines if (match := re.search(r"\[[#-]+\]\s+(\d)/6\s+(.*?)\s*$", line))]
    assert [done for done, _ in steps][-1] == "6" and "laid out the front matter" in [what for _, what in steps]
    assert {"laid out chapter 1", "laid out chapter 3", "wrote the e-book", "imposed the booklet"} <= {w for _, w in steps}
    quiet = on_a_terminal("build", str(book), "--quiet", "--out", str(tmp_path / "quiet"))
    assert quiet == (0, "", "")  # nothing extra with --quiet, nor when not on a terminal (see the other tests)


@pytest.mark.build
def test_a_catalog_on_a_terminal_shows_the_books_done(make_book, tmp_path):
    books = [make_book({"book.yaml": f"title: B{n}\nlanguage: en\noutputs: [pdf]\n", "01.md": "# One\n\nHi.\n"},
                       name=f"b{n}") for n in (1, 2, 3)]
    code, _, screen = on_a_terminal("build", *map(str, books), "--out", str(tmp_path / "out"))
    assert code == 0 and re.search(r"\[#+\]\s+3/3\s+built b\d", screen), screen
