"""An editor fixes a word in one chapter and rebuilds: only that chapter is laid out again, and
the book that comes out is the very book a clean build makes. Laying the chapters out one by one
gives the same pages, page numbers, links and outline as laying the whole body out at once."""

from __future__ import annotations

import dataclasses
import io
import shutil

import pytest
from pypdf import PdfReader

from limbag.fonts import find_fonts
from limbag.layouts import book_layouts
from limbag.pagemap import build_page_map
from limbag.pdf import lay_out_body_in_one_pass
from limbag.pipeline import build, prepare

from .conftest import REPO

pytestmark = pytest.mark.build


def _links(reader: PdfReader, page_index: int) -> list[tuple[str, int]]:
    """(destination name, page it lands on) of each link on a page."""
    named = reader.named_destinations
    found = []
    for annotation in reader.pages[page_index].get("/Annots", []):
        link = annotation.get_object()
        if link.get("/Subtype") == "/Link" and "/Dest" in link:
            name = str(link["/Dest"])
            found.append((name, reader.get_destination_page_number(named[name])))
    return found


def _outline(reader: PdfReader) -> list[tuple[str, int]]:
    entries = []

    def walk(items: list) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                entries.append((item.title, reader.get_destination_page_number(item)))

    walk(reader.outline)
    return entries


def test_chapters_laid_out_one_by_one_give_the_pages_of_one_pass(tmp_path):
    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    settings = book_dir / "manuscript" / "book.yaml"  # small pages: many pages begin mid-paragraph
    settings.write_text(settings.read_text(encoding="utf-8").replace("size: A5", "size: A6"), encoding="utf-8")
    result = build(book_dir, tmp_path / "out", ("pdf",))
    joined = PdfReader(result.written[0])
    prepared = prepare(book_dir)
    whole = lay_out_body_in_one_pass(prepared.book, book_layouts(book_dir), find_fonts(book_dir)[0])
    reference = PdfReader(io.BytesIO(whole.pdf))

    front = result.page_map.labels.index("1")
    assert len(reference.pages) >= 8
    body = range(front, front + len(reference.pages))
    assert result.page_map.labels[front + len(reference.pages) - 1] == str(len(reference.pages))
    # Same text on every page: running heads, folios, footnotes, line and page breaks.
    for index, page in zip(body, reference.pages, strict=True):
        assert joined.pages[index].extract_text() == page.extract_text(), f"page {index - front + 1}"
    # Every element and mark on the same page; every page beginning at the same word.
    one_pass = build_page_map(whole.page_anchors, 0, {}, frozenset(), whole.continued)
    for anchor, page in one_pass.anchor_pages.items():
        assert result.page_map.anchor_pages[anchor] == front + page, anchor
    mid_paragraph = [word for word in whole.continued if word]
    assert len(mid_paragraph) >= 3
    assert mid_paragraph == [w for w in result.page_map.first_on_page if w and w.startswith("_w-")]
    # Links land on the same pages; the outline names the same pages. (Citations link to the
    # bibliography, which the body laid out alone does not have.)
    in_body = {anchor for page in whole.page_anchors for anchor in page}
    for index in body:
        theirs = [(name, page + front) for name, page in _links(reference, index - front)]
        assert [(name, page) for name, page in _links(joined, index) if name in in_body] == theirs
    assert any(name.startswith("ref-") for index in body for name, _ in _links(joined, index))
    chapters = [(title, page + front) for title, page in _outline(reference)]
    assert chapters and all(entry in _outline(joined) for entry in chapters)


EDITED_BOOK = {
    "book.yaml": "title: Three Chapters\nlanguage: en\noutputs: [pdf, epub]\nindex:\n  terms:\n    NATO: {}\n",
    "01.md": "# One\n\n" + "The first chapter speaks of NATO and of little else.[^a] " * 30
             + "\n\n[^a]: A note on the first page.\n",
    "02.md": "# Two\n\n" + "The second chapter is about the year 1954 and NATO. " * 40 + "\n",
    "03.md": "# Three\n\nSee [the first chapter](#one). " + "The third chapter closes the book. " * 30 + "\n",
}


def _chapters_laid_out(result) -> list[str]:
    return [kind for kind in result.rendered.laid_out if kind.startswith("chapter")]


def test_an_edit_to_one_chapter_lays_out_that_chapter_and_makes_a_clean_builds_bytes(make_book, tmp_path):
    book = make_book(EDITED_BOOK)
    out = tmp_path / "out"
    first = build(book, out)
    assert _chapters_laid_out(first) == ["chapter 1", "chapter 2", "chapter 3"]

    chapter = book / "manuscript" / "02.md"
    chapter.write_text(chapter.read_text().replace("about the year", "all about the year", 1))
    edited = build(book, out)
    assert _chapters_laid_out(edited) == ["chapter 2"]
    clean = build(book, tmp_path / "clean")
    for incremental, fresh in zip(edited.written, clean.written, strict=True):
        assert incremental.read_bytes() == fresh.read_bytes(), incremental.name

    # A chapter that grows by pages moves the folios of those after it: they are laid out again.
    opening = book / "manuscript" / "01.md"
    opening.write_text(opening.read_text() + "\n\n" + "A much longer first chapter now. " * 400 + "\n")
    grown = build(book, out)
    assert _chapters_laid_out(grown) == ["chapter 1", "chapter 2", "chapter 3"]
    assert grown.page_count > edited.page_count
    clean = build(book, tmp_path / "clean-again")
    assert grown.written[0].read_bytes() == clean.written[0].read_bytes()


def test_a_file_of_several_chapters_is_laid_out_again_whole_and_each_chapter_opens_a_right_hand_page(
        make_book, tmp_path):
    book = make_book({
        "book.yaml": "title: Two Files\nlanguage: en\noutputs: [pdf]\n",
        "01.md": "".join(f"# Part {name}\n\n" + f"Chapter {name} of the first file. " * 90 + "\n\n"
                         for name in ("one", "two", "three")),
        "02.md": "# Last\n\n" + "The second file's only chapter. " * 40 + "\n",
    })
    out = tmp_path / "out"
    first = build(book, out, ("pdf",))
    assert _chapters_laid_out(first) == ["chapter 1", "chapter 2", "chapter 3", "chapter 4"]
    openings = [first.rendered.page_map.anchor_pages[chapter] for chapter in ("part-one", "part-two", "part-three",
                                                                                "last")]
    assert [int(first.rendered.page_map.labels[page]) % 2 for page in openings] == [1, 1, 1, 1]

    second_file = book / "manuscript" / "02.md"
    second_file.write_text(second_file.read_text().replace("only", "one", 1))
    assert _chapters_laid_out(build(book, out, ("pdf",))) == ["chapter 4"]
    first_file = book / "manuscript" / "01.md"
    first_file.write_text(first_file.read_text().replace("Chapter two of", "Chapter Two of", 1))
    edited = build(book, out, ("pdf",))
    assert _chapters_laid_out(edited) == ["chapter 1", "chapter 2", "chapter 3"]
    assert edited.written[0].read_bytes() == build(book, tmp_path / "clean", ("pdf",)).written[0].read_bytes()


