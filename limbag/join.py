"""Join PDFs laid out part by part (front matter, each chapter, back matter) into one book.

Each part is a complete tagged PDF from the layout engine; joining keeps what makes the whole a
book: pages in order, one structure tree (PDF/UA) whose parent-tree keys are renumbered, one
table of named destinations so links between parts (contents → chapters, index → marks) land,
one outline, page labels, and the first part's metadata, language and viewer preferences.
qpdf (through pikepdf) does the copying: it is some fifty times faster than rewriting in Python.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pikepdf
from pikepdf import Array, Dictionary, Name

from .errors import Location, RenderError

if TYPE_CHECKING:
    from .config import BookletSettings
    from .press import PlacedImage


@dataclass(frozen=True, slots=True)
class LaidPart:
    """One part of the book (the front matter, a chapter, the back matter, a blank page) laid out
    and written as a PDF of its own, with what the page map and the joining need to know of it."""

    pdf: bytes
    page_anchors: tuple[tuple[str, ...], ...]
    """For each page, the ids found on it (elements and placed marks)."""
    continued: tuple[str | None, ...]
    """For each page that begins inside a paragraph, the word it begins with (see place_marks)."""
    borrowed: frozenset[str]
    """Ids this part links to that live in other parts."""
    messages: tuple[str, ...]
    """What the layout engine warned about."""
    refused: tuple[str, ...] = ()
    """URLs the part asked for that lie outside the book (not loaded)."""

    @property
    def page_count(self) -> int:
        return len(self.page_anchors)


CATALOG_OWN = ("/Type", "/Pages", "/StructTreeRoot", "/Names", "/Outlines", "/PageLabels", "/Dests")
"""Catalog entries the joining makes; the others (language, metadata, output intents) are the
first printed part's, as is the document information."""


