#!/usr/bin/env python3
"""Prints, side by side and in one run, how long books of 10, 30 and 100 chapters take:

- limbag: a full build (PDF + booklet + EPUB), a rebuild with nothing changed, a rebuild after
  editing one chapter, and the peak memory of the full build;
- plain WeasyPrint laying out the same HTML and CSS that Limbag lays out;
- pandoc on the same Markdown: PDF (--pdf-engine=weasyprint) and EPUB.

Every run is a fresh process (so interpreter start-up counts for every tool; Limbag's modules are
compiled first, as installing it would), and the tools take turns run by run (limbag, WeasyPrint,
pandoc, limbag, ...), so that the machine's slow moments fall on all of them. Each figure is
printed as min/median/max of --runs runs; ratios are the best runs' (min against min) and the
medians', against pandoc's PDF + EPUB of the same book.

Usage: python benchmarks/bench_performance.py [--chapters 10 30 100] [--runs 3]
                                              [--shapes sample notes tables corpus] [--processes N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from large_book import SHAPES, make_book

REPO = Path(__file__).resolve().parent.parent
LIMBAG = [sys.executable, str(REPO / "build.py")]
PLAIN_WEASYPRINT = """
import sys, pathlib
from weasyprint import HTML, CSS
from weasyprint.text.fonts import FontConfiguration
folder = pathlib.Path(sys.argv[1])
fonts = FontConfiguration()
css = [CSS(filename=str(folder / "style.css"), font_config=fonts)]
for part in ("front", "body", "back"):
    HTML(filename=str(folder / f"{part}.html"), base_url=sys.argv[2]).write_pdf(
        str(folder / f"{part}.pdf"), stylesheets=css, font_config=fonts)
"""


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, int]:
    """Seconds of one fresh process, to its end, and the peak resident memory (MB) of the largest
    process it started or was (the build's helpers, Pandoc), sampled every 0.1 s by a thread of its
    own (the end is not rounded up to the next sample)."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty tool must not block on it
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        peaks: dict[int, int] = {}
        ended = threading.Event()

        def sample() -> None:
            while not ended.is_set():
                for pid in (process.pid, *descendants(process.pid)):
                    peaks[pid] = max(peaks.get(pid, 0), high_water_kb(pid))
                ended.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        process.wait()
        seconds = time.perf_counter() - start
        ended.set()
        sampler.join()
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"failed: {' '.join(command)}\n{errors.read().decode(errors='replace')[-2000:]}")
    return seconds, max(peaks.values(), default=0) // 1024


