"""The back-of-book index: marks and term lists → entries sorted in the book's alphabet, with pages.

Two pure steps around the layout:
- `mark_aliases(book, settings)` runs before layout and returns a new Book in which every
  occurrence of a configured alias is an anchored span with its IndexMark;
- `build_index(book, settings, page_map, language)` runs after a layout and turns the marks into
  entries with page ranges taken from the page map.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import BookConfig, unknown_key_warnings
from .errors import ConfigError, Location, Problem
from .language import Language
from .model import (
    Block,
    Book,
    Chapter,
    Footnote,
    IndexMark,
    Inline,
    Span,
    Text,
    plain_text,
    rewrite_text,
)
from .pagemap import PageMap

INDEX_KEYS = ("terms", "see")
TERM_KEYS = ("aliases", "see_also")


# Settings ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IndexTerm:
    """A term from book.yaml's `index.terms`."""

    term: str
    aliases: tuple[str, ...] = ()
    """Words whose every occurrence in the text is indexed under this term, matched as written."""
    see_also: tuple[str, ...] = ()
    location: Location | None = None
    alias_locations: tuple[Location, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexSettings:
    terms: tuple[IndexTerm, ...] = ()
    see: Mapping[str, str] = field(default_factory=dict)
    """`"USSR": "Unyong Sobyet"` makes the entry “USSR, tingnan Unyong Sobyet”."""
    see_locations: Mapping[str, Location] = field(default_factory=dict)


def _text_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
        return [item.strip() for item in value]
    return None


def index_settings(config: BookConfig) -> tuple[IndexSettings, list[Problem]]:
    """Validate book.yaml's `index:`; type errors are ConfigErrors, unknown keys warnings."""
    raw = config.index
    errors: list[Problem] = []
    warnings = unknown_key_warnings(config.location, raw, INDEX_KEYS, "index.")
    terms: list[IndexTerm] = []
    raw_terms = raw.get("terms") or {}
    if not isinstance(raw_terms, Mapping):
        errors.append(Problem(config.location("index.terms"), "index.terms: expected a mapping of terms",
                              'write each term as a key: `"Unyong Sobyet": {aliases: [USSR]}`'))
        raw_terms = {}
    for term, details in raw_terms.items():
        path = f"index.terms.{term}"
        details = details or {}
        if not isinstance(details, Mapping):
            errors.append(Problem(config.location(path), f"{path}: expected `aliases:` and/or `see_also:`",
                                  "indent them below the term"))
            continue
        warnings.extend(unknown_key_warnings(config.location, details, TERM_KEYS, f"{path}."))
        aliases = _text_list(details.get("aliases", []))
        see_also = _text_list(details.get("see_also", []))
        if aliases is None or see_also is None:
            bad = "aliases" if aliases is None else "see_also"
            errors.append(Problem(config.location(f"{path}.{bad}"), f"{path}.{bad}: expected a list of words",
                                  "write them as a list: [USSR, Soviet]"))
            continue
        terms.append(IndexTerm(
            str(term).strip(), tuple(aliases), tuple(see_also), config.location(path),
            tuple(config.location(f"{path}.aliases[{number}]") for number in range(len(aliases))),
        ))
    raw_see = raw.get("see") or {}
    see: dict[str, str] = {}
    see_locations: dict[str, Location] = {}
    if not isinstance(raw_see, Mapping):
        errors.append(Problem(config.location("index.see"), "index.see: expected a mapping",
                              'write `"USSR": "Unyong Sobyet"`, one a line'))
    else:
        for name, target in raw_see.items():
            if not isinstance(target, str) or not target.strip():
                errors.append(Problem(config.location(f"index.see.{name}"), f"index.see.{name}: expected a term",
                                      'write `"USSR": "Unyong Sobyet"`'))
                continue
            see[str(name).strip()] = target.strip()
            see_locations[str(name).strip()] = config.location(f"index.see.{name}")
    if errors:
        raise ConfigError(errors)
    return IndexSettings(tuple(terms), see, see_locations), warnings


# Alias marking ----------------------------------------------------------------------------------

def alias_pattern(aliases: Iterable[str]) -> re.Pattern[str] | None:
    """Whole words as written; longest first, so 'Unyong Sobyet' wins over 'Unyong'."""
    ordered = sorted(set(aliases), key=len, reverse=True)
    if not ordered:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(word) for word in alias.split()) for alias in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


