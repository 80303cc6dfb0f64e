"""Layout files (Jinja2 templates and CSS): a book's own `layouts/` first, then the built-in ones.

A book's layouts may come from a stranger, so templates are code that must not run as code:
they render in Jinja2's immutable sandbox (no access to Python's insides, no changing what they
are given, `range` bounded), may include only templates of the layout folders, and each render
is bounded in time and memory (`RENDER_SECONDS`, `RENDER_MEMORY`).
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import Location, RenderError

PACKAGE_DIR = Path(__file__).resolve().parent


SYSTEM_FONTS = (
    (Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"), "Noto Serif CJK", "OFL-NotoSerifCJK.txt"),
    (Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"), "Noto Serif CJK", "OFL-NotoSerifCJK.txt"),
)
"""The fallback faces the built-in layouts name that are too large to bundle (26 MB a weight), where
Debian's fonts-noto-cjk puts them, with their family and the name of their bundled licence text."""


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
        object.__setattr__(self, "_environment", ImmutableSandboxedEnvironment(
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
        """The template compiled (its constant expressions worked out, which is bounded like a render)."""
        with self._reported(name):
            return self._environment.get_template(name)

    def render(self, template: str, **context: object) -> str:
        with self._reported(template):  # compiling (cached after the first render) and rendering, one bound
            return self._environment.get_template(template).render(**context)

    @contextmanager
    def _reported(self, template: str) -> Iterator[None]:
        """Bound the block in time and memory; what goes wrong in it, a located message."""

        def where() -> Location:
            try:
                return Location(self.find(template))
            except RenderError:
                return Location(self.folders[0] / template)

        try:
            with _bounded(RENDER_SECONDS, RENDER_MEMORY):
                yield
        except _OverTime:
            raise RenderError(f"template {template!r} ran for more than {RENDER_SECONDS} seconds", where(),
                              "look for a loop that never ends, or loops nested too deep") from None
        except MemoryError:
            raise RenderError(f"template {template!r} took more than {RENDER_MEMORY >> 30} GB of memory", where(),
                              "look for text or lists made very large") from None
        except jinja2.TemplateSyntaxError as error:
            raise RenderError(f"template error: {error.message}", Location(Path(error.filename or template), error.lineno),
                              "fix the template syntax") from None
        except jinja2.TemplateNotFound as error:
            raise RenderError(f"layout template {error.name!r} not found", where(),
                              "a layout may include only templates inside the book's layouts/ or the built-in ones") from None
        except jinja2.exceptions.SecurityError as error:
            raise RenderError(f"template {template!r} tried something a layout may not do: {error}", where(),
                              "a layout can only lay out the book it is given") from None
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, AttributeError, LookupError,
                RecursionError) as error:
            raise RenderError(f"template {template!r} failed: {type(error).__name__}: {error}", where(),
                              "check the variables and expressions the template uses") from None


RENDER_SECONDS = 20
"""What one render of a template may take; the built-in ones take milliseconds for a 500-page book."""
RENDER_MEMORY = 2 << 30
"""Memory one render may add to what the process holds."""


class _OverTime(BaseException):
    """Raised in a rendering thread when its time is up (a BaseException: templates cannot catch it)."""


@contextmanager
def _bounded(seconds: float, memory: int) -> Iterator[None]:
    """Stop the block after `seconds` (raising `_OverTime` in this thread, wherever it is) and let it
    allocate at most `memory` more bytes (MemoryError past that)."""
    import ctypes

    thread = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def time_up() -> None:
        with lock:
            if not state["done"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(_OverTime))
                state["fired"] = True

    timer = threading.Timer(seconds, time_up)
    timer.daemon = True
    timer.start()
    try:
        with _memory_limited(memory):
            yield
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
        if state["fired"]:  # if the exception is still pending, it is not to be raised any more
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), None)


@contextmanager
def _memory_limited(extra: int) -> Iterator[None]:
    """The process's address space limited to what it holds now plus `extra` bytes, meanwhile."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/statm", encoding="ascii") as statm:
            held = int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, AttributeError):
        yield
        return
    limit = held + extra
    if soft != resource.RLIM_INFINITY and soft <= limit or hard != resource.RLIM_INFINITY and hard < limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def book_layouts(book_dir: Path) -> Layouts:
    folders = (book_dir / "layouts", builtin_folder("layouts"))
    return Layouts(tuple(folder.resolve() for folder in folders if folder.is_dir()))
