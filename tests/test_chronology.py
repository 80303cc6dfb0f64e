"""A student reads the chronology: every event in order, dated in the book's language, with its page."""

from __future__ import annotations

import subprocess
import sys
from types import MappingProxyType

import pytest
import yaml
from pypdf import PdfReader

from limbag.chronology import NARROW_TIMELINE, Event, find_dates, format_when, sentence_at, sort_key, timeline_svg
from limbag.config import load_config
from limbag.dates import parse_date_value
from limbag.errors import ConfigError, Location, ManuscriptError
from limbag.language import load_language
from limbag.pipeline import build

from .conftest import REPO, pdf_pages_text, words

FILIPINO = load_language("tl")
ENGLISH = load_language("en")


def dates_in(text: str, language) -> list[str]:
    return [f"{f.when.start}" + (f"/{f.when.end}" if f.when.end else "") for f in find_dates(text, language) if f.when]


@pytest.mark.parametrize(("text", "expected"), [
    ("Noong Marso 31, 1954, nagsumite ang USSR.", ["1954-03-31"]),
    ("Ito ay noong Mayo 7, 1954.", ["1954-05-07"]),
    ("Ipinanganak siya noong 31 Marso 1954 sa Maynila.", ["1954-03-31"]),
    ("Nagsimula ang himagsikan noong Agosto 1896.", ["1896-08"]),
    ("Ginanap mula Enero 25 hanggang Pebrero 18, 1954 ang pulong.", ["1954-01-25/1954-02-18"]),
    ("Mula Hulyo 1–3, 1991 ang huling pulong.", ["1991-07-01/1991-07-03"]),
    ("Naganap ito sa pagitan ng Agosto at Oktubre 1944.", ["1944-08/1944-10"]),  # one span, not October alone
    ("Mula Agosto hanggang Oktubre 1944 ang labanan.", ["1944-08/1944-10"]),
    ("Noong Agosto at Oktubre 1944 may halalan.", ["1944-10"]),  # two dates, not a span
])
def test_filipino_dates_are_found(text, expected):
    assert dates_in(text, FILIPINO) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("On March 31, 1954, the USSR asked to join.", ["1954-03-31"]),
    ("It was signed on 14 May 1955 in Warsaw.", ["1955-05-14"]),
    ("By March 1954 the note was ready.", ["1954-03"]),
    ("The conference ran January 25 – February 18, 1954.", ["1954-01-25/1954-02-18"]),
    ("It happened between August and October 1944.", ["1944-08/1944-10"]),  # one span, not October alone
    ("The siege lasted from August to October 1944.", ["1944-08/1944-10"]),
    ("Elections were held in August and October 1944.", ["1944-10"]),  # two dates, not a span
])
def test_english_dates_are_found(text, expected):
    assert dates_in(text, ENGLISH) == expected


@pytest.mark.parametrize(("text", "language"), [
    ("Ang aklat ay may 1954 na pahina.", FILIPINO),
    ("Ang kasunduan noong 1942 ay mahalaga.", FILIPINO),  # a year alone is not detected; mark it
    ("Siya ang ika-31 na kasapi, at 1954 ang bilang ng kopya.", FILIPINO),
    ("Pahina 31, 1954 na kopya.", FILIPINO),
    ("The book runs to 1954 pages.", ENGLISH),
    ("He was the 31st member; 1942 alone saw 12 meetings.", ENGLISH),
    ("See page 31, 1954 edition.", ENGLISH),
    ("Room March-31, 1954X", ENGLISH),
])
def test_numbers_that_are_not_dates_are_left_alone(text, language):
    assert dates_in(text, language) == []


def test_an_impossible_date_in_the_text_is_not_an_event():
    (found,) = find_dates("Noong Marso 32, 1954 daw.", FILIPINO)
    assert found.when is None and "day 32" in found.problem


def test_partial_dates_and_ranges_sort_sensibly():
    written = ["1954-03-31", "1954", "1954-03", "1953-12-31", "1954-01/1954-02", "1954-01-25/1954-02-18", "1955"]
    ordered = sorted(written, key=lambda text: sort_key(parse_date_value(text)))
    assert ordered == ["1953-12-31", "1954", "1954-01/1954-02", "1954-01-25/1954-02-18", "1954-03", "1954-03-31", "1955"]


