"""An editor stops a build (Ctrl-C, a kill, the out-of-memory killer): every process it started
ends with it, and Ctrl-C prints one line, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from .conftest import REPO, live_processes

pytestmark = pytest.mark.build


def long_book(make_book) -> Path:
    """A book that takes several seconds: both layout processes and the helper are at work."""
    chapters = {f"{n:02}.md": f"# Chapter {n}\n\n" + "A sentence of the chapter.[^a] " * 400 + "\n\n[^a]: A note.\n"
                for n in range(1, 25)}
    return make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, booklet, epub]\n", **chapters})


def session_processes(session: int) -> dict[int, str]:
    """The live processes of a session, with their command lines."""
    return {pid: command for pid, (_, sid, command) in live_processes().items() if sid == session}


def start_build(book: Path) -> subprocess.Popen[str]:
    """The command line in a session of its own, so that all it starts can be found (and signalled) as one."""
    return subprocess.Popen([sys.executable, str(REPO / "build.py"), "build", str(book)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for_helpers(process: subprocess.Popen[str], count: int = 3, seconds: float = 20) -> dict[int, str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        members = session_processes(process.pid)
        if len(members) >= count:
            return members
        time.sleep(0.01)
    return session_processes(process.pid)


def assert_all_end(session: int, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = session_processes(session)
    for pid in left:  # not to leave them running when the test fails
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == {}


@pytest.mark.parametrize("moment", [0.0, 0.15, 0.5, 1.5, 3.0])
def test_a_killed_build_leaves_no_process_behind(make_book, moment):
    book = long_book(make_book)
    process = start_build(book)
    members = wait_for_helpers(process, count=3 if moment else 1)
    time.sleep(moment)
    members.update(session_processes(process.pid))
    process.kill()
    process.wait()
    assert_all_end(process.pid)
    assert moment == 0.0 or len(members) >= 3, members  # the second process and the helper were running


@pytest.mark.parametrize("moment", [0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 3.5])
def test_ctrl_c_at_any_moment_prints_one_line_in_all_the_processes(make_book, moment):
    """Ctrl-C in a terminal goes to every process of the group: the build's helpers as well. (From a
    tenth of a second on: before, Python itself is still starting, and answers Ctrl-C its own way.)"""
    book = long_book(make_book)
    process = start_build(book)
    time.sleep(moment)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert_all_end(process.pid)
    if process.returncode == 0:
        pytest.skip("the build finished before the interrupt")
    assert (process.returncode, stderr) == (130, "interrupted — the last good outputs are kept\n")


def test_a_catalog_killed_leaves_no_worker_behind(make_book, tmp_path):
    books = [make_book({"book.yaml": f"title: B{n}\nlanguage: en\noutputs: [pdf]\n",
                        "01.md": "# One\n\n" + "Words of the book. " * 4000 + "\n"}, name=f"b{n}") for n in (1, 2, 3)]
    process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "build", *map(str, books), "--out",
                                str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    members = wait_for_helpers(process, count=3)  # this process and two workers
    assert len(members) >= 3, members
    process.kill()
    process.wait()
    assert_all_end(process.pid)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_pandoc_at_work_ends_with_a_killed_or_interrupted_build(make_book, how):
    chapters = {f"{n:02}.md": f"# Chapter {n}\n\n" + "A *sentence* of the [chapter]{.x}.[^a] " * 6000 + "\n\n[^a]: Note.\n"
                for n in range(1, 9)}  # a second or more of Pandoc's work each
    book = make_book({"book.yaml": "title: T\nlanguage: en\n", **chapters})
    process = start_build(book)

    def pandoc_running() -> bool:
        return any(command.split()[0].endswith(("/pandoc", "pandoc-server.cgi"))
                   for command in session_processes(process.pid).values() if command)

    deadline = time.monotonic() + 20
    seen = False
    while time.monotonic() < deadline and not seen:
        seen = pandoc_running()
        time.sleep(0.005)
    assert seen
    os.kill(process.pid, how)  # the build's own process only: Pandoc must learn of it from the kernel
    process.wait(timeout=30)
    assert_all_end(process.pid, seconds=0.3)  # well before Pandoc would be done with its chapters


@pytest.mark.build
def test_a_rebuild_laid_out_by_the_other_process_alone_still_reports_the_layout_s_css_warnings(make_book, tmp_path):
    # After a small edit the other layout process lays out the changed chapter, and this one never
    # loads the engine: what the engine said of the stylesheet comes from the other process then.
    css = (REPO / "layouts" / "print" / "book.css").read_text(encoding="utf-8") + "\np { colour: blue; }\n"
    book = make_book({"book.yaml": "title: T\nlanguage: en\n", "01.md": "# One\n\nText.\n",
                      "02.md": "# Two\n\nMore text.\n", "layouts/print/book.css": css})
    command = [sys.executable, str(REPO / "build.py"), "build", str(book), "--out", str(tmp_path / "out"),
               "--processes", "2"]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    (book / "manuscript" / "02.md").write_text("# Two\n\nOther text.\n", encoding="utf-8")
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    for done in (first, again):
        assert "Ignored `colour: blue`" in done.stderr, done.stderr


def _down(depth: int) -> int:
    return 0 if depth == 0 else 1 + _down(depth - 1)


def _up_and_down(times: int) -> int:
    """Recursion that goes back and forth over the same depths, as a layout does."""
    return sum(_down(depth) for _ in range(times) for depth in range(1, 400, 7))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="frames live in chunks from Python 3.11 on")
def test_work_with_stack_room_does_not_have_frame_chunks_mapped_again_and_again():
    """Python frees a chunk of its frame stack when the chunk's first frame returns: recursion
    back and forth over a chunk's edge maps fresh memory each time (page faults in the kernel).
    Run with stack room, the same recursion stays within memory mapped once."""
    import resource

    from limbag.processes import with_stack_room

    def faults(work) -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        work()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    expected = _up_and_down(1)
    assert with_stack_room(_up_and_down, 1) == expected  # the work's own answer
    plain = faults(lambda: _up_and_down(300))
    roomy = faults(lambda: with_stack_room(_up_and_down, 300))
    assert plain > 1000 and roomy < plain / 20, (plain, roomy)


def test_a_build_leaves_nothing_in_the_temporary_folder(make_book, tmp_path):
    """The engine keeps the fonts it loads in a folder of its own, which it removes only when its
    objects are collected: a build removes them itself, in every process that laid out."""
    book = long_book(make_book)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    subprocess.run([sys.executable, str(REPO / "build.py"), "build", str(book), "--out", str(tmp_path / "out"),
                    "--processes", "3"], capture_output=True, text=True, check=True,
                   env={**os.environ, "TMPDIR": str(scratch)})
    assert (tmp_path / "out" / "t.pdf").is_file()
    assert sorted(path.name for path in scratch.iterdir()) == []


def test_a_layout_process_stopped_while_at_work_has_its_fonts_folder_removed(make_book):
    """A layout process still at work when the build ends (it failed, or needs no more) is killed;
    the folder it kept its fonts in, which it told the build of when it was set up, is removed."""
    from limbag.fonts import find_fonts
    from limbag.language import load_language
    from limbag.layouts import book_layouts
    from limbag.pdf import BackMatter, engine_settings, print_html
    from limbag.pipeline import prepare
    from limbag.typeset import PartJob, RemoteLane

    book = long_book(make_book)
    prepared = prepare(book)
    layouts = book_layouts(book)
    settings = engine_settings(prepared.config, layouts, find_fonts(book)[0], press=False)
    lane = RemoteLane()
    lane.set_up(settings)
    assert lane.setup_report() is not None
    folders = [Path(folder) for folder in lane._font_folders]
    assert len(folders) == 1 and folders[0].name.startswith("weasyprint-") and folders[0].is_dir()
    html = print_html(prepared.book, load_language("en"), layouts, [], BackMatter(), "body").html
    lane.lay_out(1, PartJob(html, {}, frozenset(), None))
    lane.close()
    assert not folders[0].exists()
