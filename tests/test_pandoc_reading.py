"""Manuscripts written for Pandoc or in Word, as editors bring them: what the reader makes of them."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from limbag.config import load_config
from limbag.errors import ManuscriptError
from limbag.model import Division, Figure, Heading, Math, Paragraph, Text, iter_blocks
from limbag.pandoc import pandoc_program
from limbag.reader import read_book

from .conftest import png_image, run_command
from .validators import ace_violations, epubcheck

YAML = "title: Aklat\nlanguage: tl\n"


def read(make_book, files: dict, book_yaml: str = YAML):
    book_dir = make_book({"book.yaml": book_yaml, **files})
    config, _ = load_config(book_dir)
    return read_book(config, book_dir / "build" / ".limbag-cache")


def test_chapters_begin_as_real_manuscripts_begin(make_book):
    book, problems = read(make_book, {
        "01.md": "---\ntitle: Ang *Simula*\n---\n\nUnang talata.\n\n## Isang Bahagi\n",
        "02.md": "<!-- CC BY 4.0 -->\n\n## Ang Pangalawa\n\n### Bahagi\n\nTeksto.\n",
        "03.md": "% Ang Pangatlo\n% Isang May-akda\n\nTeksto.\n",
        "04.md": "# Una\n\nIsa.\n\n# Dalawa\n\nDalawa.\n",
    })
    assert [chapter.title_text for chapter in book.chapters] == [
        "Ang Simula", "Ang Pangalawa", "Ang Pangatlo", "Una", "Dalawa"]
    assert [b.level for b in book.chapters[1].blocks if isinstance(b, Heading)] == [2]  # ### under a ## title
    assert [b.level for b in book.chapters[0].blocks if isinstance(b, Heading)] == [2]
    assert any("03.md:2: the chapter's metadata sets 'author'" in str(p) for p in problems)


def test_every_error_of_every_chapter_is_reported_in_one_run(make_book):
    files = {f"0{n}.md": f"# K{n}\n\nTeksto.\n\n![Wala](images/wala{n}.png)\n\n[x]{{date=\"1954-13-{n}\"}}\n"
             for n in range(1, 4)}
    with pytest.raises(ManuscriptError) as raised:
        read(make_book, files)
    message = raised.value.format_message()
    for n in range(1, 4):
        assert f"0{n}.md:5: image 'images/wala{n}.png' not found" in message
        assert f"0{n}.md:7: bad date '1954-13-{n}'" in message


def test_math_is_numbered_and_bad_tex_is_a_located_warning(make_book):
    book, problems = read(make_book, {"01.md": "# K\n\nAng $x^2$ at\n\n$$ E = mc^2 $$ {#eq:enerhiya}\n\nat $\\frac{a}{$.\n"})
    maths = [node for block in book.chapters[0].blocks if isinstance(block, Paragraph)
             for node in block.children if isinstance(node, Math)]
    assert [(m.tex.strip(), m.display, m.id, m.number) for m in maths] == [
        ("x^2", False, None, ""), ("E = mc^2", True, "eq:enerhiya", "1"), ("\\frac{a}{", False, None, "")]
    assert any("01.md:7: math $\\frac{a}{$ cannot be typeset" in str(p) for p in problems)


@pytest.mark.build
def test_math_prints_as_drawings_and_reads_as_mathml(make_book):
    chapter = "# K\n\nAng $x_{t+1}$ at\n\n$$\\int_0^1 x\\,dx$$ {#eq:a}\n\nTingnan ang [ito](#eq:a).\n"
    book = make_book({"book.yaml": YAML, "01.md": chapter})
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr
    pdf = PdfReader(book / "build" / "aklat.pdf")
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "(1)" in text and "x_{t+1}" not in text and "\\int" not in text
    with zipfile.ZipFile(book / "build" / "aklat.epub") as epub:
        chapter = epub.read("EPUB/chapter-01.xhtml").decode()
        package = epub.read("EPUB/package.opf").decode()
    assert '<math alttext="x_{t+1}"' in chapter and 'id="eq:a"' in chapter
    assert 'properties="mathml"' in package
    assert epubcheck(book / "build" / "aklat.epub").errors == 0


@pytest.mark.build
def test_an_e_book_of_every_construct_passes_epubcheck_and_ace(make_book, tmp_path):
    chapter = "\n\n".join([
        "# K", "Ang $x_{t+1}$ at H~2~O.[^a]", "$$E = mc^2$$ {#eq:e}", "::: warning\nMag-ingat.\n:::",
        "<details><summary>Sagot</summary>", "Apat.", "</details>", "Taon\n:   Bilang.",
        "```python\nprint('kumusta')\n```", "| line one\n|    line two",
        "+-------+-------+\n| A     | B     |\n+=======+=======+\n| isa at dalawa |\n+-------+-------+",
        ": Talahanayan.",
        "- [x] tapos\n- [ ] hindi pa", "[^a]: Tala.\n"])
    book = make_book({"book.yaml": YAML + "outputs: [epub]\n", "01.md": chapter})
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr
    epub = book / "build" / "aklat.epub"
    assert epubcheck(epub).errors == 0
    assert ace_violations(epub, tmp_path / "ace") == []


@pytest.mark.build
def test_links_between_chapters_lead_to_their_place_in_print_and_e_book(make_book):
    book = make_book({"book.yaml": YAML,
                      "01-una.md": "# Una\n\nTingnan ang [ikalawa](02-ikalawa.md) at [ang bahagi](02-ikalawa.md#bahagi); "
                                   "hindi ang [wala](03-wala.md).\n",
                      "02-ikalawa.md": "# Ikalawa\n\n## Bahagi {#bahagi}\n\nTeksto.\n"})
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr
    assert "01-una.md:3: link to '03-wala.md': no chapter of the book is that file" in ran.stderr
    pdf = PdfReader(book / "build" / "aklat.pdf")
    destinations = {str(annotation.get_object().get("/Dest")) for page in pdf.pages
                    for annotation in page.get("/Annots", []) or []}
    assert {"ikalawa", "bahagi"} <= {d.strip("/") for d in destinations}
    with zipfile.ZipFile(book / "build" / "aklat.epub") as epub:
        chapter = epub.read("EPUB/chapter-01.xhtml").decode()
    assert 'href="chapter-02.xhtml#ikalawa"' in chapter and 'href="chapter-02.xhtml#bahagi"' in chapter


def word_file(folder: Path, name: str, markdown: str) -> bytes:
    """A Word file as a word processor writes it (Pandoc's docx writer), with a picture in it."""
    (folder / "larawan.png").write_bytes(png_image(240, 120))
    (folder / "source.md").write_text(markdown, encoding="utf-8")
    subprocess.run([str(pandoc_program()), "source.md", "-o", name], cwd=folder, check=True)
    return (folder / name).read_bytes()


@pytest.mark.build
def test_a_teacher_s_word_handout_becomes_a_booklet_and_an_e_book_with_index_and_chronology(make_book, tmp_path):
    handout = word_file(tmp_path, "aralin.docx",
                        "# Ang Kahilingan\n\nNoong Marso 31, 1954, humiling ang USSR na sumapi sa NATO.[^1]\n\n"
                        "![Isang kahon](larawan.png)\n\n| Taon | Pangyayari |\n|---|---|\n| 1949 | Itinatag ang NATO |\n\n"
                        "[^1]: Tala tungkol sa *kahilingan*.\n")
    book = make_book({"book.yaml": YAML + "outputs: [pdf, booklet, epub]\nindex:\n  terms:\n    NATO: {}\n"
                                          "chronology:\n  detect: true\n", "aralin.docx": handout})
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr
    built = book / "build"
    assert {path.name for path in built.iterdir() if path.is_file()} >= {"aklat.pdf", "aklat-booklet.pdf", "aklat.epub"}
    text = "\n".join(page.extract_text() for page in PdfReader(built / "aklat.pdf").pages)
    assert "Ang Kahilingan" in text and "Itinatag ang NATO" in text and "Tala tungkol sa" in text
    assert "Indeks" in text and "Kronolohiya" in text and "Marso 31, 1954" in text
    assert epubcheck(built / "aklat.epub").errors == 0
    config, _ = load_config(book)
    model, _ = read_book(config, built / ".limbag-cache")
    (figure,) = [b for b in iter_blocks(model.chapters[0].blocks) if isinstance(b, Figure)]
    assert figure.alt == "Isang kahon" and figure.image.is_relative_to(built / ".limbag-cache")


def test_boxes_and_raw_html_boxes_read_into_the_model(make_book):
    book, problems = read(make_book, {"01.md": "# K\n\n::: exercise\nSagutin.\n:::\n\n<div class=\"alert\">\nBabala!\n</div>\n"})
    boxes = [b for b in book.chapters[0].blocks if isinstance(b, Division)]
    assert [(b.kind, b.classes) for b in boxes] == [("exercise", ("exercise",)), ("", ("alert",))]
    assert problems == []


def test_a_chapter_s_tree_is_read_once_and_kept_by_its_content(make_book):
    book_dir = make_book({"book.yaml": YAML, "01.md": "# K\n\nTeksto.\n"})
    config, _ = load_config(book_dir)
    cache = book_dir / "build" / ".limbag-cache"
    read_book(config, cache)
    (kept,) = (cache / "trees").iterdir()
    tree = json.loads(kept.read_bytes())
    tree["blocks"][1]["c"] = [{"t": "Str", "c": "Mula-sa-tinago"}]  # what the kept tree says is what is read
    kept.write_text(json.dumps(tree), encoding="utf-8")
    book, _ = read_book(config, cache)
    assert isinstance(book.chapters[0].blocks[0], Paragraph)
    assert book.chapters[0].blocks[0].children[0].text == "Mula-sa-tinago"  # type: ignore[union-attr]


def test_a_markdown_dialect_other_than_pandoc_s_is_read_as_book_yaml_says(make_book):
    readme = " Pamagat\n =======\n\n Teksto.\n ## Bahagi\n Iba pa.\n"
    gfm, _ = read(make_book, {"01.md": readme}, YAML + "markdown: gfm\n")
    assert gfm.chapters[0].title_text == "Pamagat"
    assert [b.level for b in gfm.chapters[0].blocks if isinstance(b, Heading)] == [2]
    with pytest.raises(Exception) as raised:
        read(make_book, {"01.md": readme}, YAML + "markdown: gfmm\n")
    assert "did you mean `gfm`" in str(raised.value)


def test_book_yaml_s_errors_and_every_chapter_s_come_in_one_run(make_book):
    book = make_book({"book.yaml": YAML + "outputs: [pdff]\nindex:\n  terms: 5\nchronology:\n  detect: maybe\n",
                      "01.md": "# Una\n\n![Wala](wala.png)\n", "02.md": "# Dalawa\n\n[x]{date=\"1954-13\"}\n"})
    ran = run_command("check", str(book))
    assert ran.code == 1
    for expected in ("book.yaml:3: outputs[0]: unknown output 'pdff'", "book.yaml:5: index.terms",
                     "book.yaml:7: chronology.detect", "01.md:3: image 'wala.png' not found", "02.md:3: bad date '1954-13'"):
        assert expected in ran.stderr, ran.stderr


@pytest.mark.build
def test_a_table_wider_than_the_page_stays_on_the_page(make_book):
    head = "| " + " | ".join(f"Column heading {n}" for n in range(9)) + " |\n" + "|---" * 9 + "|\n"
    row = "| https://example.org/a/long/path/without/breaks | Supercalifragilisticexpialidocious | 12,345.67 |" + \
          " word word |" * 6 + "\n"
    book = make_book({"book.yaml": YAML + "outputs: [pdf]\n", "01.md": "# K\n\n" + head + row * 3})
    ran = run_command("build", str(book))
    assert ran.code == 0, ran.stderr
    boxes = subprocess.run(["pdftotext", "-bbox", str(book / "build" / "aklat.pdf"), "-"], capture_output=True,
                           text=True, check=True).stdout
    import re

    width = float(re.search(r'<page width="([\d.]+)"', boxes).group(1))  # type: ignore[union-attr]
    rightmost = max(float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes))
    assert rightmost < width - 20, (rightmost, width)  # inside the page, short of its outer margin


