#!/usr/bin/env python3
"""Writes a large book made from the sample: N chapters, each a copy of one of the sample's
chapters (footnotes, index marks and dates included) with its ids made unique.

Usage: python benchmarks/large_book.py CHAPTERS TARGET_DIR
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_book(chapters: int, target: Path) -> Path:
    sources = sorted((REPO / "manuscript").glob("*.md"))
    manuscript = target / "manuscript"
    if target.exists():
        shutil.rmtree(target)
    manuscript.mkdir(parents=True)
    names = []
    for number in range(1, chapters + 1):
        # Each chapter is the whole sample, its chapters as sections: about five A5 pages.
        parts = []
        for part, source in enumerate(sources, start=1):
            body = source.read_text(encoding="utf-8")
            body = re.sub(r"\[\^(\w+)\]", rf"[^\g<1>{part}]", body)
            body = re.sub(r"^# (.*?) \{#([\w-]+)\}", rf"## \g<1> {{#\g<2>-{number}}}", body, count=1, flags=re.M)
            parts.append(body)
        text = f"# Kabanata {number} {{#k-{number}}}\n\n" + "\n\n".join(parts)
        name = f"{number:03d}.md"
        (manuscript / name).write_text(text, encoding="utf-8")
        names.append(name)
    settings = (REPO / "manuscript" / "book.yaml").read_text(encoding="utf-8")
    settings = re.sub(r"chapters:\n(  - .*\n)+", "chapters:\n" + "".join(f"  - {n}\n" for n in names), settings)
    settings = settings.replace("slug: kahilingan-ng-ussr", f"slug: malaking-aklat-{chapters}")
    (manuscript / "book.yaml").write_text(settings, encoding="utf-8")
    return target


if __name__ == "__main__":
    print(make_book(int(sys.argv[1]), Path(sys.argv[2])))