def test_the_layout_cache_keeps_only_the_parts_of_the_last_build(make_book, tmp_path):
    book = make_book(EDITED_BOOK)
    out = tmp_path / "out"
    build(book, out, ("pdf",))
    parts = out / ".limbag-cache" / "parts"
    before = {path.name for path in parts.iterdir()}
    chapter = book / "manuscript" / "03.md"
    chapter.write_text(chapter.read_text().replace("closes", "ends", 1))
    build(book, out, ("pdf",))
    after = {path.name for path in parts.iterdir()}
    assert len(after) == len(before) and after != before
    shutil.rmtree(parts)  # deleting the cache is always safe: the next build lays everything out
    chapter.write_text(chapter.read_text().replace("ends", "closes", 1))
    assert _chapters_laid_out(build(book, out, ("pdf",))) == ["chapter 1", "chapter 2", "chapter 3"]


def test_layout_changes_reach_every_chapter(make_book, tmp_path):
    book = make_book(EDITED_BOOK)
    out = tmp_path / "out"
    build(book, out, ("pdf",))
    stylesheet = book / "layouts" / "print" / "book.css"
    stylesheet.parent.mkdir(parents=True)
    shutil.copy(REPO / "layouts" / "print" / "book.css", stylesheet)
    stylesheet.write_text(stylesheet.read_text() + "\np { letter-spacing: 0.02em; }\n")
    assert _chapters_laid_out(build(book, out, ("pdf",))) == ["chapter 1", "chapter 2", "chapter 3"]


def test_a_changed_figure_is_laid_out_again(make_book, tmp_path):
    from .conftest import png_image

    book = make_book({**EDITED_BOOK, "chart.png": png_image(300, 150),
                      "03.md": "# Three\n\n![A chart](chart.png)\n\nThe third chapter.\n"})
    out = tmp_path / "out"
    build(book, out, ("pdf",))
    (book / "manuscript" / "chart.png").write_bytes(png_image(300, 600))
    assert "chapter 3" in _chapters_laid_out(build(book, out, ("pdf",)))


def _engine_for(book_dir):
    """The book read, its layouts, and the engine settings of its reading PDF."""
    from limbag.pdf import engine_settings

    prepared = prepare(book_dir)
    layouts = book_layouts(book_dir)
    return prepared, layouts, engine_settings(prepared.config, layouts, find_fonts(book_dir)[0], press=False)


def _one_chapter_job(tmp_path, first_folio):
    from limbag.language import load_language
    from limbag.pdf import BackMatter, print_html
    from limbag.typeset import PartJob

    book_dir = tmp_path / "sample"
    if not book_dir.exists():
        shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    prepared, layouts, settings = _engine_for(book_dir)
    one_chapter = dataclasses.replace(prepared.book, chapters=prepared.book.chapters[1:2])
    written = print_html(one_chapter, load_language("tl"), layouts, [], BackMatter(), "body")
    return settings, PartJob(written.html, dict(written.flows), frozenset(), first_folio)


def _set_up(lane, settings):
    """Set the second process's engine up for `settings` and wait until it is ready."""
    import time

    lane.set_up(settings)
    deadline = time.monotonic() + 60
    while not lane.ready():
        assert time.monotonic() < deadline, "the second process did not start"
        time.sleep(0.05)


def test_a_part_laid_out_in_the_second_process_is_the_same_part(tmp_path):
    """Parts are laid out side by side by two processes; which one did a part must not show."""
    from limbag.typeset import LocalLane, RemoteLane

    settings, job = _one_chapter_job(tmp_path, 3)
    here = LocalLane(settings)
    there = RemoteLane()
    try:
        _set_up(there, settings)
        for lane in (here, there):
            lane.lay_out(7, job)
        (_, layout_here), (_, layout_there) = here.answer(), there.answer()
        assert layout_here == layout_there and len(layout_here.page_anchors) >= 2
        for lane in (here, there):
            lane.write(7, 3)
        (_, written_here), (_, written_there) = here.answer(), there.answer()
        assert written_here.pdf == written_there.pdf
    finally:
        there.close()


def _picture_part(settings):
    """A part holding a picture that no compression makes smaller: its HTML and its written PDF
    are each several times what a pipe holds (some 64 kB)."""
    import base64
    import random

    from PIL import Image

    from limbag.typeset import PartJob

    noise = random.Random(7).randbytes(360 * 360 * 3)
    picture = io.BytesIO()
    Image.frombytes("RGB", (360, 360), noise).save(picture, "PNG")
    source = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode("ascii")
    job = PartJob(f'<html><body><p>Noise</p><img src="{source}" style="width: 6cm"/></body></html>', {},
                  frozenset(), 1)
    assert len(job.html) > 4 * 64 * 1024
    return job


@pytest.mark.timeout(300)
def test_large_parts_sent_while_the_second_process_sends_large_parts_back_do_not_hang_the_build(tmp_path):
    """A chapter of formulas is a megabyte of HTML, and a written part with a picture is as large:
    the main process sends such parts while the second process sends written ones back, and
    neither may wait for the other for ever."""
    import threading

    from limbag.typeset import RemoteLane

    settings, _ = _one_chapter_job(tmp_path, 1)
    job = _picture_part(settings)
    there = RemoteLane()
    hung = threading.Timer(120, there._process.kill)  # a hang then fails the sends instead of the whole run
    hung.start()
    try:
        _set_up(there, settings)
        for ticket in range(1, 5):  # sent without reading anything back
            there.lay_out(ticket, job)
            there.write(ticket, 1)
        answers = [there.answer() for _ in range(8)]
        written = [result.pdf for _, result in answers if hasattr(result, "pdf")]
        assert len(written) == 4 and len(set(written)) == 1 and len(written[0]) > 2 * 64 * 1024
    finally:
        hung.cancel()
        there.close()


@pytest.mark.timeout(300)
def test_a_press_pdf_joined_while_the_booklet_is_sent_back_does_not_hang_the_build(tmp_path):
    """A build of the booklet and the press PDF asks the joining process for the booklet, then
    sends it the press PDF's parts before it reads the booklet: neither may wait for the other."""
    import threading

    from limbag.config import BookletSettings
    from limbag.join import JoiningProcess, LaidPart
    from limbag.typeset import Typesetter

    settings, _ = _one_chapter_job(tmp_path, 1)
    typesetter = Typesetter(settings)
    typesetter.lay_out(1, _picture_part(settings))
    part = LaidPart(typesetter.write(1, 1).pdf, (), (), frozenset(), ())
    joiner = JoiningProcess(tmp_path / "book.yaml")
    hung = threading.Timer(120, joiner._process.kill)
    hung.start()
    try:
        for _ in range(2):
            joiner.append(part)
        book = joiner.finish_later(0, "1.7")()
        booklet = joiner.impose(BookletSettings(), "Noise")
        for _ in range(8):  # the press PDF's parts, sent while the booklet waits to be read
            joiner.append(part)
        press = joiner.finish_later(0, "1.6")
        assert len(booklet()) > 2 * 64 * 1024 and len(press()) > len(book)
    finally:
        hung.cancel()
        joiner.close()


