"""Justified Tagalog text breaks words where a Filipino reader expects: at syllables, NG kept whole."""

from __future__ import annotations

from pathlib import Path

import pyphen
import pytest

from limbag.hyphenation import dictionary_path, register, syllabify, write_dictionary

FIXTURE = Path(__file__).parent / "fixtures" / "tagalog-hyphenation.txt"
HAND_CHECKED = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line and not line.startswith("#")]


@pytest.mark.parametrize("expected", HAND_CHECKED)
def test_the_syllabifier_follows_the_rules(expected):
    assert "-".join(syllabify(expected.replace("-", ""))) == expected


@pytest.mark.parametrize("expected", HAND_CHECKED)
def test_the_shipped_patterns_break_where_the_rules_do(expected):
    word = expected.replace("-", "").lower()
    positions, offset = set(), 0
    for syllable in expected.split("-")[:-1]:
        offset += len(syllable)
        positions.add(offset)
    dictionary = pyphen.Pyphen(filename=dictionary_path(), left=2, right=2)
    assert set(dictionary.positions(word)) == {p for p in positions if 2 <= p <= len(word) - 2}


def test_a_written_hyphen_is_a_break_of_its_own():
    assert syllabify("pag-uugali") == ["pag-", "u", "u", "ga", "li"]


def test_the_shipped_dictionary_is_what_the_word_lists_generate(tmp_path):
    assert write_dictionary(tmp_path / "hyph_tl.dic").read_text() == dictionary_path().read_text()


def test_tagalog_and_filipino_books_use_the_patterns():
    register()
    assert pyphen.language_fallback("tl") == "tl" and pyphen.language_fallback("fil-PH") == "fil"
    assert pyphen.Pyphen(lang="fil").inserted("pangmatagalang") == "pang-ma-ta-ga-lang"


@pytest.mark.build
def test_justified_tagalog_text_is_hyphenated_at_syllables(make_book):
    from limbag.pipeline import build

    from .conftest import pdf_pages_text

    text = " ".join(["Ipinagkanulo ng pamahalaan ang pangmatagalang kasunduan sa pagkakaibigan ng mga bansa."] * 20)
    book = make_book({"book.yaml": "title: Pantig\nlanguage: tl\noutputs: [pdf]\npage: {size: A6}\n",
                      "01.md": f"# Mahabang Pamagat ng Kabanatang Hindi Dapat Hatiin sa Pantig\n\n{text}\n"})
    result = build(book)
    lines = "\n".join(pdf_pages_text(result.written[0])).split("\n")
    broken = [line for line in lines if line.rstrip().endswith("‐")]
    assert broken  # narrow A6 lines do get hyphenated
    for number, line in enumerate(lines):
        if line.rstrip().endswith("‐"):
            head, tail = line.rstrip()[:-1].split()[-1], lines[number + 1].split()[0].rstrip(".")
            assert _is_syllable_break(head, tail), (head, tail)
    assert not any(line.rstrip().endswith("‐") for line in lines[:3])  # the heading is never hyphenated


def _is_syllable_break(head: str, tail: str) -> bool:
    syllables = syllabify((head + tail).lower())
    offsets, total = set(), 0
    for syllable in syllables[:-1]:
        total += len(syllable)
        offsets.add(total)
    return len(head) in offsets


ENGLISH = " ".join(["The unprecedented negotiations characterised international relationships "
                    "throughout the extraordinary conferences."] * 12)


@pytest.mark.build
def test_words_marked_in_another_language_follow_its_rules_in_both_outputs(make_book, tmp_path):
    """A Tagalog book quoting English: `::: {lang=en}` and `[background]{lang=en}` are English for
    hyphenation in print, for the e-book's reading systems and for the PDF's screen readers."""
    import zipfile

    from limbag.pipeline import build

    from .conftest import pdf_pages_text
    from .structure import structure_tree
    from .validators import epubcheck

    book = make_book({"book.yaml": "title: Mga Wika sa Aklat\nlanguage: tl\noutputs: [pdf, epub]\npage: {size: A6}\n",
                      "01.md": f"# Dalawang Wika\n\nAng [background]{{lang=en}} ng usapin.\n\n"
                               f"::: {{lang=en}}\n{ENGLISH}\n:::\n\nMay [mali]{{lang=\"1 2\"}} din.\n"})
    result = build(book, tmp_path / "out")
    pdf, epub = result.written
    assert '<span lang="en" xml:lang="en">background</span>' in result.rendered.html
    with zipfile.ZipFile(epub) as package:
        chapter = package.read("EPUB/chapter-01.xhtml").decode()
    assert '<span lang="en" xml:lang="en">background</span>' in chapter and '<div id="' in chapter
    assert 'lang="en" xml:lang="en">' in chapter.split("<div", 1)[1]
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    tree = structure_tree(pdf)[0]
    assert [span.text for span in tree.all("Span") if span.attributes.get("Lang") == "en"] == ["background"]
    assert any(div.attributes.get("Lang") == "en" for div in tree.all("Div"))
    # Every English word broken at a line's end is broken where English patterns allow.
    english = pyphen.Pyphen(lang="en_US")
    lines = "\n".join(pdf_pages_text(pdf)).split("\n")
    breaks = 0
    for number, line in enumerate(lines):
        if line.rstrip().endswith("‐") and number + 1 < len(lines):
            head, tail = line.rstrip()[:-1].split()[-1], lines[number + 1].split()[0].rstrip(".,")
            if (head + tail).lower() in ENGLISH.lower():
                breaks += 1
                assert len(head) in english.positions((head + tail).lower()), (head, tail)
    assert breaks >= 2
    bad = [problem for problem in result.warnings if "lang='1 2'" in problem.message]
    assert len(bad) == 1 and bad[0].location.line == 9


