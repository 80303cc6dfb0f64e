"""The chronology: curated, marked and detected dates → events in order, with pages and a timeline.

Like the index, two pure steps around the layout:
- `mark_dates(book, settings, language)` runs before layout: it anchors the dates found in the
  text (with `detect: true`) and gives every date mark the sentence that holds it;
- `build_chronology(events, page_map, language)` runs after a layout: dates written in the
  book's language, the page where each event is told, and an SVG timeline.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape

from .config import BookConfig, unknown_key_warnings
from .dates import DateError, DateValue, PartialDate, parse_date_value
from .errors import ConfigError, Location, ManuscriptError, Problem
from .language import Language
from .model import (
    CONTAINERS,
    Block,
    Book,
    Chapter,
    DateMark,
    Footnote,
    Heading,
    Inline,
    Paragraph,
    Span,
    Text,
    anchor_ids,
    block_groups,
    plain_text,
    rewrite_text,
)
from .pagemap import PageMap

CHRONOLOGY_KEYS = ("detect", "events")
EVENT_KEYS = ("date", "text", "ref")
LONGEST_EVENT = 220
"""Characters; a longer sentence is cut to the clause that holds the date."""


# Settings ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CuratedEvent:
    """An event an editor wrote in book.yaml's `chronology.events`."""

    when: DateValue
    text: str
    ref: str | None
    location: Location


@dataclass(frozen=True, slots=True)
class ChronologySettings:
    detect: bool = False
    """Find dates written in the chapters (in the book's language) as events."""
    events: tuple[CuratedEvent, ...] = ()


def chronology_settings(config: BookConfig) -> tuple[ChronologySettings, list[Problem]]:
    """Validate book.yaml's `chronology:`; a bad date is an error naming its line."""
    raw = config.chronology
    errors: list[Problem] = []
    warnings = unknown_key_warnings(config.location, raw, CHRONOLOGY_KEYS, "chronology.")
    detect = raw.get("detect", False)
    if not isinstance(detect, bool):
        errors.append(Problem(config.location("chronology.detect"), "chronology.detect: expected true or false",
                              "write `detect: true` to find dates in the text"))
        detect = False
    raw_events = raw.get("events") or []
    if not isinstance(raw_events, list):
        errors.append(Problem(config.location("chronology.events"), "chronology.events: expected a list",
                              "write one `- date: …` entry per event"))
        raw_events = []
    events: list[CuratedEvent] = []
    for number, item in enumerate(raw_events):
        path = f"chronology.events[{number}]"
        if not isinstance(item, Mapping):
            errors.append(Problem(config.location(path), f"{path}: expected `date:` and `text:`",
                                  "write `- date: 1954-03-31` and `text: …` below it"))
            continue
        warnings.extend(unknown_key_warnings(config.location, item, EVENT_KEYS, f"{path}."))
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            errors.append(Problem(config.location(f"{path}.text"), f"{path}.text: missing",
                                  "say in a sentence what happened"))
            continue
        try:
            when = parse_date_value(str(item.get("date", "")))
        except DateError as error:
            errors.append(Problem(config.location(f"{path}.date"), f"{path}.date: bad date: {error}",
                                  "write YYYY, YYYY-MM, YYYY-MM-DD or a range such as 1954-01/1954-02"))
            continue
        ref = item.get("ref")
        events.append(CuratedEvent(when, " ".join(text.split()), str(ref) if ref else None, config.location(path)))
    if errors:
        raise ConfigError(errors)
    return ChronologySettings(detect, tuple(events)), warnings


# Finding dates in text ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FoundDate:
    start: int
    end: int
    when: DateValue | None
    """None when it looks like a date but is not one (Marso 32, 1954)."""
    problem: str = ""


def date_pattern(language: Language) -> re.Pattern[str]:
    """One regular expression for all of the language's written date forms, most specific first."""
    return _date_pattern(language.months, tuple(language.date_patterns))