def test_a_part_laid_out_on_a_guessed_folio_is_renumbered_exactly(tmp_path):
    """Chapters are laid out before the chapters ahead of them say where they begin; once known,
    the folios are put right, and the part is the one laid out on its folio from the start."""
    from limbag.typeset import Typesetter

    settings, guessed = _one_chapter_job(tmp_path, 5)
    typesetter = Typesetter(settings)
    typesetter.lay_out(1, guessed)
    renumbered = typesetter.write(1, 37).pdf
    typesetter.lay_out(2, dataclasses.replace(guessed, first_folio=37))
    direct = typesetter.write(2, 37).pdf
    assert renumbered == direct
    first_pages = [page.extract_text().split() for page in PdfReader(io.BytesIO(renumbered)).pages[:2]]
    assert "37" in first_pages[0] and "38" in first_pages[1] and "5" not in first_pages[0], first_pages


def test_each_face_is_one_font_however_many_chapters(make_book):
    """Every chapter is written with its own subset of each face; the book carries one font per
    face (one program, one widths and text map), and the text still reads the same."""
    import pikepdf

    result = build(make_book(EDITED_BOOK), formats=("pdf",))
    programs: dict[str, set[tuple[int, int]]] = {}
    dictionaries: dict[str, set[tuple[int, int]]] = {}
    with pikepdf.open(result.written[0]) as pdf:
        for item in pdf.objects:
            if isinstance(item, pikepdf.Dictionary) and item.get("/Type") == "/FontDescriptor":
                programs.setdefault(str(item.FontName).split("+")[-1], set()).add(item.FontFile2.objgen)
        for page in pdf.pages:
            for font in page.Resources.get("/Font", {}).values():
                dictionaries.setdefault(str(font.BaseFont).split("+")[-1], set()).add(font.objgen)
    assert programs and all(len(objects) == 1 for objects in programs.values()), programs
    assert dictionaries.keys() == programs.keys()
    assert all(len(objects) == 1 for objects in dictionaries.values()), dictionaries
    reader = PdfReader(result.written[0])
    assert len(reader.pages) >= 4
    text = " ".join(page.extract_text() for page in reader.pages)
    for chapter in ("One", "Two", "Three"):
        assert chapter in text


def test_a_kept_chapter_still_reports_its_warnings(make_book, tmp_path):
    book = make_book({**EDITED_BOOK, "01.md": "# One\n\nSee [nowhere](#no-such-place).\n"})
    out = tmp_path / "out"
    first = build(book, out, ("pdf",))
    assert any("no-such-place" in str(warning) for warning in first.warnings)
    chapter = book / "manuscript" / "03.md"
    chapter.write_text(chapter.read_text().replace("closes", "ends", 1))
    again = build(book, out, ("pdf",))
    assert "chapter 1" not in _chapters_laid_out(again)
    assert any("no-such-place" in str(warning) for warning in again.warnings)


def _many_chapters(count: int) -> dict[str, str]:
    """A book long enough for the second process to start and take parts during its layout."""
    paragraph = ('The request of {n} was read in every capital, and [NATO]{{idx="NATO"}} answered it '
                 "in writing.[^n{n}] " + "Diplomats weighed each word of the note for weeks. " * 12)
    files = {"book.yaml": "title: Many Chapters\nlanguage: en\noutputs: [pdf]\nindex:\n  terms:\n    NATO: {}\n"}
    for number in range(1, count + 1):
        body = "\n\n".join(paragraph.format(n=f"{number}-{part}") for part in range(1, 5))
        notes = "\n".join(f"[^n{number}-{part}]: A note on part {part}." for part in range(1, 5))
        files[f"{number:02d}.md"] = f"# Chapter {number}\n\n{body}\n\n{notes}\n"
    return files


def test_the_book_is_the_same_whatever_number_of_processes_lays_it_out(make_book, tmp_path):
    """An editor on a laptop, a print shop on a big machine and a catalog build (one process a book)
    must all get the same files."""
    book = make_book(_many_chapters(40))
    formats = ("pdf", "booklet", "epub")
    builds = {count: build(book, tmp_path / f"on-{count}", formats, processes=count) for count in (1, 2, 3)}
    assert builds[1].rendered.laid_out_elsewhere == 0
    assert builds[2].rendered.laid_out_elsewhere > 0, "the second process took no part"
    assert builds[3].rendered.laid_out_elsewhere > 0
    for count in (2, 3):
        for ours, theirs in zip(builds[count].written, builds[1].written, strict=True):
            assert ours.name == theirs.name
            assert ours.read_bytes() == theirs.read_bytes(), f"{ours.name} differs with {count} processes"


def _dense_notes_chapter() -> str:
    """Paragraphs with up to four notes each, some notes long enough to fill the footnote area and
    be carried to the next page."""
    sentence = "The council met again in spring to argue about treaties, borders and old promises"
    paragraphs, notes = [], []
    for number in range(1, 61):
        calls = "".join(f" {sentence} once more[^n{number}-{k}]." for k in range(number % 4 + 1))
        paragraphs.append(f"{sentence}.{calls}")
        for k in range(number % 4 + 1):
            notes.append(f"[^n{number}-{k}]: {' '.join([sentence] * (1 + (number * 7 + k) % 9))}.")
    return "# Notes\n\n" + "\n\n".join(paragraphs) + "\n\n" + "\n".join(notes) + "\n"


def _text_boxes(pages) -> list[list[tuple[str, float, float]]]:
    from weasyprint.formatting_structure.boxes import TextBox

    return [[(box.text, round(box.position_x, 6), round(box.position_y, 6))
             for box in page._page_box.descendants() if isinstance(box, TextBox)] for page in pages]


def test_footnotes_laid_out_one_at_a_time_land_where_the_engine_puts_them(make_book):
    """The engine lays a page's footnote area out again for every note added; Limbag lays out
    the new note only. Every line of text, in the body and the notes, stands where the engine's
    own way puts it, and notes that do not fit move on to the next page as they would."""
    from weasyprint import HTML
    from weasyprint.formatting_structure.boxes import FootnoteAreaBox

    from limbag.language import load_language
    from limbag.pdf import BackMatter, print_html
    from limbag.typeset import PartJob, Typesetter

    book_dir = make_book({"book.yaml": "title: Notes\nauthor: A. Writer\nlanguage: en\n",
                          "01.md": _dense_notes_chapter()})
    prepared, layouts, settings = _engine_for(book_dir)
    written = print_html(prepared.book, load_language("en"), layouts, [], BackMatter(), "body")
    typesetter = Typesetter(settings)
    typesetter.lay_out(1, PartJob(written.html, {}, frozenset(), None))
    stacked = typesetter._held[1].document.pages
    engine = HTML(string=written.html, base_url=settings.base_url).render(
        stylesheets=typesetter.stylesheets, font_config=typesetter.font_config).pages

    assert len(stacked) >= 10
    assert _text_boxes(stacked) == _text_boxes(engine)
    areas = [box for page in stacked for box in page._page_box.children if isinstance(box, FootnoteAreaBox)]
    assert max(len(area.children) for area in areas) >= 4