class BookJoiner:
    """Joins parts into one PDF as they come: in printed order (`append`), and the front matter,
    which is made last, before them all (`prepend`), so that the chapters are joined while the
    front matter is still being laid out."""

    def __init__(self) -> None:
        self.book: pikepdf.Pdf | None = None
        self.sources: list[pikepdf.Pdf] = []  # kept open: the book's objects are copied from them
        self.numbers: list[Any] = []
        self.next_key = 0
        self.destinations: dict[str, Any] = {}
        self.outline: list[Any] = []
        self.document: Any = None
        self.prepended = (0, 0, 0)
        """Pages, structure elements and outline items added by `prepend` (they come first)."""
        self.merged_fonts: dict[tuple[int, int], Any] = {}
        """Font dictionaries given up for another of their face by `share_fonts`, and that one."""
        self.appended = 0
        """Parts added by `append`."""

    def append(self, part: LaidPart) -> None:
        self.appended += 1
        source = pikepdf.open(io.BytesIO(part.pdf))
        self.sources.append(source)
        if self.book is None:
            self._start(source, part)
        else:
            self._add(source, part, len(self.book.pages), None, None)

    def prepend(self, parts: Sequence[LaidPart]) -> None:
        """Put these parts, in this order, before everything joined so far; the first of them gives
        the book its catalog entries and document information."""
        if self.book is None:
            for part in parts:
                self.append(part)
            return
        first: pikepdf.Pdf | None = None
        for part in parts:
            source = pikepdf.open(io.BytesIO(part.pdf))
            self.sources.append(source)
            first = first or source
            self._add(source, part, *self.prepended)
        if first is not None:
            self._take_catalog(first)

    def share_fonts(self) -> None:
        """Give the parts joined so far one font program and one font dictionary per face (see
        `_share_fonts`). `finish` does it again for the parts joined after: asked once the body and
        back matter are joined, it is done while the front matter is laid out, and `finish` merges
        only the front matter's fonts."""
        if self.book is not None:
            _share_fonts(self.book)
            _one_font_per_face(self.book, self.merged_fonts)

    def finish(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
               cover_word: str = "Cover") -> bytes:
        """The joined book; `front_matter_end` pages are numbered in roman, the first `covers[0]` of
        them and the last `covers[1]` pages of the book are labelled as covers."""
        assert self.book is not None
        book, root = self.book, self.book.Root
        tree = root.get("/StructTreeRoot")
        if tree is not None:
            tree.ParentTree = book.make_indirect(Dictionary(Nums=Array(self.numbers)))
            tree.ParentTreeNextKey = self.next_key
        names: list[object] = []  # built in Python: growing a pikepdf Array item by item is quadratic
        for name in sorted(self.destinations):
            names.extend([pikepdf.String(name), self.destinations[name]])
        root.Names = Dictionary(Dests=book.make_indirect(Dictionary(Names=Array(names))))
        _link_outline(book, self.outline)
        self.share_fonts()
        labels: list[Any] = []
        front, back = covers
        cover_prefix = pikepdf.String(f"{cover_word} ")
        if front:
            labels.extend([0, Dictionary(S=Name.D, P=cover_prefix, St=1)])
        if front_matter_end > front:
            labels.extend([front, Dictionary(S=Name.r)])
        if front_matter_end < len(book.pages) - back:
            labels.extend([front_matter_end, Dictionary(S=Name.D, St=1)])
        if back:
            labels.extend([len(book.pages) - back, Dictionary(S=Name.D, P=cover_prefix, St=front + 1)])
        root.PageLabels = Dictionary(Nums=Array(labels))
        output = io.BytesIO()
        book.save(output, deterministic_id=True, min_version=version, compress_streams=True,
                  object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return output.getvalue()

    def finish_later(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
                     cover_word: str = "Cover") -> Callable[[], bytes]:
        """`finish`, here at once; the call returns the book."""
        book = self.finish(front_matter_end, version, covers, cover_word)
        return lambda: book

    def _start(self, source: pikepdf.Pdf, part: LaidPart) -> None:
        self.book = source
        tree = source.Root.get("/StructTreeRoot")
        self.document = tree.K[0] if tree is not None else None
        self.numbers = list(tree.ParentTree.Nums) if tree is not None else []
        self.next_key = int(tree.get("/ParentTreeNextKey", _next_key(self.numbers))) if tree is not None else 0
        self.destinations = _destinations(source, part.borrowed)
        self.outline = _top_level_outline(source)

    def _add(self, source: pikepdf.Pdf, part: LaidPart, page_at: int, kid_at: int | None, item_at: int | None) -> None:
        """Copy the part's pages in at `page_at`, its structure elements and outline items at
        `kid_at` and `item_at` (None: at the end)."""
        assert self.book is not None
        book = self.book
        # One copy of everything the part brings, so that qpdf copies each object once and every
        # reference (a structure element's page, a destination's page) meets the same copy.
        theirs = source.Root.get("/StructTreeRoot")
        with warnings.catch_warnings():  # named destinations are joined below, by name
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            for index, page in enumerate(source.pages):
                book.pages.insert(page_at + index, page)
        bundle = source.make_indirect(Dictionary(
            Document=theirs.K[0] if theirs is not None else Dictionary(),
            Kids=Array(list(theirs.K[0].K)) if theirs is not None else Array(),
            Nums=Array(list(theirs.ParentTree.Nums)) if theirs is not None else Array(),
            Dests=Array([item for pair in _destinations(source, part.borrowed).items() for item in pair]),
            Outline=Array(_top_level_outline(source)),
        ))
        copied = book.copy_foreign(bundle)
        offset = self.next_key
        for page in book.pages[page_at:page_at + len(source.pages)]:
            _shift_struct_parents(page.obj, offset)
        kids = list(copied.Kids)
        if self.document is not None:
            for kid in kids:
                kid.P = self.document
            if kid_at is None:
                for kid in kids:
                    self.document.K.append(kid)
            else:
                for index, kid in enumerate(kids):
                    self.document.K.insert(kid_at + index, kid)
        nums: list[Any] = list(copied.Nums)
        their_document = copied.Document.objgen
        for index in range(0, len(nums), 2):
            value: Any = nums[index + 1]
            if isinstance(value, pikepdf.Array):  # a page's marked content: its elements, by MCID
                value = Array([self.document if element is not None and element.objgen == their_document else element
                               for element in value])  # (null: an MCID made an artifact)
            elif value.objgen == their_document:
                value = self.document
            self.numbers.extend([int(nums[index]) + offset, value])
        if theirs is not None:
            self.next_key = offset + int(theirs.get("/ParentTreeNextKey", _next_key(nums)))
        entries = list(copied.Dests)
        for index in range(0, len(entries), 2):
            self.destinations.setdefault(str(entries[index]), entries[index + 1])
        items = list(copied.Outline)
        if item_at is None:
            self.outline.extend(items)
        else:
            self.outline[item_at:item_at] = items
            pages, elements, outline_items = self.prepended
            self.prepended = (pages + len(source.pages), elements + len(kids), outline_items + len(items))

    def _take_catalog(self, source: pikepdf.Pdf) -> None:
        assert self.book is not None
        root: Any = self.book.Root
        for name in [str(key) for key in root if str(key) not in CATALOG_OWN]:
            del root[name]
        for name, value in source.Root.items():
            if str(name) in CATALOG_OWN:
                continue
            if isinstance(value, pikepdf.Dictionary | pikepdf.Array | pikepdf.Stream):
                value = self.book.copy_foreign(value if value.is_indirect else source.make_indirect(value))
            root[str(name)] = value
        info = source.trailer.get("/Info")
        if info is not None:
            self.book.trailer.Info = self.book.copy_foreign(info)


def _next_key(numbers: list[Any]) -> int:
    keys = [int(numbers[index]) for index in range(0, len(numbers), 2)]
    return max(keys) + 1 if keys else 0


def _shift_struct_parents(page: Any, offset: int) -> None:
    if "/StructParents" in page:
        page.StructParents = int(page.StructParents) + offset
    for annotation in page.get("/Annots", ()):
        if "/StructParent" in annotation:
            annotation.StructParent = int(annotation.StructParent) + offset


def _destinations(pdf: pikepdf.Pdf, borrowed: frozenset[str]) -> dict[str, Any]:
    """The part's named destinations (a flat name tree, as the layout engine writes it)."""
    found: dict[str, Any] = {}
    names = pdf.Root.get("/Names")
    dests = names.get("/Dests") if names is not None else None

    def walk(node: Any) -> None:
        entries = node.get("/Names", ())
        for index in range(0, len(entries), 2):
            name = str(entries[index])
            if name not in borrowed:
                found.setdefault(name, entries[index + 1])
        for kid in node.get("/Kids", ()):
            walk(kid)

    if dests is not None:
        walk(dests)
    return found


def _top_level_outline(pdf: pikepdf.Pdf) -> list[Any]:
    outlines = pdf.Root.get("/Outlines")
    items: list[Any] = []
    item = outlines.get("/First") if outlines is not None else None
    while item is not None:
        items.append(item)
        item = item.get("/Next")
    return items


def _link_outline(book: pikepdf.Pdf, items: list[Any]) -> None:
    if not items:
        if "/Outlines" in book.Root:
            del book.Root["/Outlines"]
        return
    outlines = book.make_indirect(Dictionary(Type=Name.Outlines))
    visible = 0
    for index, item in enumerate(items):
        item.Parent = outlines
        if index:
            item.Prev = items[index - 1]
        elif "/Prev" in item:
            del item["/Prev"]
        if index + 1 < len(items):
            item.Next = items[index + 1]
        elif "/Next" in item:
            del item["/Next"]
        count = int(item.get("/Count", 0))
        visible += 1 + max(count, 0)
    outlines.First = items[0]
    outlines.Last = items[-1]
    outlines.Count = visible
    book.Root.Outlines = outlines


def _share_fonts(book: pikepdf.Pdf) -> None:
    """Each part embeds its own subset of each font; give them all one font program per face.

    The engine subsets keeping the font's glyph ids, so the subsets of one face differ only in
    which glyphs they hold, and their union serves every part: the book carries each face once
    instead of once per chapter (a 30-chapter book: 1.3 MB → about 0.9 MB). Done again after more
    parts are joined, it reads the program shared so far once, and the new parts' programs."""
    faces: dict[str, list[Any]] = {}
    for item in book.objects:
        if isinstance(item, Dictionary) and item.get("/Type") == "/FontDescriptor" and "/FontFile2" in item:
            faces.setdefault(str(item.FontName).split("+")[-1], []).append(item)
    for descriptors in faces.values():
        programs = {descriptor.FontFile2.objgen: descriptor.FontFile2 for descriptor in descriptors}
        if len(programs) < 2:
            continue
        try:
            data = _union_of_subsets([program.read_bytes() for program in programs.values()])
        except Exception:  # noqa: BLE001 — a face that will not merge keeps its subsets
            continue
        shared = book.make_stream(data)
        shared.Length1 = len(data)
        for descriptor in descriptors:
            descriptor.FontFile2 = shared
            if "/CIDSet" in descriptor:
                del descriptor["/CIDSet"]


def _one_font_per_face(book: pikepdf.Pdf, merged: dict[tuple[int, int], Any]) -> None:
    """Each part has its own font dictionary per face (the widths and ToUnicode map of its own
    glyphs); make one per face for the whole book, with the union of their widths and maps, and
    point every page and form at it. Readers, preflight tools and the booklet's imposition then
    meet four fonts, not four a chapter. `merged` holds the dictionaries given up by an earlier
    call (left out now) and the one each gave way to, and gets this call's."""
    faces: dict[str, list[Any]] = {}
    for item in book.objects:
        if (isinstance(item, Dictionary) and item.get("/Type") == "/Font" and item.get("/Subtype") == "/Type0"
                and item.get("/Encoding") == "/Identity-H" and "/ToUnicode" in item and item.objgen not in merged):
            faces.setdefault(str(item.BaseFont), []).append(item)
    merging: dict[tuple[int, int], Any] = {}
    for fonts in faces.values():
        if len(fonts) < 2 or len({_program_of(font) for font in fonts}) > 1:
            continue  # one part's font or font programs that differ (a CFF face's subsets are not merged)
        try:
            widths = [_widths(font.DescendantFonts[0].get("/W", Array())) for font in fonts]
            unicodes = [_unicode_map(font.ToUnicode.read_bytes()) for font in fonts]
        except (ValueError, AttributeError, IndexError):
            continue  # a dictionary not as the engine writes it: left as it is
        first = fonts[0]
        descendant = first.DescendantFonts[0]
        descendant.W = _widths_array({cid: width for found in reversed(widths) for cid, width in found.items()})
        boxes = [[float(v) for v in font.DescendantFonts[0].FontDescriptor.FontBBox] for font in fonts]
        descendant.FontDescriptor.FontBBox = Array([min(b[0] for b in boxes), min(b[1] for b in boxes),
                                                    max(b[2] for b in boxes), max(b[3] for b in boxes)])
        first.ToUnicode = book.make_stream(_unicode_cmap(
            {cid: text for found in reversed(unicodes) for cid, text in found.items()}))
        for font in fonts[1:]:
            merging[font.objgen] = first
    if not merging:
        return
    for item in book.objects:
        if isinstance(item, Dictionary | pikepdf.Stream) and "/Resources" in item:
            fonts_used: Any = item.Resources.get("/Font")
            for name in list(fonts_used.keys()) if fonts_used is not None else ():
                font = fonts_used[name]
                if font.is_indirect and font.objgen in merging:
                    fonts_used[name] = merging[font.objgen]
    merged.update(merging)


def _program_of(font: Any) -> tuple[int, int] | None:
    """The object holding a Type0 font's program, shared by its parts after `_share_fonts`."""
    try:
        descriptor = font.DescendantFonts[0].FontDescriptor
    except (AttributeError, IndexError, KeyError):
        return None
    for key in ("/FontFile2", "/FontFile3", "/FontFile"):
        if key in descriptor:
            return descriptor[key].objgen
    return None


def _widths(array: Any) -> dict[int, float]:
    """A CIDFont's W array as cid → width: `c [w1 w2 …]` and `c_first c_last w` runs."""
    items = list(array)
    widths: dict[int, float] = {}
    index = 0
    while index < len(items):
        start = int(items[index])
        if isinstance(items[index + 1], pikepdf.Array):
            for offset, width in enumerate(items[index + 1]):
                widths[start + offset] = float(width)
            index += 2
        else:
            for cid in range(start, int(items[index + 1]) + 1):
                widths[cid] = float(items[index + 2])
            index += 3
    return widths


def _widths_array(widths: dict[int, float]) -> Any:
    runs: list[Any] = []
    for cid in sorted(widths):
        if runs and cid == runs[-2] + len(runs[-1]):
            runs[-1].append(widths[cid])
        else:
            runs.extend([cid, [widths[cid]]])
    return Array([Array([_number(w) for w in item]) if isinstance(item, list) else item for item in runs])


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value


BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
HEX = re.compile(rb"<([0-9a-fA-F]+)>")


def _unicode_map(cmap: bytes) -> dict[int, str]:
    """A ToUnicode CMap as cid → the hex of the UTF-16 text it stands for."""
    found: dict[int, str] = {}
    for block in BFCHAR.findall(cmap):
        codes = HEX.findall(block)
        for source, target in zip(codes[::2], codes[1::2], strict=True):
            found[int(source, 16)] = target.decode().lower()
    for block in BFRANGE.findall(cmap):
        for line in block.splitlines():
            codes = HEX.findall(line)
            if len(codes) < 3:
                continue
            low, high = int(codes[0], 16), int(codes[1], 16)
            if b"[" in line:
                for offset, target in enumerate(codes[2:]):
                    found[low + offset] = target.decode().lower()
            else:
                first = int(codes[2], 16)
                width = len(codes[2])
                for offset in range(high - low + 1):
                    found[low + offset] = f"{first + offset:0{width}x}"
    return found


def _unicode_cmap(mapping: dict[int, str]) -> bytes:
    entries = sorted(mapping.items())
    lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
             "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
             "/CMapName /Adobe-Identity-UCS def", "/CMapType 2 def",
             "1 begincodespacerange", "<0000> <ffff>", "endcodespacerange"]
    for start in range(0, len(entries), 100):  # at most 100 entries a block
        block = entries[start:start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines.extend(f"<{cid:04x}> <{text}>" for cid, text in block)
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode()


def _union_of_subsets(programs: list[bytes]) -> bytes:
    """One TrueType program holding every glyph that any of the subsets (same glyph ids) holds.

    Worked on raw tables, nothing decompiled: each glyph's outline and metrics come from the first
    subset (the fullest first) that has it; `loca`, `hmtx` and the bounds in `head`, `hhea` and
    `maxp` are made anew; every other table is the fullest subset's."""
    fonts = sorted((_sfnt_tables(data) for data in programs), key=_glyph_count, reverse=True)
    count = _glyph_count(fonts[0])
    outlines = [b""] * count
    metrics = [_metrics(fonts[0], glyph) for glyph in range(count)]
    for font in fonts:
        locations = _locations(font)
        for glyph in range(min(count, len(locations) - 1)):
            start, end = locations[glyph], locations[glyph + 1]
            if end > start and not outlines[glyph]:
                outline = font[b"glyf"][start:end]
                outlines[glyph] = outline + b"\0" * (-len(outline) % 4)
                metrics[glyph] = _metrics(font, glyph)
    offsets = [0]
    for outline in outlines:
        offsets.append(offsets[-1] + len(outline))
    tables = dict(fonts[0])
    tables[b"glyf"] = b"".join(outlines)
    tables[b"loca"] = struct.pack(f">{count + 1}I", *offsets)
    tables[b"hmtx"] = b"".join(struct.pack(">Hh", advance, bearing) for advance, bearing in metrics)
    head = bytearray(tables[b"head"])
    head[8:12] = b"\0\0\0\0"  # checkSumAdjustment, set when the file is written
    for offset, pick in ((36, min), (38, min), (40, max), (42, max)):  # xMin, yMin, xMax, yMax
        struct.pack_into(">h", head, offset, pick(struct.unpack_from(">h", font[b"head"], offset)[0] for font in fonts))
    struct.pack_into(">h", head, 50, 1)  # long loca offsets
    hhea = bytearray(tables[b"hhea"])
    for offset, pick, kind in ((10, max, ">H"), (12, min, ">h"), (14, min, ">h"), (16, max, ">h")):
        struct.pack_into(kind, hhea, offset, pick(struct.unpack_from(kind, font[b"hhea"], offset)[0] for font in fonts))
    struct.pack_into(">H", hhea, 34, count)
    maxp = bytearray(tables[b"maxp"])
    for offset in range(6, min(len(maxp), 32), 2):  # the largest points, contours, depths … of any subset
        struct.pack_into(">H", maxp, offset, max(struct.unpack_from(">H", font[b"maxp"], offset)[0]
                                                 for font in fonts if len(font[b"maxp"]) > offset))
    tables[b"head"], tables[b"hhea"], tables[b"maxp"] = bytes(head), bytes(hhea), bytes(maxp)
    return _sfnt_bytes(tables, programs[0][:4])


def _sfnt_tables(data: bytes) -> dict[bytes, bytes]:
    count = struct.unpack_from(">H", data, 4)[0]
    tables = {}
    for index in range(count):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * index)
        tables[tag] = data[offset:offset + length]
    return tables


