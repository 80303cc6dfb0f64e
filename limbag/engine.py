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
import itertools
import math
import re
import sys
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import PosixPath
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
    if engine_loaded() or not sys.platform.startswith("linux"):
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


def engine_loaded() -> bool:
    """True once this process has imported the engine."""
    return "weasyprint" in sys.modules


ENGINE_PARSED = re.compile(r"<(?:template|noscript|math)\b", re.IGNORECASE)
"""Elements Lexbor reads otherwise than the engine's parser (a template's content apart, a
noscript's as a scripting browser reads it), or whose children's namespaces `parsed_tree` would
have to work out by MathML's rules: HTML holding one is left to the engine's parser."""
FOREIGN_ATTRIBUTES = {
    **{f"xlink:{name}": f"{{http://www.w3.org/1999/xlink}}{name}"
       for name in ("actuate", "arcrole", "href", "role", "show", "title", "type")},
    "xml:lang": "{http://www.w3.org/XML/1998/namespace}lang",
    "xml:space": "{http://www.w3.org/XML/1998/namespace}space",
    "xmlns": "{http://www.w3.org/2000/xmlns/}xmlns",
    "xmlns:xlink": "{http://www.w3.org/2000/xmlns/}xlink",
}
"""Attributes of SVG and MathML elements, as the engine's parser names them in its tree."""
SVG = "{http://www.w3.org/2000/svg}"
SVG_HOLDING_HTML = frozenset({f"{SVG}foreignObject", f"{SVG}desc", f"{SVG}title"})
"""SVG elements whose child elements are HTML ones."""


def html_document(html: str, base_url: str | None, url_fetcher: Any) -> Any:
    """The engine's `HTML` of `html`, its tree read by Lexbor rather than by the engine's parser.

    Both follow the HTML standard's parsing rules and make the same tree (see `parsed_tree`), but
    the engine's parser is written in Python and takes a fifth of a second for the chronology of a
    30-chapter book; Lexbor, in C, takes some 5 ms. That is 4% of a build's processor time, and it
    falls on the back matter, which the whole build waits for."""
    from weasyprint import HTML

    tree = parsed_tree(html)
    if tree is None:
        return HTML(string=html, base_url=base_url, url_fetcher=url_fetcher)
    import cssselect2
    from weasyprint import _find_base_url

    document = HTML.__new__(HTML)  # what HTML.__init__ does once its parser has made the tree
    document.base_url = _find_base_url(tree, base_url)
    document.url_fetcher = url_fetcher
    document.media_type = "print"
    document.wrapper_element = cssselect2.ElementWrapper.from_html_root(tree, content_language=None)
    document.etree_element = document.wrapper_element.etree_element
    return document


def parsed_tree(html: str) -> Any:
    """The `html` element of `html`, as an ElementTree element shaped as the engine's parser shapes
    it (HTML elements without a namespace, SVG and MathML ones with theirs, comments kept); None
    for HTML that only the engine's parser should read (ENGINE_PARSED)."""
    if ENGINE_PARSED.search(html):
        return None
    from xml.etree.ElementTree import Comment, Element

    from selectolax.lexbor import LexborHTMLParser

    def element(node: Any, namespace: str) -> Any:
        attributes = {FOREIGN_ATTRIBUTES.get(name, name) if namespace else name: "" if value is None else value
                      for name, value in node.attributes.items()}
        return Element(namespace + node.tag, attributes)

    root = LexborHTMLParser(html).root
    if root is None:
        return None
    top = element(root, "")
    # Depth first without recursion: a manuscript may nest blocks deeper than Python's stack.
    stack = [(root.child, top, "")]
    while stack:
        node, parent, namespace = stack.pop()
        while node is not None:
            tag = node.tag or ""
            if tag == "-text":
                text = node.text_content or ""
                if len(parent):
                    parent[-1].tail = (parent[-1].tail or "") + text
                else:
                    parent.text = (parent.text or "") + text
            elif tag == "-comment":
                written = node.html or ""  # the comment's text as it stands (Lexbor's own is stripped)
                if not (written.startswith("<!--") and written.endswith("-->")):
                    return None
                parent.append(Comment(written[4:-3]))
            elif tag.startswith("-"):  # a node the engine's parser does not make (CDATA in SVG)
                return None
            else:
                if parent.tag in SVG_HOLDING_HTML:
                    namespace = ""
                inner = namespace or (SVG if tag == "svg" else "")
                child = element(node, inner)
                parent.append(child)
                if node.child is not None:
                    stack.append((node.next, parent, namespace))
                    node, parent, namespace = node.child, child, inner
                    continue
            node = node.next
    return top