def _leaders(pages) -> list[list]:
    from weasyprint.formatting_structure.boxes import ParentBox

    found = []
    for page in pages:
        for box in page._page_box.descendants():
            if isinstance(box, ParentBox) and box.is_leader:
                found.append(sorted(box.children, key=lambda copy: copy.position_x))
    return found


def test_contents_dots_are_one_run_a_line_where_the_engines_copies_stand(tmp_path):
    """The engine fills a contents line's leader with one box per ". . "; Limbag writes one run
    of the same dots, which begins and ends where the copies do."""
    from collections import defaultdict

    from weasyprint import HTML

    from limbag.language import load_language
    from limbag.pdf import BackMatter, print_html
    from limbag.typeset import PartJob, Typesetter

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    prepared, layouts, settings = _engine_for(book_dir)
    written = print_html(prepared.book, load_language("tl"), layouts, [], BackMatter(), "front",
                         defaultdict(lambda: "128"))
    typesetter = Typesetter(settings)
    typesetter.lay_out(1, PartJob(written.html, {}, frozenset(), None))
    ours = _leaders(typesetter._held[1].document.pages)
    engines = _leaders(HTML(string=written.html, base_url=settings.base_url).render(
        stylesheets=typesetter.stylesheets, font_config=typesetter.font_config).pages)

    assert len(ours) == len(engines) == len(prepared.book.chapters) >= 3
    for (run,), copies in zip(ours, engines, strict=True):
        assert len(copies) > 5 and run.text == copies[0].text * len(copies)
        assert run.position_x == copies[0].position_x
        assert abs(run.position_x + run.width - (copies[-1].position_x + copies[-1].width)) < 0.1
    assert "128" in PdfReader(io.BytesIO(typesetter.write(1, None).pdf)).pages[2].extract_text()


class _VariedLabels(dict):
    """Page labels of one to four digits, by the id they are the page of."""

    def __missing__(self, anchor: str) -> str:
        self[anchor] = ("7", "42", "318", "1024")[len(self) % 4]
        return self[anchor]


def test_contents_laid_out_before_its_numbers_are_known_is_the_contents_laid_out_with_them(tmp_path):
    """The front matter is laid out while the chapters are, with a stand-in for every page number
    in a box of fixed width, and the numbers are put in when it is written: byte for byte the
    front matter laid out with its numbers, narrower or wider than the stand-in."""
    from limbag.chronology import Chronology
    from limbag.index import Index
    from limbag.language import load_language
    from limbag.pdf import PAGE_LABEL, BackMatter, _page_labels, _StandIns, print_html
    from limbag.typeset import PartJob, Typesetter

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    prepared, layouts, settings = _engine_for(book_dir)
    language = load_language("tl")
    back = BackMatter(Chronology(), prepared.book.bibliography, Index())
    with_numbers = print_html(prepared.book, language, layouts, [], back, "front", _VariedLabels()).html
    with_stand_ins = print_html(prepared.book, language, layouts, [], back, "front", _StandIns()).html
    labels = tuple(_page_labels(with_numbers))
    assert {label for _, label in labels} == {"7", "42", "318", "1024"}
    assert len(labels) == len(PAGE_LABEL.findall(with_stand_ins)) >= 3

    typesetter = Typesetter(settings)
    assert typesetter.lay_out(1, PartJob(with_stand_ins, {}, frozenset(), None)).fillable
    filled = typesetter.write(1, None, labels).pdf
    typesetter.lay_out(2, PartJob(with_numbers, {}, frozenset(), None))
    assert filled == typesetter.write(2, None).pdf
    contents = PdfReader(io.BytesIO(filled)).pages[2].extract_text()
    assert all(label in contents for _, label in labels)


@pytest.mark.parametrize("layout", ["numbers without their stand-in", "numbers without dots"])
def test_a_layout_that_sets_its_contents_numbers_otherwise_gets_them_laid_out(make_book, tmp_path, layout):
    """A book's own layout may print the contents' page numbers another way than after dots: its
    front matter is then laid out once they are known, and prints them all the same."""
    template = (REPO / "layouts" / "print" / "book.html.j2").read_text(encoding="utf-8")
    stylesheet = (REPO / "layouts" / "print" / "book.css").read_text(encoding="utf-8")
    if layout == "numbers without their stand-in":
        template = template.replace('data-page-of="{{ id }}" ', "")
    else:
        stylesheet += '\n.contents a::after { content: "\\a0\\a0" attr(data-page); }\n'
    book = make_book({**EDITED_BOOK, "layouts/print/book.html.j2": template, "layouts/print/book.css": stylesheet})
    build(book, tmp_path / "out", ("pdf",), processes=2)
    reader = PdfReader(tmp_path / "out" / "three-chapters.pdf")
    starts = {title: reader.page_labels[page] for title, page in _outline(reader)}
    contents = next(page.extract_text() for page in reader.pages if "Contents" in page.extract_text())
    lines = [line.split() for line in contents.splitlines()]
    for title in ("One", "Two", "Three", "Index"):
        assert next(line for line in lines if title in line)[-1] == starts[title], (title, starts, lines)


def _links_and_texts(pages) -> tuple[list, list]:
    from weasyprint.formatting_structure.boxes import TextBox

    links = [[(kind, target, tuple(round(value, 3) for value in rectangle)) for kind, target, rectangle, _ in page.links]
             for page in pages]
    texts = [[(box.text, round(box.position_x, 3), round(box.position_y, 3), round(box.width, 3))
              for box in page._page_box.descendants() if isinstance(box, TextBox)] for page in pages]
    return links, texts


