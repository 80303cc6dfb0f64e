"""A school builds a book from text it did not write: nothing outside the book folder is read or fetched."""

from __future__ import annotations

import os
import shutil
import time
import zipfile

import pytest

from limbag.errors import LimbagError
from limbag.pipeline import build

from .conftest import REPO, pdf_pages_text, png_image

pytestmark = pytest.mark.build

YAML = "title: T\nlanguage: en\noutputs: [pdf, epub]\n"


def test_raw_html_never_reaches_the_output(make_book):
    chapter = ('# One\n\nA picture <img src="file:///etc/passwd"> and a frame <iframe src="https://example.org">'
               "</iframe> and <script>alert(1)</script>.\n\n<script>document.write('x')</script>\n\n"
               '<img src="../../../../etc/hosts">\n')
    result = build(make_book({"book.yaml": YAML, "01.md": chapter}))
    html = result.rendered.html
    for tag in ("<img", "<iframe", "<script"):
        assert tag not in html.split("<main", 1)[1]
    assert "&lt;iframe" in html  # shown as text, as the editor wrote it
    assert not any("refused" in str(w) for w in result.warnings)  # nothing was even attempted
    epub = next(p for p in result.written if p.suffix == ".epub")
    with zipfile.ZipFile(epub) as archive:
        chapter_xhtml = archive.read("EPUB/chapter-01.xhtml").decode()
    assert "<script" not in chapter_xhtml and "<iframe" not in chapter_xhtml and "<img" not in chapter_xhtml
    assert sum("raw HTML" in str(w) for w in result.warnings) >= 4


def test_a_layout_cannot_fetch_the_network_or_files_outside_the_book(make_book):
    css = ('@import url("http://example.org/evil.css");\n'
           'body { background: url("file:///etc/passwd"); }\n'
           'h1 { background: url("../../../../../../../etc/hosts"); }\n'
           'p { background: url("https://example.org/x.png"); }\n')
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n", "layouts/print/extra.css": css,
                      "layouts/print/book.css": '@import url("extra.css");\n' + css})
    result = build(book)
    refused = " ".join(str(w) for w in result.warnings if "refused to load" in str(w))
    for url in ("http://example.org/evil.css", "file:///etc/passwd", "/etc/hosts", "https://example.org/x.png"):
        assert url in refused
    assert "localhost" not in " ".join(pdf_pages_text(result.written[0]))


def test_links_to_local_files_show_their_text_without_the_link(make_book):
    result = build(make_book({"book.yaml": YAML, "01.md": "# One\n\nSee [the file](file:///etc/passwd).\n"}))
    assert 'href="file:' not in result.rendered.html
    assert "See the file." in result.rendered.html and "](" not in result.rendered.html
    assert [w.message for w in result.warnings] == [
        "link target 'file:///etc/passwd' is not a web address or #id; its text is shown without the link"]


@pytest.mark.parametrize("target", ["../../../etc/hosts", "/etc/hosts", "images/../../../../etc/hosts",
                                    "file:///etc/passwd", "https://example.org/x.png"])
def test_images_outside_the_manuscript_are_refused_and_their_alt_text_shown(make_book, target):
    result = build(make_book({"book.yaml": YAML, "01.md": f"# One\n\n![A map of Europe]({target})\n"}))
    assert [w.message.split("; ")[1] for w in result.warnings] == ["its alt text is shown instead"]
    assert '<p id="_p-1-1">A map of Europe</p>' in result.rendered.html and "<img" not in result.rendered.html
    with pytest.raises(LimbagError, match=f"01.md:3: image '{target}'"):
        build(make_book({"book.yaml": YAML, "01.md": f"# One\n\n![A map of Europe]({target})\n"}), strict=True)


def test_links_out_of_the_book_are_not_followed(make_book, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png_image())
    (outside / "secret.md").write_text("# Secret\n\nDo not print.\n")
    (outside / "secret.css").write_text("body { color: red }")
    (outside / "Secret.ttf").write_bytes(b"\0" * 100)
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\n![Picture](images/link.png)\n"})
    (book / "manuscript" / "images").mkdir()
    os.symlink(outside / "secret.png", book / "manuscript" / "images" / "link.png")
    assert "lies outside manuscript/" in str(build(book).warnings)

    (book / "manuscript" / "01.md").write_text("# One\n\nText.\n")
    os.symlink(outside / "secret.md", book / "manuscript" / "02.md")
    with pytest.raises(LimbagError, match="link to a file outside manuscript/"):
        build(book)

    (book / "manuscript" / "02.md").unlink()
    (book / "fonts").mkdir()
    os.symlink(outside / "Secret.ttf", book / "fonts" / "Secret.ttf")
    result = build(book)
    assert any("font file links outside the fonts folder" in str(w) for w in result.warnings)
    with zipfile.ZipFile(next(p for p in result.written if p.suffix == ".epub")) as archive:
        assert not any("Secret" in name for name in archive.namelist())

    (book / "layouts" / "print").mkdir(parents=True)
    os.symlink(outside / "secret.css", book / "layouts" / "print" / "book.css")
    with pytest.raises(LimbagError, match="links outside its layouts folder"):
        build(book)


