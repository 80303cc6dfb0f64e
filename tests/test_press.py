"""A print shop receives a PDF/X with true trim and bleed boxes; readers get a tagged PDF/UA."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

from limbag.errors import LimbagError
from limbag.pipeline import build

from .conftest import png_image

pytestmark = pytest.mark.build

BOOK = {
    "book.yaml": """\
title: Press Test
authors: [A. Author]
language: en
date: 2026-11-24
page: {size: A5, bleed: 3mm, marks: [crop, cross]}
outputs: [pdf, press]
""",
    "images/photo.png": png_image(1800, 900),
    "images/small.png": png_image(400, 200),
    "01.md": "# One\n\nText with a figure and a [link](https://example.org).\n\n![A photo](images/photo.png)\n\n"
             "![A small one](images/small.png)\n",
    "02.md": "# Two\n\nMore text.\n",
}

POINTS_PER_MM = 72 / 25.4


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    book = tmp_path_factory.mktemp("press") / "book"
    for relative, content in BOOK.items():
        path = book / "manuscript" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = build(book)
    return book, result, dict(zip(("pdf", "press"), result.written, strict=True))


def test_press_pdf_has_true_trim_and_bleed_boxes(outputs):
    _, _, files = outputs
    for page in PdfReader(files["press"]).pages:
        trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
        assert (round(float(trim.width) / POINTS_PER_MM), round(float(trim.height) / POINTS_PER_MM)) == (148, 210)
        for inner, outer in ((trim.left, bleed.left), (trim.bottom, bleed.bottom)):
            assert round((float(inner) - float(outer)) / POINTS_PER_MM, 2) == 3.0
        for inner, outer in ((trim.right, bleed.right), (trim.top, bleed.top)):
            assert round((float(outer) - float(inner)) / POINTS_PER_MM, 2) == 3.0
        assert float(media.width) > float(bleed.width)  # room for the marks outside the bleed


def test_press_pdf_identifies_as_pdf_x4_with_an_output_intent(outputs):
    _, _, files = outputs
    reader = PdfReader(files["press"])
    assert reader.pdf_header == "%PDF-1.6"
    intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFX" and "/DestOutputProfile" in intent
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "<pdfxid:GTS_PDFXVersion>PDF/X-4</pdfxid:GTS_PDFXVersion>" in xmp


def test_press_pdf_keeps_images_at_full_resolution_and_embeds_fonts(outputs):
    _, _, files = outputs
    reader = PdfReader(files["press"])
    sizes = []
    for page in reader.pages:
        for xobject in (page["/Resources"].get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Subtype") == "/Image":
                sizes.append((xobject["/Width"], xobject["/Height"]))
            for font in (page["/Resources"].get("/Font") or {}).values():
                descendant = font.get_object().get("/DescendantFonts")
                descriptor = (descendant[0].get_object() if descendant else font.get_object())["/FontDescriptor"]
                assert "/FontFile2" in descriptor or "/FontFile3" in descriptor
    assert (1800, 900) in sizes


def test_reading_pdf_is_tagged_pdf_ua_with_language_labels_and_bookmarks(outputs):
    _, result, files = outputs
    reader = PdfReader(files["pdf"])
    root = reader.trailer["/Root"]
    assert reader.pdf_header == "%PDF-1.7"
    assert root["/MarkInfo"]["/Marked"]
    assert "/StructTreeRoot" in root
    assert root["/Lang"] == "en"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert 'pdfuaid:part="1"' in root["/Metadata"].get_object().get_data().decode()
    assert reader.page_labels == list(result.page_map.labels)
    assert [item["/Title"] for item in reader.outline if isinstance(item, dict)] == ["Contents", "One", "Two"]


def test_both_pdfs_pass_qpdf_structure_checks(outputs):
    _, _, files = outputs
    for path in files.values():
        with pikepdf.open(path) as pdf:
            assert pdf.check_pdf_syntax() == []


def test_two_builds_are_byte_identical(outputs, tmp_path):
    book, _, files = outputs
    again = build(book, tmp_path)
    for name, path in zip(("pdf", "press"), again.written, strict=True):
        assert path.read_bytes() == files[name].read_bytes(), name


def _content_instructions(pdf: pikepdf.Pdf):
    """Every instruction of every page's and form's content, with the page it is drawn on."""
    for number, page in enumerate(pdf.pages):
        for instruction in pikepdf.parse_content_stream(page):
            yield number, instruction
    for item in pdf.objects:
        if isinstance(item, pikepdf.Stream) and item.get("/Subtype") == "/Form":
            for instruction in pikepdf.parse_content_stream(item):
                yield None, instruction


def test_press_pdf_is_in_the_printing_conditions_cmyk_with_nothing_a_press_cannot_print(outputs):
    _, _, files = outputs
    with pikepdf.open(files["press"]) as pdf:
        intent = pdf.Root.OutputIntents[0]
        assert str(intent.OutputConditionIdentifier) == "CGATS TR 001"
        assert str(intent.RegistryName) == "http://www.color.org"
        profile = intent.DestOutputProfile
        assert int(profile.N) == 4 and profile.read_bytes()[12:20] == b"prtrCMYK"  # a CMYK printer profile
        assert all("/Annots" not in page.obj for page in pdf.pages)  # links are for screens
        assert "/StructTreeRoot" not in pdf.Root
        operators = {str(instruction.operator) for _, instruction in _content_instructions(pdf)
                     if isinstance(instruction, pikepdf.ContentStreamInstruction)}
        assert "rg" not in operators and "RG" not in operators and "k" in operators
        images = [item for item in pdf.objects if isinstance(item, pikepdf.Stream) and item.get("/Subtype") == "/Image"]
        assert images and all(str(image.ColorSpace) in ("/DeviceCMYK", "/DeviceGray") for image in images)
        assert all(str(page.obj.get("/Group", {}).get("/CS", "/DeviceCMYK")) == "/DeviceCMYK" for page in pdf.pages)


def test_press_pdf_prints_text_in_black_ink_alone(outputs):
    _, _, files = outputs
    with pikepdf.open(files["press"]) as pdf:
        fill, text_colours = None, set()
        for _, instruction in _content_instructions(pdf):
            if not isinstance(instruction, pikepdf.ContentStreamInstruction):
                continue
            if str(instruction.operator) == "k":
                fill = tuple(float(value) for value in instruction.operands)
            elif str(instruction.operator) in ("Tj", "TJ"):
                text_colours.add(fill)
        assert (0.0, 0.0, 0.0, 1.0) in text_colours  # the text's near-black: solid black ink
        assert all(colour is None or colour[:3] == (0.0, 0.0, 0.0) for colour in text_colours), text_colours


def test_press_marks_are_in_the_registration_colour_outside_the_bleed(outputs):
    _, _, files = outputs
    with pikepdf.open(files["press"]) as pdf:
        for page in pdf.pages:
            space = page.obj.Resources.ColorSpace.Registration
            assert [str(space[0]), str(space[1])] == ["/Separation", "/All"]
            drawn = [instruction for instruction in pikepdf.parse_content_stream(page)
                     if isinstance(instruction, pikepdf.ContentStreamInstruction)]
            strokes = [index for index, instruction in enumerate(drawn) if str(instruction.operator) == "CS"
                       and str(instruction.operands[0]) == "/Registration"]
            assert strokes
            bleed = [float(value) for value in page.obj.BleedBox]
            # every point the marks draw lies outside the bleed box
            points = [(float(i.operands[0]), float(i.operands[1])) for i in drawn[strokes[0]:]
                      if str(i.operator) in ("m", "l")]
            assert points and all(not (bleed[0] < x < bleed[2] and bleed[1] < y < bleed[3]) for x, y in points)


def test_press_pages_look_like_the_reading_pages(outputs, tmp_path):
    """Inside the trim, each press page at 110 dpi looks like the reading PDF's page: same layout,
    colours through the press profile."""
    from PIL import Image, ImageChops, ImageStat

    _, _, files = outputs
    trim = PdfReader(files["press"]).pages[0].trimbox
    media = PdfReader(files["press"]).pages[0].mediabox
    for name in ("pdf", "press"):
        subprocess.run(["pdftoppm", "-r", "110", "-gray", "-png", str(files[name]), str(tmp_path / name)], check=True)
    reading = sorted(tmp_path.glob("pdf-*.png"))
    press = sorted(tmp_path.glob("press-*.png"))
    assert len(reading) == len(press) >= 4
    scale = 110 / 72
    left = round((float(trim.left) - float(media.left)) * scale)
    top = round((float(media.top) - float(trim.top)) * scale)
    worst = 0.0
    for page, pressed in zip(reading, press, strict=True):
        before = Image.open(page).convert("L")
        after = Image.open(pressed).convert("L").crop((left, top, left + before.width, top + before.height))
        difference = ImageChops.difference(before, after)
        worst = max(worst, ImageStat.Stat(difference).mean[0])
    assert worst < 2.0, worst  # mean grey levels (of 255) apart


def test_pictures_too_coarse_for_print_or_press_are_located_warnings(outputs):
    _, result, _ = outputs
    coarse = {problem.location.line: problem.message for problem in result.warnings if "ppi" in problem.message}
    assert "'photo.png' (1800×900 pixels) prints at 401 ppi" not in str(coarse)
    assert set(coarse) == {7}, coarse  # the small one (about 89 ppi), not the photo
    assert "'small.png' (400×200 pixels) prints at" in coarse[7] and "look blurred" in coarse[7]


GHOSTSCRIPT_ICC = Path("/usr/share/color/icc/ghostscript")


def test_a_book_may_bring_its_press_profile_and_name_its_printing_condition(make_book, tmp_path):
    cmyk = (GHOSTSCRIPT_ICC / "default_cmyk.icc").read_bytes()
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [press]\n"
                                   "page: {colour: press.icc, condition: FOGRA39}\n",
                      "01.md": "# One\n\nText.\n", "press.icc": cmyk})
    with pikepdf.open(build(book, tmp_path / "out").written[0]) as pdf:
        intent = pdf.Root.OutputIntents[0]
        assert str(intent.OutputConditionIdentifier) == "FOGRA39" and intent.DestOutputProfile.read_bytes() == cmyk
    screen = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [press]\npage: {colour: screen.icc}\n",
                        "01.md": "# One\n\nText.\n", "screen.icc": (GHOSTSCRIPT_ICC / "srgb.icc").read_bytes()})
    with pytest.raises(LimbagError) as raised:
        build(screen, tmp_path / "screen")
    assert "book.yaml:4: page.colour: screen.icc is not a CMYK printer profile" in raised.value.format_message()