def descendants(pid: int) -> list[int]:
    """The live processes under `pid` (from the kernel's list of each thread's children)."""
    found, waiting = [], [pid]
    while waiting:
        parent = waiting.pop()
        try:
            tasks = list((Path("/proc") / str(parent) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            waiting.extend(children)
    return found


def high_water_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), 0 if it has ended."""
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def median(values: list[float]) -> float:
    return statistics.median(values)


def export_html(book: Path, folder: Path) -> None:
    """The three HTML parts and the CSS exactly as Limbag lays them out."""
    code = f"""
import sys, pathlib
sys.path.insert(0, {str(REPO)!r})
from limbag.pipeline import prepare, lay_out
from limbag.layouts import book_layouts
from limbag.fonts import find_fonts
from limbag.pdf import page_css, print_html, _title_string_css
from limbag.pagemap import PageMap
book = pathlib.Path(sys.argv[1]); out = pathlib.Path(sys.argv[2])
p = prepare(book); layouts = book_layouts(book)
faces, _ = find_fonts(book)
rendered, back = lay_out(p.book, layouts, faces, p.index_settings, p.events, p.language)
css = "\\n".join(f.css() for f in faces) + layouts.find("print/book.css").read_text()
css += page_css(p.config.page) + _title_string_css(p.config.title)
(out / "style.css").write_text(css)
labels = {{a: rendered.page_map.labels[i] for a, i in rendered.page_map.anchor_pages.items()}}
from limbag.fonts import families
fam = families(faces, css)
for part in ("front", "body", "back"):
    (out / f"{{part}}.html").write_text(print_html(p.book, p.language, layouts, fam, back, part, labels).html)
"""
    subprocess.run([sys.executable, "-c", code, str(book), str(folder)], check=True)


def pandoc_program() -> str:
    """The pandoc on PATH, else the one Limbag reads with (pypandoc-binary's); its PDF engine is the
    weasyprint command of this Python's environment."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    found = shutil.which("pandoc")
    if found:
        return found
    from limbag.pandoc import pandoc_program as bundled

    return str(bundled())


def pandoc_commands(book: Path, folder: Path) -> tuple[list[str], list[str]]:
    chapters = sorted(str(p) for p in (book / "manuscript").glob("*.md"))
    # Pandoc formats the citations too, from the same bibliography (Chicago, as Limbag's default).
    citations = [f"--bibliography={path}" for path in sorted((book / "manuscript").glob("*.bib"))]
    if citations:
        citations = ["--citeproc", f"--csl={REPO / 'limbag' / 'csl' / 'chicago-notes-bibliography.csl'}", *citations]
    common = [pandoc_program(), "--from", "markdown", "--toc", "--metadata", "title=Aklat", "--metadata", "lang=tl",
              "--resource-path", str(book / "manuscript"), *citations, *chapters]
    return ([*common, "--pdf-engine=weasyprint", "-o", str(folder / "pandoc.pdf")],
            [*common, "-o", str(folder / "pandoc.epub")])


def measure(chapters: int, runs: int, work: Path, shape: str = "sample",
            processes: int | None = None) -> dict[str, object]:
    book = make_book(chapters, work / f"book-{shape}-{chapters}", shape)
    out = work / f"out-{shape}-{chapters}"
    figures: dict[str, list[float]] = {name: [] for name in ("full", "noop", "edit", "weasyprint", "pandoc")}
    memory = []
    build = [*LIMBAG, "build", str(book), "--out", str(out), "--format", "pdf", "--format", "booklet",
             "--format", "epub", *(["--processes", str(processes)] if processes else [])]
    chapter = sorted((book / "manuscript").glob("002*.md"))[0]
    original = chapter.read_text(encoding="utf-8")
    # The edit: a word added to the chapter's first heading (its title in the contents changes too),
    # or to its first line if it has none.
    first_heading = next((line for line in original.splitlines() if line.startswith("#")), original.splitlines()[0])
    html_folder = work / f"html-{shape}-{chapters}"
    html_folder.mkdir(exist_ok=True)
    export_html(book, html_folder)
    base_url = (book / "manuscript").resolve().as_uri() + "/"
    pdf_command, epub_command = pandoc_commands(book, work)
    for run in range(runs):
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        seconds, peak = timed(build)
        figures["full"].append(seconds)
        memory.append(peak)
        figures["noop"].append(timed(build)[0])
        chapter.write_text(original.replace(first_heading, f"{first_heading} ({run})", 1), encoding="utf-8")
        figures["edit"].append(timed(build)[0])
        chapter.write_text(original, encoding="utf-8")
        figures["weasyprint"].append(timed([sys.executable, "-c", PLAIN_WEASYPRINT, str(html_folder), base_url])[0])
        figures["pandoc"].append(timed(pdf_command)[0] + timed(epub_command)[0])
    from pypdf import PdfReader

    pages = len(PdfReader(out / f"malaking-aklat-{chapters}.pdf").pages)
    return {"pages": pages, "memory": max(memory), **figures}


def spread(values: list[float]) -> str:
    """min/median/max."""
    return f"{min(values):.2f}/{median(values):.2f}/{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["sample"], choices=SHAPES,
                        help="books made like the sample, dense with footnotes, with tables and figures, or from "
                             "the corpus of real manuscripts")
    parser.add_argument("--processes", type=int, default=None, help="limbag's layout processes (default: cores)")
    args = parser.parse_args()
    # Limbag's modules compiled, as installing it compiles them and as WeasyPrint's are: where the
    # environment says not to write bytecode (PYTHONDONTWRITEBYTECODE), every run would otherwise
    # compile them again (80 ms a build on the development machine).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "limbag")], check=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        print(f"{os.cpu_count()} cores; {args.runs} interleaved fresh-process runs; seconds as min/median/max; "
              "ratios: best run against best run, median against median, of pandoc's PDF + EPUB "
              "(rebuilds: of limbag's full build)")
        for shape, chapters in ((shape, chapters) for shape in args.shapes for chapters in args.chapters):
            m = measure(chapters, args.runs, work, shape, args.processes)
            full, base = m["full"], m["pandoc"]
            assert isinstance(full, list) and isinstance(base, list)
            print(f"\n{shape}, {chapters} chapters, {m['pages']} pages, peak {m['memory']} MB (largest process)")
            for name in ("pandoc", "weasyprint", "full"):
                values = m[name]
                assert isinstance(values, list)
                print(f"  {name:>10} {spread(values):>17} s  {min(values) / min(base):.2f}x best, "
                      f"{median(values) / median(base):.2f}x median")
            for name in ("noop", "edit"):
                values = m[name]
                assert isinstance(values, list)
                print(f"  {name:>10} {spread(values):>17} s  {min(values) / min(full):4.0%} of full (best), "
                      f"{median(values) / median(full):4.0%} (median)")


if __name__ == "__main__":
    main()
