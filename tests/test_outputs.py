"""A publisher's web server, a shared folder and a second user read what a build wrote; a build that
fails, or two that run at once, never leave a mix of old and new files or a damaged cache behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from limbag import cache, files
from limbag.errors import LimbagError
from limbag.pipeline import build

from .conftest import REPO

YAML = "title: T\nlanguage: en\noutputs: [pdf, booklet, epub]\n"
CHAPTER = "# One\n\nA few words of text.\n"


def modes(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode)
            for path in folder.rglob("*") if path.is_file()}


@pytest.mark.build
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_and_cache_files_get_the_permissions_the_umask_gives(make_book, umask, expected):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER})
    previous = os.umask(umask)
    try:
        build(book)
    finally:
        os.umask(previous)
    written = modes(book / "build")
    assert len(written) > 5  # the three outputs, the manifest, parts and fonts of the cache
    assert {name: mode for name, mode in written.items() if mode != expected} == {}


def test_files_are_replaced_together_or_not_at_all(tmp_path, monkeypatch):
    old = {tmp_path / name: f"old {name}".encode() for name in ("a.pdf", "b.pdf", "c.epub")}
    for path, data in old.items():
        path.write_bytes(data)
    real_replace = os.replace

    def fail_on_the_last(source, target):  # a.pdf and b.pdf are in place when c.epub's rename fails
        if Path(target).name == "c.epub":
            raise OSError(28, "No space left on device", str(target))
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", fail_on_the_last)
    with pytest.raises(OSError):
        files.replace_together({path: b"new" for path in old})
    monkeypatch.undo()
    assert {path: path.read_bytes() for path in old} == old
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.pdf", "b.pdf", "c.epub"]


@pytest.mark.build
def test_a_folder_where_an_output_goes_stops_the_build_before_any_output_is_replaced(make_book):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER})
    first = build(book)
    kept = {path: path.read_bytes() for path in first.written}
    (book / "manuscript" / "01.md").write_text(CHAPTER.replace("few", "great many"))
    epub = next(path for path in first.written if path.suffix == ".epub")
    epub.unlink()
    epub.mkdir()
    with pytest.raises(LimbagError, match=r"t\.epub: .*a folder stands where the file goes"):
        build(book)
    assert {path: path.read_bytes() for path in first.written if path != epub} == \
        {path: data for path, data in kept.items() if path != epub}


def test_what_a_killed_build_left_is_removed_but_not_what_a_running_build_writes(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".t.pdf.{dead.stdout.strip()}-abc123.part"
    running = tmp_path / f".t.pdf.{os.getpid()}-abc123.part"
    for path in (leftover, running, tmp_path / "t.pdf"):
        path.write_bytes(b"x")
    files.remove_leftovers(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([running.name, "t.pdf"])


@pytest.mark.build
def test_damaged_cache_entries_are_made_again_and_the_outputs_are_as_a_clean_build_makes(make_book, tmp_path):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER})
    clean = {path.name: path.read_bytes() for path in build(book, tmp_path / "clean").written}
    build(book)
    kept = book / "build" / ".limbag-cache"
    for font in (kept / "fonts").iterdir():  # truncated, as by a full disk
        font.write_bytes(font.read_bytes()[:1000])
    for record in (kept / "parts").glob("*.json"):  # a record of another shape
        record.write_text(json.dumps({"pdf": json.loads(record.read_text())["pdf"], "page_anchors": 3}))
    (book / "build" / "t.pdf").write_bytes(b"touched")  # so that the build is not skipped as unchanged
    result = build(book)
    assert {path.name: path.read_bytes() for path in result.written} == clean
    assert "3 of" not in str(result.warnings)


@pytest.mark.build
@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", '{"format": 2, "key": 5, "outputs": [1]}',
                                      '{"format": 2, "outputs": {"x": 1}, "warnings": 7}', "\0\1\2"])
def test_a_damaged_manifest_is_a_warning_and_a_rebuild(make_book, manifest):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER})
    build(book)
    (book / "build" / ".limbag-cache" / "manifest.json").write_text(manifest)
    result = build(book, strict=True)  # the cache is not the book's fault: --strict does not fail on it
    assert not result.cached
    assert [str(w) for w in result.warnings] == [
        f"{book / 'build' / '.limbag-cache' / 'manifest.json'}: the build cache is damaged or was written by "
        "something else; not used — nothing to do: the book is built again and the cache rewritten"]
    assert build(book, strict=True).cached


@pytest.mark.build
def test_a_new_engine_version_lays_the_book_out_again(make_book, monkeypatch):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER})
    build(book)
    assert build(book).cached
    real = cache.package_version.__wrapped__
    monkeypatch.setattr(cache, "package_version", lambda name: "999.0" if name == "weasyprint" else real(name))
    rebuilt = build(book)
    assert not rebuilt.cached and rebuilt.rendered.laid_out  # the parts are laid out again too
    assert build(book).cached


@pytest.mark.build
def test_two_builds_into_one_folder_at_once_both_succeed(make_book):
    book = make_book({"book.yaml": YAML, "01.md": CHAPTER * 1, "02.md": "# Two\n\n" + "Words. " * 3000})
    command = [sys.executable, str(REPO / "build.py"), "build", str(book)]
    for _ in range(3):
        processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(2)]
        results = [(process.wait(timeout=120), process.stdout.read()) for process in processes]
        assert [code for code, _ in results] == [0, 0], results
        for path in (book / "build").iterdir():
            assert not files.is_temporary(path.name)