def _glyph_count(font: dict[bytes, bytes]) -> int:
    return int(struct.unpack_from(">H", font[b"maxp"], 4)[0])


def _locations(font: dict[bytes, bytes]) -> tuple[int, ...]:
    """Where each glyph's outline starts in `glyf` (one more than there are glyphs)."""
    loca = font[b"loca"]
    if struct.unpack_from(">h", font[b"head"], 50)[0]:
        return struct.unpack(f">{len(loca) // 4}I", loca)
    return tuple(2 * value for value in struct.unpack(f">{len(loca) // 2}H", loca))


def _metrics(font: dict[bytes, bytes], glyph: int) -> tuple[int, int]:
    """(advance width, left side bearing); glyphs past the last full metric share its advance."""
    long_metrics = struct.unpack_from(">H", font[b"hhea"], 34)[0]
    hmtx = font[b"hmtx"]
    if glyph < long_metrics:
        advance, bearing = struct.unpack_from(">Hh", hmtx, 4 * glyph)
        return int(advance), int(bearing)
    advance = struct.unpack_from(">H", hmtx, 4 * (long_metrics - 1))[0]
    extra = 4 * long_metrics + 2 * (glyph - long_metrics)
    bearing = struct.unpack_from(">h", hmtx, extra)[0] if extra + 2 <= len(hmtx) else 0
    return int(advance), int(bearing)


