"""A publisher puts covers on a book: front and back in the PDF, the booklet and the e-book, and a
full-wrap cover (back, spine, front) for a print-on-demand service, its spine as wide as the pages
are thick."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from limbag.booklet import booklet_order, padded_order, perfect_binding_problem
from limbag.config import load_config
from limbag.cover import PAPER_THICKNESS_MM, SPINE_TEXT_MIN_PAGES, spine_width_mm
from limbag.errors import ConfigError, Location
from limbag.pagemap import build_page_map
from limbag.pipeline import build

from .conftest import pdf_pages_text
from .validators import ace_violations, epubcheck

MM = 72 / 25.4
ISBN = "978-971-0000-00-5"


def bar_codes(pdf: Path, page: int, scratch: Path) -> set[str]:
    """What a bar code scanner reads on a page printed at 300 dpi (ZBar, the scanner of many
    phone apps and point-of-sale programs)."""
    if shutil.which("zbarimg") is None:
        if os.environ.get("CI"):
            raise AssertionError("zbarimg (Debian zbar-tools) must be installed on CI")
        pytest.skip("zbarimg is not installed here")
    subprocess.run(["pdftoppm", "-r", "300", "-gray", "-png", "-f", str(page), "-l", str(page), str(pdf),
                    str(scratch / "scan")], check=True)
    picture = next(scratch.glob("scan*.png"))
    done = subprocess.run(["zbarimg", "-q", "-Sean5.enable", str(picture)], capture_output=True, text=True)
    picture.unlink()
    return set(done.stdout.split())


def handout(pages_of_text: int = 3, **cover: str) -> dict[str, str | bytes]:
    settings = "".join(f"\n  {key}: {value!r}" for key, value in cover.items())
    chapters = {f"0{n}.md": f"# Lesson {n}\n\n" + "\n\n".join(["Words of the lesson, to be read in class. " * 12] * 6)
                for n in range(1, pages_of_text + 1)}
    return {
        "book.yaml": f"title: Reading the Treaty\nsubtitle: Handouts for a week\nauthors: [Ana Reyes]\n"
                     f"language: en\npublisher: Bahay Press\nisbn: {ISBN}\npage: {{size: 5.5x8.5in, paper: cream}}\n"
                     f"outputs: [pdf, booklet, epub, cover]\ncover:\n  blurb: back.md\n  price: '51995'{settings}\n",
        "back.md": "Five short lessons on the *North Atlantic Treaty*, for a class of forty.\n\nEach fits on a page.",
        **chapters,
    }


def test_booklet_padding_goes_before_the_back_cover_which_stays_outside():
    for count in (13, 14, 15, 16):
        padded = padded_order(count, back_cover=2)
        assert len(padded) == 16
        text = padded[:count - 2]
        assert text == list(range(count - 2))  # the text reads straight through
        assert padded[-2:] == [count - 2, count - 1]  # inside of the back cover, then the back cover
        assert set(padded[count - 2:-2]) <= {None}
    sides = booklet_order(14, back_cover=2)
    assert sides[0].left == 13 and sides[0].right == 0  # the outside of the outer sheet: back and front cover


def test_covers_are_labelled_as_printers_name_them():
    page_map = build_page_map([()] * 10, 4, {}, covers=(2, 2), cover_word="Pabalat")
    assert page_map.labels == ("Pabalat 1", "Pabalat 2", "i", "ii", "1", "2", "3", "4", "Pabalat 3", "Pabalat 4")
    assert page_map.interior_pages == 6 and page_map.is_cover(0) and page_map.is_cover(9) and not page_map.is_cover(2)


def test_spine_width_is_the_page_count_times_the_paper():
    assert spine_width_mm(100, PAPER_THICKNESS_MM["white"]) == pytest.approx(0.2252 * 25.4)
    assert spine_width_mm(300, PAPER_THICKNESS_MM["cream"]) == pytest.approx(0.75 * 25.4)


def test_a_paperback_too_thin_for_print_on_demand_is_a_warning(tmp_path):
    where = Location(tmp_path / "book.yaml", 3)
    assert perfect_binding_problem(24, where) is None
    problem = perfect_binding_problem(12, where)
    assert problem is not None and "24" in problem.message and problem.location == where


def test_cover_settings_are_checked_where_they_are_written(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: en\npage: {paper: newsprint}\n"
                                   "cover:\n  price: '5199'\n  background: 'not a colour!'\n  image: missing.jpg\n",
                      "01.md": "# One\n\nText."})
    with pytest.raises(ConfigError) as raised:
        load_config(book)
    text = str(raised.value)
    for key in ("page.paper", "cover.price", "cover.background", "cover.image"):
        assert re.search(rf"book\.yaml:\d+: {re.escape(key)}", text), (key, text)


def test_trim_sizes_of_print_on_demand_services_are_named(make_book):
    book = make_book({"book.yaml": "title: T\nlanguage: en\npage: {size: 6x9in}\n", "01.md": "# One\n\nText."})
    config, _ = load_config(book)
    assert (config.page.width_mm, config.page.height_mm) == pytest.approx((152.4, 228.6))
    book = make_book({"book.yaml": "title: T\nlanguage: en\npage: {size: digest}\n", "01.md": "# One\n\nText."})
    assert load_config(book)[0].page.width_mm == pytest.approx(139.7)


@pytest.mark.build
def test_a_handout_with_covers_in_every_output(make_book, tmp_path):
    book = make_book(handout())
    result = build(book)
    outputs = {path.name: path for path in result.written}
    pdf = outputs["reading-the-treaty.pdf"]
    reader = PdfReader(pdf)
    labels = reader.page_labels
    assert labels[:3] == ["Cover 1", "Cover 2", "i"] and labels[-2:] == ["Cover 3", "Cover 4"]
    texts = pdf_pages_text(pdf)
    assert "Reading the Treaty" in texts[0] and "Ana Reyes" in texts[0]
    assert texts[1].strip() == "" and texts[-2].strip() == ""  # the insides of the covers are blank
    back = texts[-1]
    assert "Five short lessons" in back and "BAHAY PRESS" in back and "Each fits on a page" in back
    assert "ISBN 978-971-0000-00-5" in back.replace("\n", " ")  # the line above the bar code
    assert "51995" in back.replace(" ", "")  # the price add-on
    assert not any("Cover" in text for text in texts)  # labels are the viewer's, not printed
    assert bar_codes(pdf, len(reader.pages), tmp_path) == {"EAN-13:9789710000005", "EAN-5:51995"}

    # The booklet: the outer sheet's outside carries the back cover (left) and the front cover (right).
    booklet = PdfReader(outputs["reading-the-treaty-booklet.pdf"])
    assert len(booklet.pages) * 2 % 4 == 0
    outside = booklet.pages[0].extract_text()
    assert "Reading the Treaty" in outside and "Five short lessons" in outside

    # The e-book: a cover page first, its picture the printed front cover, marked as the cover image.
    epub = outputs["reading-the-treaty.epub"]
    with zipfile.ZipFile(epub) as archive:
        opf = archive.read("EPUB/package.opf").decode()
        assert re.search(r'href="media/cover.png" media-type="image/png" properties="cover-image"', opf)
        spine = re.findall(r'<itemref idref="([^"]+)"', opf)
        assert spine[0] == "f-cover-xhtml"
        page = archive.read("EPUB/cover.xhtml").decode()
        assert 'role="doc-cover"' in page and 'alt="Reading the Treaty — Ana Reyes"' in page
        picture = Image.open(io.BytesIO(archive.read("EPUB/media/cover.png")))
        assert picture.height == 1600 and abs(picture.width - 1600 * 5.5 / 8.5) <= 1
        nav = archive.read("EPUB/nav.xhtml").decode()
        assert 'epub:type="cover" href="cover.xhtml"' in nav and "Cover 1" not in nav
        # The picture is the printed cover: its background is the cover's colour (#1f3a5f).
        assert picture.convert("RGB").getpixel((10, 10)) == (0x1F, 0x3A, 0x5F)
    report = epubcheck(epub)
    assert report.fatals == 0 and report.errors == 0 and report.warnings == 0, report.messages
    assert ace_violations(epub, tmp_path / "ace") == []

    # The full-wrap cover: back + spine + front with bleed, the spine from the interior's pages.
    wrap_path = outputs["reading-the-treaty-cover.pdf"]
    interior = len(reader.pages) - 4
    with pikepdf.open(wrap_path) as wrap:
        assert len(wrap.pages) == 1
        page = wrap.pages[0]
        trim = [float(v) for v in page.obj.TrimBox]
        media = [float(v) for v in page.mediabox]
        spine = (trim[2] - trim[0]) / MM - 2 * 139.7
        assert spine == pytest.approx(interior * PAPER_THICKNESS_MM["cream"], abs=0.01)
        assert (trim[0] - media[0]) / MM == pytest.approx(3.175, abs=0.01)  # the services' 0.125 in bleed
        assert (trim[3] - trim[1]) / MM == pytest.approx(215.9, abs=0.01)
        assert wrap.Root.OutputIntents[0].S == pikepdf.Name.GTS_PDFX
        layers = wrap.Root.OCProperties
        assert str(layers.OCGs[0].Name) == "Guides" and layers.D.OFF[0] == layers.OCGs[0]  # hidden, not printed
    assert interior < SPINE_TEXT_MIN_PAGES
    assert bar_codes(wrap_path, 1, tmp_path) == {"EAN-13:9789710000005", "EAN-5:51995"}  # also in CMYK
    wrap_text = PdfReader(wrap_path).pages[0].extract_text()
    assert wrap_text.count("Reading the Treaty") == 1  # a thin spine carries no text
    warnings = [str(problem) for problem in result.warnings]
    assert any("print-on-demand services bind a paperback from 24 pages" in w for w in warnings), warnings


@pytest.mark.build
@pytest.mark.parametrize("paper", ["white", "cream"])
def test_the_spine_grows_with_the_page_count_on_each_paper(make_book, paper):
    """Three page counts on two papers: the wrap's spine is the formula's, and text is set on it
    from KDP's 79 pages."""
    from limbag.fonts import find_fonts
    from limbag.layouts import book_layouts
    from limbag.pdf import render_wrap
    from limbag.pipeline import prepare

    book = make_book(handout(1))
    (book / "manuscript" / "book.yaml").write_text(
        (book / "manuscript" / "book.yaml").read_text().replace("paper: cream", f"paper: {paper}"))
    prepared = prepare(book)
    faces, _ = find_fonts(book)
    for pages in (24, 120, 480):
        pdf, sheet = render_wrap(prepared.book, book_layouts(book), faces, pages)
        with pikepdf.open(io.BytesIO(pdf)) as wrap:
            trim = [float(v) for v in wrap.pages[0].obj.TrimBox]
        spine = (trim[2] - trim[0]) / MM - 2 * 139.7
        assert spine == pytest.approx(pages * {"white": 0.002252, "cream": 0.0025}[paper] * 25.4, abs=0.01)
        assert sheet.spine == pytest.approx(spine, abs=0.01)
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert text.count("Reading the Treaty") == (2 if pages >= SPINE_TEXT_MIN_PAGES else 1), (pages, text)


