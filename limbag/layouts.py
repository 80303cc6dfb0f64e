"""Layout files (Jinja2 templates and CSS): a book's own `layouts/` first, then the built-in ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from .errors import Location, RenderError

PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_folder(name: str) -> Path:
    """`layouts` or `fonts` as shipped: inside the installed package, else at the source checkout's root."""
    installed = PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


class _ContainedLoader(jinja2.FileSystemLoader):
    """Like FileSystemLoader, but a template that is a link to a file outside its folder is not read."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        for folder in self.searchpath:
            candidate = Path(folder) / template
            if candidate.is_file() and not candidate.resolve().is_relative_to(Path(folder).resolve()):
                raise jinja2.TemplateNotFound(template)
        return super().get_source(environment, template)


@dataclass(frozen=True, slots=True)
class Layouts:
    """The folders searched for a layout file, most specific first."""

    folders: tuple[Path, ...]
    _environment: jinja2.Environment = field(init=False, repr=False, compare=False)
    """One environment for all renders, so each template is compiled once per build, not per part."""

    def __post_init__(self) -> None:
        # StrictUndefined: a misspelt variable in a book's own template is an error, not blank text.
        object.__setattr__(self, "_environment", jinja2.Environment(
            loader=_ContainedLoader([str(folder) for folder in self.folders]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        ))

    def find(self, name: str) -> Path:
        for folder in self.folders:
            candidate = folder / name
            if candidate.is_file():
                if not candidate.resolve().is_relative_to(folder):
                    raise RenderError("layout file links outside its layouts folder", Location(candidate),
                                      "copy the file into the book's layouts/ folder instead of linking to it")
                return candidate
        raise RenderError(f"layout file {name!r} not found", Location(self.folders[0]),
                          "restore the built-in layouts or add the file to the book's layouts/ folder")

    def template(self, name: str) -> jinja2.Template:
        try:
            return self._environment.get_template(name)
        except jinja2.TemplateSyntaxError as error:
            raise RenderError(f"template error: {error.message}", Location(Path(error.filename or name), error.lineno),
                              "fix the template syntax") from None
        except jinja2.TemplateNotFound as error:
            raise RenderError(f"layout template {error.name!r} not found", Location(self.folders[0]),
                              "a layout may include only templates inside the book's layouts/ or the built-in ones") from None

    def render(self, template: str, **context: object) -> str:
        try:
            return self.template(template).render(**context)
        except jinja2.TemplateSyntaxError as error:
            raise RenderError(f"template error: {error.message}", Location(Path(error.filename or template), error.lineno),
                              "fix the template syntax") from None
        except jinja2.TemplateNotFound as error:
            raise RenderError(f"layout template {error.name!r} not found", Location(self.find(template)),
                              "a layout may include only templates inside the book's layouts/ or the built-in ones") from None
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, AttributeError) as error:
            raise RenderError(f"template {template!r} failed: {type(error).__name__}: {error}",
                              Location(self.find(template)), "check the variables and expressions the template uses") from None


def book_layouts(book_dir: Path) -> Layouts:
    folders = (book_dir / "layouts", builtin_folder("layouts"))
    return Layouts(tuple(folder.resolve() for folder in folders if folder.is_dir()))
