"""The one way Limbag reports bad input: a located message, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a source file that a message points at."""

    file: Path
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = str(self.file)
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


@dataclass(frozen=True, slots=True)
class Problem:
    """A warning found while reading a book; `--strict` turns it into a failure."""

    location: Location
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text


class LimbagError(click.ClickException):
    """Bad input or a failed build; Click prints it as one clean line and exits 1."""

    def __init__(self, message: str, location: Location | None = None, hint: str = "") -> None:
        self.location = location
        self.what = message
        """The message alone, without place and hint."""
        self.hint = hint
        text = f"{location}: {message}" if location else message
        if hint:
            text += f" — {hint}"
        super().__init__(text)

    def format_message(self) -> str:
        return self.message

    def show(self, file: object = None) -> None:
        # "file:line: message", as compilers print it, without Click's "Error:" prefix.
        click.echo(self.format_message(), err=True)


class SeveralProblems(LimbagError):
    """Several problems found in one pass, raised together: one line each."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.message, first.location, first.hint)
        self.message = "\n".join(str(p) for p in problems)  # type: ignore[misc]


class ConfigError(SeveralProblems):
    """Problems in book.yaml (and, found with them, in the chapters)."""


class ManuscriptError(LimbagError):
    """A problem in a chapter file, with its line."""


class ManuscriptErrors(SeveralProblems, ManuscriptError):
    """Every error found in the chapters, reported at once."""


class RenderError(LimbagError):
    """The layout engine or a writer could not produce an output."""


class StrictModeError(LimbagError):
    """Warnings were found and `--strict` was given."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} warning(s) with --strict")
        self.message = "\n".join(str(p) for p in problems) + f"\n{len(problems)} warning(s); --strict makes them fail the build"  # type: ignore[misc]