@dataclass
class _AliasMarker:
    """Walks one chapter, wrapping alias occurrences in anchored spans."""

    chapter: Chapter
    pattern: re.Pattern[str]
    term_of: Mapping[str, str]
    marked_ids: frozenset[str]
    marks: list[IndexMark] = field(default_factory=list)
    seen_in_marks: set[str] = field(default_factory=set)
    """Aliases that stand in the text inside explicit marks (found, but not indexed twice)."""
    count: int = 0

    def keep(self, span: Span) -> bool:
        """An explicit mark is not indexed twice; aliases standing in it still count as found."""
        if span.id not in self.marked_ids:
            return False
        self.seen_in_marks.update(" ".join(m.group(0).split()) for m in self.pattern.finditer(plain_text(span.children)))
        return True

    def text(self, text: str) -> list[Inline]:
        pieces: list[Inline] = []
        position = 0
        for match in self.pattern.finditer(text):
            if match.start() > position:
                pieces.append(Text(text[position:match.start()]))
            self.count += 1
            anchor = f"_a-{self.chapter.number}-{self.count}"
            found = " ".join(match.group(0).split())
            self.marks.append(IndexMark(anchor, (self.term_of[found],), found, Location(self.chapter.source)))
            pieces.append(Span((Text(match.group(0)),), anchor))
            position = match.end()
        if position < len(text):
            pieces.append(Text(text[position:]))
        return pieces

    def block(self, block: Block) -> Block:
        return rewrite_text(block, self.text, self.keep)

    def footnote(self, note: Footnote) -> Footnote:
        return dataclasses.replace(note, children=tuple(self.block(child) for child in note.children))


def mark_aliases(book: Book, settings: IndexSettings) -> tuple[Book, list[Problem]]:
    """A new Book where every alias occurrence (chapter text and footnotes) is an index mark."""
    term_of = {alias: term.term for term in settings.terms for alias in term.aliases}
    pattern = alias_pattern(term_of)
    if pattern is None:
        return book, []
    marked_ids = frozenset(mark.anchor_id for mark in book.index_marks)
    chapters = []
    found: set[str] = set()
    for chapter in book.chapters:
        marker = _AliasMarker(chapter, pattern, term_of, marked_ids)
        blocks = tuple(marker.block(block) for block in chapter.blocks)
        notes = tuple(marker.footnote(note) for note in chapter.footnotes)
        found.update(mark.text for mark in marker.marks)
        found.update(marker.seen_in_marks)
        chapters.append(dataclasses.replace(chapter, blocks=blocks, footnotes=notes,
                                            index_marks=chapter.index_marks + tuple(marker.marks)))
    problems = [
        Problem(location, f"index alias {alias!r} of {term.term!r} never occurs in the text",
                "check its spelling and case (aliases match whole words as written), or remove it")
        for term in settings.terms
        for alias, location in zip(term.aliases, term.alias_locations, strict=True)
        if alias not in found
    ]
    return dataclasses.replace(book, chapters=tuple(chapters)), problems


# The index ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PageRange:
    """'3' or '3–5': each end links to the first spot of the entry on that page."""

    start_label: str
    start_anchor: str
    end_label: str | None = None
    end_anchor: str | None = None