SVG_PATHS_KEPT = 4096
"""Paths `draw_svg_once` keeps drawn, at most (a glyph's path is a few kilobytes)."""

SVG_DRAWINGS_KEPT = 8192
"""Whole drawings `draw_svg_once` keeps, at most (a formula's is some ten kilobytes)."""

PLAIN_SVG_TAGS = frozenset({"svg", "symbol", "use", "g", "defs", "path", "rect", "line", "polyline", "polygon",
                            "circle", "ellipse"})
PLAIN_SVG_ATTRIBUTES = frozenset({"xmlns", "width", "height", "viewBox", "id", "href", "x", "y", "x1", "y1", "x2",
                                  "y2", "cx", "cy", "r", "rx", "ry", "d", "points", "fill", "stroke", "stroke-width",
                                  "transform"})
"""A drawing made only of these, with colours that are not references (`url(…)`), draws the same
operators wherever it is placed and adds no resource to the page (see `draw_svg_once`)."""


def draw_svg_once() -> None:
    """Draw each SVG path, and each plain SVG picture, once per process; then repeat the drawing.

    A formula is an SVG picture of its glyphs' outlines. The engine parses each outline's path data
    and each picture's elements, and writes them out, every time a glyph or a formula is drawn:
    two thirds of the time it takes to write a chapter dense with math. A path's drawing depends
    only on its data (placement is the transformation around it), and so does a plain picture's
    (shapes filled with plain colours, see PLAIN_SVG_TAGS) given its size and the colour and
    opacity in force where it is drawn, so the operators written the first time are written again."""
    import weasyprint.images
    import weasyprint.svg

    engine_path = weasyprint.svg.TAGS["path"]
    if getattr(engine_path, "drawn_once", False):
        return
    paths: dict[str, tuple[list[Any], list[Any]]] = {}
    pictures: dict[tuple[Any, ...], list[Any]] = {}
    engine_draw = weasyprint.images.SVGImage.draw

    def path(svg: Any, node: Any, font_size: float) -> None:
        data = node.get("d", "")
        known = paths.get(data)
        if known is not None:
            svg.stream.stream.extend(known[0])
            node.vertices.extend(known[1])
            return
        operators, vertices = len(svg.stream.stream), len(node.vertices)
        engine_path(svg, node, font_size)
        if len(paths) < SVG_PATHS_KEPT:
            paths[data] = svg.stream.stream[operators:], list(node.vertices)[vertices:]

    def draw(image: Any, stream: Any, width: float, height: float, style: Any) -> None:
        url = image._base_url
        if not (isinstance(url, str) and url.startswith("data:") and _plain_drawing(image)):
            return engine_draw(image, stream, width, height, style)
        key = (url, width, height, stream._current_color, stream._current_color_stroke, stream._current_alpha,
               stream._current_alpha_stroke)
        known = pictures.get(key)
        if known is not None:
            stream.stream.extend(known)
            return
        operators = stream.stream
        before, last, resources = len(operators), operators[-1] if operators else None, _resource_counts(stream)
        engine_draw(image, stream, width, height, style)
        # The engine may drop an operator it wrote just before (an empty `q`): then nothing is kept.
        unchanged = len(operators) >= before and (not before or operators[before - 1] is last)
        if unchanged and _resource_counts(stream) == resources and len(pictures) < SVG_DRAWINGS_KEPT:
            pictures[key] = operators[before:]

    path.drawn_once = True  # type: ignore[attr-defined]
    path.engine_path = engine_path  # type: ignore[attr-defined]
    draw.engine_draw = engine_draw  # type: ignore[attr-defined]
    weasyprint.svg.TAGS["path"] = path
    weasyprint.images.SVGImage.draw = draw  # type: ignore[method-assign]


