"""Layout files (Jinja2 templates and CSS): a book's own `layouts/` first, then the built-in ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from .errors import Location, RenderError

PACKAGE_DIR = Path(__file__).resolve().parent


def builtin_folder(name: str) -> Path:
    """`layouts` or `fonts` as shipped: inside the installed package, else at the source checkout's root."""
    installed = PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else PACKAGE_DIR.parent / name


@dataclass(frozen=True, slots=True)
class Layouts:
    """The folders searched for a layout file, most specific first."""

    folders: tuple[Path, ...]

    def find(self, name: str) -> Path:
        for folder in self.folders:
            candidate = folder / name
            if candidate.is_file():
                return candidate
        raise RenderError(f"layout file {name!r} not found", Location(self.folders[0]),
                          "restore the built-in layouts or add the file to the book's layouts/ folder")

    def environment(self) -> jinja2.Environment:
        # StrictUndefined: a misspelt variable in a book's own template is an error, not blank text.
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(folder) for folder in self.folders]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, template: str, **context: object) -> str:
        try:
            return self.environment().get_template(template).render(**context)
        except jinja2.TemplateSyntaxError as error:
            raise RenderError(f"template error: {error.message}", Location(Path(error.filename or template), error.lineno),
                              "fix the template syntax") from None
        except jinja2.TemplateError as error:
            raise RenderError(f"template {template!r} failed: {error}", Location(self.find(template)),
                              "check the variables the template uses") from None


def book_layouts(book_dir: Path) -> Layouts:
    folders = (book_dir / "layouts", builtin_folder("layouts"))
    return Layouts(tuple(folder.resolve() for folder in folders if folder.is_dir()))
