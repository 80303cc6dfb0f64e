"""An editor's book.yaml: what is accepted, and how mistakes are reported."""

from __future__ import annotations

import datetime as dt

import pytest

from limbag.config import isbn13_is_valid, load_config, slugify
from limbag.errors import ConfigError

CHAPTER = "# One\n\nText.\n"


def test_a_minimal_book_gets_sensible_defaults(make_book):
    book = make_book({"book.yaml": "title: Aklat\nlanguage: tl\n", "01.md": CHAPTER})
    config, warnings = load_config(book)
    assert warnings == []
    assert config.title == "Aklat"
    assert config.outputs == ("pdf", "booklet", "epub")
    assert (config.page.width_mm, config.page.height_mm) == (148.0, 210.0)
    assert config.slug == "aklat"
    assert config.identifier.startswith("urn:uuid:")
    assert [p.name for p in config.chapters] == ["01.md"]


def test_full_metadata_is_read(make_book):
    yaml_text = """\
title: The Book
subtitle: A Sub
authors: [A. One, B. Two]
language: en
date: 2026-11-24
publisher: Press
rights: CC BY 4.0
description: About it.
isbn: 978-3-16-148410-0
page: {size: halfletter, margins: 20mm 15mm, bleed: 3mm, marks: [crop, cross]}
booklet: {sheet: letter}
outputs: [pdf, press]
"""
    config, _ = load_config(make_book({"book.yaml": yaml_text, "a.md": CHAPTER}))
    assert config.authors == ("A. One", "B. Two")
    assert config.date == dt.date(2026, 11, 24)
    assert config.identifier == "urn:isbn:9783161484100"
    assert (config.page.width_mm, config.page.height_mm) == (139.7, 215.9)
    assert config.page.bleed_mm == 3.0 and config.page.marks == ("crop", "cross")
    assert (config.booklet.sheet_width_mm, config.booklet.sheet_height_mm) == (215.9, 279.4)
    assert config.outputs == ("pdf", "press")


def test_page_size_as_two_lengths(make_book):
    config, _ = load_config(make_book({"book.yaml": "title: T\nlanguage: en\npage: {size: 5.5in 8.5in}\n", "a.md": CHAPTER}))
    assert (round(config.page.width_mm, 1), round(config.page.height_mm, 1)) == (139.7, 215.9)


def test_chapters_follow_the_list_else_file_names(make_book):
    files = {"b.md": CHAPTER, "a.md": CHAPTER}
    config, _ = load_config(make_book({"book.yaml": "title: T\nlanguage: en\n", **files}, "sorted"))
    assert [p.name for p in config.chapters] == ["a.md", "b.md"]
    listed = "title: T\nlanguage: en\nchapters: [b.md, a.md]\n"
    config, _ = load_config(make_book({"book.yaml": listed, **files}, "listed"))
    assert [p.name for p in config.chapters] == ["b.md", "a.md"]


def test_every_error_is_reported_at_once_with_key_path_and_line(make_book):
    yaml_text = """\
title: T
language: en
isbn: 978-3-16-148410-1
outputs: [pdf, mobi]
page:
  size: A9
chapters: [missing.md]
"""
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": yaml_text, "a.md": CHAPTER}))
    message = raised.value.format_message()
    assert "book.yaml:3: isbn: not a valid ISBN-13" in message
    assert "book.yaml:4: outputs[1]: unknown output 'mobi'" in message
    assert "allowed: pdf, booklet, press, epub" in message
    assert "book.yaml:6: page.size: unknown size 'A9'" in message
    assert "book.yaml:7: chapters[0]: chapter file 'missing.md' not found" in message