def font_configuration() -> Any:
    """The engine's font configuration, with each font that is a file here linked into its folder
    of fonts rather than copied there.

    The engine copies every @font-face font into a temporary folder of its own, since fontconfig
    loads fonts from files: the two Noto Serif CJK collections are 53 MB, written anew by every
    process that sets a layout up (0.1–0.25 s each, more while the disk is busy). The font is still
    read through the book's fetcher, which decides what may be read; only the copy becomes a link
    to the file it was read from. Elsewhere than on POSIX systems, fonts are copied."""
    import os
    import tempfile

    from weasyprint.text.fonts import FontConfiguration

    config = FontConfiguration()
    if os.name == "posix" and getattr(config, "_folder", False) is None:
        config._folder = _FontFolder(tempfile.mkdtemp(prefix="weasyprint-"))
    return config


def font_folder(config: Any) -> str | None:
    """Where the engine keeps the fonts it loaded for this configuration (see `remove_font_folder`)."""
    folder = getattr(config, "_folder", None)
    return str(folder) if folder else None


def remove_font_folder(config: Any) -> None:
    """Remove the engine's folder of fonts now. The engine removes it when its objects are
    collected, which never happens in a process that ends at once (the build's own, and the layout
    processes): left to it, every build left its folders in the temporary folder."""
    import shutil

    folder = font_folder(config)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        config._folder = None


class _FontFolder(PosixPath):
    """The engine's folder of fonts, and each font in it: writing a font read from a file links to
    that file (see font_configuration)."""

    def write_bytes(self, data: Any) -> int:
        from .fetch import FileBytes

        if isinstance(data, FileBytes):
            self.symlink_to(data.source)
            return len(data)
        return super().write_bytes(data)


def compute_styles_quickly() -> None:
    """Compute a property an element neither declares nor can take from a logical property the
    short way: its parent's value if it inherits, else its initial value.

    The engine computes each property of each element on first use, and every time walks the same
    general path (the cascade, logical properties, `var()`, `calc()`, then the computing function):
    a tenth of a book's layout and writing time. Most properties of most elements are declared
    nowhere, and then the general path comes to the parent's value or the initial one; that is
    taken at once. Everything else (declared, the root, custom properties, `float`, `display`,
    `position`, `page`, text decorations, an inherited value holding `calc()`) takes the engine's
    path, which `engine_style_computation` restores for comparison."""
    from weasyprint.css import ComputedStyle
    from weasyprint.css.computed_values import COMPUTER_FUNCTIONS, PHYSICAL_FUNCTIONS
    from weasyprint.css.functions import check_math
    from weasyprint.css.properties import INHERITED, INITIAL_NOT_COMPUTED, INITIAL_VALUES

    if getattr(ComputedStyle, "computed_quickly", False):  # installed (and perhaps set aside for a comparison)
        return
    engine_missing = ComputedStyle.__missing__
    logical_names = {name: frozenset(logical(block="ttb", inline=direction) for direction in ("ltr", "rtl"))
                     for name, logical in PHYSICAL_FUNCTIONS.items()}
    engine_only = frozenset({"float", "display", "position", "page",
                             *(name for name in INITIAL_VALUES if name.startswith("text_decoration_"))})

    def missing(style: Any, name: str) -> Any:
        cascaded, parent = style.cascaded, style.parent_style
        if name in cascaded or name in engine_only or parent is None or name.startswith("__"):
            return engine_missing(style, name)
        logical = logical_names.get(name)
        if logical is not None and not cascaded.keys().isdisjoint(logical):  # the smaller one is walked
            return engine_missing(style, name)
        if name in INHERITED:
            value = parent[name]
            if check_math(value):
                return engine_missing(style, name)
        else:
            value = INITIAL_VALUES[name]
            if name in INITIAL_NOT_COMPUTED and name in COMPUTER_FUNCTIONS:
                value = COMPUTER_FUNCTIONS[name](style, name, value)
        style[name] = value
        return value

    missing.engine_missing = engine_missing  # type: ignore[attr-defined]
    ComputedStyle.__missing__ = missing  # type: ignore[method-assign]
    ComputedStyle.computed_quickly = True  # type: ignore[attr-defined]


@contextmanager
def engine_style_computation() -> Iterator[None]:
    """Within this block, every property is computed the engine's way (to compare with
    `compute_styles_quickly`)."""
    from weasyprint.css import ComputedStyle

    ours = ComputedStyle.__missing__
    ComputedStyle.__missing__ = getattr(ours, "engine_missing", ours)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ComputedStyle.__missing__ = ours  # type: ignore[method-assign]