def test_a_template_cannot_include_files_outside_the_layouts(make_book):
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n",
                      "layouts/print/book.html.j2": '{% include "../../../../../../etc/passwd" %}'})
    with pytest.raises(LimbagError, match="not found"):
        build(book)


def test_book_yaml_cannot_construct_python_objects(make_book):
    with pytest.raises(LimbagError, match="YAML"):
        build(make_book({"book.yaml": "title: !!python/object/apply:os.system ['echo hacked']\nlanguage: en\n",
                         "01.md": "# One\n"}))


def test_markup_in_metadata_is_escaped(make_book):
    yaml_text = 'title: "<script>alert(1)</script>"\nlanguage: en\noutputs: [pdf, epub]\nauthors: ["<b>Bold</b>"]\n'
    result = build(make_book({"book.yaml": yaml_text, "01.md": "# One\n\nText.\n"}))
    assert "<script>" not in result.rendered.html and "&lt;script&gt;" in result.rendered.html
    with zipfile.ZipFile(next(p for p in result.written if p.suffix == ".epub")) as archive:
        assert b"<script>" not in archive.read("EPUB/package.opf")


ESCAPES = {
    "cycler": "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('touch PWNED').read() }}",
    "joiner": "{{ joiner.__init__.__globals__.__builtins__.open('/etc/passwd').read() }}",
    "namespace": "{{ namespace.__init__.__globals__['sys'].modules['os'].system('touch PWNED') }}",
    "__subclasses__": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
    "self.__init__": "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch PWNED') }}",
    "attr filter": "{{ (cycler|attr('__init__')|attr('__globals__'))['os'].system('touch PWNED') }}",
    "str.format": "{{ '{0.__init__.__globals__[os]}'.format(cycler) }}",
    "format filter": "{{ '%s'|format(cycler.__init__) }}",
    "config object": "{{ book.__class__.__init__.__globals__['Path']('/etc/passwd').read_text() }}",
    "changing what it is given": "{{ chapters.append(1) }}{{ book.authors.__setattr__('x', 1) }}",
}


@pytest.mark.parametrize("payload", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_book_s_template_cannot_run_code_or_read_outside_the_book(make_book, payload, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n", "layouts/print/book.html.j2": payload})
    with pytest.raises(LimbagError) as raised:
        build(book)
    message = raised.value.format_message()
    assert message.startswith(f"{book / 'layouts' / 'print' / 'book.html.j2'}: template 'print/book.html.j2' ")
    assert "root:" not in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(("payload", "message"), [
    ("{{ range(10**9)|list|length }}", "Range too big"),
    ("{{ ('x' * 10**10)|length }}", "took more than 2 GB of memory"),
    ("{{ (' '|center(10**5))|replace(' ', ' '|center(10**5))|length }}", "took more than 2 GB of memory"),
    ("{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}", "ran for more than 1 seconds"),
])
def test_a_template_s_time_and_memory_are_bounded(make_book, monkeypatch, payload, message):
    from limbag import layouts

    monkeypatch.setattr(layouts, "RENDER_SECONDS", 1)
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n", "layouts/print/book.html.j2": payload})
    started = time.monotonic()
    with pytest.raises(LimbagError, match=message):
        build(book)
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("folder", ["manuscript", "layouts", "fonts"])
def test_a_book_folder_that_links_out_of_the_book_is_refused(make_book, tmp_path, folder):
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n"})
    outside = tmp_path / "elsewhere"
    shutil.copytree(book / "manuscript", outside) if folder == "manuscript" else outside.mkdir()
    if folder == "manuscript":
        shutil.rmtree(book / "manuscript")
    os.symlink(outside, book / folder)
    with pytest.raises(LimbagError) as raised:
        build(book)
    assert raised.value.format_message() == (
        f"{book / folder}: {folder}/ is a link to a folder outside the book ({outside}) — "
        "copy the folder into the book instead of linking to it")


def test_a_book_folder_may_link_to_a_folder_inside_the_book(make_book):
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n"})
    (book / "manuscript").rename(book / "text")
    os.symlink(book / "text", book / "manuscript")
    assert build(book).page_count > 0


def test_a_book_yaml_that_links_out_is_refused_without_echoing_what_it_points_at(make_book, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("title: [the secret\n")
    book = make_book({"01.md": "# One\n\nText.\n"})
    os.symlink(secret, book / "manuscript" / "book.yaml")
    with pytest.raises(LimbagError) as raised:
        build(book)
    assert "the secret" not in raised.value.format_message()
    assert "book.yaml is a link to a file outside manuscript/" in raised.value.format_message()


def test_a_font_licence_that_links_out_is_refused(make_book, tmp_path):
    book = make_book({"book.yaml": YAML, "01.md": "# One\n\nText.\n"})
    (book / "fonts").mkdir()
    shutil.copy(REPO / "fonts" / "GentiumBookPlus-Regular.ttf", book / "fonts" / "Copy-Regular.ttf")
    os.symlink("/etc/passwd", book / "fonts" / "OFL.txt")
    with pytest.raises(LimbagError, match="OFL.txt: this licence file is a link to a file outside the fonts folder"):
        build(book)
