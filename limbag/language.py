"""Per-language data (UI words, month names, date format), kept in YAML files a translator can extend."""

from __future__ import annotations

import datetime as dt
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

    def word(self, key: str) -> str:
        """A UI word such as `contents`; a missing key is a bug in the data file."""
        return self.ui[key]

    def format_date(self, date: dt.date) -> str:
        """'Marso 31, 1954' for Filipino, 'March 31, 1954' for English."""
        return self.date_format.format(day=date.day, month=self.months[date.month - 1], year=date.year)


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
    )