STREAM_COMPRESSION = 6
"""zlib's own default level for the parts' streams. The engine's PDF library compresses at 9,
the slowest: at 6 a book's parts are written a tenth sooner, and the book is 2% larger."""


def compress_streams(pdf: Any, level: int = STREAM_COMPRESSION) -> None:
    """Compress the streams of a PDF about to be written at `level`, instead of at the level its
    writer would use (called last, from the engine's finisher; the writer then leaves them as they are)."""
    import zlib

    import pydyf

    for item in pdf.objects:
        if isinstance(item, pydyf.Stream) and item.compress:
            item.stream = [zlib.compress(b"\n".join(pydyf._to_bytes(part) for part in item.stream), level)]
            item.extra["Filter"] = "/FlateDecode"
            item.compress = False


def keep_hyphens_off_recto_feet() -> None:
    """Never end a right-hand page with a hyphenated word: its reader would turn the leaf in the
    middle of it. Where the engine breaks a paragraph across pages and the last line it keeps on a
    right-hand page ends in a hyphen, that line goes overleaf too, if the paragraph's `orphans`
    still hold (the page is then one line short, as a typographer would make it). Left-hand pages,
    columns (the index) and lines ending in a hyphen of the text ("pag-") are left as they are.
    Each part begins on a right-hand page (see pdf.render_book), so the engine's sides are the book's."""
    from weasyprint.layout import block

    if hasattr(block._break_line, "keeps_hyphens_off_recto_feet"):
        return
    engine_break_line = block._break_line

    def break_line(context: Any, box: Any, line: Any, new_children: list[Any], needed: int, page_is_empty: bool,
                   *rest: Any) -> Any:
        if (break_line.keeps_hyphens_off_recto_feet and not page_is_empty and not context.in_column  # type: ignore[attr-defined]
                and needed + 1 <= len(new_children) - box.style["orphans"]
                and context.page_maker[context.current_page - 1][2]
                and ends_hyphenated(new_children[-1 - needed])):
            needed += 1
        return engine_break_line(context, box, line, new_children, needed, page_is_empty, *rest)

    break_line.keeps_hyphens_off_recto_feet = True  # type: ignore[attr-defined]
    block._break_line = break_line


@contextmanager
def engine_page_breaks() -> Iterator[None]:
    """Within this block, pages break where the engine breaks them, hyphen or not (to compare with
    `keep_hyphens_off_recto_feet`)."""
    from weasyprint.layout import block

    keep_hyphens_off_recto_feet()
    ours = block._break_line
    ours.keeps_hyphens_off_recto_feet = False
    try:
        yield
    finally:
        ours.keeps_hyphens_off_recto_feet = True


def ends_hyphenated(line: Any) -> bool:
    """Whether a line box ends in a word the layout hyphenated (its last text ends in the added hyphen)."""
    from weasyprint.formatting_structure.boxes import TextBox

    last = line
    while getattr(last, "children", None) and not isinstance(last, TextBox):
        last = last.children[-1]
    if not isinstance(last, TextBox) or last.style["hyphens"] == "none":
        return False
    hyphen = last.style["hyphenate_character"]
    return bool(hyphen) and last.text.endswith(hyphen)


@contextmanager
def engine_svg_drawing() -> Iterator[None]:
    """Within this block, SVG is drawn by the engine's own code every time (to compare with
    `draw_svg_once`)."""
    import weasyprint.images
    import weasyprint.svg

    ours_path, ours_draw = weasyprint.svg.TAGS["path"], weasyprint.images.SVGImage.draw
    weasyprint.svg.TAGS["path"] = getattr(ours_path, "engine_path", ours_path)
    weasyprint.images.SVGImage.draw = getattr(ours_draw, "engine_draw", ours_draw)
    try:
        yield
    finally:
        weasyprint.svg.TAGS["path"], weasyprint.images.SVGImage.draw = ours_path, ours_draw


def _plain_drawing(image: Any) -> bool:
    """Whether an SVG picture is made only of plain shapes (see PLAIN_SVG_TAGS); decided once."""
    plain = getattr(image, "limbag_plain", None)
    if plain is None:
        plain = all(_plain_element(element) for element in image._svg.tree._etree_node.iter())
        image.limbag_plain = plain
    return bool(plain)


