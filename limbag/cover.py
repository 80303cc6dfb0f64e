"""The covers: their geometry on the full-wrap sheet, the ISBN's bar code, the print-on-demand stocks
and sizes, the guides layer, and the front cover as a picture for the e-book."""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from types import MappingProxyType

MM = 72 / 25.4
INCH_MM = 25.4

PAPER_THICKNESS_MM = MappingProxyType({
    # Amazon KDP's paperback cover calculator: the spine is the page count times 0.002252 in on
    # white paper, 0.0025 in on cream and 0.002347 in on colour paper, with nothing added for the
    # cover board. Lulu and IngramSpark publish their own figures within some 10% of these.
    "white": 0.002252 * INCH_MM,
    "cream": 0.0025 * INCH_MM,
    "colour": 0.002347 * INCH_MM,
})
"""The thickness of one page (half a leaf) of the common print-on-demand stocks, by name."""

SPINE_TEXT_MIN_PAGES = 79
"""KDP prints text on the spine of a paperback of 79 pages or more (about 4.5 mm on white paper);
a thinner spine stays plain."""
PERFECT_BINDING_MIN_PAGES = 24
"""The fewest pages KDP binds as a paperback."""
COVER_BLEED_MM = 0.125 * INCH_MM
"""The bleed the services ask around a full-wrap cover, when the book sets none."""
SAFE_MARGIN_MM = 0.25 * INCH_MM
"""Text and bar codes stay this far inside the trim (KDP asks 0.125 in; a quarter inch leaves
room for the trimming of any of the services)."""
SPINE_MARGIN_MM = 0.0625 * INCH_MM
"""KDP keeps spine text this far from each fold."""
PRICE_CODE = re.compile(r"\d{5}")
"""An EAN-5 add-on: the currency digit and four of price, as book trade bar codes carry them."""


def spine_width_mm(pages: int, paper_mm: float) -> float:
    """The spine of a paperback of `pages` pages, each `paper_mm` thick (see PAPER_THICKNESS_MM)."""
    return pages * paper_mm


@dataclass(frozen=True, slots=True)
class Panel:
    """A rectangle of a cover sheet, in millimetres from its top left corner, and the padding that
    keeps its text in the safe zone."""

    name: str
    x: float
    y: float
    width: float
    height: float
    padding: tuple[float, float, float, float]
    """Top, right, bottom, left."""


@dataclass(frozen=True, slots=True)
class CoverSheet:
    """A sheet with covers on it: one cover on a page of the book, or back, spine and front on the
    full-wrap cover. All lengths in millimetres."""

    trim_width: float
    trim_height: float
    spine: float = 0.0
    bleed: float = 0.0
    wrap: bool = False
    spine_text: bool = False

    @property
    def width(self) -> float:
        return (2 * self.trim_width + self.spine if self.wrap else self.trim_width) + 2 * self.bleed

    @property
    def height(self) -> float:
        return self.trim_height + 2 * self.bleed

    @property
    def spine_x(self) -> float:
        """Where the spine begins (the back cover's fold)."""
        return self.bleed + self.trim_width

    def panels(self) -> dict[str, Panel]:
        """The back, spine and front panels of a wrap; or the one panel of a cover page, under both names."""
        b, w, h, safe = self.bleed, self.trim_width, self.trim_height, SAFE_MARGIN_MM
        if not self.wrap:
            page = Panel("page", 0.0, 0.0, w, h, (safe, safe, safe, safe))
            return {"front": page, "back": page}
        return {
            "back": Panel("back", 0.0, 0.0, b + w, h + 2 * b, (b + safe, safe, b + safe, b + safe)),
            "spine": Panel("spine", self.spine_x, 0.0, self.spine, h + 2 * b,
                           (b + safe, SPINE_MARGIN_MM, b + safe, SPINE_MARGIN_MM)),
            "front": Panel("front", self.spine_x + self.spine, 0.0, w + b, h + 2 * b, (b + safe, b + safe, b + safe, safe)),
        }


