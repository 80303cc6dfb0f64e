"""A book from a stranger, or from a bad day, built on our machine: every case ends within seconds,
with one located line that says what to do (exit 1) or with a build; never an internal error, a
traceback, or work without end. `check` says the same before any layout."""

from __future__ import annotations

import io
import os
import resource
import shutil
import subprocess
import sys
import time

import pytest
from PIL import Image

from limbag.pipeline import build

from .conftest import REPO, png_image

pytestmark = pytest.mark.build

YAML = "title: T\nlanguage: en\noutputs: [pdf, epub]\n"
CHAPTER = "# One\n\nText.\n"
SECONDS = 30
"""Each case, start to end, on a slow machine; they take one to four seconds here."""


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")
    return buffer.getvalue()


BILLION_LAUGHS = "title: T\nlanguage: en\n" + "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" if n else "l0: &l0 [lol]\n" for n in range(10))

# (what is wrong, the book's files, environment, the exit status, what stderr says)
CASES = [
    ("YAML aliases", {"book.yaml": BILLION_LAUGHS, "01.md": CHAPTER}, {}, 1,
     "book.yaml:4:10: YAML aliases (*name) are not read — write the values out in full"),
    ("10 MB string in book.yaml", {"book.yaml": YAML + "description: '" + "x" * 10_000_000 + "'\n", "01.md": CHAPTER},
     {}, 1, "book.yaml: the file is 9766 KB; at most 512 KB is read"),
    ("nested YAML", {"book.yaml": YAML + "x: " + "[" * 5000 + "]" * 5000 + "\n", "01.md": CHAPTER}, {}, 1,
     "book.yaml:4:43: nested more than 40 levels deep"),
    ("a key written twice", {"book.yaml": YAML + "title: U\n", "01.md": CHAPTER}, {}, 1,
     "book.yaml:4:1: title: written twice (first on line 1) — keep one of them"),
    ("soft hyphens and zero-width spaces", {"book.yaml": YAML, "01.md": "# One\n\n" + "a\u00ad\u200b" * 13_000 + "\n"},
     {}, 0, ""),
    ("a template's range(10**9)", {"book.yaml": YAML, "01.md": CHAPTER,
                                  "layouts/print/book.html.j2": "{% for i in range(10**9) %}{{ i }}{% endfor %}"},
     {}, 1, "book.html.j2: template 'print/book.html.j2' failed: OverflowError: Range too big"),
    ("a 20 MB paragraph", {"book.yaml": YAML, "01.md": "# One\n\n" + "word " * 4_000_000 + "\n"}, {}, 1,
     "01.md: the chapter file is 19.1 MB; at most 2 MB a file — split it into chapters"),
    ("a 100,000-row table", {"book.yaml": YAML, "01.md": "# One\n\n| A |\n|---|\n" + "| x |\n" * 100_000}, {}, 1,
     "01.md:3: a table of 100,001 rows; at most 3,000 in one table"),
    ("nested emphasis", {"book.yaml": YAML, "01.md": "# One\n\n" + "*a " * 5000 + "x" + " b*" * 5000 + "\n"}, {}, 0,
     ""),
    ("nested quotes", {"book.yaml": YAML, "01.md": "# One\n\n" + "> " * 50_000 + "x\n"}, {}, 1,
     "01.md:3: quotes, lists or emphasis nested more than 32 deep"),
    ("nested index sub-entries", {"book.yaml": YAML, "01.md": '# One\n\n[x]{idx="' + "!".join("a" * 3000) + '"}\n'},
     {}, 1, "01.md:3: an index entry of 3000 levels; at most 3"),
    ("a title too long for a file name", {"book.yaml": "title: " + "Word " * 100 + "\nlanguage: en\noutputs: [pdf]\n",
                                          "01.md": CHAPTER}, {}, 0, ""),
    ("SOURCE_DATE_EPOCH out of range", {"book.yaml": YAML, "01.md": CHAPTER}, {"SOURCE_DATE_EPOCH": "99999999999999"}, 1,
     "SOURCE_DATE_EPOCH='99999999999999' is not a time the outputs can carry"),
    ("a decompression bomb", {"book.yaml": YAML, "images/b.png": bomb_png(), "01.md": "# One\n\n![Big](images/b.png)\n"},
     {}, 1, "01.md:3: image 'images/b.png' has 400,000,000 pixels; at most 60,000,000 are decoded"),
    ("a broken SVG", {"book.yaml": YAML, "images/b.svg": "<svg><g>", "01.md": "# One\n\n![Drawing](images/b.svg)\n"},
     {}, 1, "01.md:3: image 'images/b.svg' is not a readable SVG drawing"),
    ("deeply nested lists", {"book.yaml": YAML, "01.md": "# One\n\n" + "".join(
        "  " * i + "- x\n" for i in range(400))}, {}, 1, "01.md:402: quotes, lists or emphasis nested more than 32 deep"),
]


