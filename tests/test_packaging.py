"""An installed Limbag carries its built-in layouts and fonts, so it works outside this repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from .conftest import REPO

pytestmark = pytest.mark.build


def test_the_wheel_ships_layouts_fonts_language_data_citation_styles_and_the_preview(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), "-q"], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("limbag-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("limbag/_data/layouts/print/book.html.j2", "limbag/_data/layouts/print/book.css",
                     "limbag/_data/fonts/GentiumBookPlus-Regular.ttf", "limbag/_data/fonts/OFL.txt",
                     "limbag/languages/tl.yaml", "limbag/languages/en.yaml", "limbag/cli.py",
                     "limbag/csl/chicago-notes-bibliography.csl", "limbag/csl/locales-tl.xml", "limbag/csl/README.md",
                     "limbag/_data/layouts/epub/bibliography.xhtml.j2", "limbag/_data/fonts/NotoEmoji-Regular.ttf",
                     "limbag/_data/fonts/OFL-NotoSerifCJK.txt", "limbag/preview/index.html",
                     "limbag/preview/preview.js", "limbag/preview/vendor/epub.min.js",
                     "limbag/preview/vendor/LICENSE-epubjs.txt"):
        assert required in names
    assert not any(name.startswith(("manuscript/", "tests/")) for name in names)
