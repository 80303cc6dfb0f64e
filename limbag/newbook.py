"""`new`: a book folder to start from, with a book.yaml that explains itself."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from .config import LANGUAGE_TAG
from .errors import LimbagError, Location
from .language import data_code_for

BOOK_YAML = """\
# The book's settings. Every key is explained in Limbag's README; the ones below are the usual ones.
title: {title}
# subtitle: A subtitle
authors:
  - {author}
language: {language}            # BCP 47: tl, fil, en …
date: {date}            # YYYY-MM-DD; printed in the imprint, in the book's language
# publisher: Your press
# rights: "© {year} …"
# isbn: 978-…                  # ISBN-13 (the check digit is verified), or `identifier:`
# chapters: [01-{first}.md]     # reading order; without it, every *.md in name order
page:
  size: A5                # A4, A5, A6, B5, letter, halfletter, or two lengths: 5.5in 8.5in
  # bleed: 3mm            # for the press PDF
  # marks: [crop]
outputs: [pdf, booklet, epub]   # any of pdf, booklet, press, epub
booklet:
  sheet: A4               # the paper the booklet is printed on
# index:
#   terms:
#     "Term": {{aliases: [Another name]}}
# chronology:
#   detect: true          # find dates written in the text
"""

FIRST_CHAPTER = {
    "tl": ("unang-kabanata", """\
# Unang Kabanata

Isulat dito ang unang kabanata. Isang talata ang bawat bloke ng teksto; maglagay ng blangkong linya
sa pagitan ng mga talata.

Maglagay ng tala sa paanan ng pahina nang ganito.[^tala] Ang isang [pangalan]{{idx="Pangalan"}} ay
mapupunta sa indeks, at ang petsang [Marso 31, 1954]{{date="1954-03-31"}} sa kronolohiya.

[^tala]: Ito ang teksto ng tala.
"""),
    "en": ("first-chapter", """\
# The First Chapter

Write the first chapter here. Each block of text is a paragraph; leave a blank line between
paragraphs.

Add a footnote like this.[^note] A [name]{{idx="Name"}} goes into the index, and the date
[March 31, 1954]{{date="1954-03-31"}} into the chronology.

[^note]: This is the note's text.
"""),
}


def create_book(book_dir: Path, language: str, title: str | None) -> list[Path]:
    """Write book.yaml and a first chapter; never overwrite anything."""
    if book_dir.exists() and any(book_dir.iterdir()):
        raise LimbagError("the folder is not empty", Location(book_dir), "choose a new folder name")
    if not LANGUAGE_TAG.fullmatch(language):
        raise LimbagError(f"--language {language!r} is not a BCP 47 language tag", hint="write e.g. tl, fil or en")
    data = "tl" if data_code_for(language) == "tl" else "en"
    first, chapter = FIRST_CHAPTER[data]
    default_title = "Bagong Aklat" if data == "tl" else "A New Book"
    today = dt.date.today()
    manuscript = book_dir / "manuscript"
    (manuscript / "images").mkdir(parents=True)
    yaml_path = manuscript / "book.yaml"
    yaml_path.write_text(BOOK_YAML.format(
        title=json.dumps(title or default_title, ensure_ascii=False), author="Ang May-akda" if data == "tl" else "The Author",
        language=language, date=today.isoformat(), year=today.year, first=first), encoding="utf-8")
    chapter_path = manuscript / f"01-{first}.md"
    chapter_path.write_text(chapter.format(), encoding="utf-8")
    return [yaml_path, chapter_path]
