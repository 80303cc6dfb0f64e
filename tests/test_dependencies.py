"""What pyproject.toml promises is what Limbag needs: the engine versions it was written for, checked
before a build starts, and the engine's insides used in one module only."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib

import pytest

from limbag import engine
from limbag.errors import LimbagError
from limbag.pipeline import build

from .conftest import REPO

PUBLIC_ENGINE_API = {"weasyprint": {"CSS", "HTML"}, "weasyprint.text.fonts": {"FontConfiguration"},
                     "weasyprint.urls": {"URLFetcher", "URLFetcherResponse"}}


def test_the_pinned_engine_versions_are_the_ones_the_adapter_was_written_for():
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in dependencies if d.startswith("weasyprint"))
    low, high = (int(n) for n in re.fullmatch(r"weasyprint>=(\d+),<(\d+)", pin).groups())
    assert range(low, high) == engine.SUPPORTED


def test_an_engine_of_another_version_stops_the_build_with_what_to_install(make_book, monkeypatch):
    book = make_book({"book.yaml": "title: T\nlanguage: en\n", "01.md": "# One\n\nText.\n"})
    monkeypatch.setattr(engine, "version", lambda name: "69.0")
    with pytest.raises(LimbagError) as raised:
        build(book)
    assert raised.value.format_message() == ("Limbag needs WeasyPrint 70, and WeasyPrint 69.0 is installed — "
                                             "run: python -m pip install 'weasyprint>=70,<71'")


ENGINE_ADAPTERS = ("engine.py", "tags.py")
"""The layout (engine.py) and the structure tree (tags.py): the two modules written against the
engine's insides, which check_version guards."""


def test_only_the_engine_adapters_use_the_engine_s_insides():
    for module in sorted((REPO / "limbag").glob("*.py")):
        if module.name in ENGINE_ADAPTERS:
            continue
        source = module.read_text(encoding="utf-8")
        assert "_page_box" not in source and "layout_context" not in source, module.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("weasyprint"):
                names = {alias.name for alias in node.names}
                assert names <= PUBLIC_ENGINE_API.get(node.module or "", set()), (module.name, node.module, names)
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("weasyprint") for alias in node.names), module.name


BUILD_AND_RECORD = """
import os, subprocess, sys
from pathlib import Path
original = subprocess.Popen.__init__
def recording(self, args, *rest, **kw):
    with open(sys.argv[1], "a") as record:  # the forked layout processes record here too
        record.write(f"{os.getpid()} {args if isinstance(args, str) else ' '.join(map(str, args))}\\n")
    return original(self, args, *rest, **kw)
subprocess.Popen.__init__ = recording
from limbag.pipeline import build
build(Path(sys.argv[2]), Path(sys.argv[3]), ("pdf",), processes=int(sys.argv[4]))
"""


@pytest.mark.build
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the engine's library search runs programs on Linux")
@pytest.mark.parametrize("chapters", [1, 3])
def test_a_build_runs_no_compiler_or_ldconfig_in_any_of_its_processes(make_book, tmp_path, chapters):
    # One short chapter: the layout processes are started first and load the engine themselves;
    # three long ones: this process loads it while Pandoc reads, and they are forked with it.
    paragraph = "Text of the chapter, long enough to be read for a while. " * 40
    book = make_book({"book.yaml": "title: T\nlanguage: en\n",
                      **{f"{n:02}.md": f"# Chapter {n}\n\n" + f"{paragraph}\n\n" * 8 for n in range(chapters)}})
    record = tmp_path / "started.txt"
    record.touch()
    subprocess.run([sys.executable, "-c", BUILD_AND_RECORD, str(record), str(book), str(tmp_path / "out"), "2"],
                   check=True, cwd=REPO)
    started = record.read_text().splitlines()
    assert any("pandoc" in line for line in started), started  # the recording works, in this process at least
    assert not [line for line in started if re.search(r"\b(ldconfig|gcc|cc|ld)\b", line)], started
    # Whichever process loaded the engine, and whichever laid the chapters out, the book is the same.
    alone = build(book, tmp_path / "alone", ("pdf",), processes=1).written[0]
    assert (tmp_path / "out" / alone.name).read_bytes() == alone.read_bytes()