@functools.lru_cache(maxsize=16)
def _date_pattern(month_names: tuple[str, ...], forms: tuple[str, ...]) -> re.Pattern[str]:
    """Built once per language: the reader looks for dates in every run of text."""
    months = "|".join(re.escape(month) for month in month_names)
    pieces = {"{month}": rf"(?P<month>{months})", "{month2}": rf"(?P<month2>{months})",
              "{day}": r"(?P<day>\d{1,2})", "{day2}": r"(?P<day2>\d{1,2})", "{year}": r"(?P<year>\d{4})"}
    alternatives = []
    for number, template in enumerate(forms):
        pattern = template
        for placeholder, regex in pieces.items():
            pattern = pattern.replace(placeholder, regex.replace("(?P<", f"(?P<p{number}_"))
        alternatives.append(f"(?P<form{number}>{pattern})")
    return re.compile(rf"(?<![\w-])(?:{'|'.join(alternatives)})(?![\w-]|,\d)")


def find_dates(text: str, language: Language) -> list[FoundDate]:
    """Dates written in the language's forms: 'Marso 31, 1954', '31 March 1954', 'Agosto 1896' …"""
    found = []
    for match in date_pattern(language).finditer(text):
        form = next(name for name, value in match.groupdict().items() if value and name.startswith("form"))
        prefix = f"p{form[4:]}_"
        parts = {name[len(prefix):]: value for name, value in match.groupdict().items()
                 if value and name.startswith(prefix)}
        found.append(_found(match.start(), match.end(), parts, language))
    return found


def _found(start: int, end: int, parts: Mapping[str, str], language: Language) -> FoundDate:
    year = int(parts["year"])
    month = language.months.index(parts["month"]) + 1
    text = f"{year:04d}-{month:02d}" + (f"-{int(parts['day']):02d}" if "day" in parts else "")
    if "day2" in parts:
        month2 = language.months.index(parts["month2"]) + 1 if "month2" in parts else month
        text += f"/{year:04d}-{month2:02d}-{int(parts['day2']):02d}"
    elif "month2" in parts:  # between August and October 1944
        text += f"/{year:04d}-{language.months.index(parts['month2']) + 1:02d}"
    try:
        return FoundDate(start, end, parse_date_value(text))
    except DateError as error:
        return FoundDate(start, end, None, str(error))


_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\b[A-Z][a-z])[.!?…][”’\"')]*\s+(?=[\"“‘(]?[A-ZÀ-Þ0-9])")


def sentence_at(text: str, start: int, end: int | None = None) -> str:
    """The sentence around text[start:end]; a very long one is cut to the clause holding it."""
    end = start if end is None else end
    begin = 0
    finish = len(text)
    for match in _SENTENCE_END.finditer(text):
        if match.end() <= start:
            begin = match.end()
        elif match.start() >= end:
            finish = match.start() + 1
            break
    sentence = text[begin:finish].strip()
    if len(sentence) > LONGEST_EVENT:
        offset = start - begin
        clauses = [m for m in re.finditer(r"[^;:]+[;:]?", sentence)]
        clause = next((m for m in clauses if m.start() <= offset < m.end()), None)
        if clause is not None:
            sentence = clause.group(0).strip(" ;:")
        if len(sentence) > LONGEST_EVENT:
            sentence = sentence[:LONGEST_EVENT].rsplit(" ", 1)[0] + " …"
    return " ".join(sentence.split())


# Marking dates in the book --------------------------------------------------------------------------

