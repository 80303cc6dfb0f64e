"""A publisher builds a whole catalog at once, here or on a cluster: every book that can be built is,
whatever happens to the others, and no book's files ever land on another's."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from limbag import catalog
from limbag.catalog import build_catalog
from limbag.pipeline import build

from .conftest import REPO

pytestmark = pytest.mark.build


def book_files(title: str, language: str = "en") -> dict[str, str | bytes]:
    return {"book.yaml": f"title: {title}\nlanguage: {language}\noutputs: [pdf, epub]\n",
            "01.md": f"# {title}\n\nThe first words of {title}.[^a]\n\n[^a]: A note.\n"}


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "build.py"), *args], capture_output=True, text=True,
                          timeout=timeout)


def test_books_whose_folders_share_a_name_are_refused_instead_of_overwriting_each_other(make_book, tmp_path):
    first = make_book(book_files("First"), name="x/book")
    second = make_book(book_files("Second"), name="y/book")
    third = make_book(book_files("Third"), name="third")
    done = run("build", str(first), str(second), str(third), "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    out = tmp_path / "out"
    for book, other in ((first, second), (second, first)):
        assert (f"{book}: its outputs would go into {out / 'book'}, with those of {other} — give the book folders "
                "different names, or build them with different --out folders") in done.stderr
    assert not (out / "book").exists()
    assert sorted(path.name for path in (out / "third").iterdir() if path.is_file()) == ["third.epub", "third.pdf"]
    assert "2 of 3 books failed" in done.stderr


def test_one_book_s_failure_never_stops_the_others(make_book, tmp_path):
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, "PNG")
    broken = make_book({**book_files("Broken"), "images/big.png": bomb.getvalue(),
                        "01.md": "# Broken\n\n![A huge picture](images/big.png)\n"}, name="broken")
    good = make_book(book_files("Good"), name="good")
    done = run("build", str(broken), str(good), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "01.md:3: image 'images/big.png' has 900,000,000 pixels" in done.stderr
    assert (tmp_path / "out" / "good" / "good.pdf").is_file()


def test_a_book_whose_worker_dies_fails_alone(make_book, tmp_path, monkeypatch):
    """Out of memory, the kernel kills a worker: that book fails; the others, which were in the same
    pool, are built again on their own."""
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("the workers must be forked to share this test's stand-in for a killer")
    books = [make_book(book_files(title), name=title.lower()) for title in ("One", "Dies", "Three")]
    real_build = catalog.build

    def build_or_die(book_dir: Path, *args: object, **kwargs: object) -> object:
        if book_dir.name == "dies":
            os._exit(9)
        return real_build(book_dir, *args, **kwargs)

    monkeypatch.setattr(catalog, "build", build_or_die)
    forked = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=forked) as pool:
        entries = build_catalog(books, pool, tmp_path / "out", alone=lambda: ProcessPoolExecutor(1, mp_context=forked))
    assert [entry.error is None for entry in entries] == [True, False, True]
    assert "dies: the process building it stopped" in entries[1].error
    assert [entry.written[0].name for entry in (entries[0], entries[2])] == ["one.pdf", "three.pdf"]


def test_a_catalog_built_on_a_cluster_is_what_a_build_here_makes(make_book, tmp_path):
    """Three books and a broken one, sent to a real dask.distributed cluster of worker processes on
    this machine's loopback, through the command line."""
    distributed = pytest.importorskip("distributed")
    books = [make_book(book_files(title, language), name=title.lower())
             for title, language in (("Una", "tl"), ("Second", "en"), ("Third", "en"))]
    broken = make_book({**book_files("Broken"), "01.md": "# Broken\n\n[then]{date=\"1954-13-01\"}\n"}, name="broken")
    here = {book.name: {path.name: path.read_bytes() for path in build(book, tmp_path / "here" / book.name).written}
            for book in books}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        done = run("build", *map(str, books), str(broken), "--out", str(tmp_path / "there"),
                   "--scheduler", cluster.scheduler_address)
    assert done.returncode == 1, done.stderr
    local = run("build", str(broken))
    assert local.stderr.splitlines()[0] in done.stderr.splitlines()  # the same message, naming the file here
    assert f"{broken}/manuscript/01.md:3: bad date '1954-13-01'" in done.stderr
    for book in books:
        there = tmp_path / "there" / book.name
        assert {path.name: path.read_bytes() for path in there.iterdir() if path.is_file()} == here[book.name]


def test_a_cluster_that_cannot_be_reached_is_one_clear_line(make_book):
    pytest.importorskip("distributed")
    book = make_book(book_files("One"))
    done = run("build", str(book), "--scheduler", "tcp://127.0.0.1:9", timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("cannot reach the cluster's scheduler at tcp://127.0.0.1:9")


def test_a_packed_book_cannot_write_outside_the_folder_it_is_unpacked_into(tmp_path):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manuscript/../../escaped.txt", "x")
        archive.writestr("/etc/absolute.txt", "x")
        link = zipfile.ZipInfo("manuscript/images")
        link.external_attr = (0o120777) << 16
        archive.writestr(link, str(tmp_path))
        archive.writestr("manuscript/images/through.txt", "x")  # written before the link, so not through it
        archive.writestr("manuscript/book.yaml", "title: T\n")
    (tmp_path / "book").mkdir()
    catalog.unpack_book(buffer.getvalue(), tmp_path / "book")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "book", "book/manuscript", "book/manuscript/book.yaml", "book/manuscript/images",
        "book/manuscript/images/through.txt"]
