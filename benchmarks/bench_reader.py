#!/usr/bin/env python3
"""Prints, side by side and in one run, what reading chapters with Pandoc costs against the reader
it replaced (markdown-it-py, as of a baseline commit):

- reading the chapters of a 30-chapter book into the model: the baseline's reader, Pandoc's with
  no tree kept, and Pandoc's with every tree kept (a rebuild);
- the full build (PDF + booklet + EPUB) of the same book, by the baseline and by this tree.

Every figure is the median of --runs fresh processes; the builds run in turn (old, new, old …)
and their ratio is the median of each pair's, so that a machine whose speed drifts does not tilt
it. The baseline is checked out from git into a temporary folder and run with markdown-it-py
installed beside it (nothing here is changed).

Usage: python benchmarks/bench_reader.py [--baseline COMMIT] [--chapters 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_performance import median, timed
from large_book import make_book

REPO = Path(__file__).resolve().parent.parent
BASELINE = "b19f8ba"
"""The last commit with the markdown-it-py reader."""
READ = """
import sys, pathlib
from limbag.config import load_config
from limbag.reader import read_book
config, _ = load_config(pathlib.Path(sys.argv[1]))
if len(sys.argv) > 2:
    read_book(config, pathlib.Path(sys.argv[2]))
else:
    read_book(config)
"""


def baseline_tree(commit: str, folder: Path) -> dict[str, str]:
    """The baseline's code, and the environment that runs it: its own package first on the path,
    with its Markdown libraries installed beside it."""
    source = folder / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(source), commit], check=True,
                   capture_output=True)
    packages = folder / "packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(packages), "--no-deps",
                    "markdown-it-py>=3.0", "mdit-py-plugins>=0.4", "mdurl"], check=True)
    return {"PYTHONPATH": f"{source}:{packages}"}


def run(command: list[str], environment: dict[str, str] | None, runs: int, before: object = None) -> float:
    import os

    seconds = []
    for _ in range(runs):
        if callable(before):
            before()
        old = dict(os.environ)
        os.environ.update(environment or {})
        try:
            seconds.append(timed(command)[0])
        finally:
            os.environ.clear()
            os.environ.update(old)
    return median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--chapters", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        book = make_book(args.chapters, folder / "book")
        old = baseline_tree(args.baseline, folder)
        try:
            trees = folder / "trees"
            read_old = run([sys.executable, "-c", READ, str(book)], old, args.runs)
            read_cold = run([sys.executable, "-c", READ, str(book), str(trees)], None, args.runs,
                            before=lambda: shutil.rmtree(trees, ignore_errors=True))
            read_warm = run([sys.executable, "-c", READ, str(book), str(trees)], None, args.runs)

            def fresh() -> None:
                shutil.rmtree(folder / "out", ignore_errors=True)

            build = [sys.executable, str(REPO / "build.py"), "-q", "build", str(book), "--out", str(folder / "out")]
            old_build = [sys.executable, str(folder / "baseline" / "build.py"), *build[2:]]
            pairs = [(run(old_build, old, 1, fresh), run(build, None, 1, fresh)) for _ in range(args.runs)]
            build_old = median([old_seconds for old_seconds, _ in pairs])
            build_new = median([new_seconds for _, new_seconds in pairs])
            ratio = median([new_seconds / old_seconds for old_seconds, new_seconds in pairs])
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder / "baseline")],
                           capture_output=True)
    print(f"{args.chapters} chapters, median of {args.runs} fresh processes")
    print(f"  reading, markdown-it-py ({args.baseline}):  {read_old:6.2f} s  1.00×")
    print(f"  reading, Pandoc, no tree kept:         {read_cold:6.2f} s  {read_cold / read_old:.2f}×")
    print(f"  reading, Pandoc, trees kept:           {read_warm:6.2f} s  {read_warm / read_old:.2f}×")
    print(f"  full build, markdown-it-py reader:     {build_old:6.2f} s  1.00×")
    print(f"  full build, Pandoc reader:             {build_new:6.2f} s  {ratio:.2f}× "
          f"({(ratio - 1) * 100:+.1f}%; the median of the ratios of builds run in turn, old and new)")


if __name__ == "__main__":
    main()