def _plain_element(element: Any) -> bool:
    tag = element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""
    if tag not in PLAIN_SVG_TAGS:
        return False
    for name, value in element.attrib.items():
        if name.rpartition("}")[2] not in PLAIN_SVG_ATTRIBUTES or "url(" in value:
            return False
    return True


def _resource_counts(stream: Any) -> tuple[int, ...]:
    return (*(len(value) for value in stream._resources.values() if hasattr(value, "__len__")), len(stream._fonts))


def check_version() -> None:
    """A clear message, before any layout, when the installed engine is not one this module knows
    (read from its metadata: the engine is loaded later, see load_engine)."""
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


def render(html: Any, stylesheets: list[Any], font_config: Any, flat_links: bool = True) -> tuple[Any, Any]:
    """What `HTML.render` does, keeping the layout context (see `renumber`), with each footnote laid
    out once per page (see `stack_footnotes`) and, with `flat_links`, links laid out as the text
    around them (see `flatten_links`)."""
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
    flattened = flatten_links(root) if flat_links else 0
    page_boxes = list(layout_document(html, root, context))
    if flattened and not restore_links(page_boxes, context):  # text the layout changed: the engine's own way
        return render(html, stylesheets, font_config, flat_links=False)
    pages = [Page(box) for box in page_boxes]
    document = Document(pages, DocumentMetadata(**get_html_metadata(html)), html.url_fetcher, font_config, {},
                        options["output_intent"])
    document._html = html
    return document, context


TEXT_LOOK = ("font_family", "font_feature_settings", "font_kerning", "font_language_override", "font_size",
             "font_stretch", "font_style", "font_variant_alternates", "font_variant_caps", "font_variant_east_asian",
             "font_variant_ligatures", "font_variant_numeric", "font_variant_position", "font_weight",
             "font_variation_settings", "color", "letter_spacing", "word_spacing", "text_transform",
             "text_decoration_line", "text_decoration_color", "text_decoration_style", "text_decoration_thickness",
             "text_underline_offset", "vertical_align", "white_space", "hyphens", "lang", "line_height",
             "direction", "unicode_bidi", "word_break", "overflow_wrap", "tab_size")
"""What a piece of text looks like: a link that matches its surroundings in all of them sets like them."""
BOX_EDGES = ("margin_top", "margin_right", "margin_bottom", "margin_left", "padding_top", "padding_right",
             "padding_bottom", "padding_left", "border_top_width", "border_right_width", "border_bottom_width",
             "border_left_width")
FLAT_BOX = (*BOX_EDGES, "outline_width")


@dataclass(slots=True)
class _LinkRun:
    """Text boxes and links made one text box before layout (see flatten_links)."""

    text: str
    links: list[tuple[int, int, Any, Any]]
    """(start, end) in `text` of each link, with the link's inline box and its text box."""
    cursor: int = 0
    """How much of `text` the pieces restored so far cover."""


