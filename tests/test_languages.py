"""Editors write in German, Spanish, French and Cebuano as well as in Filipino and English: each
book gets its own interface words, dates, index order and hyphenation, from the common data (CLDR,
Pandoc's translations, ICU) and Limbag's own words where those have none."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from limbag.chronology import find_dates, format_when
from limbag.dates import parse_date_value
from limbag.language import load_language
from limbag.pipeline import build

from .conftest import pdf_pages_text, png_image


@pytest.mark.parametrize(("tag", "date", "month", "range_text"), [
    ("de", "31. März 1954", "März 1954", "21. August – 7. Oktober 1944"),
    ("es", "31 de marzo de 1954", "marzo de 1954", "21 de agosto – 7 de octubre de 1944"),
    ("fr", "31 mars 1954", "mars 1954", "21 août – 7 octobre 1944"),
    ("ceb", "Marso 31, 1954", "Marso 1954", "Agosto 21 – Oktubre 7, 1944"),
    ("tl", "Marso 31, 1954", "Marso 1954", "Agosto 21 – Oktubre 7, 1944"),
])
def test_dates_are_written_and_found_in_the_books_language(tag, date, month, range_text):
    language = load_language(tag)
    assert language.format_date(dt.date(1954, 3, 31)) == date
    assert language.format_partial(1954, 3) == month
    written = format_when(parse_date_value("1944-08-21/1944-10-07"), language).replace("\u00a0", " ")
    assert written == range_text
    found = find_dates(f"Text before {date} and after; later, in {month}.", language)
    assert [(item.when.start.year, item.when.start.month, item.when.start.day) for item in found if item.when] == [
        (1954, 3, 31), (1954, 3, None)]


@pytest.mark.parametrize(("tag", "unsorted", "expected", "letters"), [
    # German files Ä with A (DIN 5007-1, CLDR's default), ß as ss.
    ("de", ["Zebra", "Äpfel", "Apfel", "Straße", "Strasse"], ["Apfel", "Äpfel", "Strasse", "Straße", "Zebra"],
     ["A", "A", "S", "S", "Z"]),
    # Spanish: Ñ is a letter after N.
    ("es", ["Oso", "Ñandú", "Nube", "nada"], ["nada", "Nube", "Ñandú", "Oso"], ["N", "N", "Ñ", "O"]),
    # French: accents are secondary; côte before coté (CLDR's French has no backwards accents).
    ("fr", ["élan", "Eau", "zèbre", "Été"], ["Eau", "élan", "Été", "zèbre"], ["E", "E", "E", "Z"]),
    # Filipino: … N, Ñ, NG, O … as before.
    ("tl", ["Oras", "Ngayon", "Ñora", "Nilo"], ["Nilo", "Ñora", "Ngayon", "Oras"], ["N", "Ñ", "NG", "O"]),
])
def test_the_index_sorts_by_the_languages_collation(tag, unsorted, expected, letters):
    language = load_language(tag)
    assert sorted(unsorted, key=language.sort_key) == expected
    assert [language.initial(term) for term in expected] == letters


@pytest.mark.parametrize(("tag", "word", "broken"), [
    ("de", "Zusammenfassung", "Zu-sam-men-fas-sung"),
    ("es", "acontecimiento", "acon-te-ci-mien-to"),
    ("ceb", "kinahanglan", "ki-na-hang-lan"),
    ("ceb", "pagsalmot", "pag-sal-mot"),
])
def test_words_break_by_the_languages_rules(tag, word, broken):
    import pyphen

    from limbag.hyphenation import register

    register()
    assert pyphen.Pyphen(lang=tag, left=2, right=2).inserted(word) == broken


BOOKS = {
    "de": ("Die Sowjetunion und die NATO", "Am 31. März 1954 bat die Sowjetunion um Aufnahme in die NATO.",
           {"contents": "Inhaltsverzeichnis", "figure": "Abbildung 1", "index": "Index", "chronology": "Zeittafel",
            "date": "24. November 2026", "event": "31. März 1954"}),
    "es": ("La Unión Soviética y la OTAN", "El 31 de marzo de 1954 la Unión Soviética pidió entrar en la OTAN.",
           {"contents": "Índice", "figure": "Figura 1", "index": "Índice alfabético", "chronology": "Cronología",
            "date": "24 de noviembre de 2026", "event": "31 de marzo de 1954"}),
    "fr": ("L’Union soviétique et l’OTAN", "Le 31 mars 1954, l’Union soviétique demanda à entrer dans l’OTAN.",
           {"contents": "Table des matières", "figure": "Figure 1", "index": "Index", "chronology": "Chronologie",
            "date": "24 novembre 2026", "event": "31 mars 1954"}),
    "ceb": ("Ang Unyon Sobyet ug ang NATO", "Niadtong Marso 31, 1954, mihangyo ang Unyon Sobyet nga moapil sa NATO.",
            {"contents": "Sulod", "figure": "Hulagway 1", "index": "Indeks", "chronology": "Kronolohiya",
             "date": "Nobyembre 24, 2026", "event": "Marso 31, 1954"}),
}


@pytest.mark.build
@pytest.mark.parametrize("tag", sorted(BOOKS))
def test_a_book_in_each_language_speaks_it_throughout(make_book, tag):
    title, sentence, expected = BOOKS[tag]
    marks = " ".join(f'[{term}]{{idx="{term}"}}' for term in ("Äpfel", "Apfel", "Ñandú", "Nube", "Eisenhower"))
    chapter = (f"# {title}\n\n{sentence}\n\n![NATO](map.png){{#fig:map}}\n\n"
               + "\n\n".join([f"{sentence} {marks}"] * 3))
    book = make_book({
        "book.yaml": f"title: {title}\nlanguage: {tag}\ndate: 2026-11-24\noutputs: [pdf, epub]\n"
                     "chronology: {detect: true}\n",
        "01.md": chapter,
        "map.png": png_image(600, 300),
    })
    result = build(book)
    assert not [w for w in result.warnings if "language" in w.message], result.warnings
    texts = pdf_pages_text(book / "build" / next(p.name for p in result.written if p.suffix == ".pdf"))
    whole = "\n".join(texts)
    page_map = result.page_map
    assert expected["contents"] in texts[page_map.anchor_pages["contents"]]
    assert expected["date"] in texts[page_map.anchor_pages["imprint"]]
    assert expected["figure"] in whole
    assert expected["chronology"] in texts[page_map.anchor_pages["chronology"]]
    assert expected["event"] in texts[page_map.anchor_pages["chronology"]].replace("\u00a0", " ")
    index_page = texts[page_map.anchor_pages["index"]]
    assert expected["index"] in index_page
    terms = [term for term in re.findall(r"(Äpfel|Apfel|Ñandú|Nube|Eisenhower)", index_page)]
    language = load_language(tag)
    assert terms == sorted(terms, key=language.sort_key) and len(terms) == 5
    epub = next(p for p in result.written if p.suffix == ".epub")
    import zipfile

    with zipfile.ZipFile(epub) as archive:
        chapter_file = next(name for name in archive.namelist() if "chapter-" in name)
        assert f'xml:lang="{tag}"' in archive.read(chapter_file).decode()
        assert expected["contents"] in archive.read("EPUB/nav.xhtml").decode()