@pytest.mark.parametrize(("value", "filipino", "english"), [
    ("1954-03-31", "Marso 31, 1954", "March 31, 1954"),
    ("1954-03", "Marso 1954", "March 1954"),
    ("1954", "1954", "1954"),
    ("1954-01/1954-02", "Enero–Pebrero 1954", "January–February 1954"),
    ("1954-01-25/1954-02-18", "Enero 25 – Pebrero 18, 1954", "January 25 – February 18, 1954"),
    ("1944-08-21/1944-08-25", "Agosto 21–25, 1944", "August 21–25, 1944"),
    ("1953-12-30/1954-01-02", "Disyembre 30, 1953 – Enero 2, 1954", "December 30, 1953 – January 2, 1954"),
    ("1949/1955", "1949–1955", "1949–1955"),
])
def test_dates_are_written_in_the_books_language_as_an_editor_writes_a_range(value, filipino, english):
    for language, expected in ((FILIPINO, filipino), (ENGLISH, english)):
        written = format_when(parse_date_value(value), language)
        assert written.replace("\u00a0", " ") == expected
        # A date never breaks across lines: the only ordinary space is after a range's dash.
        assert written.replace("– ", "").count(" ") == 0, written


def test_the_event_is_the_sentence_that_holds_the_date():
    text = ("Umupo siya. Naging Pangulo si Dwight D. Eisenhower noong Enero 20, 1953. Pagkatapos nito, "
            "nagtalumpati siya.")
    start = text.index("Enero")
    assert sentence_at(text, start) == "Naging Pangulo si Dwight D. Eisenhower noong Enero 20, 1953."


BOOK = {
    "book.yaml": """\
title: Mga Petsa
language: tl
outputs: [pdf]
chronology:
  detect: true
  events:
    - date: 1949-04-04
      text: Itinatag ang NATO.
    - date: 1991
      text: Nagwakas ang Unyong Sobyet.
""",
    "01.md": """\
# Una

Itinatag ang alyansa noong Abril 4, 1949 sa Washington. Noong [Marso 31, 1954]{date="" event="Humiling ang USSR."}
ay may nangyari. Muling binanggit ang Marso 31, 1954 dito.

Ang aklat ay may 1954 na pahina.
""",
    "02.md": "# Ikalawa\n\n" + "Mahabang talata. " * 300 + "\n\nNoong Mayo 14, 1955, nilagdaan ang Warsaw Pact.\n",
}


@pytest.fixture(scope="module")
def dated_book(tmp_path_factory):
    book = tmp_path_factory.mktemp("chronology") / "book"
    (book / "manuscript").mkdir(parents=True)
    for name, content in BOOK.items():
        (book / "manuscript" / name).write_text(content, encoding="utf-8")
    result = build(book)
    return result, pdf_pages_text(result.written[0])


def test_the_chronology_lists_events_in_order_with_true_pages(dated_book):
    result, texts = dated_book
    rows = result.chronology.rows
    assert [row.date_text.replace("\xa0", " ") for row in rows] == ["Abril 4, 1949", "Marso 31, 1954", "Mayo 14, 1955", "1991"]
    assert rows[0].text == "Itinatag ang NATO."  # curated replaces the detected event of that date
    assert rows[1].text == "Humiling ang USSR."  # a mark replaces a detected one
    assert rows[3].page_label is None  # curated and never told in the text
    marks = {mark.anchor_id: mark for mark in result.book.date_marks}
    for row in rows[:3]:
        page = result.page_map.anchor_pages[row.anchor]
        assert row.page_label == result.page_map.labels[page]
        assert " ".join(words(marks[row.anchor].text)) in " ".join(words(texts[page]))
    assert result.page_map.label_of(rows[2].anchor) != "1"  # told in the long second chapter


def test_the_appendix_is_printed_before_the_index_with_a_vector_timeline(dated_book):
    result, texts = dated_book
    page = result.page_map.anchor_pages["chronology"]
    assert "Kronolohiya" in texts[page]
    assert "Abril 4, 1949 Itinatag ang NATO." in " ".join(texts[page].split())
    reader = PdfReader(result.written[0])
    resources = reader.pages[page]["/Resources"]
    images = [x for x in (resources.get("/XObject") or {}).values() if x.get_object().get("/Subtype") == "/Image"]
    assert images == []  # the timeline is drawn, not pasted in as a picture
    assert "1991" in texts[page] and "1955" in texts[page]  # the timeline's year labels are text