def test_lists_and_numbering_by_chapter_are_checked(make_book):
    config, _ = load_config(make_book({"book.yaml": "title: T\nlanguage: en\nlists: [tables, figures]\n"
                                                    "crossref: {chapters: true}\n", "a.md": CHAPTER}))
    assert config.lists == ("figures", "tables") and config.numbers_by_chapter
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "title: T\nlanguage: en\nlists: [figures, maps]\n"
                                            "crossref:\n  chapters: yes please\n", "a.md": CHAPTER}))
    message = raised.value.format_message()
    assert "book.yaml:3: lists[1]: unknown list 'maps' — allowed: figures, tables" in message
    assert "book.yaml:5: crossref.chapters: expected true or false" in message


def test_the_printing_condition_is_a_known_name_or_a_profile_in_the_book(make_book):
    config, _ = load_config(make_book({"book.yaml": "title: T\nlanguage: en\n", "a.md": CHAPTER}))
    assert config.page.colour == "swop"
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "title: T\nlanguage: en\npage:\n  colour: glossy\n", "a.md": CHAPTER}))
    assert "book.yaml:4: page.colour: unknown printing condition 'glossy'" in raised.value.format_message()
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "title: T\nlanguage: en\npage: {colour: gone.icc}\n", "a.md": CHAPTER}))
    assert "page.colour: file 'gone.icc' not found" in raised.value.format_message()


def test_missing_required_keys(make_book):
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "subtitle: only\n", "a.md": CHAPTER}))
    message = raised.value.format_message()
    assert "title: missing" in message and "language: missing" in message


def test_unknown_keys_are_warnings_with_a_suggestion(make_book):
    config, warnings = load_config(make_book({"book.yaml": "title: T\nlanguage: en\nautor: X\npage: {sise: A5}\n",
                                              "a.md": CHAPTER}))
    texts = [str(w) for w in warnings]
    assert any("book.yaml:3: autor: unknown key" in t and "did you mean `author`?" in t for t in texts)
    assert any("page.sise: unknown key" in t and "did you mean `size`?" in t for t in texts)


def test_yaml_syntax_error_names_line_and_column(make_book):
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "title: T\nlanguage: [en\nrights: x\n", "a.md": CHAPTER}))
    assert "book.yaml:3:" in raised.value.format_message()
    assert "YAML syntax error" in raised.value.format_message()


def test_bad_date_and_wrong_types(make_book):
    with pytest.raises(ConfigError) as raised:
        load_config(make_book({"book.yaml": "title: [a, b]\nlanguage: en\ndate: 2026-13-01\n", "a.md": CHAPTER}))
    message = raised.value.format_message()
    assert "book.yaml:1: title: expected text, got a list" in message
    assert "book.yaml:3: date: not a date" in message


def test_chapter_outside_the_manuscript_is_refused(make_book):
    with pytest.raises(ConfigError, match="outside manuscript/"):
        load_config(make_book({"book.yaml": "title: T\nlanguage: en\nchapters: [../../etc/passwd]\n", "a.md": CHAPTER}))


def test_unknown_language_falls_back_to_english_with_a_warning(make_book):
    """A language that neither CLDR nor Pandoc nor Limbag knows (Klingon) builds with English words."""
    _, warnings = load_config(make_book({"book.yaml": "title: T\nlanguage: tlh\n", "a.md": CHAPTER}))
    assert [str(w) for w in warnings if "language" in str(w)] == [
        next(str(w) for w in warnings if "no language data for 'tlh'" in str(w))]
    _, warnings = load_config(make_book({"book.yaml": "title: T\nlanguage: de\n", "a.md": CHAPTER}, "german"))
    assert not any("language data" in str(w) for w in warnings)


def test_isbn_check_digit_and_slugs():
    assert isbn13_is_valid("9783161484100")
    assert not isbn13_is_valid("9783161484101")
    assert slugify("Ang Kahilingan ng USSR na Sumali sa NATO") == "ang-kahilingan-ng-ussr-na-sumali-sa-nato"
    assert slugify("Niño’s Piñata") == "ninos-pinata"


def test_non_utf8_book_yaml(make_book):
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(make_book({"book.yaml": "title: Ni\xf1o\nlanguage: tl\n".encode("latin-1"), "a.md": CHAPTER}))
