"""Date values as editors write them in marks and book.yaml: YYYY, YYYY-MM, YYYY-MM-DD, or A/B."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class DateError(ValueError):
    """A date value that is not a real calendar date."""


@dataclass(frozen=True, slots=True, order=True)
class PartialDate:
    """A year, a month or a day; sorts before anything later and a year before its months."""

    year: int
    month: int | None = None
    day: int | None = None

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text


@dataclass(frozen=True, slots=True)
class DateValue:
    """A single partial date or a range from `start` to `end`."""

    start: PartialDate
    end: PartialDate | None = None


def parse_partial_date(text: str) -> PartialDate:
    match = PARTIAL_DATE.match(text.strip())
    if not match:
        raise DateError(f"{text!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(part) if part else None for part in match.groups())
    assert year is not None
    if month is not None and not 1 <= month <= 12:
        raise DateError(f"month {month} does not exist")
    if month is not None and day is not None:
        try:
            dt.date(year, month, day)
        except ValueError:
            raise DateError(f"day {day} does not exist in {year:04d}-{month:02d}") from None
    return PartialDate(year, month, day)


def parse_date_value(text: str) -> DateValue:
    """'1954-03-31' or '1954-01/1954-02'; raises DateError for anything else."""
    parts = str(text).split("/")
    if len(parts) > 2:
        raise DateError(f"{text!r} has more than one '/'")
    start = parse_partial_date(parts[0])
    end = parse_partial_date(parts[1]) if len(parts) == 2 else None
    if end is not None and end < start:
        raise DateError(f"the range {text!r} ends before it starts")
    return DateValue(start, end)