def flatten_links(root: Any) -> int:
    """Lay out plain links as the text around them; returns how many links were flattened.

    An index entry with thirty page numbers is thirty-one text boxes and thirty inline boxes, and
    the engine lays out each box on its own: the entry takes six times as long as the same text
    in one box. So, before layout, a run of text and links (`<a>` holding only text, set exactly
    like the text around it, in a line that is not justified) becomes one text box; after
    layout `restore_links` cuts each line's text at the links and puts each link's inline box
    back around its text, where the engine would have set it."""
    from weasyprint.formatting_structure.boxes import BlockContainerBox, InlineBox, LineBox, ParentBox, TextBox

    flattened = 0

    def flat(box: Any) -> bool:
        if not (isinstance(box, InlineBox) and box.element_tag == "a" and len(box.children) == 1
                and isinstance(box.children[0], TextBox) and box.style["position"] == "static"
                and box.style["float"] == "none" and not box.style["transform"]):
            return False
        if any(getattr(box.style[name], "value", box.style[name]) not in (0, None) for name in FLAT_BOX):
            return False
        return box.style["background_color"].alpha == 0 and box.style["background_image"][0][0] == "none"

    def same_look(one: Any, other: Any) -> bool:
        return all(one[name] == other[name] for name in TEXT_LOOK)

    def merge(parent: Any) -> None:
        nonlocal flattened
        children: list[Any] = []
        run: list[Any] = []

        def close() -> None:
            nonlocal flattened
            links = [child for child in run if isinstance(child, InlineBox)]
            if not links:
                children.extend(run)
                run.clear()
                return
            plain = next((child for child in run if isinstance(child, TextBox)), None)
            base = plain if plain is not None else TextBox.anonymous_from(parent, "x")
            if not all(same_look(link.children[0].style, base.style) for link in links):
                children.extend(run)
                run.clear()
                return
            text, spans = "", []
            for child in run:
                piece = child.children[0] if isinstance(child, InlineBox) else child
                if isinstance(child, InlineBox):
                    spans.append((len(text), len(text) + len(piece.text), child, piece))
                text += piece.text
            merged = base.copy_with_text(text)
            merged.limbag_links = _LinkRun(text, spans)
            children.append(merged)
            flattened += len(spans)
            run.clear()

        for child in parent.children:
            text = child.text if isinstance(child, TextBox) else child.children[0].text if flat(child) else None
            if text is not None and "\u00ad" not in text:
                run.append(child)
            else:
                close()
                children.append(child)
        close()
        parent.children = type(parent.children)(children) if isinstance(parent.children, tuple) else children

    def walk(box: Any, justified: bool) -> None:
        if isinstance(box, BlockContainerBox):
            justified = box.style["text_align_all"] == "justify" or box.style["text_align_last"] == "justify"
        if not isinstance(box, ParentBox):
            return
        if isinstance(box, LineBox | InlineBox) and not justified and box.style["direction"] == "ltr":
            merge(box)
        for child in box.children:
            walk(child, justified)

    walk(root, False)
    return flattened


def restore_links(page_boxes: list[Any], context: Any) -> bool:
    """Put the links `flatten_links` flattened back, each piece of text where the engine would set
    it; False if a laid-out piece is not the text it came from (then nothing is kept)."""
    from weasyprint.formatting_structure.boxes import ParentBox, TextBox
    from weasyprint.layout.inline import _adjust_line_height
    from weasyprint.text.line_break import split_first_line

    layouts: dict[tuple[str, int], tuple[Any, float]] = {}
    """Shaped pieces by text and style: an index repeats its commas and page numbers."""

    def shaped(template: Any, piece: Any, text: str, x: float, whole: bool) -> Any:
        box = template.copy()
        box.text, box.position_x = text, x
        box.position_y, box.height, box.baseline = piece.position_y, piece.height, piece.baseline
        box.justification_spacing = 0
        if whole:
            box.pango_layout, box.width = piece.pango_layout, piece.width
        else:
            key = (text, id(piece.style))  # the link's text looks like the piece's (see flatten_links)
            if key not in layouts:
                layout, _, _, width, _, _ = split_first_line(text, piece.style, context, math.inf, 0)
                layouts[key] = layout, width
            box.pango_layout, box.width = layouts[key]
        for name in BOX_EDGES:
            setattr(box, name, getattr(piece, name, 0))
        box.background = None
        return box

    def restore(piece: Any, run: _LinkRun) -> list[Any] | None:
        start = run.text.find(piece.text, run.cursor)
        if start < 0 or run.text[run.cursor:start].strip(" "):
            return None
        end = run.cursor = start + len(piece.text)
        cuts = sorted({start, end, *(edge for first, last, _, _ in run.links for edge in (first, last)
                                     if start < edge < end)})
        boxes: list[Any] = []
        x = piece.position_x
        for first, last in itertools.pairwise(cuts):
            link = next(((inline, text) for a, b, inline, text in run.links if a <= first and last <= b), None)
            whole = first == start and last == end
            if link is None:
                box = piece if whole else shaped(piece, piece, run.text[first:last], x, False)
            else:
                inline, text_box = link
                child = shaped(text_box, piece, run.text[first:last], x, whole)
                box = inline.copy()
                box.children = [child]
                for name in BOX_EDGES:
                    setattr(box, name, 0)
                _adjust_line_height(box)
                box.position_x, box.width = x, child.width
                box.position_y = piece.position_y + piece.baseline - box.baseline
                box.background = None
            boxes.append(box)
            x += box.width
        return boxes

    def walk(box: Any) -> bool:
        if not isinstance(box, ParentBox):
            return True
        if any(isinstance(child, TextBox) and hasattr(child, "limbag_links") for child in box.children):
            children: list[Any] = []
            for child in box.children:
                if isinstance(child, TextBox) and hasattr(child, "limbag_links"):
                    restored = restore(child, child.limbag_links)
                    if restored is None:
                        return False
                    children.extend(restored)
                else:
                    children.append(child)
            box.children = tuple(children) if isinstance(box.children, tuple) else children
        return all(walk(child) for child in box.children)

    return all(walk(page) for page in page_boxes)


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
        if not (box.is_leader and copies and all(isinstance(copy, TextBox) for copy in copies)):
            boxes.extend(copies)
            continue
        first = min(copies, key=lambda copy: copy.position_x)
        box.limbag_copy = first  # one copy, for putting a page label in (see fill_page_labels)
        if len(copies) == 1:
            continue
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


