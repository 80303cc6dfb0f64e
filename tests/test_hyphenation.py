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