def isbn_bar_code(isbn: str, price: str | None) -> tuple[str, tuple[float, float]]:
    """The ISBN as an EAN-13 bar code (the ISBN written above it, the add-on for the price beside it
    when `price` is given), drawn by ReportLab as SVG: a data: URL, and its size in millimetres at
    100% of the EAN-13 nominal size. ReportLab draws the book trade's symbol, add-on included,
    which the smaller bar code libraries do not."""
    from reportlab.graphics import renderSVG
    from reportlab.graphics.barcode.eanbc import ISBNBarcodeWidget
    from reportlab.graphics.shapes import Drawing

    digits = re.sub(r"\D", "", isbn)
    widget = ISBNBarcodeWidget(digits[:12], price=price or False)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(right - left, top - bottom)
    drawing.add(widget)
    svg = renderSVG.drawToString(drawing)
    svg = svg[svg.index("<svg"):]
    # ReportLab cuts the ISBN into fixed groups (978-9-71000-…); the groups depend on the agency and
    # the publisher, so the line above the bar code reads as book.yaml writes the ISBN.
    fixed = "-".join((digits[0:3], digits[3:4], digits[4:9], digits[9:12], digits[12]))
    svg = svg.replace(f">ISBN {fixed}<", f">ISBN {html.escape(isbn.strip())}<")
    # The digits in the layouts' text face, which every build has: ReportLab names Helvetica, which
    # the engine would take from whatever the system has (and so differ from machine to machine).
    svg = svg.replace("font-family: Helvetica", "font-family: 'Gentium Book Plus'")
    svg = re.sub(r'viewBox="[^"]*"', f'viewBox="0 0 {right - left:.3f} {top - bottom:.3f}"', svg, count=1)
    url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    return url, ((right - left) / MM, (top - bottom) / MM)


def add_guides(pdf: bytes, sheet: CoverSheet) -> bytes:
    """The full-wrap cover with its guides (the folds of the spine, the trim and the safe zones) on
    an optional layer named "Guides", hidden and not printed unless a viewer turns it on."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        page = document.pages[0]
        layer = document.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.OCG, Name=pikepdf.String("Guides")))
        document.Root.OCProperties = pikepdf.Dictionary(
            OCGs=pikepdf.Array([layer]),
            D=pikepdf.Dictionary(Name=pikepdf.String("Print"), OFF=pikepdf.Array([layer]), Order=pikepdf.Array([layer])),
        )
        if "/Resources" not in page.obj:
            page.obj.Resources = pikepdf.Dictionary()
        if "/Properties" not in page.obj.Resources:
            page.obj.Resources.Properties = pikepdf.Dictionary()
        page.obj.Resources.Properties.Guides = layer
        height = sheet.height

        def rect(x: float, y: float, width: float, tall: float) -> str:
            return f"{x * MM:.3f} {(height - y - tall) * MM:.3f} {width * MM:.3f} {tall * MM:.3f} re S"

        b, safe = sheet.bleed, SAFE_MARGIN_MM
        lines = ["/OC /Guides BDC q 0.3 w 0 1 0 0 K",  # magenta: the trim and the folds
                 rect(b, b, sheet.width - 2 * b, sheet.trim_height)]
        for x in (sheet.spine_x, sheet.spine_x + sheet.spine):
            lines.append(f"{x * MM:.3f} 0 m {x * MM:.3f} {height * MM:.3f} l S")
        lines.append("[2 2] 0 d 1 0 0 0 K")  # cyan, dashed: the safe zones
        for x in (b + safe, sheet.spine_x + sheet.spine + safe):
            lines.append(rect(x, b + safe, sheet.trim_width - 2 * safe, sheet.trim_height - 2 * safe))
        if sheet.spine > 2 * SPINE_MARGIN_MM:
            lines.append(rect(sheet.spine_x + SPINE_MARGIN_MM, b + safe, sheet.spine - 2 * SPINE_MARGIN_MM,
                              sheet.trim_height - 2 * safe))
        lines.append("Q EMC")
        page.contents_add(document.make_stream("\n".join(lines).encode()), prepend=False)
        output = io.BytesIO()
        document.save(output, deterministic_id=True, compress_streams=True,
                      object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return output.getvalue()


def set_trim(pdf: bytes, sheet: CoverSheet) -> bytes:
    """The trim and bleed boxes of a sheet laid out at its full size, bleed included."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            left, bottom, right, top = (float(value) for value in page.mediabox)
            inset = sheet.bleed * MM
            page.obj.TrimBox = pikepdf.Array([left + inset, bottom + inset, right - inset, top - inset])
            page.obj.BleedBox = pikepdf.Array([left, bottom, right, top])
        output = io.BytesIO()
        document.save(output, deterministic_id=True, compress_streams=True,
                      object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return output.getvalue()


COVER_PICTURE_HEIGHT = 1600
"""Pixels: what e-book stores and reading systems ask of a cover (1600 × 2560 at most, 1000 wide at least)."""


def front_cover_picture(pdf: bytes) -> bytes:
    """The first page of `pdf` (the laid-out front cover) as a PNG picture, for the e-book; drawn
    by PDFium, the renderer of Chromium, which draws the same pixels for the same file."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        page = document[0]
        scale = COVER_PICTURE_HEIGHT / page.get_height()
        image = page.render(scale=scale).to_pil().convert("RGB")
        page.close()
    finally:
        document.close()
    output = io.BytesIO()
    image.save(output, "PNG")  # optimize=True: 4% smaller, three times as long
    return output.getvalue()