@pytest.mark.build
def test_the_kept_trees_are_those_of_the_chapters_as_they_are(make_book):
    book = make_book({"book.yaml": YAML + "outputs: [pdf]\n", "01.md": "# K\n\nUna.\n", "02.md": "# L\n\nIsa.\n"})
    for text in ("Ikalawa.", "Ikatlo."):
        assert run_command("build", str(book)).code == 0
        (book / "manuscript" / "01.md").write_text(f"# K\n\n{text}\n", encoding="utf-8")
    assert run_command("build", str(book)).code == 0
    assert len(list((book / "build" / ".limbag-cache" / "trees").iterdir())) == 2


def test_a_pandoc_of_an_untested_version_is_refused_before_anything_is_read(tmp_path, monkeypatch):
    import limbag.pandoc as pandoc
    from limbag.errors import RenderError

    old = tmp_path / "pandoc"
    old.write_text("#!/bin/sh\necho 'pandoc 2.17.1.1'\n", encoding="utf-8")
    old.chmod(0o755)
    monkeypatch.setattr(pandoc, "pandoc_program", lambda: old)
    pandoc.pandoc_version.cache_clear()
    try:
        with pytest.raises(RenderError) as raised:
            pandoc.pandoc_version()
        assert "Pandoc 2.17.1.1" in raised.value.format_message() and ">= 3.5, < 4.0" in raised.value.format_message()
        assert "pip install" in raised.value.format_message()
    finally:
        pandoc.pandoc_version.cache_clear()


