"""The one place that uses the layout engine's insides: WeasyPrint 70, pinned in pyproject.toml.

Limbag lays a book out part by part and keeps WeasyPrint's layout context to make margin boxes
again for another first folio, spares the engine repeated work on footnotes and leaders, and
reads where each piece of text landed. None of that is the engine's public API, so it lives
here, written against one major version (`SUPPORTED`), which a build checks before it starts
(`check_version`); everything else uses the public API only. A new engine version means reading
this module against the engine's changes, then widening `SUPPORTED` and the pin together.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Container, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .errors import LimbagError

SUPPORTED = range(70, 71)
"""WeasyPrint's major versions this module was written against (pyproject.toml: weasyprint>=70,<71)."""


def load_engine() -> None:
    """Import the layout engine without the compiler and `ldconfig` runs it would cost.

    The engine opens its libraries by trying a list of names for every platform; for a name that
    is not a file name (`libharfbuzz-0`, `harfbuzz`), cffi asks `ctypes.util.find_library`, which on
    Linux runs `ldconfig -p` and then the C compiler for each name it misses: some 40 processes and a
    quarter of a second in every process that loads the engine. Every list holds the Linux soname
    (`libharfbuzz.so.0`), which the dynamic loader finds itself, so while the engine loads,
    `find_library` answers "not found" at once. If the engine then cannot load, it loads again
    with the search restored."""
    if "weasyprint" in sys.modules or not sys.platform.startswith("linux"):
        return
    import ctypes.util

    searching = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        import weasyprint  # noqa: F401
    except OSError:  # a library known here only by another name: the engine's own search finds it
        for name in [module for module in sys.modules if module == "weasyprint" or module.startswith("weasyprint.")]:
            del sys.modules[name]
    finally:
        ctypes.util.find_library = searching


def check_version() -> None:
    """A clear message, before any layout, when the installed engine is not one this module knows;
    then the engine is loaded (see load_engine)."""
    try:
        installed = version("weasyprint")
    except PackageNotFoundError:
        installed = None
    major = installed.split(".")[0] if installed else ""
    if not (major.isdigit() and int(major) in SUPPORTED):
        wanted = f"weasyprint>={SUPPORTED.start},<{SUPPORTED.stop}"
        raise LimbagError(f"Limbag needs WeasyPrint {SUPPORTED.start}, and "
                          f"{'WeasyPrint ' + installed if installed else 'no WeasyPrint'} is installed",
                          hint=f"run: python -m pip install '{wanted}'")
    load_engine()


def render(html: Any, stylesheets: list[Any], font_config: Any) -> tuple[Any, Any]:
    """What `HTML.render` does, keeping the layout context (see `renumber`), with each footnote laid
    out once per page (see `stack_footnotes`)."""
    from weasyprint import DEFAULT_OPTIONS
    from weasyprint.css.counters import CounterStyle
    from weasyprint.document import Document, DocumentMetadata, Page
    from weasyprint.formatting_structure.build import build_formatting_structure
    from weasyprint.html import get_html_metadata
    from weasyprint.layout import layout_document

    options = {**DEFAULT_OPTIONS, "stylesheets": stylesheets}
    counter_style = CounterStyle()
    context = Document._build_layout_context(html, font_config, counter_style, {}, options)
    root = build_formatting_structure(html.etree_element, context.style_for, context.get_image_from_uri,
                                      html.base_url, context.target_collector, counter_style, context.footnotes)
    stack_footnotes(context)
    pages = [Page(box) for box in layout_document(html, root, context)]
    document = Document(pages, DocumentMetadata(**get_html_metadata(html)), html.url_fetcher, font_config, {},
                        options["output_intent"])
    document._html = html
    return document, context


@dataclass(frozen=True, slots=True)
class _FootnoteStack:
    """A page's footnote area with the notes laid out in it so far (see stack_footnotes)."""

    area: Any
    notes: tuple[Any, ...]
    heights: tuple[float, ...]
    min_height: float
    max_height: float
    below: float
    """The area's bottom padding and border: notes may reach into them without overflowing."""