def test_index_page_numbers_laid_out_with_their_text_land_where_the_engines_links_do(tmp_path):
    """An index entry's page numbers are links; the engine lays each one out as a box of its own.
    Limbag lays the entry out as one run of text and puts the links back: every page number, link
    and piece of text stands where the engine's own layout puts it."""
    from weasyprint import HTML

    from limbag.engine import render
    from limbag.language import load_language
    from limbag.pdf import BackMatter, print_html
    from limbag.typeset import Typesetter

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    result = build(book_dir, tmp_path / "out", ("pdf",), processes=1)
    prepared, layouts, settings = _engine_for(book_dir)
    typesetter = Typesetter(settings)
    for back in (BackMatter(index=result.index), BackMatter(chronology=result.chronology)):
        written = print_html(prepared.book, load_language("tl"), layouts, [], back, "back")
        ours, _ = render(HTML(string=written.html, base_url=settings.base_url), typesetter.stylesheets,
                         typesetter.font_config)
        engines = HTML(string=written.html, base_url=settings.base_url).render(
            stylesheets=typesetter.stylesheets, font_config=typesetter.font_config)
        our_links, our_texts = _links_and_texts(ours.pages)
        engine_links, engine_texts = _links_and_texts(engines.pages)
        assert sum(map(len, engine_links)) >= 10
        assert our_links == engine_links
        assert our_texts == engine_texts
        for _, target, _ in (link for page in our_links for link in page):  # they lead to the chapters
            ours.pages[0].anchors.setdefault(target, (0, 0, 0, 0))
        tagged = pikepdf_open(ours.write_pdf(pdf_variant="pdf/ua-1"))
        annotations = [annotation for page in tagged.pages for annotation in page.get("/Annots", [])]
        assert len(annotations) == sum(map(len, engine_links))
        assert all("/StructParent" in annotation for annotation in annotations)


def pikepdf_open(data: bytes):
    import pikepdf

    return pikepdf.open(io.BytesIO(data))


def test_math_drawn_once_is_written_as_the_engine_writes_it(make_book):
    """Formulas are pictures of their glyphs' outlines; each outline and each formula is drawn once
    per process and its drawing repeated. A chapter of formulas sharing glyphs is written byte for
    byte as the engine writes it, the first time (outlines repeated) and the second (whole formulas
    repeated). (The engine draws a formula it has drawn before in the same part with more operators:
    drawing renames the glyphs' shared symbols, which are then drawn too, invisibly. A formula
    repeated is written here as the engine writes it the first time.)"""
    import weasyprint.images
    import weasyprint.svg

    from limbag.engine import engine_svg_drawing
    from limbag.language import load_language
    from limbag.pdf import BackMatter, print_html
    from limbag.typeset import PartJob, Typesetter

    formulas = [r"$\sigma^2 = \frac{1}{n}\sum_{i=1}^{n} (x_i - \mu)^2$", r"$\mu = \frac{1}{n}\sum_i x_i$",
                r"$$y_i \sim \mathcal{N}(\mu_i, \sigma)$$", r"$\sigma > 0$ and $\mu \in \mathbb{R}$",
                r"$x_i \sim \mathcal{N}(\mu, \sigma^2)$", r"$\frac{\mu}{\sigma}$"]
    text = "\n\n".join(f"Paragraph {number}: {formula}." for number, formula in enumerate(formulas))
    book_dir = make_book({"book.yaml": "title: Math\nlanguage: en\n", "01.md": f"# Formulas\n\n{text}\n"})
    prepared, layouts, settings = _engine_for(book_dir)
    written = print_html(prepared.book, load_language("en"), layouts, [], BackMatter(), "body")
    job = PartJob(written.html, dict(written.flows), frozenset(), 1)
    typesetter = Typesetter(settings)
    assert getattr(weasyprint.svg.TAGS["path"], "drawn_once", False)
    repeated = weasyprint.images.SVGImage.draw
    written_pdfs = []
    for ticket in (1, 2):
        typesetter.lay_out(ticket, job)
        written_pdfs.append(typesetter.write(ticket, 1).pdf)
    with engine_svg_drawing():
        assert weasyprint.images.SVGImage.draw is not repeated
        typesetter.lay_out(3, job)
        engines = typesetter.write(3, 1).pdf
    assert weasyprint.images.SVGImage.draw is repeated
    assert written.html.count("<img") >= 7
    assert written_pdfs == [engines, engines]


def test_formulas_typeset_reading_styles_the_short_way_are_drawn_the_same(monkeypatch):
    """ziamath reads each node's style from a shallow copy of its parent's instead of a deep one:
    every drawing is the same, with styles at their most varied (variants, colours, display and
    script levels, fractions, matrices, roots, text)."""
    import dataclasses

    from ziamath import styles

    from limbag.mathtype import svg_image

    formulas = [r"\sigma^2 = \frac{1}{n}\sum_{i=1}^{n} (x_i - \mu)^2", r"\mathbf{X}\boldsymbol{\beta} + \mathcal{N}(0, 1)",
                r"\mathbb{R}^n \to \mathrm{d}x\,\mathfrak{g}", r"{\color{red} a} + \color{blue}{b_{\color{green} c}}",
                r"\displaystyle\sum_k \frac{\textstyle\frac{a}{b}}{\scriptstyle c}",
                r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}\sqrt[3]{\frac{x}{y}}",
                r"\left(\int_0^\infty e^{-x^2}\,dx\right)^{\!2} = \pi", r"\text{mean } \bar{x} \ne \hat{\theta}_{\mathit{ML}}",
                r"\operatorname{logit}(p) = \log\frac{p}{1-p}", r"x^{y^{z^{w}}}_{i_{j_k}}"]
    svg_image.__wrapped__("x", False)  # sets the short ways up
    ours = _drawings(formulas)
    assert styles.asdict is not dataclasses.asdict
    monkeypatch.setattr(styles, "asdict", dataclasses.asdict)
    assert _drawings(formulas) == ours


def test_formulas_whose_rows_are_measured_once_are_drawn_the_same(monkeypatch):
    """ziamath measures a row without its stretchy operators only where one may stretch, and
    converts each length once: every drawing is the same as the typesetter's own, with fences
    that stretch (`\\left`, `\\middle`, matrices, cases), fences that do not, nested rows, and
    spaces of every named width."""
    from ziamath.nodes import mnode, mrow

    from limbag.mathtype import svg_image

    formulas = [r"\left( \frac{a}{b} \right)^2", r"\left\{ x \middle| x > 0 \right\}", r"\sqrt{\left[ \sum_{i=1}^n x_i \right]}",
                r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}", r"\overbrace{a+b}^{n} + \underbrace{x}_{y}",
                r"\left\langle u, v \right\rangle", r"\Big( x \Big) \bigl[ y \bigr]", r"\| x \| + |x| + \lvert y \rvert",
                r"f(x) = \begin{cases} 1 & x>0 \\ 0 & \text{else} \end{cases}", r"\left. \frac{df}{dx} \right|_{x=0}",
                r"\frac{\left(1+\frac{1}{n}\right)^n}{e} \uparrow \Uparrow",
                r"\{ a \} \cup [a, b) \lfloor x \rfloor \lceil y \rceil",
                r"\hat{x} \widehat{xyz} \overline{abc} \vec{v}", r"a \, b \: c \; d \quad e \qquad f \! g \hspace{1em} h",
                r"\mu_i = \frac{\exp(\eta_i)}{1 + \exp(\eta_i)} \quad \text{and} \quad y_i \sim \mathcal{N}(\mu_i, \sigma)",
                r"\int_0^1 \frac{\mathrm{d}x}{\sqrt{1-x^2}} = \frac{\pi}{2} \\ x^{y^{z^{w}}}_{i_{j_k}}"]
    svg_image.__wrapped__("x", False)  # sets the short ways up
    ours = _drawings(formulas)
    measure, size = mrow.Mrow._get_height_nostretch, mnode.Mnode.size_px
    monkeypatch.setattr(mrow.Mrow, "_get_height_nostretch", measure.engine_measure)
    monkeypatch.setattr(mnode.Mnode, "size_px", size.engine_size)
    assert _drawings(formulas) == ours


