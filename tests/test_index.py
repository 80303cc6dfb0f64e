"""A teacher looks a name up in the index: right letter, right order, and the page really has it."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest

from limbag.config import load_config
from limbag.index import build_index, index_settings, mark_aliases, page_ranges
from limbag.language import load_language
from limbag.pagemap import PageMap
from limbag.pipeline import build
from limbag.reader import read_book

from .conftest import assert_index_is_true, pdf_pages_text, words

FILIPINO = load_language("tl")
ENGLISH = load_language("en")


# Alphabetical order -------------------------------------------------------------------------------

@pytest.mark.parametrize(("language", "unsorted", "expected"), [
    # Filipino: … N, Ñ, NG, O …; NG is one letter, so Ngayon comes after Nilo and after Ñ-words.
    (FILIPINO, ["Ngayon", "Ñora", "Nilo", "Oras", "Nuez"], ["Nilo", "Nuez", "Ñora", "Ngayon", "Oras"]),
    (FILIPINO, ["pangalan", "panukala", "panahon"], ["panahon", "panukala", "pangalan"]),
    (FILIPINO, ["Zamora", "Ñora", "Niño"], ["Niño", "Ñora", "Zamora"]),
    # Accents are secondary: Á files with A, after the unaccented word.
    (FILIPINO, ["Ánimo", "Anak", "Animo", "Bata"], ["Anak", "Animo", "Ánimo", "Bata"]),
    # English follows the Unicode default: ng is two letters, ñ is an n with an accent.
    (ENGLISH, ["Ngayon", "Nilo", "Ñora", "Nuez", "Oras"], ["Ngayon", "Nilo", "Ñora", "Nuez", "Oras"]),
    (ENGLISH, ["apple", "Apple", "Äpple", "Banana"], ["apple", "Apple", "Äpple", "Banana"]),
    # Word by word, and digits before letters.
    (ENGLISH, ["Newark", "New York", "1954 request"], ["1954 request", "New York", "Newark"]),
])
def test_terms_sort_in_the_books_alphabet(language, unsorted, expected):
    assert sorted(unsorted, key=language.sort_key) == expected


@pytest.mark.parametrize(("language", "term", "letter"), [
    (FILIPINO, "Ngayon", "NG"), (FILIPINO, "Ñora", "Ñ"), (FILIPINO, "Ángel", "A"), (FILIPINO, "Nilo", "N"),
    (ENGLISH, "Ngayon", "N"), (ENGLISH, "Ñora", "N"), (ENGLISH, "Éclair", "E"), (ENGLISH, "1954", None),
])
def test_each_term_files_under_its_letter(language, term, letter):
    assert language.initial(term) == letter


# Page ranges ---------------------------------------------------------------------------------------

def test_repeats_merge_and_consecutive_pages_become_ranges():
    labels = ("i", "ii", "1", "2", "3", "4", "5", "6")
    anchors = {"a": 2, "b": 4, "c": 5, "d": 5, "e": 6, "f": 1}
    page_map = PageMap(labels, MappingProxyType(anchors), ())
    ranges = page_ranges(["a", "b", "c", "d", "e", "f"], page_map)
    assert [(r.start_label, r.end_label) for r in ranges] == [("ii", "1"), ("3", "5")]
    assert [(r.start_anchor, r.end_anchor) for r in ranges] == [("f", "a"), ("b", "e")]


# Built books ----------------------------------------------------------------------------------------

TAGALOG_BOOK = {
    "book.yaml": """\
title: Pagsubok ng Indeks
language: tl
outputs: [pdf]
index:
  terms:
    "Unyong Sobyet":
      aliases: [USSR, Unyong Sobyet]
      see_also: [Warsaw Pact]
  see:
    "Soviet Union": "Unyong Sobyet"
""",
    "01.md": """\
# Una

Ang USSR at ang [Ñandu]{idx="Ñandu"} at ang [Ngayon]{idx="Ngayon"} at ang [Nilo]{idx="Nilo"}.
Ang [Oras]{idx="Oras"} at ang [Warsaw Pact]{idx="Warsaw Pact!Paglagda"} at ang USSRX (hindi ito).

Isang tala.[^a]