def stack_footnotes(context: Any) -> None:
    """Lay out only the footnote added to a page, not the page's whole footnote area again.

    The engine lays out every footnote of the page each time one is added (or moved on), so a
    page with n notes lays out n(n+1)/2 of them: a fifth of a chapter's layout in a book with
    notes. Block footnotes without vertical margins stack: the area is as tall as their heights
    added up, so each note is laid out once per page. For other footnotes (inline, with margins)
    the engine's own way is kept, for the rest of the part."""
    from weasyprint.formatting_structure.boxes import BlockBox
    from weasyprint.formatting_structure.build import create_anonymous_boxes
    from weasyprint.layout.block import block_level_layout

    engine_update = context._update_footnote_area
    stacks: dict[int, _FootnoteStack] = {}
    """By footnote area (one a page; the stack keeps its area, so the id stays that area's)."""

    def lay_out_area(area: Any, notes: list[Any]) -> Any:
        return block_level_layout(context, create_anonymous_boxes(area.copy_with_children(
            [note.deepcopy() for note in notes])), -math.inf, None, area.page)[0]

    def stacked(area: Any, notes: list[Any]) -> _FootnoteStack | None:
        """The area's notes laid out, the new ones only; None if they do not simply stack."""
        if not all(isinstance(note, BlockBox) for note in notes):
            return None
        known = stacks.get(id(area))
        kept = 0
        if known is not None:
            while kept < min(len(known.notes), len(notes)) and known.notes[kept] is notes[kept]:
                kept += 1
        if known is not None and kept == len(notes):
            return dataclasses.replace(known, notes=tuple(notes), heights=known.heights[:kept])
        laid = lay_out_area(area, notes[kept:])
        if len(laid.children) != len(notes) - kept or any(child.margin_top or child.margin_bottom
                                                         for child in laid.children):
            return None
        heights = (known.heights[:kept] if known else ()) + tuple(child.margin_height() for child in laid.children)
        return _FootnoteStack(area, tuple(notes), heights, laid.min_height, laid.max_height,
                              laid.padding_bottom + laid.border_bottom_width)

    def update() -> bool:
        area = context.current_footnote_area
        notes = context.current_page_footnotes
        if not notes:
            stacks.pop(id(area), None)
            return bool(engine_update())
        stack = stacked(area, notes)
        if stack is None:  # the engine's way from now on, for this part
            context._update_footnote_area = engine_update
            return bool(engine_update())
        stacks[id(area)] = stack
        if area.height != "auto" and not context.in_column:
            context.page_bottom += area.margin_height()
        area.children = notes
        content = sum(stack.heights)
        area.height = max(min(content, stack.max_height), stack.min_height)
        if not context.in_column:
            context.page_bottom -= area.margin_height()
        return content > area.height + stack.below

    context._update_footnote_area = update


def merge_leaders(document: Any, context: Any) -> None:
    """Make each leader (the dots of a contents line) one run of text.

    The engine fills a leader with copies of its text, one box each, which it shapes and writes
    one by one: 3,000 boxes in a 30-chapter book's contents, more than half the time it takes to
    write the front matter. One run of the same dots, shaped once, stands where the copies stood
    (within a twentieth of a point)."""
    from weasyprint.formatting_structure.boxes import ParentBox, TextBox
    from weasyprint.text.line_break import split_first_line

    boxes = [page._page_box for page in document.pages]
    while boxes:
        box = boxes.pop()
        if not isinstance(box, ParentBox):
            continue
        copies = box.children
        if not (box.is_leader and len(copies) > 1 and all(isinstance(copy, TextBox) for copy in copies)):
            boxes.extend(copies)
            continue
        first = min(copies, key=lambda copy: copy.position_x)
        text = first.text * len(copies)
        layout, _, _, width, _, _ = split_first_line(text, first.style, context, math.inf, 0)
        run = first.copy()
        run.text, run.pango_layout, run.width = text, layout, width
        box.children = (run,)


def renumber(document: Any, context: Any, shift: int) -> None:
    """Add `shift` to the page counter of every page and make the margin boxes (running heads,
    folios) again from it; the rest of each page stays as it was laid out."""
    from weasyprint.formatting_structure.boxes import MarginBox
    from weasyprint.layout.background import layout_box_backgrounds
    from weasyprint.layout.page import make_margin_boxes

    for number, page in enumerate(document.pages, start=1):
        box = page._page_box
        state = context.page_maker[number][3]
        counters = state[1]
        counters["page"] = [value + shift for value in counters["page"]]
        context.current_page = number
        kept = tuple(child for child in box.children if not isinstance(child, MarginBox))
        margins = tuple(make_margin_boxes(context, box, state))
        for margin in margins:
            layout_box_backgrounds(box, margin, context.get_image_from_uri)
        box.children = kept + margins


@dataclass(frozen=True, slots=True)
class PlacedText:
    """A piece of text as the layout set it on a page."""

    text: str
    owner: str | None
    """The innermost element it stands in whose id is one of those asked about."""
    in_flow: bool
    """False in a footnote area."""
    box: tuple[float, float, float, float]
    """x, y, width and height of the piece."""


def placed_texts(page: Any, owners: Container[str]) -> Iterator[PlacedText]:
    """The page's text, piece by piece in the order the layout set it, without its margin boxes
    (running heads, folios) and generated text (`::marker`, `::before`)."""
    from weasyprint.formatting_structure import boxes

    def walk(box: Any, owner: str | None, in_flow: bool) -> Iterator[PlacedText]:
        if isinstance(box, boxes.MarginBox) or "::" in (box.element_tag or ""):
            return
        if isinstance(box, boxes.FootnoteAreaBox):
            in_flow = False
        element_id = box.element.get("id") if box.element is not None else None
        if element_id in owners:
            owner = element_id
        if isinstance(box, boxes.TextBox):
            yield PlacedText(box.text, owner, in_flow, (box.position_x, box.position_y, box.width, box.height))
            return
        for child in getattr(box, "children", ()) or ():
            yield from walk(child, owner, in_flow)

    yield from walk(page._page_box, None, True)
