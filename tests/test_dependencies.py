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


LOAD_AND_COUNT = """
import subprocess, sys
started = []
original = subprocess.Popen.__init__
def recording(self, args, *rest, **kw):
    started.append(args if isinstance(args, str) else " ".join(map(str, args)))
    return original(self, args, *rest, **kw)
subprocess.Popen.__init__ = recording
from limbag.engine import check_version
check_version()
from weasyprint import HTML
HTML(string="<p>x</p>").render()
print(repr(started))
"""


@pytest.mark.build
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the engine's library search runs programs on Linux")
def test_loading_the_engine_runs_no_compiler_or_ldconfig():
    done = subprocess.run([sys.executable, "-c", LOAD_AND_COUNT], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
