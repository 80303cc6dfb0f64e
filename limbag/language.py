"""Per-language data (UI words, month names, date format), kept in YAML files a translator can extend."""

from __future__ import annotations

import datetime as dt
import functools
import re
import subprocess
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Language:
    """Everything language-specific that the layouts and writers need."""

    code: str
    """The book's own BCP 47 tag, e.g. `tl` or `en-US`."""
    data_code: str
    """Where the words come from: `tl` for `tl`, `fil` and `fil-PH`; `de` for `de-AT`; `en` for a
    language nothing knows."""
    name: str
    ui: Mapping[str, str]
    months: tuple[str, ...]
    date_format: str
    symbols_heading: str
    date_patterns: tuple[str, ...]
    """How dates are written in running text, most specific first: '{month} {day}, {year}' …"""
    month_format: str
    collation: str = "en"
    """The locale whose Unicode collation (CLDR's tailoring, through ICU) sorts the index."""
    day_month_format: str = "{month} {day}"
    """A day without its year, as the first half of a range ('Agosto 21 – Oktubre 7, 1944')."""

    def word(self, key: str) -> str:
        """A UI word such as `contents`; a missing key is a bug in the data file."""
        return self.ui[key]

    def sort_key(self, text: str) -> bytes:
        """The Unicode Collation Algorithm's key with the language's tailoring: Filipino files Ñ
        and NG as letters after N, Spanish Ñ after N, German Ä with A."""
        return _collation(self.collation)[0].getSortKey(unicodedata.normalize("NFC", text.strip()))

    @property
    def alphabet(self) -> tuple[str, ...]:
        """The letters an index is grouped under, in order, lower case ('ng' in Filipino)."""
        return _collation(self.collation)[2]

    def initial(self, text: str) -> str | None:
        """The letter a term files under ('NG' for 'Ngayon' in Filipino, 'A' for 'Äpfel' in German),
        as CLDR's index characters for the language have it; None for digits, symbols and other scripts."""
        index = _collation(self.collation)[1]
        label, kind = index.getBucket(index.getBucketIndex(unicodedata.normalize("NFC", text.strip())))
        return label.upper() if kind == 0 else None

    def format_date(self, date: dt.date) -> str:
        """'Marso 31, 1954' for Filipino, 'March 31, 1954' for English, '31. März 1954' for German."""
        return self.date_format.format(day=date.day, month=self.months[date.month - 1], year=date.year)

    def format_partial(self, year: int, month: int | None = None, day: int | None = None) -> str:
        """A year, a month ('Marso 1954') or a day ('Marso 31, 1954')."""
        if month is None:
            return str(year)
        if day is None:
            return self.month_format.format(month=self.months[month - 1], year=year)
        return self.format_date(dt.date(year, month, day))


@functools.cache
def _collation(locale: str) -> tuple[Any, Any, tuple[str, ...]]:
    """ICU's collator and alphabetic index for a locale, and the index's letters."""
    import icu

    where = icu.Locale(locale)
    index = icu.AlphabeticIndex(where)
    letters: list[str] = []
    index.resetBucketIterator()
    while index.nextBucket():
        if index.bucketLabelType == 0:
            letters.append(index.bucketLabel.lower())
    return icu.Collator.createInstance(where), index.buildImmutableIndex(), tuple(letters)


def _data_text(name: str) -> str | None:
    resource = resources.files("limbag").joinpath("languages", f"{name}.yaml")
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def available_languages() -> list[str]:
    """Codes that have a data file of Limbag's own (whole, or the words the common data lacks)."""
    folder = resources.files("limbag").joinpath("languages")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml") and p.name != "aliases.yaml")


def _own_code(tag: str) -> str | None:
    aliases: dict[str, str] = yaml.safe_load(_data_text("aliases") or "") or {}
    primary = tag.split("-")[0].lower()
    for candidate in (tag.lower(), primary):
        candidate = aliases.get(candidate, candidate)
        if candidate in available_languages():
            return candidate
    return None


def data_code_for(tag: str) -> str | None:
    """Where a language's words come from: Limbag's own file, else the common data (CLDR's dates,
    Pandoc's words) for its primary subtag; None if nothing knows the language."""
    own = _own_code(tag)
    if own is not None:
        return own
    primary = tag.split("-")[0].lower()
    return primary if _cldr_dates(primary) is not None or pandoc_words(primary) else None


PANDOC_WORDS = MappingProxyType({
    "Contents": "contents", "Chapter": "chapter", "Figure": "figure", "Table": "table", "Index": "index",
    "See": "see", "SeeAlso": "see_also", "Bibliography": "bibliography", "ListOfFigures": "list_of_figures",
    "ListOfTables": "list_of_tables", "Page": "page",
})
"""Pandoc's translation keys (what its LaTeX and HTML writers print) and the UI words they give."""


