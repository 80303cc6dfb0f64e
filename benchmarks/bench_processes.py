#!/usr/bin/env python3
"""How the build scales with the number of layout processes, and what bounds it.

1. Builds the same book with --processes 1, 2 and 3 (fresh processes, taking turns run by run),
   prints the wall-clock seconds (min/median/max) and checks that the PDF, booklet and EPUB are
   byte for byte the same whatever the number.
2. Lays the book out once in this process on one core, timing each part's layout and writing
   (chapters, chronology, index, front matter) and the stages around them, to show which work
   can be shared out among cores and which cannot.

Usage: python benchmarks/bench_processes.py [--chapters 30] [--runs 3] [--shape sample]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from large_book import SHAPES, make_book

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_command(book: Path, out: Path, processes: int) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), "build", str(book), "--out", str(out), "--format", "pdf",
            "--format", "booklet", "--format", "epub", "--processes", str(processes), "-q"]


def digests(out: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.iterdir()) if path.is_file() and not path.name.startswith(".")}


def part_times(book: Path, out: Path) -> tuple[dict[str, float], float]:
    """Seconds of layout and writing by kind of part, in one process, and the whole build's."""
    from limbag import typeset
    from limbag.pipeline import build

    spent: dict[str, float] = defaultdict(float)
    kinds: dict[int, str] = {}
    lay_out, write = typeset.Typesetter.lay_out, typeset.Typesetter.write

    def kind_of(html: str) -> str:
        for marker, kind in (('id="chronology"', "chronology"), ('id="index"', "index"),
                             ('class="title-page', "front matter"), ('class="chapter"', "chapters")):
            if marker in html:
                return kind
        return "other (blank pages, warm-up)"

    def timed_lay_out(self, ticket, job):  # type: ignore[no-untyped-def]
        start = time.process_time()
        try:
            return lay_out(self, ticket, job)
        finally:
            kinds[ticket] = kind_of(job.html)
            spent[kinds[ticket] + ", layout"] += time.process_time() - start

    def timed_write(self, ticket, first_folio):  # type: ignore[no-untyped-def]
        start = time.process_time()
        try:
            return write(self, ticket, first_folio)
        finally:
            spent[kinds.get(ticket, "other (blank pages, warm-up)") + ", writing"] += time.process_time() - start

    typeset.Typesetter.lay_out, typeset.Typesetter.write = timed_lay_out, timed_write  # type: ignore[method-assign]
    start = time.process_time()
    build(book, out, ("pdf", "booklet", "epub"), processes=1)
    return dict(spent), time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shape", default="sample", choices=SHAPES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        book = make_book(args.chapters, work / "book", args.shape)
        seconds: dict[int, list[float]] = defaultdict(list)
        outputs: dict[int, dict[str, str]] = {}
        for _ in range(args.runs):
            for processes in (1, 2, 3):
                out = work / f"out-{processes}"
                subprocess.run(["rm", "-rf", str(out)], check=True)
                start = time.perf_counter()
                subprocess.run(build_command(book, out, processes), check=True)
                seconds[processes].append(time.perf_counter() - start)
                outputs[processes] = digests(out)
        print(f"{os.cpu_count()} cores; {args.shape}, {args.chapters} chapters; {args.runs} runs taking turns")
        for processes, values in seconds.items():
            same = "same files as 1" if outputs[processes] == outputs[1] else "FILES DIFFER from 1"
            print(f"  --processes {processes}: {min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f} s "
                  f"(min/median/max), {statistics.median(values[:]) / statistics.median(seconds[1]):.2f}x one; {same}")
        spent, total = part_times(book, work / "timed")
        print(f"\none process, processor seconds: {total:.2f} in all")
        for name, value in sorted(spent.items(), key=lambda item: -item[1]):
            print(f"  {name:>34} {value:6.2f} s  {value / total:5.1%}")
        laid = sum(spent.values())
        print(f"  {'everything else (start, reading, joining, e-book, booklet)':>34} {total - laid:6.2f} s  "
              f"{(total - laid) / total:5.1%}")


if __name__ == "__main__":
    main()