def test_raw_tex_template_tags_and_other_formats_are_located_warnings(make_book):
    book, problems = read(make_book, {"01.md": "# K\n\nIsa \\textbf{dalawa}.\n\nAng {% if x %}tatlo{% endif %}.\n\n"
                                               "```{=latex}\n\\newpage\n```\n\nApat.\n"})
    texts = [str(problem) for problem in problems]
    assert any("01.md:3: raw TeX `\\textbf{dalawa}` is shown as text" in text for text in texts), texts
    assert any("01.md:5: template tag" in text for text in texts), texts
    assert any("01.md:7: a raw latex block is left out" in text for text in texts), texts
    assert [b.children for b in book.chapters[0].blocks][-1] == (Text("Apat."),)


@pytest.mark.parametrize(("limit", "value", "expected"), [
    ("MEMORY_MB", 20, "01.md: reading the chapter needs more than 20 MB of memory"),
    ("TIME_LIMIT", 0.05, "01.md: reading the chapter took more than 0 s"),
])
def test_pandoc_s_memory_and_time_are_bounded_with_a_located_error(make_book, monkeypatch, limit, value, expected):
    import limbag.pandoc as pandoc

    monkeypatch.setattr(pandoc, limit, value)
    chapter = "# K\n\n" + "".join(f"Talata {n} na may *diin* at tala.[^{n}]\n\n[^{n}]: Tala {n}.\n\n" for n in range(8000))
    with pytest.raises(ManuscriptError) as raised:
        read(make_book, {"01.md": chapter})
    assert expected in raised.value.format_message()


def test_links_written_to_pandoc_s_own_heading_ids_lead_to_the_heading(make_book):
    book, problems = read(make_book, {
        "01.md": "# Una\n\nSee [raw HTML](#extension-raw_html) and [the other](02.md#mga-tala_1).\n\n"
                 "## Extension: `raw_html`\n\nText.\n",
        "02.md": "# Dalawa\n\n## Mga tala_1\n\nText.\n"})
    links = [node for node in book.chapters[0].blocks[0].children if hasattr(node, "url")]
    headings = {block.id for chapter in book.chapters for block in chapter.blocks if isinstance(block, Heading)}
    assert [link.url for link in links] == ["#extension-raw-html", "#mga-tala-1"]
    assert {"extension-raw-html", "mga-tala-1"} <= headings
    assert problems == []
