"""Per-language data (UI words, month names, date format), kept in YAML files a translator can extend."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

import yaml

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class Language:
    """Everything language-specific that the layouts and writers need."""

    code: str
    """The book's own BCP 47 tag, e.g. `tl` or `en-US`."""
    data_code: str
    """The data file used: `tl` for `tl`, `fil` and `fil-PH`."""
    name: str
    ui: Mapping[str, str]
    months: tuple[str, ...]
    date_format: str
    alphabet: tuple[str, ...]
    """Letters in alphabetical order, lower case; a letter may be two characters (Filipino `ng`)."""
    symbols_heading: str
    date_patterns: tuple[str, ...]
    """How dates are written in running text, most specific first: '{month} {day}, {year}' …"""
    month_format: str

    def word(self, key: str) -> str:
        """A UI word such as `contents`; a missing key is a bug in the data file."""
        return self.ui[key]

    def sort_key(self, text: str) -> CollationKey:
        return collation_key(text, self.alphabet)

    def initial(self, text: str) -> str | None:
        """The letter a term files under ('NG' for 'Ngayon' in Filipino), or None for digits and symbols."""
        primary = self.sort_key(text)[0]
        if not primary or primary[0] < 11 or primary[0] >= 11 + len(self.alphabet):
            return None
        return self.alphabet[primary[0] - 11].upper()

    def format_date(self, date: dt.date) -> str:
        """'Marso 31, 1954' for Filipino, 'March 31, 1954' for English."""
        return self.date_format.format(day=date.day, month=self.months[date.month - 1], year=date.year)

    def format_partial(self, year: int, month: int | None = None, day: int | None = None) -> str:
        """A year, a month ('Marso 1954') or a day ('Marso 31, 1954')."""
        if month is None:
            return str(year)
        if day is None:
            return self.month_format.format(month=self.months[month - 1], year=year)
        return self.format_date(dt.date(year, month, day))


CollationKey = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def collation_key(text: str, alphabet: tuple[str, ...]) -> CollationKey:
    """Sort key: letters of the alphabet first, then accents, then case (as UCA levels 1–3).

    Word by word: a space sorts before every letter, so "New York" precedes "Newark".
    Digits sort before letters; other punctuation is ignored at the first level.
    """
    letters = sorted(alphabet, key=len, reverse=True)
    rank = {letter: number for number, letter in enumerate(alphabet, start=11)}
    primary: list[int] = []
    accents: list[int] = []
    cases: list[int] = []
    position = 0
    text = unicodedata.normalize("NFC", text.strip())
    while position < len(text):
        char = text[position]
        if char.isspace():
            if primary and primary[-1] != 0:
                primary.append(0)
            position += 1
            continue
        if char.isdigit():
            primary.append(1 + unicodedata.digit(char, 0))  # 1…10: digits before letters
            accents.append(0)
            cases.append(0)
            position += 1
            continue
        match = next((letter for letter in letters
                      if text[position:position + len(letter)].lower() == letter), None)
        if match is not None:
            primary.append(rank[match])
            accents.append(0)
            cases.append(0 if text[position:position + len(match)].islower() else 1)
            position += len(match)
            continue
        # Not a letter of the alphabet as written: try its base letter (Á → A) and keep the accent.
        decomposed = unicodedata.normalize("NFD", char)
        base = decomposed[0].lower()
        if base in rank:
            primary.append(rank[base])
            accents.append(sum(ord(mark) for mark in decomposed[1:]) or 1)
            cases.append(0 if char.islower() else 1)
        elif char.isalpha():
            primary.append(len(alphabet) + 11 + ord(char.lower()))  # letters of other scripts, after z
            accents.append(0)
            cases.append(0 if char.islower() else 1)
        position += 1
    while primary and primary[-1] == 0:
        primary.pop()
    return tuple(primary), tuple(accents), tuple(cases)


def _data_text(name: str) -> str | None:
    resource = resources.files("limbag").joinpath("languages", f"{name}.yaml")
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def available_languages() -> list[str]:
    """Codes that have their own data file."""
    folder = resources.files("limbag").joinpath("languages")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml") and p.name != "aliases.yaml")


def data_code_for(tag: str) -> str | None:
    """The data file for a BCP 47 tag: exact, then its primary subtag, then an alias; None if unknown."""
    aliases: dict[str, str] = yaml.safe_load(_data_text("aliases") or "") or {}
    primary = tag.split("-")[0].lower()
    for candidate in (tag.lower(), primary):
        candidate = aliases.get(candidate, candidate)
        if candidate in available_languages():
            return candidate
    return None


def load_language(tag: str) -> Language:
    """Language data for a book; unknown languages fall back to English words (config warns)."""
    data_code = data_code_for(tag) or DEFAULT_LANGUAGE
    data = yaml.safe_load(_data_text(data_code) or "")
    return Language(
        code=tag,
        data_code=data_code,
        name=data["name"],
        ui=MappingProxyType(dict(data["ui"])),
        months=tuple(data["months"]),
        date_format=data["date_format"],
        alphabet=tuple(str(letter) for letter in data["alphabet"]),
        symbols_heading=data["symbols_heading"],
        date_patterns=tuple(data["date_patterns"]),
        month_format=data["month_format"],
    )
