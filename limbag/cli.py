"""The command line: parse options, call the pipeline, print, exit. No book logic lives here."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .config import OUTPUT_FORMATS
from .errors import LimbagError, Problem
from .newbook import create_book
from .pipeline import Step, build, check, find_events

if TYPE_CHECKING:
    from .catalog import CatalogEntry


@dataclass(frozen=True, slots=True)
class Output:
    """How much to print: --quiet shows errors only, --verbose adds a line per stage."""

    verbose: bool = False
    quiet: bool = False

    def progress(self, line: str) -> None:
        if self.verbose:
            click.echo(f"  {line}", err=True)

    def warnings(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        if not self.quiet:
            for problem in problems:
                click.echo(f"warning: {problem}", err=True)

    def info(self, line: str) -> None:
        if not self.quiet:
            click.echo(line)

    @contextmanager
    def bar(self) -> Iterator[Callable[[Step], None] | None]:
        """A progress bar (Click's) while the block runs, on a terminal only, and not with --quiet or
        --verbose (which prints a line per stage instead); elsewhere nothing."""
        if self.quiet or self.verbose or not sys.stderr.isatty():
            yield None
            return
        shown: list[Any] = []  # Click's bar, once the first step tells how many there are

        def show(step: Step) -> None:
            if not shown:
                bar = click.progressbar(length=step.total, file=sys.stderr, show_eta=False, show_percent=False,
                                        show_pos=True, width=30, item_show_func=lambda what: what)
                shown.append(bar.__enter__())
            shown[0].update(step.done - shown[0].pos, step.what)

        try:
            yield show
        finally:
            if shown:
                shown[0].__exit__(None, None, None)


def _shown(path: Path) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    absolute = path.resolve()
    here = Path.cwd().resolve()
    return str(absolute.relative_to(here)) if absolute.is_relative_to(here) else str(absolute)


class _Limbag(click.Group):
    """Bad input is a LimbagError (one located line, exit 1). Anything else is a bug: say so in one
    line, exit 2, and show the traceback only with --verbose."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:  # from Python, without the command line's handler (see processes.py)
            click.echo("interrupted — the last good outputs are kept", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - the last line of defence
            if "--verbose" in sys.argv or "-v" in sys.argv:
                traceback.print_exc()
            click.echo(f"internal error: {type(error).__name__}: {error} — this is a bug in Limbag; "
                       "run again with --verbose and report what it prints", err=True)
            sys.exit(2)


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--verbose and --quiet on every command (and before it: `build.py -v build`)."""

    @click.option("--verbose", "-v", is_flag=True, help="Print a line per stage with its time.")
    @click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
    @click.pass_context
    @functools.wraps(command)
    def wrapper(ctx: click.Context, verbose: bool, quiet: bool, **kwargs: Any) -> Any:
        parent = ctx.find_object(Output) or Output()
        output = Output(verbose or parent.verbose, (quiet or parent.quiet) and not (verbose or parent.verbose))
        return ctx.invoke(command, output, **kwargs)

    return wrapper


def run_build(output: Output, book_dir: Path, out_dir: Path | None, formats: tuple[str, ...], strict: bool,
              processes: int | None = None) -> None:
    with output.bar() as steps:
        result = build(book_dir, out_dir, formats, strict, progress=output.progress, processes=processes, steps=steps)
    output.warnings(result.warnings)
    for path in result.written:
        pages = f" ({result.page_count} pages)" if path.name == f"{result.slug}.pdf" else ""
        output.info(f"{'unchanged' if result.cached else 'wrote'} {_shown(path)}{pages}")


@click.group(cls=_Limbag, invoke_without_command=True)
@click.version_option(package_name="limbag")
@click.option("--verbose", "-v", is_flag=True, help="Print a line per stage with its time.")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@click.pass_context
def main(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """Limbag: turn a book folder (manuscript/book.yaml + Markdown chapters) into print-ready files.

    With no command, builds the book in the current folder.
    """
    default_book = ctx.obj.get("default_book") if isinstance(ctx.obj, dict) else None
    output = Output(verbose, quiet and not verbose)
    ctx.obj = output
    if ctx.invoked_subcommand is None:
        run_build(output, Path(default_book or "."), None, (), False)


BOOK_DIR = click.argument("book_dir", type=click.Path(file_okay=False, path_type=Path), default=".")
OUT_DIR = click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                       help="Output folder (default: BOOK_DIR/build).")
FORMATS = click.option("--format", "formats", type=click.Choice(OUTPUT_FORMATS), multiple=True,
                       help="Build only this output; repeat for several (default: book.yaml's outputs).")
STRICT = click.option("--strict", is_flag=True, help="Fail on any warning.")


@main.command("build")
@click.argument("book_dirs", metavar="[BOOK_DIR]...", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@OUT_DIR
@FORMATS
@STRICT
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Books built at once (several BOOK_DIRs; default: cores).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Build on this dask.distributed cluster (tcp://host:8786); needs limbag[cluster].")
@click.option("--processes", "-p", type=click.IntRange(min=1), default=None, envvar="LIMBAG_PROCESSES",
              help="Processes laying one book out (default: cores; env LIMBAG_PROCESSES). "
                   "The output is the same whatever the number.")
@output_options
def build_command(output: Output, book_dirs: tuple[Path, ...], out_dir: Path | None, formats: tuple[str, ...],
                  strict: bool, jobs: int | None, scheduler: str | None, processes: int | None) -> None:
    """Build BOOK_DIR (default: the current folder); several BOOK_DIRs are built in parallel, here or on
    a cluster (--scheduler)."""
    if len(book_dirs) <= 1 and scheduler is None:
        run_build(output, book_dirs[0] if book_dirs else Path("."), out_dir, formats, strict, processes)
        return
    from .catalog import build_catalog, build_on_cluster
    from .processes import process_pool

    books = book_dirs or (Path("."),)
    with output.bar() as steps:
        def done(entry: CatalogEntry, count: int, total: int) -> None:
            if steps is not None:
                steps(Step(f"built {entry.book_dir.name}", count, total))

        if scheduler is not None:
            entries = build_on_cluster(books, scheduler, out_dir, formats, strict, done)
        else:
            with process_pool(jobs) as executor:
                entries = build_catalog(books, executor, out_dir, formats, strict, done, alone=lambda: process_pool(1))
    failed = 0
    for entry in entries:
        for warning in entry.warnings:
            if not output.quiet:
                click.echo(f"warning: {warning}", err=True)
        if entry.error:
            failed += 1
            click.echo(entry.error, err=True)
        for path in entry.written:
            output.info(f"wrote {_shown(path)}")
    if failed:
        raise LimbagError(f"{failed} of {len(entries)} books failed", hint="see the messages above")


@main.command("check")
@BOOK_DIR
@STRICT
@output_options
def check_command(output: Output, book_dir: Path, strict: bool) -> None:
    """Validate BOOK_DIR without laying it out: settings, chapters, notes, marks, dates, images, fonts, layouts."""
    summary = check(book_dir, strict)
    output.warnings(summary.warnings)
    output.info(f"ok: {summary.describe()}")


@main.command("new")
@click.argument("book_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--language", default="tl", show_default=True, help="The book's language: tl, fil, en …")
@click.option("--title", default=None, help="The book's title.")
@output_options
def new_command(output: Output, book_dir: Path, language: str, title: str | None) -> None:
    """Start a new book folder with a commented book.yaml and a first chapter."""
    created = create_book(book_dir, language, title)
    for path in created:
        output.info(f"created {_shown(path)}")
    output.info(f"next: edit {_shown(created[0])}, then run: python build.py build {_shown(book_dir)}")


@main.command("watch")
@BOOK_DIR
@OUT_DIR
@FORMATS
@output_options
def watch_command(output: Output, book_dir: Path, out_dir: Path | None, formats: tuple[str, ...]) -> None:
    """Build BOOK_DIR, then build again whenever a file of the book is saved (Ctrl-C stops)."""
    from .watch import watch

    def rebuild() -> None:
        try:
            run_build(output, book_dir, out_dir, formats, False)
        except LimbagError as error:  # keep watching: the editor fixes the file and saves again
            click.echo(error.format_message(), err=True)

    watch(book_dir, rebuild, lambda changed: output.info(f"changed: {', '.join(_shown(p) for p in changed)}"))


@main.command("serve")
@BOOK_DIR
@OUT_DIR
@FORMATS
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8765, show_default=True,
              help="The port to listen on (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; another than the loopback needs --allow-remote.")
@click.option("--allow-remote", is_flag=True, help="Let other machines see the preview (and the book).")
@click.option("--no-open", is_flag=True, help="Do not open the browser.")
@output_options
def serve_command(output: Output, book_dir: Path, out_dir: Path | None, formats: tuple[str, ...], port: int,
                  host: str, allow_remote: bool, no_open: bool) -> None:
    """Build BOOK_DIR and show it in the browser, updated on every save: pages, spreads, the booklet's
    sheets and the e-book, with the build's errors and warnings (Ctrl-C stops)."""
    from .serve import is_loopback, serve

    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(f"--host {host} would show the book to other machines; "
                               "add --allow-remote if that is meant, or leave --host out")

    def ready(address: str) -> None:
        click.echo(f"preview at {address} (Ctrl-C stops)")
        if not no_open:
            import webbrowser

            webbrowser.open(address)

    def built(result: Any, error: LimbagError | None) -> None:
        if error is not None:
            click.echo(error.format_message(), err=True)
        elif result is not None:
            output.warnings(result.warnings)
            output.info(f"{'unchanged' if result.cached else 'built'}: {result.page_count} pages")

    try:
        serve(book_dir, out_dir, formats, host, port, ready,
              lambda changed: output.info(f"changed: {', '.join(_shown(p) for p in changed)}"), built)
    except OSError as error:
        raise LimbagError(f"cannot listen on {host}:{port}: {error.strerror or error}",
                          hint="choose another --port, or 0 for any free one") from None


@main.command("chronology")
@BOOK_DIR
@output_options
def chronology_command(output: Output, book_dir: Path) -> None:
    """Print the dated events found in BOOK_DIR's text as YAML to paste into book.yaml and curate."""
    text, warnings = find_events(book_dir)
    output.warnings(warnings)
    click.echo(text, nl=False)
