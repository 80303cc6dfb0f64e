"""A print shop receives a PDF/X with true trim and bleed boxes; readers get a tagged PDF/UA."""

from __future__ import annotations

import pikepdf
import pytest
from pypdf import PdfReader

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
    "images/photo.png": png_image(1200, 600),
    "01.md": "# One\n\nText with a figure.\n\n![A photo](images/photo.png)\n",
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
    assert (1200, 600) in sizes


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
