"""An editor runs `serve`, keeps the browser open beside the manuscript, and saves: the page shows
the new pages, the booklet's sheets and the e-book within moments of the build, a located error
while the book is broken and nothing once it is fixed. Driven in real headless Chromium.

Screenshots are kept in .artefacts/preview/ (or $LIMBAG_ARTEFACTS/preview/) to be looked at."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, children

pytestmark = pytest.mark.build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTEFACTS = Path(os.environ.get("LIMBAG_ARTEFACTS", REPO / ".artefacts")) / "preview"
BOOK_YAML = "title: Ang Silid-Aralan\nlanguage: tl\nchapters: [isa.md, dalawa.md]\n"
FIRST = "# Unang Aralin\n\nAng unang aralin ay tungkol sa mga titik at mga salita.\n"
SECOND = "# Ikalawang Aralin\n\n" + "Ang ikalawang aralin ay tungkol sa mga pangungusap. " * 40 + "\n"


@pytest.fixture
def serving(make_book):
    """A book and `build.py serve` on a free port, stopped (Ctrl-C) after the test."""
    book = make_book({"book.yaml": BOOK_YAML, "isa.md": FIRST, "dalawa.md": SECOND})
    process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "serve", str(book), "--port", "0", "--no-open"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    line = process.stdout.readline()
    assert line.startswith("preview at http://127.0.0.1:"), (line, process.stderr.read() if process.poll() else "")
    address = line.split()[2]
    try:
        yield book, address, process
    finally:
        helpers = children(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [pid for pid in helpers if Path(f"/proc/{pid}").exists()]:
            time.sleep(0.1)
        assert not [pid for pid in helpers if Path(f"/proc/{pid}/status").exists()
                    and "zombie" not in Path(f"/proc/{pid}/status").read_text()], "a process of serve outlived it"


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the preview tests (Debian: apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def next_build(page, version: int, status: str = "ok", timeout: float = 120_000) -> int:
    """Wait for the page to show a build after `version` that ended in `status`; its version."""
    page.wait_for_function(f"() => Number(document.body.dataset.version) > {version} && "
                           f"document.body.dataset.status === '{status}'", timeout=timeout)
    return int(page.evaluate("document.body.dataset.version"))


def epub_shown(page) -> None:
    """Wait for the e-book of the last build to be shown (a save may start more than one build)."""
    page.wait_for_function("() => document.body.dataset.status === 'ok' && "
                           "document.body.dataset.epubShown === document.body.dataset.version", timeout=120_000)


def digests(page, view: str = "pages") -> list[str]:
    return page.eval_on_selector_all(f"#{view} figure", "figures => figures.map(f => f.dataset.digest || '')")


def test_a_save_updates_the_pages_and_a_bad_save_shows_a_located_error_until_fixed(serving, browser):
    book, address, _ = serving
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    page.goto(address)
    version = next_build(page, 0)
    page.wait_for_function("() => { const first = document.querySelector('#pages img'); "
                           "return first && first.complete && first.naturalWidth > 0; }")
    shot(page, "1-first-build")
    before = digests(page)
    assert len(before) >= 6 and all(before)
    assert page.inner_text("h1") == "Ang Silid-Aralan" and page.inner_text("nav") .split() [:2] == ["Mga", "pahina"]

    # A sentence added to the first lesson: its page changes, the title page does not.
    chapter = book / "manuscript" / "isa.md"
    chapter.write_text(FIRST + "\nIdinagdag ngayon: isang bagong pangungusap tungkol sa bantas.\n", encoding="utf-8")
    version = next_build(page, version)
    after = digests(page)
    assert after != before
    assert after[0] == before[0], "the title page did not change, so it is not drawn again"
    changed = [index for index, (old, new) in enumerate(zip(before, after, strict=False)) if old != new]
    figure = page.locator(f"#pages figure >> nth={changed[0]}")
    figure.scroll_into_view_if_needed()
    page.wait_for_function(f"() => {{ const i = document.querySelectorAll('#pages img')[{changed[0]}]; "
                           "return i.complete && i.naturalWidth > 0; }")
    shot(page, "2-after-a-save")

    # A broken book.yaml: the error, located, while the last good pages stay.
    settings = book / "manuscript" / "book.yaml"
    settings.write_text(BOOK_YAML + "outputs: [pdf, lathala]\n", encoding="utf-8")
    version = next_build(page, version, status="failed")
    messages = page.inner_text("#message-list")
    assert "book.yaml:4" in messages and "lathala" in messages, messages
    assert page.is_visible("#messages") and digests(page) == after
    shot(page, "3-a-located-error")

    settings.write_text(BOOK_YAML, encoding="utf-8")
    version = next_build(page, version)
    assert not page.is_visible("#messages")
    shot(page, "4-fixed")

    # Script in the manuscript never runs: not in the page, not in the e-book's frame.
    chapter.write_text(FIRST + '\n<script>alert("from the book")</script>\n\n<img src="x" onerror="alert(2)">\n\n'
                       '[tingnan](javascript:alert(3))\n', encoding="utf-8")
    version = next_build(page, version)
    page.click("button[data-view=epub]")
    epub_shown(page)
    page.wait_for_timeout(500)
    assert "javascript:alert(3)" in page.inner_text("#message-list")  # shown as text, as a warning
    shot(page, "5-the-ebook")
    assert alerts == []
    page.close()


def test_the_reader_keeps_its_place_and_view_across_reloads(serving, browser):
    book, address, _ = serving
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(address)
    version = next_build(page, 0)
    page.click("button[data-view=epub]")
    epub_shown(page)
    for _ in range(4):
        page.click("#next")
        page.wait_for_timeout(300)
    place = page.evaluate("document.body.dataset.epubPlace")
    assert place and "/4/" in place

    (book / "manuscript" / "dalawa.md").write_text(SECOND + "\nIsa pang pangungusap.\n", encoding="utf-8")
    version = next_build(page, version)
    epub_shown(page)
    page.wait_for_timeout(500)
    assert _chapter_of(page.evaluate("document.body.dataset.epubPlace")) == _chapter_of(place)

    page.reload()
    epub_shown(page)
    assert page.get_attribute("button[data-view=epub]", "aria-pressed") == "true"
    page.wait_for_timeout(500)
    assert _chapter_of(page.evaluate("document.body.dataset.epubPlace")) == _chapter_of(place)
    shot(page, "6-the-place-kept")
    page.close()


def _chapter_of(cfi: str) -> str:
    """The spine item a CFI points into: `epubcfi(/6/8!/4/2…)` → `/6/8`."""
    return cfi.split("!")[0]


def test_the_server_serves_nothing_but_the_preview(serving):
    _, address, _ = serving
    host, port = address.removeprefix("http://").rstrip("/").rsplit(":", 1)

    def get(path: str, host_header: str | None = None) -> int:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("GET", path, skip_host=host_header is not None)
        if host_header is not None:
            connection.putheader("Host", host_header)
        connection.endheaders()
        status = connection.getresponse().status
        connection.close()
        return status

    assert get("/") == 200 and get("/assets/preview.js") == 200
    for path in ("/../../../etc/passwd", "/assets/../serve.py", "/assets/%2e%2e/serve.py", "/assets/../../book.yaml",
                 "/image/..%2f..%2fetc%2fpasswd.png", "/manuscript/book.yaml", "//etc/passwd", "/build/"):
        assert get(path) == 404, path
    assert get("/", host_header=f"evil.example:{port}") == 403  # a page elsewhere, through DNS rebinding


def test_another_interface_must_be_asked_for(make_book):
    book = make_book({"book.yaml": BOOK_YAML, "isa.md": FIRST, "dalawa.md": SECOND})
    done = subprocess.run([sys.executable, str(REPO / "build.py"), "serve", str(book), "--host", "0.0.0.0", "--no-open"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--allow-remote" in done.stderr