def _drawings(formulas: list[str]) -> list[str]:
    """ziamath's drawings of the formulas, inline and displayed, as svg_image asks for them (and
    with none of its short ways set up anew)."""
    import ziamath

    from limbag.mathtype import SIZE

    return [ziamath.Latex(tex, size=SIZE, inline=not display, margin=0).svg() for tex in formulas
            for display in (False, True)]


def test_an_edit_elsewhere_takes_the_formulas_drawings_from_the_last_build(make_book, tmp_path):
    """Typesetting a formula takes some 25 ms: a statistics chapter's drawings are kept in the build
    cache, so an edit to another chapter typesets none of them, and still gives a clean build's
    bytes. A damaged file of drawings is no error: the formulas are typeset again."""
    import json

    from limbag.mathtype import DRAWN_FILE, svg_image

    formulas = [r"$\sigma^2 = \frac{1}{n}\sum_{i=1}^{n} (x_i - \mu)^2$", r"$\mu = \frac{1}{n}\sum_i x_i$",
                r"$$y_i \sim \mathcal{N}(\mu_i, \sigma)$$"]
    book = make_book({"book.yaml": "title: Statistics\nlanguage: en\noutputs: [pdf]\n",
                      "01.md": "# Moments\n\n" + "\n\n".join(f"Formula {n}: {f}." for n, f in enumerate(formulas)) + "\n",
                      "02.md": "# Notes\n\nA chapter without formulas, about the year 1954.\n"})
    out = tmp_path / "out"
    build(book, out)
    kept = out / ".limbag-cache" / DRAWN_FILE
    assert len(json.loads(kept.read_text())) == len(formulas)

    notes = book / "manuscript" / "02.md"
    notes.write_text(notes.read_text().replace("about the year", "all about the year", 1))
    svg_image.cache_clear()
    edited = build(book, out)
    assert _chapters_laid_out(edited) == ["chapter 2"]
    assert svg_image.cache_info().misses == 0
    clean = build(book, tmp_path / "clean")
    assert edited.written[0].read_bytes() == clean.written[0].read_bytes()

    kept.write_text('{"not": "a drawing", "and": 3}')
    notes.write_text(notes.read_text().replace("all about", "much about", 1))
    svg_image.cache_clear()
    again = build(book, out)
    assert svg_image.cache_info().misses == len(formulas)
    assert len(json.loads(kept.read_text())) == len(formulas)
    assert again.written[0].read_bytes() == build(book, tmp_path / "clean-again").written[0].read_bytes()


def _engine_parsers_tree(html: str):
    import tinyhtml5

    return tinyhtml5.parse(html, namespace_html_elements=False)


def _shape(element, out=None):
    """Every node of a tree in document order: tag (or comment), attributes, text and tail."""
    out = [] if out is None else out
    out.append((element.tag if isinstance(element.tag, str) else "comment", sorted(element.attrib.items()),
                element.text or "", element.tail or ""))
    for child in element:
        _shape(child, out)
    return out


TRICKY_HTML = [
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>t</title>\n'
    '<style>a > b { color: red }</style></head>\n<body>\n<p>x</p>\n</body>\n</html>\n\n',
    '<html><body><!-- a comment --><p>x<!-- c2 -->y</p><!----><!--x--></body></html>',
    '<html><body><pre>\nfirst line\n  second</pre><textarea>\nq</textarea></body></html>',
    '<html><body><p>a&nbsp;b &amp; c &lt; &#x41;&#66; &copy</p><p>a\r\nb\rc\x00d</p></body></html>',
    '<HTML><BODY><P CLASS="X">Up</P></BODY></HTML>',
    '<html><body><p>a<span id="s"/>b</p><div/>c<p>a<div>b</div>c</p></body></html>',
    '<!DOCTYPE html><html><body><p>a<table><tr><td>b</td></tr>\n<tr><td>c</td></tr></table></p></body></html>',
    '<html><body><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'viewBox="0 0 1 1"><defs><linearGradient id="g"><stop offset="0"/></linearGradient><clipPath id="c"><rect/>'
    '</clipPath></defs><use xlink:href="#g"/><text xml:lang="en" xml:space="preserve"><textPath href="#c">t'
    '</textPath></text><title>T <b>bold</b></title><foreignObject><div><svg><rect/></svg></div></foreignObject>'
    '<rect/><p>breaks out</p><circle/></svg></body></html>',
    '<html><body><br/></br><img src="a" alt=""><input disabled><p a="1" a="2" b>x</p></body></html>',
    '<html><body><ul><li>a<li>b</ul><dl><dt>x<dd>y</dl><a href="#x">a<a href="#y">b</a></a></body></html>',
    '<html lang="tl"><body></body></html>',
    '<html><body><table><caption>c</caption><colgroup><col span="2"></colgroup><thead><tr><th>h</th></tr>'
    '</thead><tbody><tr><td>d</td></tr></tbody></table><p title="a\nb\tc">t<br>u<wbr>v</p><hr></body></html>',
]


def test_the_html_of_every_part_is_read_into_the_tree_the_engine_s_own_parser_makes():
    """The engine's HTML parser is written in Python (a fifth of a second for a chronology); the
    parts are read by Lexbor instead, which follows the same standard, into the same tree: HTML
    elements without a namespace, SVG ones with theirs, comments kept, and the standard's repairs
    (a table's implied body, a paragraph closed by a division, whitespace after the body moved in)."""
    from limbag.engine import parsed_tree

    for html in TRICKY_HTML:
        ours = parsed_tree(html)
        assert ours is not None, html
        assert _shape(ours) == _shape(_engine_parsers_tree(html)), html
    for left_to_the_engine in ('<html><body><template><p>t</p></template></body></html>',
                               '<html><body><noscript><p>n</p></noscript></body></html>',
                               '<html><body><math><mi>x</mi></math></body></html>'):
        assert parsed_tree(left_to_the_engine) is None