@dataclass(frozen=True, slots=True)
class IndexEntry:
    id: str
    """'ie-N' in print order, so both writers (and see-references) can point at it."""
    term: str
    pages: tuple[PageRange, ...] = ()
    anchors: tuple[str, ...] = ()
    """Every spot the entry points at, in reading order (the e-book links each one)."""
    see: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    children: tuple[IndexEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class LetterGroup:
    id: str
    letter: str
    entries: tuple[IndexEntry, ...]


@dataclass(frozen=True, slots=True)
class Index:
    groups: tuple[LetterGroup, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.groups


def page_ranges(anchors: Iterable[str], page_map: PageMap) -> tuple[PageRange, ...]:
    """Repeats on one page merged, runs of consecutive pages joined: 1, 3–5, 9."""
    first_on_page: dict[int, str] = {}
    for anchor in anchors:
        page = page_map.anchor_pages.get(anchor)
        if page is not None:
            first_on_page.setdefault(page, anchor)
    ranges: list[PageRange] = []
    run: list[int] = []
    for page in sorted(first_on_page):
        if run and page != run[-1] + 1:
            ranges.append(_range(run, first_on_page, page_map))
            run = []
        run.append(page)
    if run:
        ranges.append(_range(run, first_on_page, page_map))
    return tuple(ranges)


def _range(run: list[int], first_on_page: Mapping[int, str], page_map: PageMap) -> PageRange:
    start, end = run[0], run[-1]
    if start == end:
        return PageRange(page_map.labels[start], first_on_page[start])
    return PageRange(page_map.labels[start], first_on_page[start], page_map.labels[end], first_on_page[end])


@dataclass
class _Node:
    anchors: list[str] = field(default_factory=list)
    see: list[str] = field(default_factory=list)
    see_also: list[str] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)


def _entries(nodes: Mapping[str, _Node], page_map: PageMap, language: Language) -> tuple[IndexEntry, ...]:
    def in_page_order(anchors: list[str]) -> tuple[str, ...]:  # stable: reading order within a page
        return tuple(sorted(anchors, key=lambda anchor: page_map.anchor_pages.get(anchor, -1)))

    return tuple(
        IndexEntry("", term, page_ranges(node.anchors, page_map), in_page_order(node.anchors),
                   tuple(sorted(set(node.see), key=language.sort_key)),
                   tuple(sorted(set(node.see_also), key=language.sort_key)),
                   _entries(node.children, page_map, language))
        for term, node in sorted(nodes.items(), key=lambda item: language.sort_key(item[0]))
    )


def index_terms(book: Book, settings: IndexSettings) -> set[str]:
    """Every top-level term that will have an entry."""
    return ({mark.terms[0] for mark in book.index_marks} | {term.term for term in settings.terms}
            | set(settings.see))


def check_references(book: Book, settings: IndexSettings) -> list[Problem]:
    """A see or see-also that points at no entry is a dead end for the reader."""
    known = index_terms(book, settings)
    problems = []
    for name, target in settings.see.items():
        if target not in known:
            problems.append(Problem(settings.see_locations[name],
                                    f"index.see: {name!r} points to {target!r}, which is not in the index",
                                    "add that term (a mark or index.terms), or correct the name"))
    for term in settings.terms:
        for target in term.see_also:
            if target not in known:
                problems.append(Problem(term.location or Location(book.config.source),
                                        f"index.terms.{term.term}.see_also: {target!r} is not in the index",
                                        "add that term (a mark or index.terms), or correct the name"))
    return problems


def build_index(book: Book, settings: IndexSettings, page_map: PageMap, language: Language) -> Index:
    """Entries and sub-entries with page ranges, grouped under the letters of the book's alphabet."""
    roots: dict[str, _Node] = {}
    for mark in book.index_marks:  # reading order: chapter by chapter, marks then aliases
        node = roots.setdefault(mark.terms[0], _Node())
        for sub_term in mark.terms[1:]:
            node = node.children.setdefault(sub_term, _Node())
        node.anchors.append(mark.anchor_id)
    for term in settings.terms:
        roots.setdefault(term.term, _Node()).see_also.extend(term.see_also)
    for name, target in settings.see.items():
        roots.setdefault(name, _Node()).see.append(target)
    groups: dict[str, list[IndexEntry]] = {}
    for entry in _entries(roots, page_map, language):
        if not (entry.pages or entry.see or entry.see_also or entry.children):
            continue  # a configured term that never occurs has nothing to show
        letter = language.initial(entry.term) or language.symbols_heading
        groups.setdefault(letter, []).append(entry)
    numbers = itertools.count(1)

    def numbered(entry: IndexEntry) -> IndexEntry:
        return dataclasses.replace(entry, id=f"ie-{next(numbers)}",
                                   children=tuple(numbered(child) for child in entry.children))

    return Index(tuple(LetterGroup(f"ig-{number}", letter, tuple(numbered(entry) for entry in entries))
                       for number, (letter, entries) in enumerate(groups.items(), start=1)))