@dataclass
class _DateMarker:
    """Walks one chapter: anchors detected dates, then gives every date mark its sentence."""

    chapter: Chapter
    language: Language
    detect: bool
    explicit_ids: frozenset[str]
    marks: list[DateMark] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    count: int = 0

    def text(self, text: str) -> list[Inline]:
        pieces: list[Inline] = []
        position = 0
        for found in find_dates(text, self.language):
            if found.when is None:
                self.problems.append(Problem(Location(self.chapter.source),
                                             f"{text[found.start:found.end]!r} looks like a date but {found.problem}",
                                             "correct the date, or ignore this if it is not meant as one"))
                continue
            if found.start > position:
                pieces.append(Text(text[position:found.start]))
            self.count += 1
            anchor = f"_d-{self.chapter.number}-{self.count}"
            written = text[found.start:found.end]
            self.marks.append(DateMark(anchor, _date_text(found.when), None, written,
                                       Location(self.chapter.source), detected=True))
            pieces.append(Span((Text(written),), anchor))
            position = found.end
        if position < len(text):
            pieces.append(Text(text[position:]))
        return pieces

    def block(self, block: Block) -> Block:
        if not self.detect:
            return block
        return rewrite_text(block, self.text, lambda span: span.id in self.explicit_ids)


def _date_text(when: DateValue) -> str:
    return str(when.start) + (f"/{when.end}" if when.end else "")


def _span_offsets(nodes: tuple[Inline, ...], offsets: dict[str, tuple[int, int]], start: int = 0) -> int:
    """Plain-text offsets of every anchored span in a run of inlines; returns the text length."""
    position = start
    for node in nodes:
        if isinstance(node, Span):
            inner_end = _span_offsets(node.children, offsets, position)
            if node.id:
                offsets[node.id] = (position, inner_end)
            position = inner_end
        elif isinstance(node, CONTAINERS):
            position = _span_offsets(node.children, offsets, position)
        else:
            position += len(plain_text((node,)))
    return position


def _sentences(blocks: Iterable[Block], wanted: set[str]) -> dict[str, str]:
    """For each wanted span id, the sentence of its paragraph that holds it."""
    sentences: dict[str, str] = {}
    for block in blocks:
        if isinstance(block, (Paragraph, Heading)):
            offsets: dict[str, tuple[int, int]] = {}
            _span_offsets(block.children, offsets)
            text = plain_text(block.children)
            for span_id, (start, end) in offsets.items():
                if span_id in wanted:
                    sentences[span_id] = sentence_at(text, start, end)
        for group in block_groups(block):
            sentences.update(_sentences(group, wanted))
    return sentences


def mark_dates(book: Book, settings: ChronologySettings, language: Language) -> tuple[Book, list[Problem]]:
    """A new Book: detected dates anchored (with `detect`), every date mark holding its event text."""
    explicit = frozenset(mark.anchor_id for mark in book.date_marks)
    chapters = []
    problems: list[Problem] = []
    for chapter in book.chapters:
        marker = _DateMarker(chapter, language, settings.detect, explicit)
        blocks = tuple(marker.block(block) for block in chapter.blocks)
        notes = tuple(dataclasses.replace(note, children=tuple(marker.block(b) for b in note.children))
                      for note in chapter.footnotes)
        marks = [*(_read_written_date(mark, language) for mark in chapter.date_marks), *marker.marks]
        wanted = {mark.anchor_id for mark in marks if mark.event is None}
        sentences = _sentences([*blocks, *(b for note in notes for b in note.children)], wanted)
        marks = [mark if mark.event is not None else dataclasses.replace(mark, event=sentences.get(mark.anchor_id, mark.text))
                 for mark in marks]
        problems.extend(marker.problems)
        chapters.append(dataclasses.replace(chapter, blocks=blocks, footnotes=notes, date_marks=tuple(marks)))
    return dataclasses.replace(book, chapters=tuple(chapters)), problems


def _read_written_date(mark: DateMark, language: Language) -> DateMark:
    """A mark with `date=""` takes its date from its own words, which must be a real date."""
    if mark.date:
        return mark
    found = find_dates(mark.text, language)
    if len(found) != 1 or (found[0].start, found[0].end) != (0, len(mark.text)):
        raise ManuscriptError(f"{mark.text!r} is not a date written in the book's language", mark.location,
                              'write it like "Marso 31, 1954", or give the date: date="1954-03-31"')
    if found[0].when is None:
        raise ManuscriptError(f"bad date {mark.text!r}: {found[0].problem}", mark.location, "correct the date")
    return dataclasses.replace(mark, date=_date_text(found[0].when))