def test_a_book_read_by_the_fast_parser_is_byte_for_byte_the_book_the_engine_s_parser_reads(tmp_path, monkeypatch):
    """Every part of the sample book (covers, front matter, chapters with notes and marks, the
    chronology with its SVG timeline, bibliography, index) is read into the engine's own tree, and
    the PDF is the same bytes as when the engine parses the HTML itself."""
    from weasyprint import HTML

    import limbag.typeset
    from limbag.engine import html_document, parsed_tree

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    read: list[str] = []

    def recorded(html, base_url, url_fetcher):
        read.append(html)
        return html_document(html, base_url, url_fetcher)

    monkeypatch.setattr(limbag.typeset, "html_document", recorded)
    ours = build(book_dir, tmp_path / "ours", ("pdf",), processes=1).written[0].read_bytes()
    assert len(read) >= 8 and any("<svg" in html for html in read)
    for html in read:
        tree = parsed_tree(html)
        assert tree is not None
        assert _shape(tree) == _shape(_engine_parsers_tree(html))

    def engines(html, base_url, url_fetcher):
        return HTML(string=html, base_url=base_url, url_fetcher=url_fetcher)

    monkeypatch.setattr(limbag.typeset, "html_document", engines)
    assert build(book_dir, tmp_path / "engine", ("pdf",), processes=1).written[0].read_bytes() == ours


STYLED_HTML = """<!DOCTYPE html><html lang="en" style="font-size: 11pt; --gap: 2em"><head><style>
@page { size: A6; margin: 12mm } @page chapter { margin-top: 20mm }
body { line-height: 1.4; text-indent: calc(5% + 1em); text-decoration: underline; hyphens: auto }
section { page: chapter; margin-inline-start: 3em; padding-block-end: var(--gap); font-size: larger }
.rtl { direction: rtl; margin-inline-end: 10%; border-inline-start: 2px solid }
aside { float: right; width: 30%; position: relative; top: 1em }
li::marker { color: teal } p::before { content: counter(list-item) ". "; font-weight: bold }
table { border-collapse: collapse; border-spacing: 3px } td { padding: 1em; border: 1px solid }
em { font-size: 80%; letter-spacing: calc(0.1em + 1px); --gap: 4px; margin-top: var(--gap) }
.box { display: inline-block; min-width: 5em; max-height: 50%; box-sizing: border-box; padding: 2px }
</style></head><body>
<section><h1 id="t">Title</h1><p>Text <em>stressed <b>bold</b></em> and <a href="#t">a link</a>.</p>
<div class="rtl"><p>مرحبا <span class="box">box</span></p></div>
<aside><p>Aside</p></aside><ol><li>One</li><li><p>Two</p></li></ol>
<table><tr><th>h</th><td>c <em>e</em></td></tr></table></section>
</body></html>"""


def test_every_property_computed_the_short_way_is_the_one_the_engine_computes():
    """Most properties of most elements are declared nowhere, and they are taken from the parent or
    the initial values at once; everything else is computed the engine's way. Every property of
    every element and pseudo-element is the same either way, with the cascade at its most tangled:
    logical properties left to right and right to left, `var()` and custom properties, `calc()`
    inherited with a percentage, named pages, floats, markers, collapsed table borders."""
    from weasyprint import DEFAULT_OPTIONS, HTML
    from weasyprint.css.counters import CounterStyle
    from weasyprint.css.properties import INITIAL_VALUES
    from weasyprint.document import Document
    from weasyprint.text.fonts import FontConfiguration

    from limbag.engine import compute_styles_quickly, engine_style_computation

    def every_property() -> list[tuple[str, str | None, str, str]]:
        html = HTML(string=STYLED_HTML)
        context = Document._build_layout_context(html, FontConfiguration(), CounterStyle(), {}, DEFAULT_OPTIONS)
        found = []
        for element in html.etree_element.iter():
            for pseudo in (None, "before", "after", "marker"):
                style = context.style_for(element, pseudo)
                if style is not None:
                    found.extend((element.tag, pseudo, name, repr(style[name])) for name in sorted(INITIAL_VALUES))
        return found

    compute_styles_quickly()
    ours = every_property()
    with engine_style_computation():
        engines = every_property()
    assert len(ours) > 20 * len(INITIAL_VALUES)
    assert ours == engines


def test_a_book_with_styles_computed_the_short_way_is_byte_for_byte_the_engine_s(tmp_path):
    """The sample book (covers, front matter, chapters with notes and marks, the chronology's table
    and timeline, bibliography, index) comes out the same bytes with the engine computing every
    property its own way."""
    from limbag.engine import engine_style_computation

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    ours = build(book_dir, tmp_path / "ours", ("pdf",), processes=1).written[0].read_bytes()
    with engine_style_computation():
        engines = build(book_dir, tmp_path / "engine", ("pdf",), processes=1).written[0].read_bytes()
    assert engines == ours


def test_fonts_shared_while_the_front_matter_is_laid_out_give_the_book_sharing_them_at_the_end(tmp_path, monkeypatch):
    """The chapters and back matter are given one font per face while the front matter is laid out,
    and at the end only the front matter's fonts are merged into them: the book is byte for byte
    the one whose fonts are all merged at the end, and holds each face once."""
    import pikepdf

    from limbag.join import BookJoiner

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    early = build(book_dir, tmp_path / "early", ("pdf",), processes=1).written[0]

    sharing, finishing = BookJoiner.share_fonts, BookJoiner.finish
    asked: list[bool] = []

    def finish(joiner, *args):
        joiner.finishing = True
        return finishing(joiner, *args)

    def at_the_end_only(joiner):
        asked.append(getattr(joiner, "finishing", False))
        if asked[-1]:
            sharing(joiner)

    monkeypatch.setattr(BookJoiner, "finish", finish)
    monkeypatch.setattr(BookJoiner, "share_fonts", at_the_end_only)
    at_the_end = build(book_dir, tmp_path / "end", ("pdf",), processes=1).written[0]
    assert asked == [False, True]
    assert at_the_end.read_bytes() == early.read_bytes()
    with pikepdf.open(early) as pdf:
        programs: dict[str, set[tuple[int, int]]] = {}
        for item in pdf.objects:
            if isinstance(item, pikepdf.Dictionary) and item.get("/Type") == "/FontDescriptor" and "/FontFile2" in item:
                programs.setdefault(str(item.FontName).split("+")[-1], set()).add(item.FontFile2.objgen)
        assert programs and all(len(found) == 1 for found in programs.values())


def test_the_e_book_s_cover_picture_is_drawn_again_only_when_the_cover_changes(tmp_path, monkeypatch):
    """The e-book's cover is a picture of the laid-out front cover (a tenth of a second to draw):
    an edit to a chapter takes it from the last build, a damaged picture is drawn again, and the
    e-book is the same bytes either way."""
    import limbag.cover

    book_dir = tmp_path / "sample"
    shutil.copytree(REPO / "manuscript", book_dir / "manuscript")
    out = tmp_path / "out"
    drawn: list[int] = []
    drawing = limbag.cover.front_cover_picture

    def counted(pdf: bytes) -> bytes:
        drawn.append(len(pdf))
        return drawing(pdf)

    monkeypatch.setattr(limbag.cover, "front_cover_picture", counted)
    first = build(book_dir, out, ("epub",), processes=1)
    assert len(drawn) == 1
    epub = first.written[0].read_bytes()
    chapter = book_dir / "manuscript" / "03-pagtanggi.md"
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\nIsang pangungusap pa.\n", encoding="utf-8")
    edited = build(book_dir, out, ("epub",), processes=1).written[0].read_bytes()
    assert len(drawn) == 1 and edited != epub
    (out / ".limbag-cache" / "cover.png").write_bytes(b"not a picture")
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\nAt isa pa.\n", encoding="utf-8")
    again = build(book_dir, out, ("epub",), processes=1).written[0].read_bytes()
    assert len(drawn) == 2
    clean = build(book_dir, tmp_path / "clean", ("epub",), processes=1).written[0].read_bytes()
    assert again == clean


