#!/usr/bin/env python3
"""Writes a large book made from the sample: N chapters, each a copy of one of the sample's
chapters (footnotes, index marks and dates included) with its ids made unique.

Shapes: `sample` (the chapters as they are), `notes` (a footnote on every paragraph, every third
of several paragraphs), `tables` (each chapter also has a table of 20 rows and a figure), `corpus`
(real manuscripts nobody here wrote, taken in turn: Pandoc's test suite and table tests, its
getting-started guide, a statistics vignette dense with TeX math and a software memoir; see
tests/corpus.py, which fetches them).

Usage: python benchmarks/large_book.py CHAPTERS TARGET_DIR [SHAPE]
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


SHAPES = ("sample", "notes", "tables", "corpus")
CORPUS_CHAPTERS = ("testsuite.md", "tables.md", "pipe-tables.md", "getting-started.md", "brms_families.md",
                   "DBI-history.md")
NOTE = ("Pinagmulan: ang mga talaan ng pulong, na binanggit sa kasaysayan ng panahong iyon.",
        "Tingnan din ang mga liham ng mga ministro, na nasa sinupan ng bawat bansa.")


def shaped(body: str, shape: str, number: int, part: int) -> str:
    """One chapter's part in the book's shape."""
    if shape == "notes":
        paragraphs = body.split("\n\n")
        for index, paragraph in enumerate(paragraphs):
            if paragraph and not paragraph.startswith(("#", "[^", "    ")):
                label = f"n{part}x{index}"
                note = NOTE[0] if index % 3 else "\n\n    ".join(NOTE)
                paragraphs[index] = f"{paragraph}[^{label}]\n\n[^{label}]: {note}"
        return "\n\n".join(paragraphs)
    if shape == "tables" and part == 1:
        rows = "".join(f"| {1940 + row} | Pangyayari bilang {row} sa kabanata {number} | {row * 17 % 101} |\n"
                       for row in range(20))
        table = f"| Taon | Pangyayari | Bilang |\n|---:|---|---:|\n{rows}\nTable: Mga pangyayari, kabanata {number}.\n"
        figure = f"![Isang guhit ng kabanata {number}](images/guhit.svg)\n"
        return f"{body}\n\n{table}\n{figure}"
    return body


GUHIT = ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200" viewBox="0 0 400 200">'
         '<rect x="10" y="10" width="380" height="180" fill="none" stroke="black"/>'
         '<path d="M10 190 L100 120 L200 140 L300 60 L390 20" fill="none" stroke="black"/></svg>')


def corpus_files(folder: Path) -> dict[str, bytes]:
    """The corpus's Markdown manuscripts and the pictures they use, by file name."""
    sys.path.insert(0, str(REPO / "tests"))
    from corpus import CORPUS
    from corpus import make_book as make_corpus_book

    files: dict[str, bytes] = {}
    for manuscript in CORPUS:
        wanted = [name for _, name in manuscript.files if name in CORPUS_CHAPTERS or name.endswith(".jpg")]
        if wanted:
            book = make_corpus_book(manuscript, folder)
            files.update((name, (book / "manuscript" / name).read_bytes()) for name in wanted)
    return files


def make_corpus(chapters: int, target: Path) -> list[str]:
    """CHAPTERS chapter files, the corpus's manuscripts in turn, each as it was found."""
    files = corpus_files(target / "sources")
    shutil.rmtree(target / "sources")
    manuscript = target / "manuscript"
    for name, data in files.items():
        if not name.endswith(".md"):
            (manuscript / name).write_bytes(data)
    names = []
    for number in range(1, chapters + 1):
        name = f"{number:03d}-{CORPUS_CHAPTERS[(number - 1) % len(CORPUS_CHAPTERS)]}"
        (manuscript / name).write_bytes(files[name[4:]])
        names.append(name)
    return names


def make_book(chapters: int, target: Path, shape: str = "sample") -> Path:
    sources = sorted((REPO / "manuscript").glob("*.md"))
    manuscript = target / "manuscript"
    if target.exists():
        shutil.rmtree(target)
    manuscript.mkdir(parents=True)
    names = make_corpus(chapters, target) if shape == "corpus" else []
    for number in range(1, chapters + 1 if shape != "corpus" else 1):
        # Each chapter is the whole sample, its chapters as sections: about five A5 pages.
        parts = []
        for part, source in enumerate(sources, start=1):
            body = source.read_text(encoding="utf-8")
            body = re.sub(r"\[\^(\w+)\]", rf"[^\g<1>{part}]", body)
            body = re.sub(r"^# (.*?) \{#([\w-]+)\}", rf"## \g<1> {{#\g<2>-{number}}}", body, count=1, flags=re.M)
            parts.append(shaped(body, shape, number, part))
        text = f"# Kabanata {number} {{#k-{number}}}\n\n" + "\n\n".join(parts)
        name = f"{number:03d}.md"
        (manuscript / name).write_text(text, encoding="utf-8")
        names.append(name)
    if shape == "tables":
        (manuscript / "images").mkdir()
        (manuscript / "images" / "guhit.svg").write_text(GUHIT, encoding="utf-8")
    if shape == "corpus":  # English manuscripts with no index terms of their own
        listed = "".join(f"  - {n}\n" for n in names)
        (manuscript / "book.yaml").write_text(f"title: A Corpus of {chapters}\nlanguage: en\nslug: malaking-aklat-"
                                              f"{chapters}\nchapters:\n{listed}", encoding="utf-8")
        return target
    for bibliography in (REPO / "manuscript").glob("*.bib"):  # the sources the sample cites
        shutil.copy(bibliography, manuscript / bibliography.name)
    shutil.copy(REPO / "manuscript" / "likod-ng-pabalat.md", manuscript)  # the back cover's blurb
    settings = (REPO / "manuscript" / "book.yaml").read_text(encoding="utf-8")
    settings = re.sub(r"chapters:\n(  - .*\n)+", "chapters:\n" + "".join(f"  - {n}\n" for n in names), settings)
    settings = settings.replace("slug: kahilingan-ng-ussr", f"slug: malaking-aklat-{chapters}")
    (manuscript / "book.yaml").write_text(settings, encoding="utf-8")
    return target


if __name__ == "__main__":
    print(make_book(int(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4]))