# Events -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Event:
    when: DateValue
    text: str
    anchor: str | None
    """Where the event is told in the book; None for a curated event the text never tells."""
    origin: str
    """'curated', 'marked' or 'detected'."""
    location: Location


def sort_key(when: DateValue) -> tuple[int, ...]:
    """Earlier first; a year before its months, a month before its days; ranges by start, then end."""
    def key(date: PartialDate) -> tuple[int, int, int]:
        return (date.year, date.month or 0, date.day or 0)
    return (*key(when.start), *(key(when.end) if when.end else (0, 0, 0)))


def collect_events(book: Book, settings: ChronologySettings) -> tuple[tuple[Event, ...], list[Problem]]:
    """All events in order. A curated event replaces marked and detected ones of the same date (taking
    their place in the text if it has no `ref`); a marked event replaces detected ones."""
    ids = anchor_ids(book)
    problems: list[Problem] = []
    by_date: dict[tuple[int, ...], list[Event]] = {}
    for mark in book.date_marks:
        when = parse_date_value(mark.date)
        event = Event(when, mark.event or mark.text, mark.anchor_id, "detected" if mark.detected else "marked",
                      mark.location)
        by_date.setdefault(sort_key(when), []).append(event)
    chosen: list[Event] = []
    told: dict[tuple[int, ...], str] = {}
    for key, events in by_date.items():
        marked = [e for e in events if e.origin == "marked"]
        kept = marked or events[:1]  # detected mentions of one date are one event, at its first mention
        told[key] = kept[0].anchor or ""
        chosen.extend(kept)
    for curated in settings.events:
        key = sort_key(curated.when)
        if curated.ref is not None and curated.ref not in ids:
            problems.append(Problem(curated.location, f"chronology event refers to {curated.ref!r}, which is no id in the book",
                                    "use a heading's {#id} or a span's id, or remove `ref:`"))
        anchor = curated.ref if curated.ref in ids else told.get(key) or None
        # Text events give way to a curated one of the same date; curated events all stay.
        chosen = [e for e in chosen if sort_key(e.when) != key or e.origin == "curated"]
        chosen.append(Event(curated.when, curated.text, anchor, "curated", curated.location))
    return tuple(sorted(chosen, key=lambda e: sort_key(e.when))), problems


# The chronology as printed ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ChronologyRow:
    date_text: str
    text: str
    anchor: str | None
    page_label: str | None


@dataclass(frozen=True, slots=True)
class Chronology:
    rows: tuple[ChronologyRow, ...] = ()
    figure: str = ""
    """The timeline as an inline SVG document."""
    narrow_figure: str = ""
    """The same, drawn for a narrow screen (see NARROW_TIMELINE): the e-book shows it on phones."""


NARROW_TIMELINE = 520
"""The width, in the timeline's units, of its drawing for narrow screens: its labels (26 units)
stay 16 pixels high on a phone 360 pixels wide, where the wide drawing's (1000 units) shrink to 8."""


def format_when(when: DateValue, language: Language) -> str:
    """'Marso 31, 1954', 'Marso 1954', '1954', 'Enero–Pebrero 1954', 'Agosto 21–25, 1944',
    'Agosto 21 – Oktubre 7, 1944' (the year once, as editors write a range), 'Disyembre 30, 1953
    – Enero 2, 1954'. A date never breaks across lines (non-breaking spaces); a range may, after
    its dash."""
    start, end = when.start, when.end
    if end is None:
        return _unbroken(language.format_partial(start.year, start.month, start.day))
    if start.year == end.year and start.day is None and end.day is None and start.month and end.month:
        return _unbroken(f"{language.months[start.month - 1]}–{language.format_partial(end.year, end.month)}")
    if start.month is None and end.month is None:
        return f"{start.year}–{end.year}"
    if start.year == end.year and start.month and end.month and start.day and end.day:
        month = language.months[end.month - 1]
        if start.month == end.month:  # Agosto 21–25, 1944
            return _unbroken(language.date_format.format(day=f"{start.day}–{end.day}", month=month, year=end.year))
        first = language.day_month_format.format(day=start.day, month=language.months[start.month - 1])
        return f"{_unbroken(first)}\u00a0– {_unbroken(language.format_partial(end.year, end.month, end.day))}"
    first = language.format_partial(start.year, start.month, start.day)
    return f"{_unbroken(first)}\u00a0– {_unbroken(language.format_partial(end.year, end.month, end.day))}"