def run(*args: str, env: dict[str, str] | None = None, limit_file_size: int | None = None) -> tuple[int, str, float]:
    def limits() -> None:
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    started = time.monotonic()
    done = subprocess.run([sys.executable, str(REPO / "build.py"), *args], capture_output=True, text=True,
                          timeout=SECONDS * 4, env={**os.environ, **(env or {})}, preexec_fn=limits)
    return done.returncode, done.stderr, time.monotonic() - started


def assert_clean(code: int, stderr: str) -> None:
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert code in (0, 1), stderr


@pytest.mark.parametrize(("case", "files", "env", "code", "message"), CASES, ids=[case[0] for case in CASES])
def test_hostile_input_ends_within_seconds_with_a_located_message_or_a_build(make_book, case, files, env, code,
                                                                             message):
    book = make_book(files)
    built, stderr, seconds = run("build", str(book), env=env)
    assert_clean(built, stderr)
    assert (built, seconds < SECONDS) == (code, True), (stderr, seconds)
    assert message in stderr
    checked, check_stderr, _ = run("check", str(book), env=env)
    assert_clean(checked, check_stderr)
    assert checked == code and message in check_stderr  # check tells the truth


def test_a_new_book_s_language_must_be_a_language_tag(tmp_path):
    code, stderr, _ = run("new", str(tmp_path / "book"), "--language", "en\ntitle: injected")
    assert code == 1 and "--language 'en\\ntitle: injected' is not a BCP 47 language tag" in stderr
    assert not (tmp_path / "book" / "manuscript" / "book.yaml").exists()


def test_generated_ids_do_not_collide_with_headings_that_look_like_them(make_book):
    from .validators import epubcheck

    chapter = "# One\n\nText.[^a]\n\n## p-1-1\n\nMore.\n\n## fn-1-1\n\n## m-1-1 {#m-1-1}\n\n[^a]: A note.\n"
    result = build(make_book({"book.yaml": YAML, "01.md": chapter}))
    assert result.warnings == ()
    report = epubcheck(next(path for path in result.written if path.suffix == ".epub"))
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output


def test_an_image_named_with_a_hash_is_printed(make_book):
    result = build(make_book({"book.yaml": YAML, "images/fig#1.png": png_image(), "01.md":
                              "# One\n\n![A box](images/fig%231.png)\n\n![The same box](images/fig#1.png)\n"}))
    # The engine found the file both times (it warns when it cannot); the picture is small (96 ppi).
    assert [problem.message for problem in result.warnings if "ppi" not in problem.message] == []
    assert result.rendered.html.count('<img src="images/fig%231.png"') == 2
    from pypdf import PdfReader

    assert sum(len(page.images) for page in PdfReader(result.written[0]).pages) == 1  # one image, drawn twice


def test_an_image_gone_during_the_build_is_named_at_its_chapter_line(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf]\n", "images/a.png": png_image(),
                      "01.md": "# One\n\nText.\n\n![A box](images/a.png)\n"})
    gone = book / "manuscript" / "images" / "a.png"

    def delete_after_reading(stage: str) -> None:
        if stage.startswith("read"):
            gone.unlink()

    result = build(book, progress=delete_after_reading)
    assert [str(w).replace(f"{book}/manuscript/", "") for w in result.warnings] == [
        "01.md:5: the layout engine could not load image 'a.png': FileNotFoundError: no file at images/a.png — "
        "check the file; if it was moved or changed during the build, build again"]


@pytest.mark.parametrize(("where", "expected"), [
    ("under a file", "not a folder: choose another folder with --out"),
    ("read-only", "check the folder's permissions, or choose another folder with --out"),
    ("full", "larger than this system lets a file grow"),
])
def test_an_output_folder_that_cannot_be_written_is_one_located_line(make_book, tmp_path, where, expected):
    book = make_book({"book.yaml": YAML, "images/a.png": png_image(600, 600), "01.md": "# One\n\n![A box](images/a.png)\n"})
    out = tmp_path / "out"
    limit = None
    if where == "under a file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "out"
    elif where == "read-only":
        out.mkdir()
        if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
            pytest.skip("this file system cannot make a folder read-only for root (chattr +i)")
    else:
        limit = 20_000
    try:
        code, stderr, _ = run("build", str(book), "--out", str(out), limit_file_size=limit)
    finally:
        if where == "read-only":
            subprocess.run(["chattr", "-i", str(out)], check=True)
    assert_clean(code, stderr)
    assert code == 1 and stderr.count("\n") == 1 and expected in stderr, stderr
    assert stderr.startswith(str(tmp_path))


def test_the_outputs_of_a_failed_write_are_the_last_good_ones(make_book, tmp_path):
    book = make_book({"book.yaml": YAML, "images/a.png": png_image(600, 600), "01.md": "# One\n\n![A box](images/a.png)\n"})
    first = build(book)
    kept = {path: path.read_bytes() for path in first.written}
    (book / "manuscript" / "01.md").write_text("# One\n\n![A box](images/a.png)\n\nMore text.\n")
    code, stderr, _ = run("build", str(book), limit_file_size=40_000)
    assert code == 1
    assert {path: path.read_bytes() for path in first.written} == kept
    assert not [p for p in (book / "build").iterdir() if p.name.endswith((".part", ".old"))]
    shutil.rmtree(book / "build")
