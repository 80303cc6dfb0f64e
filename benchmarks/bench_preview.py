#!/usr/bin/env python3
"""How long an editor waits between saving a chapter and seeing the changed page in the preview.

Starts `build.py serve` on a copy of the sample (and of a 30-chapter book), opens the preview in
headless Chromium, then, several times, adds a sentence to a chapter and measures:
- save → build ended (the server's clock, as the page is told it);
- build ended → the changed page's new image shown in the page (drawn, sent, decoded);
- save → page updated, the whole wait;
and, beside it, `build.py build` of the same edit in a fresh process, as a baseline.

Usage: python benchmarks/bench_preview.py [--runs 5] [--chapters 30]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from large_book import make_book

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHANGED_PAGE = """() => {
  const figures = [...document.querySelectorAll('#pages figure')];
  const changed = figures.find(f => f.dataset.digest && !window.before.includes(f.dataset.digest));
  if (!changed || document.body.dataset.status !== 'ok') return false;
  const image = changed.querySelector('img');
  image.loading = 'eager';
  changed.scrollIntoView();
  return image.complete && image.naturalWidth > 0;
}"""


def measure(book: Path, chapter: Path, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([sys.executable, str(REPO / "build.py"), "-q", "serve", str(book), "--port", "0",
                               "--no-open"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    address = server.stdout.readline().split()[2]
    figures: dict[str, list[float]] = {"save → build ended": [], "build ended → page shown": [],
                                       "save → page shown": [], "fresh `build` of the same edit": []}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(address)
            page.wait_for_function("() => document.body.dataset.status === 'ok'", timeout=600_000)
            text = chapter.read_text(encoding="utf-8")
            for run in range(runs):
                page.evaluate("window.before = [...document.querySelectorAll('#pages figure')].map(f => f.dataset.digest)")
                saved = time.time()
                chapter.write_text(text + f"\n\nIdinagdag sa pagsukat bilang {run + 1}.\n", encoding="utf-8")
                page.wait_for_function(CHANGED_PAGE, timeout=600_000, polling=20)
                shown = time.time()
                ended = page.evaluate("fetch('/state').then(r => r.json()).then(s => s.finished_at)")
                figures["save → build ended"].append(ended - saved)
                figures["build ended → page shown"].append(shown - ended)
                figures["save → page shown"].append(shown - saved)
                time.sleep(1.0)
            browser.close()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        for run in range(runs):  # the baseline: the same kind of edit, built by a fresh process
            chapter.write_text(text + f"\n\nIdinagdag sa batayang pagsukat bilang {run + 1}.\n", encoding="utf-8")
            start = time.perf_counter()
            subprocess.run([sys.executable, str(REPO / "build.py"), "-q", "build", str(book), "--format", "pdf",
                            "--format", "booklet", "--format", "epub"], check=True)
            figures["fresh `build` of the same edit"].append(time.perf_counter() - start)
    finally:
        if server.poll() is None:
            server.kill()
    return figures


def show(name: str, figures: dict[str, list[float]]) -> None:
    print(f"\n{name}")
    baseline = statistics.median(figures["fresh `build` of the same edit"])
    for what, values in figures.items():
        median = statistics.median(values)
        print(f"  {what:32} min {min(values):6.2f} s  median {median:6.2f} s  max {max(values):6.2f} s"
              f"  ({median / baseline:4.2f}× the fresh build)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chapters", type=int, default=30)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "sample"
        shutil.copytree(REPO / "manuscript", sample / "manuscript")
        show("The sample book", measure(sample, sample / "manuscript" / "02-paglikha-ng-nato.md", arguments.runs))
        large = make_book(arguments.chapters, Path(scratch) / "large")
        chapters = sorted(p for p in (large / "manuscript").glob("*.md") if p.name != "likod-ng-pabalat.md")
        chapter = chapters[len(chapters) // 2]
        show(f"A {arguments.chapters}-chapter book", measure(large, chapter, arguments.runs))


if __name__ == "__main__":
    main()