def _unbroken(text: str) -> str:
    return text.replace(" ", "\u00a0")


def build_chronology(events: tuple[Event, ...], page_map: PageMap, language: Language) -> Chronology:
    rows = tuple(
        ChronologyRow(format_when(event.when, language), event.text, event.anchor,
                      page_map.labels[page_map.anchor_pages[event.anchor]]
                      if event.anchor and event.anchor in page_map.anchor_pages else None)
        for event in events
    )
    return Chronology(rows, timeline_svg(events, language), timeline_svg(events, language, NARROW_TIMELINE, "narrow"))


def _position(date: PartialDate, end: bool = False) -> float:
    """A date as a fractional year; the end of a partial date is the end of its month or year."""
    if date.month is None:
        return date.year + (1.0 if end else 0.0)
    if date.day is None:
        return date.year + (date.month - (0 if end else 1)) / 12
    return date.year + (date.month - 1) / 12 + (date.day - (0 if end else 1)) / 365


@dataclass(frozen=True, slots=True)
class _Axis:
    """Each year with events gets room by how many it holds; a stretch of empty years becomes a break."""

    starts: Mapping[int, float]
    """Where each shown year begins, in axis units."""
    widths: Mapping[int, float]
    breaks: tuple[float, ...]
    """Units where empty years were left out."""
    length: float

    def unit(self, when: float) -> float:
        year = int(when)
        if year not in self.starts:  # the very end of the last year
            year -= 1
        return self.starts[year] + (when - year) * self.widths[year]


BREAK_UNITS = 0.6
LONGEST_EMPTY_STRETCH = 1
"""Empty years drawn as they are; a longer stretch becomes a break."""


def _axis(events: tuple[Event, ...]) -> _Axis:
    counts: dict[int, int] = {}
    for event in events:
        first = int(_position(event.when.start))
        last = int(_position(event.when.end or event.when.start, end=True) - 1e-9)
        for year in range(first, last + 1):
            counts.setdefault(year, 0)
        counts[first] += 1
    shown = sorted(counts)
    starts: dict[int, float] = {}
    widths: dict[int, float] = {}
    breaks: list[float] = []
    position = 0.0
    for previous, year in zip([None, *shown], shown, strict=False):
        if previous is not None and year - previous - 1 > LONGEST_EMPTY_STRETCH:
            breaks.append(position + BREAK_UNITS / 2)
            position += BREAK_UNITS
        elif previous is not None:
            for empty in range(previous + 1, year):
                starts[empty], widths[empty] = position, 1.0
                position += 1.0
        widths[year] = 1.0 + 0.6 * max(counts[year] - 1, 0)  # crowded years get more room
        starts[year] = position
        position += widths[year]
    return _Axis(starts, widths, tuple(breaks), position)


def _markers(events: tuple[Event, ...]) -> list[tuple[int, int]]:
    """(first, last) index of each run of events with the same date or span: one marker each, so
    that many events on one date make one label ("4–9"), not a stack taller than the page."""
    markers: list[tuple[int, int]] = []
    for index, event in enumerate(events):
        if markers and event.when == events[markers[-1][0]].when:
            markers[-1] = (markers[-1][0], index)
        else:
            markers.append((index, index))
    return markers


