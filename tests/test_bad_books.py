"""An editor makes a mistake: the build stops with exit 1 and one line naming the place and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO, run_command

GOOD_YAML = "title: T\nlanguage: en\noutputs: [pdf]\n"
CHAPTER = "# One\n\nText.\n"

# (what is wrong, the book's files, what stderr must say, exit code)
CASES = [
    ("yaml syntax", {"book.yaml": "title: T\nlanguage: [en\n", "01.md": CHAPTER}, "book.yaml:3:", 1),
    ("yaml type", {"book.yaml": "title: {a: 1}\nlanguage: en\n", "01.md": CHAPTER},
     "book.yaml:1: title: expected text, got a mapping", 1),
    ("missing title", {"book.yaml": "language: en\n", "01.md": CHAPTER}, "book.yaml:1: title: missing", 1),
    ("no book.yaml", {"01.md": CHAPTER}, "book.yaml: file not found", 1),
    ("missing chapter", {"book.yaml": GOOD_YAML + "chapters: [01.md, 02.md]\n", "01.md": CHAPTER},
     "book.yaml:4: chapters[1]: chapter file '02.md' not found", 1),
    ("non-UTF-8 chapter", {"book.yaml": GOOD_YAML, "01.md": "# One\n\nPi\xf1a.\n".encode("latin-1")},
     "01.md:3: not UTF-8 text", 1),
    ("empty chapter", {"book.yaml": GOOD_YAML, "01.md": "\n"}, "01.md:1: chapter is empty", 1),
    ("duplicate id", {"book.yaml": GOOD_YAML, "01.md": "# One {#x}\n", "02.md": "# Two {#x}\n"},
     "02.md:1: duplicate id 'x'", 1),
    ("bad date mark", {"book.yaml": GOOD_YAML, "01.md": '# One\n\n[then]{date="1954-13-01"}\n'},
     "01.md:3: bad date '1954-13-01'", 1),
    ("bad curated date", {"book.yaml": GOOD_YAML + "chronology:\n  events:\n    - {date: 1954-02-30, text: X}\n",
                          "01.md": CHAPTER}, "book.yaml:6: chronology.events[0].date: bad date", 1),
    ("missing image", {"book.yaml": GOOD_YAML, "01.md": "# One\n\n![Map](images/map.png)\n"},
     "01.md:3: image 'images/map.png' not found", 1),
    ("broken image", {"book.yaml": GOOD_YAML, "images/map.png": b"GIF89a broken", "01.md": "# One\n\n![Map](images/map.png)\n"},
     "01.md:3: image 'images/map.png' cannot be read", 1),
    ("unknown output", {"book.yaml": GOOD_YAML.replace("[pdf]", "[pdf, mobi]"), "01.md": CHAPTER},
     "book.yaml:3: outputs[1]: unknown output 'mobi' — allowed: pdf, booklet, press, epub", 1),
    ("unknown page size", {"book.yaml": GOOD_YAML + "page: {size: A9}\n", "01.md": CHAPTER},
     "book.yaml:4: page.size: unknown size 'A9'", 1),
    ("index type", {"book.yaml": GOOD_YAML + "index: {terms: [a, b]}\n", "01.md": CHAPTER},
     "book.yaml:4: index.terms: expected a mapping of terms", 1),
    ("broken layout", {"book.yaml": GOOD_YAML, "01.md": CHAPTER, "layouts/print/book.html.j2": "{% if %}"},
     "book.html.j2:1: template error", 1),
]

# Warnings: the build succeeds, and fails with --strict.
WARNINGS = [
    ("unknown key", {"book.yaml": GOOD_YAML + "autor: X\n", "01.md": CHAPTER},
     "book.yaml:4: autor: unknown key, ignored — did you mean `author`?"),
    ("undefined footnote", {"book.yaml": GOOD_YAML, "01.md": "# One\n\nText[^gone].\n"},
     "01.md:3: footnote [^gone] is not defined"),
    ("unused footnote", {"book.yaml": GOOD_YAML, "01.md": "# One\n\nText.\n\n[^spare]: Never called.\n"},
     "01.md:5: footnote [^spare] is defined but never called"),
    ("empty index mark", {"book.yaml": GOOD_YAML, "01.md": '# One\n\nText []{idx=""}.\n'}, "01.md:3: empty index term"),
    ("broken font", {"book.yaml": GOOD_YAML, "01.md": CHAPTER, "fonts/Broken.ttf": b"not a font"},
     "Broken.ttf: font cannot be loaded"),
    ("raw html", {"book.yaml": GOOD_YAML, "01.md": "# One\n\nA <font>bold</font> move.\n"}, "01.md:3: raw HTML '<font>'"),
]


def run(book, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args, str(book)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("case", "files", "message", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_stops_with_a_located_message(make_book, case, files, message, code):
    book = make_book(files)
    for command in ("check", "build"):
        done = run_command(command, str(book))
        assert done.code == code, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr


def test_the_command_itself_stops_with_one_located_line(make_book):
    book = make_book(CASES[0][1])
    done = run(book, "build")
    assert (done.returncode, done.stderr.count("\n")) == (1, 1) and CASES[0][2] in done.stderr


@pytest.mark.build
@pytest.mark.parametrize(("case", "files", "message"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_warnings_name_the_place_and_fail_only_with_strict(make_book, case, files, message):
    book = make_book(files)
    done = run_command("build", str(book))
    assert done.code == 0 and message in done.stderr, done.stderr
    strict = run_command("build", "--strict", str(book))
    assert strict.code == 1 and message in strict.stderr and "--strict" in strict.stderr
    assert "Traceback" not in strict.stderr
    assert run(book, "build", "--quiet").stderr == ""