def test_english_words_and_names_in_filipino_text_are_not_broken_by_tagalog_patterns():
    from limbag.hyphenation import sources, tagalog_shaped

    register()
    tagalog = pyphen.Pyphen(lang="tl")
    filipino_lists = [path for path in sources() if path.stem in ("words-common", "words-loan")]
    for path in filipino_lists:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                # (names keep their own spelling, Parañaque; they are not hyphenated anyway)
                assert all(tagalog_shaped(word) for word in line.split() if not word[0].isupper()), line
    for word in ("background", "request", "treaty", "society", "co-founder", "throughout", "negotiations"):
        assert not tagalog_shaped(word) and tagalog.inserted(word) == word
    for word in ("Eisenhower", "Czechoslovakia", "Pagkakaibigan"):  # names, and a sentence's first word
        assert tagalog.inserted(word) == word
    assert tagalog.inserted("maghugas") == "mag-hu-gas" and tagalog.inserted("pagkakaibigan") != "pagkakaibigan"
    assert pyphen.Pyphen(lang="en_US").inserted("background") == "back-ground"  # English is English


@pytest.mark.build
def test_the_sample_book_has_no_wrong_break_and_code_is_never_hyphenated(make_book, tmp_path):
    import re

    from limbag.hyphenation import tagalog_shaped
    from limbag.pipeline import build

    from .conftest import REPO, pdf_pages_text

    english = pyphen.Pyphen(lang="en_US")
    code = "`opts.redisConfig`"
    book = make_book({"book.yaml": "title: Kodigo sa Teksto\nlanguage: tl\noutputs: [pdf]\npage: {size: A6}\n",
                      "01.md": "# Kodigo\n\n" + " ".join([f"Ipasa ang {code} sa iyong pangmatagalang object."] * 30)})
    for pdf in (build(REPO, tmp_path / "sample", formats=("pdf",)).written[0], build(book, tmp_path / "code").written[0]):
        lines = "\n".join(pdf_pages_text(pdf)).split("\n")
        breaks = 0
        for number, line in enumerate(lines[:-1]):
            if line.rstrip().endswith("‐"):
                head = re.sub(r"^\W+", "", line.rstrip()[:-1].split()[-1])
                tail = re.sub(r"\W+$", "", (lines[number + 1].split() or [""])[0])
                word = head + tail
                assert "redis" not in word, word  # code is never hyphenated
                if tagalog_shaped(word):
                    assert _is_syllable_break(head, tail), (head, tail)
                else:
                    assert len(head) in english.positions(word.lower()), (head, tail)
                breaks += 1
        assert breaks


@pytest.mark.build
def test_no_right_hand_page_ends_in_a_hyphenated_word(make_book, tmp_path):
    """A reader must not turn the leaf in the middle of a word: where the engine would end a
    right-hand page with a hyphen, that line goes overleaf (left-hand pages may end in one)."""
    from limbag.engine import engine_page_breaks
    from limbag.pipeline import build

    from .conftest import assert_every_word_printed, hyphenated_page_feet

    sentence = ("The internationalization of telecommunications infrastructure demanded extraordinary "
                "administrative coordination between governmental departments, whose responsibilities "
                "overlapped considerably and whose representatives disagreed fundamentally about "
                "implementation. ")
    book = make_book({"book.yaml": "title: Leaves\nlanguage: en\npage: {size: A6}\noutputs: [pdf]\n",
                      "01.md": "# One\n\n" + "\n\n".join(sentence * (2 + i % 3) for i in range(4)) + "\n"})
    with engine_page_breaks():
        as_the_engine_breaks = build(book, tmp_path / "engine", processes=1)
    assert [page for page in hyphenated_page_feet(as_the_engine_breaks.written[0]) if page % 2]

    result = build(book, tmp_path / "book", processes=1)
    assert not [page for page in hyphenated_page_feet(result.written[0]) if page % 2]
    assert_every_word_printed(result, result.written[0])
