"""The sample book in manuscript/ builds into an A5 Filipino book that a publisher would print."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

from limbag.language import load_language
from limbag.pipeline import build

from .conftest import (
    REPO,
    assert_every_word_printed,
    assert_footnotes_on_their_call_pages,
    assert_index_is_true,
    pdf_pages_text,
    words,
)

pytestmark = pytest.mark.build


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    result = build(REPO, tmp_path_factory.mktemp("sample"), formats=("pdf",))
    return result.written[0], result


def test_the_sample_builds_without_warnings(sample):
    path, result = sample
    assert result.warnings == ()
    assert path.name == "kahilingan-ng-ussr.pdf"
    box = PdfReader(path).pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (148, 210)


def test_every_word_of_the_sample_is_printed(sample):
    assert_every_word_printed(sample[1], sample[0])


def test_the_sample_footnotes_stand_at_the_foot_of_their_pages(sample):
    assert assert_footnotes_on_their_call_pages(sample[1], sample[0]) == 13


def test_the_sample_speaks_filipino(sample):
    path, result = sample
    texts = pdf_pages_text(path)
    assert "Nilalaman" in texts[result.page_map.anchor_pages["contents"]]
    assert "Nobyembre 24, 2026" in texts[result.page_map.anchor_pages["imprint"]]
    assert "Kabanata 1" in texts[result.page_map.anchor_pages["panimula"]]
    labels = PdfReader(path).page_labels
    assert labels[result.page_map.anchor_pages["panimula"]] == "1"
    # Its covers: the front with the title, the back with the blurb, named as Filipino printers do.
    assert labels[:3] == ["Pabalat 1", "Pabalat 2", "i"] and labels[-1] == "Pabalat 4"
    assert "Ang Kahilingan ng USSR" in texts[0] and "Digmaang Malamig" in texts[-1]


def test_the_sample_carries_index_and_date_marks(sample):
    _, result = sample
    terms = {mark.terms[0] for mark in result.book.index_marks}
    assert {"Unyong Sobyet", "NATO", "Eisenhower, Dwight D.", "Warsaw Pact"} <= terms
    dates = [mark.date for mark in result.book.date_marks if not mark.detected]
    assert {"1942-05-26", "1953-04-16", "1954-03-31", "1954-05-07", "1955-05-14"} <= set(dates)


def test_the_sample_chronology_tells_the_articles_events_in_order_with_true_pages(sample):
    path, result = sample
    texts = [" ".join(words(text)) for text in pdf_pages_text(path)]
    rows = result.chronology.rows
    dates = [row.date_text.replace("\xa0", " ") for row in rows]
    article = ["Mayo 26, 1942", "Abril 16, 1953", "Enero 25 – Pebrero 18, 1954", "Marso 31, 1954",
               "Mayo 7, 1954", "Mayo 14, 1955"]
    assert [d for d in dates if d in article] == article  # all there, in this order
    marks = {mark.anchor_id: mark for mark in result.book.date_marks}
    for row in rows:
        page = result.page_map.anchor_pages[row.anchor]
        assert row.page_label == result.page_map.labels[page]
        assert " ".join(words(marks[row.anchor].text)) in texts[page]
    assert result.chronology.figure.startswith("<svg")


def test_every_number_in_the_sample_index_is_true(sample):
    path, result = sample
    assert assert_index_is_true(result, path) >= 40
    alphabet = load_language("tl").alphabet
    letters = [group.letter for group in result.index.groups]
    assert letters == sorted(letters, key=lambda letter: alphabet.index(letter.lower()))


def test_index_and_date_marks_add_nothing_to_the_layout(sample):
    """Marks are placed from the text's layout, not laid out as elements of their own."""
    path, result = sample
    page = pdf_pages_text(path)[result.page_map.anchor_pages["panimula"]]
    assert "Ang pangmatagalang tunggalian sa pagitan" in " ".join(page.split("\n")[2:4])
    body = result.rendered.html.split('<main class="body-matter">')[1]
    assert not re.findall(r'<span id="[amdw]-', body)
    assert sum(1 for anchor in result.page_map.anchor_pages if anchor[:3] in ("_a-", "_m-", "_d-")) >= 40