def test_many_events_on_one_date_make_one_marker_not_a_tower():
    """Thirty treaties signed on one day are one marker labelled with their numbers in the list."""
    import re

    def event(when: str) -> Event:
        return Event(parse_date_value(when), "Nilagdaan ang kasunduan.", None, "curated", Location(REPO))

    events = tuple([event("1949-04-04")] * 30 + [event("1955-05-14")])
    svg = timeline_svg(events, load_language("tl"))
    height = float(re.search(r'viewBox="0 0 \d+ ([\d.]+)"', svg).group(1))
    assert "1–30" in svg and ">31<" in svg
    assert height < 200, height  # one lane, as for two events


def _labels_and_stems(svg: str):
    """The timeline's marker labels as boxes (x0, y0, x1, y1), and its stems as (x, y0, y1)."""
    import re

    font = 26
    labels = [(float(x) - font * 0.3 * len(text), float(y) - font * 0.75, float(x) + font * 0.3 * len(text),
               float(y) + font * 0.2)
              for x, y, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)"[^>]*font-weight="bold">([^<]+)</text>', svg)]
    stems = [(float(x), min(float(a), float(b)), max(float(a), float(b)))
             for x, a, b in re.findall(r'<line x1="([\d.]+)" y1="([\d.]+)" x2="\1" y2="([\d.]+)" class="stem"', svg)]
    return labels, stems


@pytest.mark.parametrize("dates", [
    # The sample's dates: May 9 and May 14, 1955 stood on top of each other, 13's stem through 12.
    ("1942-05-26", "1945-06-26", "1949-04-04", "1953-01-20", "1953-03-05", "1953-04-16", "1953-09", "1954",
     "1954-01-25/1954-02-18", "1954-03-31", "1954-05-07", "1955-05-09", "1955-05-14", "1991-07-01"),
    tuple(f"1950-{month:02d}-{day:02d}" for month in range(1, 13) for day in (3, 17)),  # a crowded year
])
@pytest.mark.parametrize("width", [1000, NARROW_TIMELINE])
def test_timeline_labels_never_overlap_and_no_stem_strikes_a_label(dates, width):
    def event(when: str) -> Event:
        return Event(parse_date_value(when), "Nangyari ito.", None, "curated", Location(REPO))

    labels, stems = _labels_and_stems(timeline_svg(tuple(event(when) for when in dates), load_language("tl"), width))
    assert labels and len(stems) == len(labels)
    for number, (x0, y0, x1, y1) in enumerate(labels):
        for other in labels[number + 1:]:
            assert x1 <= other[0] or other[2] <= x0 or y1 <= other[1] or other[3] <= y0, ((x0, y0, x1, y1), other)
        for x, top, bottom in stems:
            inside = x0 < x < x1 and top < y1 and y0 < bottom
            assert not inside or abs(x - (x0 + x1) / 2) < 0.5, (x, (x0, y0, x1, y1))  # only its own stem


@pytest.mark.build
def test_an_english_book_has_a_chronology_too(make_book):
    book = make_book({
        "book.yaml": "title: T\nlanguage: en\noutputs: [pdf]\nchronology: {detect: true}\n",
        "01.md": "# One\n\nThe note came on March 31, 1954. It was refused on 7 May 1954.\n",
    })
    result = build(book)
    assert [(r.date_text.replace("\xa0", " "), r.text) for r in result.chronology.rows] == [
        ("March 31, 1954", "The note came on March 31, 1954."), ("May 7, 1954", "It was refused on 7 May 1954.")]
    assert "Chronology" in pdf_pages_text(result.written[0])[result.page_map.anchor_pages["chronology"]]


def test_a_bad_date_in_book_yaml_is_an_error_naming_its_line(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: tl\nchronology:\n  events:\n    - date: 1954-13-01\n"
                                   "      text: Wala.\n", "01.md": "# Una\n\nTeksto.\n"})
    with pytest.raises(ConfigError) as raised:
        build(book)
    assert "book.yaml:5: chronology.events[0].date: bad date: month 13 does not exist" in raised.value.format_message()