def test_the_sample_book_has_covers():
    config, _ = load_config(Path(__file__).parent.parent)
    assert config.cover is not None and config.cover.blurb is not None


@pytest.mark.build
def test_a_picture_of_the_publishers_own_is_the_front_cover(make_book, tmp_path):
    """The designer's picture fills the front cover in print and is the e-book's cover image as it
    is; a picture too small for print is a warning at `cover.image`."""
    from .conftest import png_image

    files = handout(1, image="front.png", alt="A treaty on a desk")
    files["front.png"] = png_image(330, 510)  # 5.5 × 8.5 in at 60 ppi
    result = build(make_book(files), formats=("pdf", "epub"))
    outputs = {path.name: path for path in result.written}
    with pikepdf.open(outputs["reading-the-treaty.pdf"]) as pdf:
        first = pdf.pages[0]
        pictures = [item for item in first.obj.Resources.XObject.values() if item.Subtype == pikepdf.Name.Image]
        assert [(int(p.Width), int(p.Height)) for p in pictures] == [(330, 510)]
    with zipfile.ZipFile(outputs["reading-the-treaty.epub"]) as archive:
        assert archive.read("EPUB/media/cover.png") == files["front.png"]
        assert 'alt="A treaty on a desk"' in archive.read("EPUB/cover.xhtml").decode()
    warnings = [problem for problem in result.warnings if "front.png" in problem.message]
    assert len(warnings) == 1 and "60 ppi" in warnings[0].message
    assert warnings[0].location.line == 12  # cover.image in book.yaml