def _sfnt_bytes(tables: dict[bytes, bytes], version: bytes) -> bytes:
    """A font file of these tables: sorted directory, each table 4-byte aligned, checksums set."""
    tags = sorted(tables)
    search = 1 << (len(tags).bit_length() - 1)
    header = version + struct.pack(">HHHH", len(tags), search * 16, search.bit_length() - 1, len(tags) * 16 - search * 16)
    offset = 12 + 16 * len(tags)
    directory, body = b"", b""
    for tag in tags:
        data = tables[tag]
        directory += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    font = bytearray(header + directory + body)
    head_offset = offset + sum(len(tables[tag]) + (-len(tables[tag]) % 4) for tag in tags[:tags.index(b"head")])
    struct.pack_into(">I", font, head_offset + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


class Joiner(Protocol):
    """Where parts are joined: a BookJoiner in this process, or a JoiningProcess."""

    appended: int

    def append(self, part: LaidPart) -> None: ...

    def prepend(self, parts: Sequence[LaidPart]) -> None: ...

    def share_fonts(self) -> None: ...

    def finish(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
               cover_word: str = "Cover") -> bytes: ...

    def finish_later(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
                     cover_word: str = "Cover") -> Callable[[], bytes]:
        """Start finishing the book; the returned call waits for it."""
        ...


class JoiningProcess:
    """A BookJoiner in a process of its own, which also imposes the booklet from the book it joined.

    Joining holds every part's objects (qpdf's, some two megabytes a chapter) until the book is
    written: in a process of its own, that memory is not added to the layout's, and the joining is
    done while this process lays out. Parts are sent as they are written; `finish` waits for the
    book. It is started first thing in a build, forked where the system allows (see processes.py),
    and joins one book after another (the reading PDF, then the press PDF)."""

    def __init__(self, source: Path) -> None:
        from .processes import start_with_pipe

        self._connection, self._process = start_with_pipe(_serve_joining)
        self.source = source
        """book.yaml, named if the process stops."""
        self.appended = 0
        self._asked = 0
        self._answers: dict[int, Any] = {}
        self._taken = 0

    def append(self, part: LaidPart) -> None:
        self.appended += 1
        self._send(("append", (part.pdf, part.borrowed)))

    def prepend(self, parts: Sequence[LaidPart]) -> None:
        self._send(("prepend", [(part.pdf, part.borrowed) for part in parts]))

    def share_fonts(self) -> None:
        self._send(("share fonts", None))

    def finish(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
               cover_word: str = "Cover") -> bytes:
        return self.finish_later(front_matter_end, version, covers, cover_word)()

    def finish_later(self, front_matter_end: int, version: str, covers: tuple[int, int] = (0, 0),
                     cover_word: str = "Cover") -> Callable[[], bytes]:
        self.appended = 0
        ticket = self._ask(("finish", (front_matter_end, version, covers, cover_word)))
        return lambda: self._answer(ticket)

    def impose(self, settings: BookletSettings, title: str | None, back_cover: int = 0) -> Callable[[], bytes]:
        """Start imposing the booklet from the book last finished; the returned call waits for it."""
        ticket = self._ask(("impose", (settings, title, back_cover)))
        return lambda: self._answer(ticket)

    def image_resolutions(self, pictures: frozenset[str]) -> Callable[[], list[PlacedImage]]:
        """Start reading the book last finished for the resolution of each of the book's `pictures`
        (see press.image_resolutions), as the main process writes the e-book; the call waits."""
        ticket = self._ask(("pictures", pictures))
        return lambda: self._answer(ticket)

    def close(self) -> None:
        with suppress(OSError):
            self._connection.send(("stop", None))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._connection.close()

    def _ask(self, request: tuple[str, Any]) -> int:
        self._send(request)
        self._asked += 1
        return self._asked

    def _answer(self, ticket: int) -> Any:
        while ticket not in self._answers:
            try:
                status, value = self._connection.recv()
            except (EOFError, OSError):
                raise self._stopped() from None
            if status != "done":
                raise RuntimeError(f"in the joining process: {value}")
            self._taken += 1
            self._answers[self._taken] = value
        return self._answers.pop(ticket)

    def _send(self, request: tuple[str, Any]) -> None:
        try:
            self._connection.send(request)
        except OSError:
            raise self._stopped() from None

    def _stopped(self) -> RenderError:
        return RenderError("the joining process stopped", Location(self.source),
                           "run the build again; if it keeps failing, report it")


def _serve_joining(connection: Connection, parents_end: Connection | None, parent: int) -> None:
    """The joining process: join parts as they come, hand back each book, impose its booklet and
    read its pictures' resolutions."""
    from .booklet import impose
    from .press import of_pictures, placed_images
    from .processes import become_child, read_ahead, send_behind

    become_child(parent)
    if parents_end is not None:
        parents_end.close()
    requests = read_ahead(connection, ("stop", None))
    send = send_behind(connection)  # the booklet is imposed while the main process takes the book
    joiner = BookJoiner()
    failed: str | None = None
    book = b""
    finished: list[BookJoiner] = []
    """The joiner of the book last finished, let go of when the next book begins: letting go of it
    takes a twentieth of a second for a 150-page book, better spent once its booklet is imposed,
    or not at all (the process ends, and its memory with it)."""
    while True:
        request, argument = requests.get()
        if request == "stop":
            os._exit(0)  # nothing is left to write; the memory goes with the process
        if request not in ("impose", "pictures"):
            finished.clear()
        try:
            if request == "append" and failed is None:
                pdf, borrowed = argument
                joiner.append(LaidPart(pdf, (), (), borrowed, ()))
            elif request == "prepend" and failed is None:
                joiner.prepend([LaidPart(pdf, (), (), borrowed, ()) for pdf, borrowed in argument])
            elif request == "share fonts" and failed is None:
                joiner.share_fonts()
            elif request == "finish":
                if failed is not None:
                    send(("failed", failed))
                else:
                    book = joiner.finish(*argument)
                    send(("done", book))
                finished[:] = [joiner]
                joiner, failed = BookJoiner(), None
            elif request == "impose":
                send(("done", impose(book, *argument)))
            elif request == "pictures":
                assert finished and finished[0].book is not None, "pictures are read from a finished book"
                send(("done", placed_images(finished[0].book, of_pictures(argument))))
        except Exception as error:  # noqa: BLE001 — reported in the main process when it asks
            message = f"{type(error).__name__}: {error}"
            if request in ("finish", "impose", "pictures"):
                send(("failed", message))
            else:
                failed = message