def test_a_bad_date_in_a_mark_is_an_error_naming_its_line(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: tl\n", "01.md": '# Una\n\nNoong [Marso 32, 1954]{date=""}.\n'})
    with pytest.raises(ManuscriptError) as raised:
        build(book)
    assert "01.md:3: bad date 'Marso 32, 1954': day 32 does not exist" in raised.value.format_message()


@pytest.mark.build
def test_the_chronology_command_prints_yaml_an_editor_can_paste(make_book, tmp_path):
    book = make_book({"book.yaml": "title: T\nlanguage: tl\n", "01.md": "# Una\n\n## Bahagi {#bahagi}\n\n"
                                   "Noong Marso 31, 1954 ay humiling sila. Noong Mayo 7, 1954 ay tumanggi sila.\n"})
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "chronology", str(book)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pasted = yaml.safe_load(done.stdout)
    assert [{**event, "date": str(event["date"])} for event in pasted["chronology"]["events"]] == [
        {"date": "1954-03-31", "text": "Noong Marso 31, 1954 ay humiling sila.", "ref": "bahagi"},
        {"date": "1954-05-07", "text": "Noong Mayo 7, 1954 ay tumanggi sila.", "ref": "bahagi"},
    ]
    yaml_text = (book / "manuscript" / "book.yaml").read_text() + done.stdout
    (book / "manuscript" / "book.yaml").write_text(yaml_text)
    config, warnings = load_config(book)
    assert warnings == [] and len(config.chronology["events"]) == 2
    assert build(book).warnings == ()


def test_the_events_printed_as_yaml_read_back_as_they_were_told(make_book):
    from limbag.pipeline import find_events

    sentence = 'Noong Marso 31, 1954 ay sinabi niyang "hindi" — \\ at\u2028 iba pa.'
    written = sentence.replace("\\", "\\\\")  # a backslash is written twice in Markdown
    book = make_book({"book.yaml": "title: T\nlanguage: tl\n", "01.md": f"# Una\n\n{written}\n"})
    text, _ = find_events(book)
    (event,) = yaml.safe_load(text)["chronology"]["events"]
    told = sentence.replace('"', "“", 1).replace('"', "”", 1)  # as the typographer set the quotes
    assert " ".join(event["text"].split()) == " ".join(told.split())


def test_on_a_phone_the_e_books_timeline_is_drawn_narrow_and_stays_legible():
    """At 360 pixels (a phone in epub.js, some 320 pixels of text width) the wide drawing's labels
    (26 of 1000 units) would be 8 pixels high; the narrow drawing, shown below 40em, keeps them at
    16, as large as the text."""
    import re

    from limbag.chronology import build_chronology
    from limbag.pagemap import PageMap

    events = tuple(Event(parse_date_value(when), "Nangyari ito.", f"_d{n}", "curated", Location(REPO))
                   for n, when in enumerate(("1949-04-04", "1954-03-31", "1955-05-14")))
    page_map = PageMap(("1",), MappingProxyType({f"_d{n}": 0 for n in range(3)}), ("x",))
    chronology = build_chronology(events, page_map, load_language("tl"))
    wide, narrow = (re.search(r'viewBox="0 0 (\d+) \d+"[^>]*class="(\w+)"', svg).groups()
                    for svg in (chronology.figure, chronology.narrow_figure))
    assert wide == ("1000", "wide") and narrow == (str(NARROW_TIMELINE), "narrow")
    text_width = 320
    assert 26 * text_width / NARROW_TIMELINE >= 16 and 26 * text_width / 1000 < 9
    css = (REPO / "layouts" / "epub" / "book.css").read_text(encoding="utf-8")
    assert re.search(r"@media \(max-width: 40em\) \{\s*\.timeline svg\.wide \{ display: none; \}", css)
    # Below 40em (640 pixels) the wide drawing's labels would be under 16 pixels; above, the narrow one's over 32.
    assert 26 * 640 / 1000 >= 16 and 26 * 640 / NARROW_TIMELINE <= 32


def test_the_e_books_timeline_markers_take_the_reading_themes_text_colour():
    """In a dark theme the printed brown (#7a4b2a) has 2.6:1 contrast on black; on screen every
    marker and stem is drawn in the text's colour instead (WCAG asks 3:1 for graphics)."""
    import re

    def event(when: str) -> Event:
        return Event(parse_date_value(when), "Nangyari ito.", None, "curated", Location(REPO))

    svg = timeline_svg((event("1949-04-04"), event("1954-01-25/1954-02-18"), event("1955-05-14")), load_language("tl"))
    coloured = re.findall(r"<(\w+)[^>]*#7a4b2a[^>]*>", svg)
    assert coloured and len(re.findall(r'class="(marker|stem)"', svg)) == len(coloured)
    css = (REPO / "layouts" / "epub" / "book.css").read_text(encoding="utf-8")
    assert ".timeline .marker { fill: currentColor; }" in css and ".timeline .stem { stroke: currentColor; }" in css