[^a]: Binanggit dito ang Unyong Sobyet.
""",
    "02.md": "# Ikalawa\n\n" + "\n\n".join(["Ang USSR ay binanggit muli sa mahabang talatang ito. " * 12] * 6) + "\n",
}


@pytest.fixture(scope="module")
def tagalog_book(tmp_path_factory):
    book = tmp_path_factory.mktemp("index") / "book"
    for relative, content in TAGALOG_BOOK.items():
        (book / "manuscript").mkdir(parents=True, exist_ok=True)
        (book / "manuscript" / relative).write_text(content, encoding="utf-8")
    result = build(book)
    return result, pdf_pages_text(result.written[0])


def index_text(result, texts) -> str:
    return "\n".join(texts[result.page_map.anchor_pages["index"]:])


def test_every_index_page_number_points_at_a_page_where_the_term_stands(tagalog_book):
    result, texts = tagalog_book
    assert result.warnings == ()
    for mark in result.book.index_marks:
        page = result.page_map.anchor_pages[mark.anchor_id]
        assert " ".join(words(mark.text)) in " ".join(words(texts[page])), (mark, page)


def test_every_printed_index_number_is_true(tagalog_book):
    result, _ = tagalog_book
    assert assert_index_is_true(result, result.written[0]) >= 8


def test_aliases_index_whole_words_in_text_and_footnotes_only(tagalog_book):
    result, _ = tagalog_book
    alias_marks = [m for m in result.book.index_marks if m.anchor_id.startswith("_a-")]
    assert {m.text for m in alias_marks} == {"USSR", "Unyong Sobyet"}  # never 'USSRX', never a heading
    assert any(m.text == "Unyong Sobyet" for m in alias_marks)  # found in the footnote


def test_index_groups_follow_the_filipino_alphabet_with_ranges_and_see_references(tagalog_book):
    result, texts = tagalog_book
    text = index_text(result, texts)
    headings = [line.strip() for line in text.split("\n") if re.fullmatch(r"[A-ZÑ]{1,2}", line.strip())]
    assert headings == ["N", "Ñ", "NG", "O", "S", "U", "W"]
    ussr_pages = sorted({result.page_map.anchor_pages[m.anchor_id] for m in result.book.index_marks
                         if m.terms == ("Unyong Sobyet",)})
    assert len(ussr_pages) >= 3
    runs: list[list[int]] = []
    for page in ussr_pages:
        if runs and page == runs[-1][-1] + 1:
            runs[-1].append(page)
        else:
            runs.append([page])
    labels = result.page_map.labels
    expected = ", ".join(labels[r[0]] if len(r) == 1 else f"{labels[r[0]]}–{labels[r[-1]]}" for r in runs)
    assert "–" in expected  # the long chapter gives a real range
    assert f"Unyong Sobyet, {expected}; tingnan din Warsaw Pact" in " ".join(text.split())
    assert "Soviet Union, tingnan Unyong Sobyet" in " ".join(text.split())
    assert "Paglagda, 1" in text


def test_index_numbers_link_to_their_spots(tagalog_book):
    from pypdf import PdfReader

    result, _ = tagalog_book
    reader = PdfReader(result.written[0])
    index_page = reader.pages[result.page_map.anchor_pages["index"]]
    links = [a.get_object() for a in index_page.get("/Annots", []) if a.get_object().get("/Subtype") == "/Link"]
    assert len(links) >= 6
    named = reader.named_destinations
    for link in links:
        name = str(link["/Dest"] if "/Dest" in link else link["/A"]["/D"])
        # The marks are not elements of the print HTML: the page map places them, and the link
        # must land on the very page the index prints.
        assert reader.get_destination_page_number(named[name]) == result.page_map.anchor_pages[name], name


@pytest.mark.build
def test_an_english_book_says_see_and_sorts_by_unicode(make_book):
    book = make_book({
        "book.yaml": "title: T\nlanguage: en\noutputs: [pdf]\nindex:\n  see:\n    Soviet Union: USSR\n",
        "01.md": '# One\n\n[Ngayon]{idx="Ngayon"}, [Nilo]{idx="Nilo"}, [Ñandu]{idx="Ñandu"}, [USSR]{idx="USSR"}.\n',
    })
    result = build(book)
    text = " ".join(index_text(result, pdf_pages_text(result.written[0])).split())
    assert "Ñandu, 1 Ngayon, 1 Nilo, 1" in text  # ñ is n with a tilde, ng two letters
    assert "Soviet Union, see USSR" in text


def test_mistakes_in_the_index_are_warnings_naming_the_place(make_book, tmp_path):
    book = make_book({
        "book.yaml": """\
title: T
language: en
index:
  terms:
    Moon:
      aliases: [Mooon]
      see_also: [Sun]
  see:
    Luna: Mond
""",
        "01.md": '# One\n\nThe Moon []{idx=""} and [x]{idx="A!"}.\n',
    })
    config, _ = load_config(book)
    book_model, reader_problems = read_book(config, tmp_path)
    settings, _ = index_settings(config)
    marked, alias_problems = mark_aliases(book_model, settings)
    from limbag.index import check_references

    messages = [str(p) for p in reader_problems + alias_problems + check_references(marked, settings)]
    assert any("01.md:3: empty index term" in m for m in messages)
    assert any("book.yaml:6: index alias 'Mooon' of 'Moon' never occurs" in m for m in messages)
    assert any("index.terms.Moon.see_also: 'Sun' is not in the index" in m for m in messages)
    assert any("book.yaml:9: index.see: 'Luna' points to 'Mond'" in m for m in messages)
    index = build_index(marked, settings, PageMap((), MappingProxyType({}), ()), ENGLISH)
    assert [e.term for g in index.groups for e in g.entries] == ["Luna", "Moon"]
