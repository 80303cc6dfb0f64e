"""Saddle-stitch imposition: the book's pages, two to a side of a landscape sheet, in the order that
prints double-sided (flip on the short edge), folds and staples into the book.

`booklet_order` is pure arithmetic; `impose` places each page once as a form XObject and draws it
where the order says, so imposing a long book copies no page content.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pikepdf

from .config import BookletSettings
from .cover import PERFECT_BINDING_MIN_PAGES
from .errors import Location, Problem

MM = 72 / 25.4


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a sheet: the page on the left half and on the right (None: left blank)."""

    left: int | None
    right: int | None
    sheet: int
    """0 for the outermost sheet (the covers), counting inward."""


SADDLE_STITCH_PAGES = 64
"""The most pages a saddle-stitched booklet folds and staples well (16 sheets of office paper);
print shops' guides put the limit between 48 and 80, by the paper's weight."""


def binding_problem(page_count: int, where: Location) -> Problem | None:
    """A warning when a booklet has too many pages to fold and staple."""
    if page_count <= SADDLE_STITCH_PAGES:
        return None
    sheets = (page_count + 3) // 4
    return Problem(where, f"the booklet has {page_count} pages ({sheets} sheets folded together): more than "
                   f"{SADDLE_STITCH_PAGES} pages do not fold flat or staple well",
                   "print it in parts of up to 64 pages, or bind the reading PDF instead")


def perfect_binding_problem(interior_pages: int, where: Location) -> Problem | None:
    """A warning when a paperback has fewer pages than print-on-demand services bind."""
    if interior_pages >= PERFECT_BINDING_MIN_PAGES:
        return None
    return Problem(where, f"the book has {interior_pages} pages between its covers: print-on-demand services bind "
                   f"a paperback from {PERFECT_BINDING_MIN_PAGES} pages", "print it as a booklet (saddle stitch), "
                   "or add pages (blank pages count)")


def padded_order(page_count: int, back_cover: int = 0) -> list[int | None]:
    """The book's pages padded to a multiple of four with blank pages after the last page of text:
    the book reads straight through. Without a back cover the outside back page stays blank; with
    one (its last `back_cover` pages: the inside of the back cover and the back cover) the padding
    goes before them, so that the back cover is the outside back page."""
    text = page_count - back_cover
    return [*range(text), *[None] * ((-page_count) % 4), *range(text, page_count)]


def booklet_order(page_count: int, back_cover: int = 0) -> list[Side]:
    """Front and back of each sheet, outermost sheet first.

    Sheet k carries pages (n-1-2k, 2k) on its front and (2k+1, n-2-2k) on its back, where n is the
    padded count: printed duplex flipping on the short edge, the stack folds into reading order.
    """
    pages = padded_order(page_count, back_cover)
    n = len(pages)
    sides: list[Side] = []
    for sheet in range(n // 4):
        sides.append(Side(pages[n - 1 - 2 * sheet], pages[2 * sheet], sheet))
        sides.append(Side(pages[2 * sheet + 1], pages[n - 2 - 2 * sheet], sheet))
    return sides


def _page_as_form(booklet: pikepdf.Pdf, page: pikepdf.Page) -> pikepdf.Stream:
    """A source page as a form XObject in the booklet; a page's one compressed content stream is
    taken as it is, without decompressing it."""
    contents = page.obj.get("/Contents")
    if isinstance(contents, pikepdf.Stream) and contents.get("/Filter") == pikepdf.Name.FlateDecode \
            and "/DecodeParms" not in contents:
        form = pikepdf.Stream(booklet, b"")
        form.write(contents.read_raw_bytes(), filter=pikepdf.Name.FlateDecode)
    else:
        streams = [] if contents is None else [contents] if isinstance(contents, pikepdf.Stream) else list(contents)
        form = booklet.make_stream(b"\n".join(stream.read_bytes() for stream in streams))
    form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
    form.BBox = pikepdf.Array([float(value) for value in page.mediabox])
    if "/Resources" in page.obj:
        form.Resources = booklet.copy_foreign(page.obj.Resources)
    return form


def impose(pdf: bytes, settings: BookletSettings, title: str | None = None, back_cover: int = 0) -> bytes:
    """The booklet PDF: every sheet side with its two pages scaled to fit their halves, against the fold.

    qpdf (through pikepdf) makes each page a form XObject once, copying its content stream and
    resources as they are (still compressed) rather than parsing the book; a 150-page book is
    imposed in a few hundredths of a second."""
    with pikepdf.open(io.BytesIO(pdf)) as source:
        booklet = pikepdf.new()
        forms = []
        for page in source.pages:
            left, bottom, right, top = (float(value) for value in page.mediabox)
            forms.append((_page_as_form(booklet, page), left, bottom, right - left, top - bottom))
        sheet_width = max(settings.sheet_width_mm, settings.sheet_height_mm) * MM  # landscape
        sheet_height = min(settings.sheet_width_mm, settings.sheet_height_mm) * MM
        half = sheet_width / 2
        for side in booklet_order(len(source.pages), back_cover):
            drawing: list[str] = []
            xobjects = pikepdf.Dictionary()
            # Inner sheets stick out at the fore-edge once folded: move their pages toward the fold.
            creep = settings.creep_mm * MM * side.sheet
            for slot, index in (("L", side.left), ("R", side.right)):
                if index is None:
                    continue
                form, left, bottom, width, height = forms[index]
                scale = min(half / width, sheet_height / height, 1.0)
                x = (half - width * scale + creep) if slot == "L" else (half - creep)
                y = (sheet_height - height * scale) / 2
                xobjects[f"/P{slot}"] = form
                drawing.append(f"q {scale:.6f} 0 0 {scale:.6f} {x - left * scale:.3f} {y - bottom * scale:.3f} cm "
                               f"/P{slot} Do Q")
            mark = 5 * MM  # a short fold mark at the top and bottom of the fold, outside most page content
            drawing.append(f"q 0.5 w 0.4 G [2 2] 0 d {half:.3f} 0 m {half:.3f} {mark:.3f} l S "
                           f"{half:.3f} {sheet_height - mark:.3f} m {half:.3f} {sheet_height:.3f} l S Q")
            page = booklet.add_blank_page(page_size=(sheet_width, sheet_height))
            page.obj.Contents = booklet.make_stream("\n".join(drawing).encode())
            page.obj.Resources = pikepdf.Dictionary(XObject=xobjects)
        if title:
            booklet.docinfo["/Title"] = title
            booklet.docinfo["/Creator"] = "Limbag"
        output = io.BytesIO()
        # The pages carry the book's features (transparency, …): the booklet says the book's version.
        booklet.save(output, deterministic_id=True, compress_streams=True, min_version=source.pdf_version,
                     object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return output.getvalue()
