"""Saddle-stitch imposition: the book's pages, two to a side of a landscape sheet, in the order that
prints double-sided (flip on the short edge), folds and staples into the book.

`booklet_order` is pure arithmetic; `impose` places each page once as a form XObject and draws it
where the order says, so imposing a long book copies no page content.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    RectangleObject,
    StreamObject,
)

from .config import BookletSettings

MM = 72 / 25.4


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a sheet: the page on the left half and on the right (None: left blank)."""

    left: int | None
    right: int | None
    sheet: int
    """0 for the outermost sheet (the covers), counting inward."""


def padded_order(page_count: int) -> list[int | None]:
    """The book's pages padded to a multiple of four, the blanks placed before the back cover."""
    pages: list[int | None] = list(range(page_count))
    blanks = (-page_count) % 4
    if page_count > 1:
        return pages[:-1] + [None] * blanks + pages[-1:]
    return pages + [None] * blanks


def booklet_order(page_count: int) -> list[Side]:
    """Front and back of each sheet, outermost sheet first.

    Sheet k carries pages (n-1-2k, 2k) on its front and (2k+1, n-2-2k) on its back, where n is the
    padded count: printed duplex flipping on the short edge, the stack folds into reading order.
    """
    pages = padded_order(page_count)
    n = len(pages)
    sides: list[Side] = []
    for sheet in range(n // 4):
        sides.append(Side(pages[n - 1 - 2 * sheet], pages[2 * sheet], sheet))
        sides.append(Side(pages[2 * sheet + 1], pages[n - 2 - 2 * sheet], sheet))
    return sides


def _page_as_form(writer: PdfWriter, page: PageObject) -> tuple[object, float, float, float, float]:
    """A source page as a form XObject in the writer (its content is copied once, still compressed)."""
    box = page.mediabox
    raw = page.get("/Contents")
    raw = raw.get_object() if raw is not None else None
    form = StreamObject()
    if isinstance(raw, StreamObject) and "/Filter" in raw and not isinstance(raw, DecodedStreamObject):
        form._data = raw._data  # one compressed stream: keep its bytes as they are
        form[NameObject("/Filter")] = raw["/Filter"]
        if "/DecodeParms" in raw:
            form[NameObject("/DecodeParms")] = raw["/DecodeParms"]
    else:
        contents = page.get_contents()
        form = DecodedStreamObject()
        form.set_data(contents.get_data() if contents is not None else b"")
        form = form.flate_encode()
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    form[NameObject("/BBox")] = RectangleObject(box)
    resources = page.get("/Resources")
    if resources is not None:
        form[NameObject("/Resources")] = resources.get_object().clone(writer)
    return (writer._add_object(form), float(box.left), float(box.bottom), float(box.width), float(box.height))


def impose(pdf: bytes, settings: BookletSettings, title: str | None = None) -> bytes:
    """The booklet PDF: every sheet side with its two pages scaled to fit their halves, against the fold."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    forms = [_page_as_form(writer, page) for page in reader.pages]
    sheet_width = max(settings.sheet_width_mm, settings.sheet_height_mm) * MM  # landscape
    sheet_height = min(settings.sheet_width_mm, settings.sheet_height_mm) * MM
    half = sheet_width / 2
    for side in booklet_order(len(reader.pages)):
        page = writer.add_blank_page(sheet_width, sheet_height)
        drawing: list[str] = []
        xobjects = DictionaryObject()
        # Inner sheets stick out at the fore-edge once folded: move their pages toward the fold.
        creep = settings.creep_mm * MM * side.sheet
        for slot, index in (("L", side.left), ("R", side.right)):
            if index is None:
                continue
            form, left, bottom, width, height = forms[index]
            scale = min(half / width, sheet_height / height, 1.0)
            x = (half - width * scale + creep) if slot == "L" else (half - creep)
            y = (sheet_height - height * scale) / 2
            name = f"/P{slot}"
            xobjects[NameObject(name)] = form
            drawing.append(f"q {scale:.6f} 0 0 {scale:.6f} {x - left * scale:.3f} {y - bottom * scale:.3f} cm {name} Do Q")
        mark = 5 * MM  # a short fold mark at the top and bottom of the fold, outside most page content
        drawing.append(f"q 0.5 w 0.4 G [2 2] 0 d {half:.3f} 0 m {half:.3f} {mark:.3f} l S "
                       f"{half:.3f} {sheet_height - mark:.3f} m {half:.3f} {sheet_height:.3f} l S Q")
        content = DecodedStreamObject()
        content.set_data("\n".join(drawing).encode())
        page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): xobjects})
    if title:
        writer.add_metadata({"/Title": title, "/Creator": "Limbag"})
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()