def test_a_cover_picture_that_does_not_decode_is_an_error_at_its_key(make_book):
    files = handout(1, image="front.png")
    files["front.png"] = b"\x89PNG\r\n\x1a\nnot really"
    with pytest.raises(ConfigError) as raised:
        load_config(make_book(files))
    assert re.search(r"book\.yaml:12: cover\.image: image 'front\.png' cannot be read", str(raised.value))


def test_a_cmyk_cover_picture_is_a_warning_for_the_e_book(make_book):
    picture = io.BytesIO()
    Image.new("CMYK", (40, 60), (0, 80, 80, 0)).save(picture, "JPEG")
    files = handout(1, image="front.jpg")
    files["front.jpg"] = picture.getvalue()
    _, warnings = load_config(make_book(files))
    assert [str(w) for w in warnings if "CMYK" in w.message] == [
        next(str(w) for w in warnings if "cover.image: 'front.jpg' is a CMYK picture" in w.message)]


@pytest.mark.build
def test_pictures_too_small_are_found_alike_by_one_process_or_by_the_joining_process(make_book, tmp_path):
    """With more than one process, the process that joined the book reads its pictures'
    resolutions while the e-book is written; alone, the build reads them from the PDF itself."""
    from .conftest import png_image

    files = handout(2, image="front.png")
    files["front.png"] = png_image(330, 510)  # 60 ppi on the cover
    files["02.md"] += "\n\n![A chart](chart.png)\n"
    files["chart.png"] = png_image(300, 150)
    book = make_book(files)
    found = {}
    for processes in (1, 2):
        result = build(book, tmp_path / f"by-{processes}", formats=("pdf",), processes=processes)
        found[processes] = [(problem.location.file.name, problem.location.line, problem.message, problem.hint)
                            for problem in result.warnings if "ppi" in problem.message]
    assert found[1] == found[2]
    assert [(name, line, message.split(":")[0]) for name, line, message, _ in found[1]] == [
        ("book.yaml", 12, "image 'front.png' (330×510 pixels) prints at 60 ppi"),
        ("02.md", 15, "image 'chart.png' (300×150 pixels) prints at 96 ppi")]
