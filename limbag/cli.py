"""The command line: parse options, call the pipeline, print, exit. No book logic lives here."""

from __future__ import annotations

from pathlib import Path

import click

from .config import OUTPUT_FORMATS
from .pipeline import build, find_events


def _shown(path: Path) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    absolute = path.resolve()
    here = Path.cwd().resolve()
    return str(absolute.relative_to(here)) if absolute.is_relative_to(here) else str(absolute)


def run_build(book_dir: Path, out_dir: Path | None, formats: tuple[str, ...], strict: bool) -> None:
    result = build(book_dir, out_dir, formats, strict)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for output_format in result.skipped:
        click.echo(f"notice: the {output_format} output is not built by this version yet; skipped", err=True)
    for path in result.written:
        pages = f" ({result.page_count} pages)" if path.suffix == ".pdf" else ""
        click.echo(f"wrote {_shown(path)}{pages}")


@click.group(invoke_without_command=True)
@click.version_option(package_name="limbag")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Limbag: turn a book folder (manuscript/book.yaml + Markdown chapters) into print-ready files.

    With no command, builds the book in the current folder.
    """
    if ctx.invoked_subcommand is None:
        book_dir = Path(ctx.obj.get("default_book", ".")) if isinstance(ctx.obj, dict) else Path(".")
        run_build(book_dir, None, (), False)


@main.command("build")
@click.argument("book_dir", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: BOOK_DIR/build).")
@click.option("--format", "formats", type=click.Choice(OUTPUT_FORMATS), multiple=True,
              help="Build only this output; repeat for several (default: book.yaml's outputs).")
@click.option("--strict", is_flag=True, help="Fail the build on any warning.")
def build_command(book_dir: Path, out_dir: Path | None, formats: tuple[str, ...], strict: bool) -> None:
    """Build BOOK_DIR (default: the current folder)."""
    run_build(book_dir, out_dir, formats, strict)


@main.command("chronology")
@click.argument("book_dir", type=click.Path(file_okay=False, path_type=Path), default=".")
def chronology_command(book_dir: Path) -> None:
    """Print the dated events found in BOOK_DIR's text as YAML to paste into book.yaml and curate."""
    text, warnings = find_events(book_dir)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(text, nl=False)