PAGE_OF = "data-page-of"
"""The attribute of an element that prints the page label of the element it names (a contents line's
number, after its dots): see `page_label_boxes`."""

PAGE_STAND_IN = "0000"
"""What a page label is laid out as while it is not known: as wide as any (see `fill_page_labels`)."""


@dataclass(frozen=True, slots=True)
class _LabelBox:
    target: str
    text: Any
    parent: Any
    leader: Any
    line: Any


def page_label_boxes(document: Any) -> list[_LabelBox] | None:
    """The boxes that print page labels, in order: text of an element with `PAGE_OF` that ends its
    line, after a leader (dots). None if such an element prints the stand-in anywhere else, where
    another label could not be put in as the engine would set it (see `fill_page_labels`)."""
    from weasyprint.formatting_structure import boxes

    found: list[_LabelBox] = []

    def walk(box: Any, parent: Any, line: Any) -> bool:
        element = box.element
        if isinstance(box, boxes.TextBox) and element is not None and element.get(PAGE_OF) is not None:
            if PAGE_STAND_IN not in box.text:
                return True
            siblings: Any = parent.children if parent is not None else ()
            leader = siblings[-2] if len(siblings) > 1 and siblings[-1] is box else None
            if not (leader is not None and leader.is_leader and getattr(leader, "limbag_copy", None) is not None
                    and box.text.endswith(PAGE_STAND_IN) and not box.text[:-len(PAGE_STAND_IN)].strip()
                    and line is not None and line.style["direction"] == "ltr"
                    and abs(box.position_x + box.width - line.position_x - line.width) < 0.01):
                return False
            found.append(_LabelBox(element.get(PAGE_OF), box, parent, leader, line))
            return True
        if isinstance(box, boxes.LineBox):
            line = box
        return all(walk(child, box, line) for child in getattr(box, "children", ()) or ())

    if not all(walk(page._page_box, None, None) for page in document.pages):
        return None
    return found


def fill_page_labels(document: Any, context: Any, labels: dict[str, str]) -> None:
    """Put each page label in (see `page_label_boxes`) as the engine sets it: the label ends the
    line, and the dots before it stand on the same grid from the line's end (see the engine's
    `handle_leader`), as many as the room left holds. Labels no wider than the stand-in break no
    line differently from a layout with them."""
    from weasyprint.text.line_break import split_first_line

    for found in page_label_boxes(document) or ():
        old, leader, line = found.text, found.leader, found.line
        text = old.text[:-len(PAGE_STAND_IN)] + labels[found.target]
        layout, _, _, width, _, _ = split_first_line(text, old.style, context, math.inf, 0)
        new = old.copy_with_text(layout.text)
        new.pango_layout, new.width = layout, width
        room = old.width - width
        new.position_x = old.position_x + room
        leader.width += room
        copy = leader.limbag_copy
        position_x, places = line.position_x + line.width, []
        for _ in range(int(line.width // copy.width)):
            position_x -= copy.width
            if leader.position_x <= position_x and position_x + copy.width <= leader.position_x + leader.width:
                places.append(position_x)
        dots: tuple[Any, ...] = ()
        if places:
            dots_text = copy.text * len(places)
            dots_layout, _, _, dots_width, _, _ = split_first_line(dots_text, copy.style, context, math.inf, 0)
            run = copy.copy()
            run.text, run.pango_layout, run.width, run.position_x = dots_text, dots_layout, dots_width, places[-1]
            dots = (run,)
        leader.children = dots
        children = list(found.parent.children)
        children[-1] = new
        found.parent.children = children if isinstance(found.parent.children, list) else tuple(children)


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