@functools.cache
def pandoc_words(code: str) -> Mapping[str, str]:
    """The UI words of Pandoc's translation file for a language (`translations/de.yaml`), if it has one."""
    from .pandoc import pandoc_program

    if not re.fullmatch(r"[a-z]{2,3}", code):
        return MappingProxyType({})
    try:
        done = subprocess.run([str(pandoc_program()), "--print-default-data-file", f"translations/{code}.yaml"],
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return MappingProxyType({})
    data = yaml.safe_load(done.stdout.decode("utf-8", "replace")) if done.returncode == 0 else None
    if not isinstance(data, dict):
        return MappingProxyType({})
    return MappingProxyType({PANDOC_WORDS[key]: str(value) for key, value in data.items() if key in PANDOC_WORDS})


CLDR_FIELD = re.compile(r"'([^']*)'|(d+|M+|L+|y+|[A-Za-z]+)|([^'A-Za-z]+)")


def _from_cldr(pattern: str) -> str:
    """A CLDR date pattern ("d 'de' MMMM 'de' y") as Limbag's format ("{day} de {month} de {year}")."""
    out = []
    for quoted, field, literal in CLDR_FIELD.findall(pattern):
        if field:
            out.append({"d": "{day}", "M": "{month}", "L": "{month}", "y": "{year}"}.get(field[0], ""))
        else:
            out.append(literal if literal else quoted or "'")
    return "".join(out).strip()


def _as_detection(form: str) -> str:
    """A format as a detection pattern: its literal text escaped, its fields left for chronology.py."""
    pieces = re.split(r"(\{day\}|\{month\}|\{year\})", form)
    return "".join(piece if piece.startswith("{") else re.escape(piece) for piece in pieces)


@functools.cache
def _cldr_dates(code: str) -> dict[str, Any] | None:
    """Month names and date forms from CLDR (through Babel) for a language, if CLDR has it."""
    from babel import Locale, UnknownLocaleError
    from babel.dates import get_date_format, get_month_names

    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return None
    date_format = _from_cldr(get_date_format("long", locale=locale).pattern)
    month_format = _from_cldr(locale.datetime_skeletons.get("yMMMM", "MMMM y").pattern
                              if "yMMMM" in locale.datetime_skeletons else "MMMM y")
    day_month = _from_cldr(locale.datetime_skeletons["MMMMd"].pattern) \
        if "MMMMd" in locale.datetime_skeletons else re.sub(r"[,.\s]*\{year\}[,.\s]*", "", date_format)
    return {
        "name": locale.get_display_name(locale) or code,
        "months": [get_month_names("wide", "format", locale)[number] for number in range(1, 13)],
        "date_format": date_format,
        "month_format": month_format,
        "day_month_format": day_month,
        "date_patterns": [_as_detection(date_format).replace("{day}", "{day}[–-]{day2}"),
                          _as_detection(date_format), _as_detection(month_format)],
    }


def load_language(tag: str) -> Language:
    """Language data for a book. Filipino and English are Limbag's own, checked by hand. Any other
    language takes its month names and date forms from CLDR, the UI words Pandoc's translations
    have from those, and the rest from Limbag's own partial file for it if there is one; what none
    of them has is English (config warns when a language has no data at all)."""
    english = yaml.safe_load(_data_text(DEFAULT_LANGUAGE) or "")
    own_code = _own_code(tag)
    own = yaml.safe_load(_data_text(own_code) or "") if own_code is not None else {}
    if "months" in own:  # a whole file of Limbag's own
        data = own
    else:
        primary = tag.split("-")[0].lower()
        data = {**english, "collation": primary, "ui": {**english["ui"], **pandoc_words(primary)}}
        data.update(_cldr_dates(primary) or {})
        data.update({key: value for key, value in own.items() if key != "ui"})
        data["ui"] = {**data["ui"], **own.get("ui", {})}
    date_format = data["date_format"]
    return Language(
        code=tag,
        data_code=own_code or data_code_for(tag) or DEFAULT_LANGUAGE,
        name=data["name"],
        ui=MappingProxyType(dict(data["ui"])),
        months=tuple(data["months"]),
        date_format=date_format,
        symbols_heading=data["symbols_heading"],
        date_patterns=tuple(data["date_patterns"]),
        month_format=data["month_format"],
        collation=data.get("collation", tag.split("-")[0].lower()),
        day_month_format=data.get("day_month_format", re.sub(r"[,.\s]*\{year\}[,.\s]*", "", date_format)),
    )