def _plain_part(number: int, paragraphs: int) -> str:
    sentence = "The note of the Soviet government was read in every capital of the alliance. "
    body = "".join(f"<p>{sentence * 6}</p>" for _ in range(paragraphs))
    return f'<html lang="en"><body><section id="c{number}"><h1>Chapter {number}</h1>{body}</section></body></html>'


def test_a_part_waiting_in_the_other_process_behind_a_long_one_is_laid_out_here_the_same(tmp_path):
    """This process, done with its own part, finds the next one still waiting in the other process
    behind a long chapter: it lays that part out itself instead of idling, and the other process
    lets it go. The parts are byte for byte the ones one process makes."""
    from limbag.parts import PartMaker, PartRequest
    from limbag.typeset import RemoteLane

    settings, _ = _one_chapter_job(tmp_path, 1)
    requests = [PartRequest(f"chapter {n}", _plain_part(n, size), {}) for n, size in ((1, 1), (2, 150), (3, 2))]
    blank = '<html lang="en"><body></body></html>'
    there = RemoteLane()
    try:
        _set_up(there, settings)
        maker = PartMaker(settings, None, "key", blank, [there])
        assert maker.here.typesetter  # this process's engine set up: it takes the first part
        side_by_side = maker.make_run(requests, frozenset(), first_folio=1)
        parts = maker.written()
    finally:
        there.close()
    assert maker.taken_over == 1 and maker.laid_out_elsewhere == 1
    alone = PartMaker(settings, None, "key", blank)
    assert alone.make_run(requests, frozenset(), first_folio=1) == side_by_side
    assert [part.pdf for part in alone.written()] == [part.pdf for part in parts]
    pages = [len(layout.page_anchors) for layout in side_by_side]
    assert pages[1] == 1 and pages[2] > 20  # a blank page, the long chapter


def test_a_part_given_up_is_skipped_by_the_other_process_or_let_go_of_once_laid_out(tmp_path):
    """A part taken over from the other process is not laid out there when its turn comes; if it
    already was, the other process lets go of it (its pages are not kept until the build ends)."""
    from limbag.typeset import PartLayout, RemoteLane

    settings, job = _one_chapter_job(tmp_path, 1)
    there = RemoteLane()
    try:
        _set_up(there, settings)
        there.lay_out(1, job)
        there.lay_out(2, job)
        there.give_up(2)  # seen while the first is laid out
        assert isinstance(there.answer()[1], PartLayout)
        assert there.answer() == (2, None)
        there.lay_out(3, job)
        assert isinstance(there.answer()[1], PartLayout)
        there.give_up(3)
        there.lay_out(4, job)
        there.write(4, 1)
        assert isinstance(there.answer()[1], PartLayout) and there.answer()[1].pdf.startswith(b"%PDF")
        there.write(3, 1)
        with pytest.raises(RuntimeError, match="KeyError"):
            there.answer()
    finally:
        there.close()


def test_this_process_lays_a_part_out_before_the_writes_it_was_asked_for_earlier(tmp_path):
    """The parts after a layout wait for its page count, perhaps in another process: this process
    carries a layout out before the writes asked for earlier, unless WRITES_PUT_OFF of them wait
    (each holds its pages in memory). Each part is written as it would be in order."""
    from limbag.typeset import WRITES_PUT_OFF, LocalLane, PartLayout

    settings, job = _one_chapter_job(tmp_path, 1)
    here = LocalLane(settings)
    for ticket in range(1, WRITES_PUT_OFF + 2):
        here.lay_out(ticket, job)
    assert all(isinstance(here.answer()[1], PartLayout) for _ in range(WRITES_PUT_OFF + 1))
    here.write(1, 1)
    here.lay_out(10, job)
    assert here.answer()[0] == 10  # before the write asked first
    for ticket in range(2, WRITES_PUT_OFF + 1):
        here.write(ticket, 1)
    here.lay_out(11, job)  # behind WRITES_PUT_OFF writes: after the first
    answers = [here.answer() for _ in range(WRITES_PUT_OFF + 1)]
    assert [ticket for ticket, _ in answers] == [1, 11, *range(2, WRITES_PUT_OFF + 1)]
    pdfs = {answer.pdf for ticket, answer in answers if ticket != 11}
    assert len(pdfs) == 1 and pdfs.pop().startswith(b"%PDF")


@pytest.mark.timeout(300)
def test_the_other_process_is_handed_its_next_part_while_this_one_lays_one_out(tmp_path):
    """This process lays parts out and writes them too, up to 0.7 s at a time (the first chapter
    of formulas). Meanwhile the other process's answers are taken and it is handed its next part:
    it does not sit idle until this one is done. The run's parts are laid out as one process lays
    them out."""
    import time

    from limbag.parts import PartMaker, PartRequest
    from limbag.typeset import RemoteLane

    settings, job = _one_chapter_job(tmp_path, 1)
    there = RemoteLane()
    maker = None
    try:
        _set_up(there, settings)
        maker = PartMaker(settings, None, "test", "<html><body></body></html>", [there])
        handed_meanwhile: list[bool] = []
        carry_out = maker.here.carry_out

        def handed():
            return sum(1 for entry in maker._tickets.values() if entry.lane is there)

        def carry_out_until_the_other_is_handed_more(taken):
            before = handed()
            answer = carry_out(taken)
            if not handed_meanwhile:
                deadline = time.monotonic() + 60
                while handed() == before and time.monotonic() < deadline:
                    time.sleep(0.01)
                handed_meanwhile.append(time.monotonic() < deadline)
            return answer

        maker.here.carry_out = carry_out_until_the_other_is_handed_more
        requests = [PartRequest(f"chapter {number}", job.html, job.flows) for number in range(1, 6)]
        layouts = maker.make_run(requests, frozenset(), first_folio=1)
        assert handed_meanwhile == [True]
        assert maker.laid_out_elsewhere >= 3
        pages = {len(layout.page_anchors) for layout in layouts if len(layout.page_anchors) > 1}
        assert len(pages) == 1
        written = [part.pdf for part in maker.written() if part.page_count > 1]
        assert len(written) == 5 and all(pdf.startswith(b"%PDF") for pdf in written)
    finally:
        if maker is not None:
            maker.close()
        there.close()