STEM_CLEARANCE = 4.0
"""Room kept between a marker's stem and a label beside it, in the timeline's units (1000 wide)."""


def _thinned(markers: list[tuple[int, int]], positions: list[float], font: float) -> list[tuple[int, int]]:
    """Markers closer together than a label is wide made one ("12–13"): two labels there could
    only stand on top of each other, one's stem striking through the other."""
    thinned: list[tuple[int, int]] = []
    for first, last in markers:
        # Too close for a label of its own, or so close that its stem, rising past the label before
        # (on a lane below), would strike through it.
        before = font * 0.3 * len(_marker_label(*thinned[-1])) + 4 + STEM_CLEARANCE if thinned else 0.0
        if thinned and positions[first] - positions[thinned[-1][0]] < max(font * 0.6 * len(str(last + 1)), before):
            thinned[-1] = (thinned[-1][0], last)
        else:
            thinned.append((first, last))
    return thinned


def _marker_label(first: int, last: int) -> str:
    """The events' numbers as in the list below the timeline (which counts from 1)."""
    return str(first + 1) if first == last else f"{first + 1}–{last + 1}"


def timeline_svg(events: tuple[Event, ...], language: Language, width: int = 1000, kind: str = "wide") -> str:
    """A horizontal timeline: a numbered dot (or a bar, for a range) per event, as in the list below it."""
    if not events:
        return ""
    axis = _axis(events)
    left, right = 24.0, width - 24.0

    def x(when: float) -> float:
        return left + axis.unit(when) / axis.length * (right - left)

    font, lane_height = 26, 40
    markers = _thinned(_markers(events), [x(_position(event.when.start)) for event in events], font)
    lanes: list[float] = []  # how far right each lane is taken: by its last label, or a stem through it
    placed: list[tuple[float, int]] = []
    for first, last in markers:
        at = x(_position(events[first].when.start))
        half_label = font * 0.3 * len(_marker_label(first, last)) + 4
        # The lowest lane where the label fits and its stem, rising from the axis, crosses no label
        # of the lanes below; else the lowest where the label fits.
        fits = [i for i, edge in enumerate(lanes) if edge < at - half_label]
        clear = [i for i in fits if all(edge < at - STEM_CLEARANCE for edge in lanes[:i])]
        lane = clear[0] if clear else fits[0] if fits else None
        if lane is None:
            lanes.append(0.0)
            lane = len(lanes) - 1
        lanes[lane] = at + half_label
        for below in range(lane):  # the stem passes through the lanes below: no label may cover it
            lanes[below] = max(lanes[below], at + STEM_CLEARANCE)
        placed.append((at, lane))
    base = 30 + len(lanes) * lane_height
    height = base + 62
    parts: list[str] = []
    scale = (right - left) / axis.length
    year_label_end = -float("inf")  # a year squeezed against the last one goes unnamed, not overprinted
    for year, start in sorted(axis.starts.items()):
        for tick in (left + start * scale, left + (start + axis.widths[year]) * scale):
            parts.append(f'<line x1="{tick:.1f}" y1="{base}" x2="{tick:.1f}" y2="{base + 10}" stroke="currentColor" '
                         f'stroke-width="1.5"/>')
        middle = left + (start + axis.widths[year] / 2) * scale  # the year's name in the middle of its stretch
        half_label = font * 0.3 * len(str(year))
        if middle - half_label > year_label_end + 6:
            parts.append(f'<text x="{middle:.1f}" y="{base + 40}" text-anchor="middle" font-size="{font}">{year}</text>')
            year_label_end = middle + half_label
    segments = [left, *(left + b * scale for b in axis.breaks), right]
    gap = BREAK_UNITS * scale / 2 - 6
    for number, (start, end) in enumerate(zip(segments, segments[1:], strict=False)):
        x1 = start + (gap if number > 0 else 0)
        x2 = end - (gap if end != right else 0)
        parts.append(f'<line x1="{x1:.1f}" y1="{base}" x2="{x2:.1f}" y2="{base}" stroke="currentColor" stroke-width="2"/>')
    for at in segments[1:-1]:  # the break: two slanted strokes
        for shift in (-6, 6):
            parts.append(f'<line x1="{at + shift - 5:.1f}" y1="{base + 10}" x2="{at + shift + 5:.1f}" y2="{base - 10}" '
                         f'stroke="currentColor" stroke-width="2"/>')
    for (at, lane), (first, last) in zip(placed, markers, strict=True):
        label_y = base - 22 - lane * lane_height
        for event in events[first:last + 1]:  # a span's bar, also within a marker made of several
            if event.when.end is not None:
                start_x = x(_position(event.when.start))
                end_x = x(_position(event.when.end, end=True))
                parts.append(f'<rect x="{start_x:.1f}" y="{base - 6}" width="{max(end_x - start_x, 4):.1f}" '
                             f'height="12" rx="5" class="marker" fill="#7a4b2a" fill-opacity="0.5"/>')
        parts.append(f'<line x1="{at:.1f}" y1="{label_y + 6}" x2="{at:.1f}" y2="{base}" class="stem" stroke="#7a4b2a" '
                     f'stroke-width="1.5"/>')
        parts.append(f'<circle cx="{at:.1f}" cy="{base}" r="7" class="marker" fill="#7a4b2a"/>')
        parts.append(f'<text x="{at:.1f}" y="{label_y}" text-anchor="middle" font-size="{font}" '
                     f'font-weight="bold">{_marker_label(first, last)}</text>')
    title = escape(language.word("timeline"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="{kind}" '
            f'aria-label="{title}" font-family="Gentium Book Plus, serif" fill="currentColor">'
            f"<title>{title}</title>" + "".join(parts) + "</svg>")


def events_yaml(events: tuple[Event, ...], book: Book) -> str:
    """The events found in the text, as a `chronology:` block an editor can paste and curate."""
    section_of = _section_ids(book)
    lines = ["chronology:", "  detect: true", "  events:"]
    for event in events:
        if event.origin == "curated":
            continue
        where = " ".join(f"{event.origin}, {event.location}".split())  # a comment stays one line
        lines.append(f"    - date: {_date_text(event.when)}  # {where}")
        lines.append(f"      text: {_yaml_string(event.text)}")
        if event.anchor in section_of:
            lines.append(f"      ref: {section_of[event.anchor]}")
    return "\n".join(lines) + "\n"


def _yaml_string(text: str) -> str:
    """A double-quoted YAML string that reads back as `text`: JSON's escapes, and YAML's line breaks too."""
    escaped = json.dumps(text, ensure_ascii=False)
    for line_break in ("\u0085", "\u2028", "\u2029"):
        escaped = escaped.replace(line_break, f"\\u{ord(line_break):04x}")
    return escaped


def _section_ids(book: Book) -> dict[str, str]:
    """For each date anchor, the id of the chapter or section it stands in: a ref that survives edits."""
    result: dict[str, str] = {}
    for chapter in book.chapters:
        current = chapter.id
        marks = {mark.anchor_id for mark in chapter.date_marks}
        for block in chapter.blocks:
            if isinstance(block, Heading):
                current = block.id
            offsets: dict[str, tuple[int, int]] = {}
            if isinstance(block, Paragraph):
                _span_offsets(block.children, offsets)
            for anchor in offsets:
                if anchor in marks:
                    result[anchor] = current
        for note in chapter.footnotes:
            for anchor in _note_anchors(note, marks):
                result[anchor] = chapter.id
    return result


def _note_anchors(note: Footnote, marks: set[str]) -> list[str]:
    found: list[str] = []
    for block in note.children:
        if isinstance(block, Paragraph):
            offsets: dict[str, tuple[int, int]] = {}
            _span_offsets(block.children, offsets)
            found.extend(anchor for anchor in offsets if anchor in marks)
    return found
