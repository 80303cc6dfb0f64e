"""Model + page map → EPUB 3: one function per file of the package, the zip written last.

The e-book is the second writer of the same Book as the PDF. It carries the print pagination:
a page-break marker where each printed page begins (taken from the PDF stage's page map), a
page-list, and index and chronology locators that show print page numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import mimetypes
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from .cache import cached_font_if_present, store_font
from .config import BookConfig, written_moment
from .errors import Location, Problem, RenderError
from .files import inside
from .fonts import FontFace, families, subset_font
from .language import Language
from .layouts import Layouts
from .markup import MarkupOptions, attr, block_text, blocks_html, css_string, inlines_html
from .model import (
    Block,
    Book,
    Chapter,
    Figure,
    Heading,
    as_list_entry,
    bibliography_ids,
    chapter_ids,
    iter_blocks,
    listed,
)
from .pagemap import PageMap
from .pdf import BackMatter

MIMETYPE = b"application/epub+zip"
CONTAINER = b"""<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="EPUB/package.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
XHTML = "application/xhtml+xml"


@dataclass(frozen=True, slots=True)
class PackageFile:
    href: str
    """Path inside EPUB/."""
    data: bytes
    media_type: str
    properties: str | None = None
    in_spine: bool = False

    @property
    def id(self) -> str:
        return "f-" + "".join(c if c.isalnum() else "-" for c in self.href)


@dataclass(frozen=True, slots=True)
class WrittenEpub:
    data: bytes
    files: tuple[PackageFile, ...]
    page_files: tuple[tuple[str, str], ...]
    """(printed page label, file holding its marker), in page order."""
    problems: tuple[Problem, ...]


# Page-break markers -------------------------------------------------------------------------------

def page_starts(page_map: PageMap) -> dict[str, list[str]]:
    """Element id → labels of the pages that begin there; a page where nothing begins (a blank
    verso) is marked with the next page that has a beginning."""
    starts: dict[str, list[str]] = {}
    waiting: list[str] = []
    for index, (label, first) in enumerate(zip(page_map.labels, page_map.first_on_page, strict=True)):
        if page_map.is_cover(index):  # the e-book has a cover of its own
            continue
        waiting.append(label)
        if first is not None:
            starts.setdefault(first, []).extend(waiting)
            waiting = []
    if waiting:
        starts.setdefault("", []).extend(waiting)  # trailing blank pages: at the very end
    return starts


@dataclass
class _Markers:
    """Hands out each page's marker once, at the element where the page begins."""

    starts: dict[str, list[str]]
    emitted: list[str] = field(default_factory=list)

    def before(self, element_id: str) -> str:
        labels = self.starts.pop(element_id, [])
        self.emitted.extend(labels)
        return "".join(f'<span epub:type="pagebreak" role="doc-pagebreak" id="_page-{attr(label)}" '
                       f'aria-label="{attr(label)}"></span>' for label in labels)


# Where things are ------------------------------------------------------------------------------------

def chapter_file(chapter: Chapter) -> str:
    return f"chapter-{chapter.number:02d}.xhtml"


def _locations(book: Book, back: BackMatter) -> dict[str, str]:
    """Which file holds each id."""
    where: dict[str, str] = {"title-page": "title.xhtml", "imprint": "imprint.xhtml", "contents": "nav.xhtml",
                             "list-of-figures": "nav.xhtml", "list-of-tables": "nav.xhtml",
                             "chronology": "chronology.xhtml", "bibliography": "bibliography.xhtml",
                             "index": "index.xhtml"}
    where.update((element_id, "bibliography.xhtml") for element_id in bibliography_ids(back.bibliography))
    for chapter in book.chapters:
        for element_id in chapter_ids(chapter):
            where[element_id] = chapter_file(chapter)
    if back.chronology is not None:
        for number in range(1, len(back.chronology.rows) + 1):
            where[f"chrono-{number}"] = "chronology.xhtml"
    if back.index is not None:
        for group in back.index.groups:
            where[group.id] = "index.xhtml"
            stack = list(group.entries)
            while stack:
                entry = stack.pop()
                where[entry.id] = "index.xhtml"
                stack.extend(entry.children)
    return where


def _file_of(element_id: str, where: dict[str, str]) -> str | None:
    if element_id.startswith("_w-"):  # a word anchor: _w-<paragraph id>-<n>
        element_id = element_id[3:].rsplit("-", 1)[0]
    return where.get(element_id)


# The files ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Context:
    book: Book
    config: BookConfig
    language: Language
    layouts: Layouts
    back: BackMatter
    page_map: PageMap
    where: dict[str, str]
    markers: _Markers
    fonts: list[tuple[str, str]]

    def href(self, element_id: str) -> str:
        return f"{self.where.get(element_id, '')}#{element_id}"

    def render(self, template: str, page_title: str, **values: object) -> bytes:
        text = self.layouts.render(
            f"epub/{template}", book=self.config, ui=self.language.ui, page_title=page_title,
            pagebreaks=lambda element_id: Markup(self.markers.before(element_id)), **values)
        return text.encode("utf-8")


def _markup_options(context: _Context, chapter: Chapter | None) -> MarkupOptions:
    """How a chapter's text (or, without one, other text of the book) is written in the e-book."""
    manuscript = context.config.manuscript_dir.resolve()
    return MarkupOptions(
        language=context.language,
        notes={note.id: note for note in chapter.footnotes} if chapter is not None else {},
        image_url=lambda path: image_href(path, manuscript),
        notes_inline=False,
        before_id=context.markers.before,
        link_href=lambda url: context.href(url[1:]) if url.startswith("#") and url[1:] in context.where else url,
        page_labels=_PageLabels(context.page_map),
    )


class _PageLabels(Mapping[str, str]):
    """The print edition's page label of each element, for page references: the e-book names the
    page the printed book does (and its page list leads there)."""

    def __init__(self, page_map: PageMap) -> None:
        self.page_map = page_map

    def __getitem__(self, element_id: str) -> str:
        return self.page_map.label_of(element_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self.page_map.anchor_pages)

    def __len__(self) -> int:
        return len(self.page_map.anchor_pages)


def image_href(path: Path, manuscript: Path) -> str:
    """Where an image is packed: its path in manuscript/, under media/, and the same as a URL (a name
    with characters a URL or a reading system might not take keeps a digest of the original)."""
    if not path.is_relative_to(manuscript):  # a picture taken out of a Word or ODT file
        return f"media/extracted/{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}{path.suffix.lower()}"
    relative = path.relative_to(manuscript).as_posix()
    safe = re.sub(r"[^A-Za-z0-9._/-]", "_", relative)
    if safe != relative:
        stem, dot, suffix = safe.rpartition(".")
        digest = hashlib.sha256(relative.encode()).hexdigest()[:8]
        safe = f"{stem}-{digest}.{suffix}" if dot else f"{safe}-{digest}"
    return "media/" + safe


def build_title(context: _Context) -> PackageFile:
    data = context.render("title.xhtml.j2", context.language.word("title_page"))
    return PackageFile("title.xhtml", data, XHTML, in_spine=True)


def build_cover(context: _Context, picture: bytes | None) -> list[PackageFile]:
    """The cover page and its picture (marked as the cover image, which reading systems show in
    their libraries), for a book with `cover:`; none without."""
    cover = context.config.cover
    if cover is None:
        return []
    if cover.image is not None:
        href = "media/cover" + cover.image.suffix.lower().replace(".jpeg", ".jpg")
        data = cover.image.read_bytes()
    elif picture is not None:
        href, data = "media/cover.png", picture
    else:
        return []
    media_type = mimetypes.guess_type(href)[0] or "application/octet-stream"
    page = context.render("cover.xhtml.j2", context.language.word("cover"), src=href, alt=context.config.cover_alt)
    return [PackageFile("cover.xhtml", page, XHTML, in_spine=True),
            PackageFile(href, data, media_type, properties="cover-image")]


def build_imprint(context: _Context) -> PackageFile:
    date = context.config.date
    data = context.render("imprint.xhtml.j2", context.language.word("imprint"), fonts=context.fonts,
                          date_text=context.language.format_date(date) if date else None)
    return PackageFile("imprint.xhtml", data, XHTML, in_spine=True)


def _footnotes_html(chapter: Chapter, options: MarkupOptions) -> str:
    # The backlink goes to the note's first call, whose id the reader gives as _fnref-<chapter>-<note>.
    return "\n".join(
        f'<aside epub:type="footnote" role="doc-footnote" class="footnote" id="{attr(note.id)}">'
        f'<a class="backlink" role="doc-backlink" href="#_fnref-{chapter.number}-{note.number}">{note.number}.</a>'
        f"{blocks_html(note.children, options)}</aside>"
        for note in chapter.footnotes
    )


def build_chapter(context: _Context, chapter: Chapter) -> PackageFile:
    options = _markup_options(context, chapter)
    view = {
        "id": chapter.id,
        "number": chapter.number,
        "title": Markup(inlines_html(chapter.title, options)),
        "body": Markup(blocks_html(chapter.blocks, options)),
        "notes": Markup(_footnotes_html(chapter, options)),
    }
    data = context.render("chapter.xhtml.j2", chapter.title_text, chapter=view)
    return PackageFile(chapter_file(chapter), data, XHTML, properties="mathml" if b"<math " in data else None,
                       in_spine=True)


def build_chronology_file(context: _Context) -> PackageFile | None:
    chronology = context.back.chronology
    if chronology is None:
        return None
    rows = [{"date_text": row.date_text, "text": row.text, "page_label": row.page_label,
             "href": context.href(row.anchor) if row.anchor and row.page_label else None}
            for row in chronology.rows]
    data = context.render("chronology.xhtml.j2", context.language.word("chronology"),
                          chronology=chronology, rows=rows)
    return PackageFile("chronology.xhtml", data, XHTML, properties="svg" if chronology.figure else None,
                       in_spine=True)


def build_bibliography_file(context: _Context) -> PackageFile | None:
    bibliography = context.back.bibliography
    if bibliography is None:
        return None
    options = _markup_options(context, None)
    title = bibliography.title or context.language.word("bibliography")
    entries = []
    for entry in bibliography.entries:
        body = blocks_html(entry.blocks, options)
        if entry.cited_at and body.endswith("</p>"):  # back to where the work is first cited
            where = context.href(entry.cited_at[0])
            body = (f'{body[:-4]} <a class="backlink" role="doc-backlink" href="{attr(where)}" '
                    f'aria-label="{attr(context.language.word("cited_at"))}">↩</a></p>')
        entries.append({"id": entry.id, "body": Markup(body)})
    data = context.render("bibliography.xhtml.j2", title, title=title, entries=entries)
    return PackageFile("bibliography.xhtml", data, XHTML, in_spine=True)


def build_index_file(context: _Context) -> PackageFile | None:
    index = context.back.index
    if index is None:
        return None
    entry_ids: dict[str, str] = {}
    for group in index.groups:
        for entry in group.entries:
            entry_ids.setdefault(entry.term, entry.id)

    def term_href(term: str) -> str:
        return f"#{entry_ids[term]}" if term in entry_ids else ""

    data = context.render("index.xhtml.j2", context.language.word("index"), index=index,
                          href=context.href, term_href=term_href)
    return PackageFile("index.xhtml", data, XHTML, in_spine=True)


def build_navigation_doc(context: _Context, page_files: list[tuple[str, str]]) -> PackageFile:
    ui = context.language.ui
    toc = []
    for chapter in context.book.chapters:
        options = _markup_options(context, chapter)
        sections = [{"href": context.href(block.id), "title": Markup(inlines_html(block.children, options))}
                    for block in chapter.blocks if isinstance(block, Heading) and block.level == 2]
        toc.append({"href": chapter_file(chapter), "title": chapter.title_text, "children": sections})
    if context.back.chronology is not None:
        toc.append({"href": "chronology.xhtml", "title": ui["chronology"], "children": []})
    if context.back.bibliography is not None:
        toc.append({"href": "bibliography.xhtml", "children": [],
                    "title": context.back.bibliography.title or ui["bibliography"]})
    if context.back.index is not None:
        toc.append({"href": "index.xhtml", "title": ui["index"], "children": []})
    landmarks = [{"type": "toc", "href": "nav.xhtml#contents", "title": ui["contents"]}]
    if context.config.cover is not None:
        landmarks.insert(0, {"type": "cover", "href": "cover.xhtml", "title": ui["cover"]})
    if context.book.chapters:
        first = context.book.chapters[0]
        landmarks.append({"type": "bodymatter", "href": chapter_file(first), "title": first.title_text})
    if context.back.bibliography is not None:
        landmarks.append({"type": "bibliography", "href": "bibliography.xhtml",
                          "title": context.back.bibliography.title or ui["bibliography"]})
    if context.back.index is not None:
        landmarks.append({"type": "index", "href": "index.xhtml", "title": ui["index"]})
    pages = [{"label": label, "href": f"{file}#_page-{label}"} for label, file in page_files]
    data = context.render("nav.xhtml.j2", ui["contents"], toc=toc, landmarks=landmarks, pages=pages,
                          lists=_lists(context))
    return PackageFile("nav.xhtml", data, XHTML, properties="nav mathml" if b"<math " in data else "nav",
                       in_spine=True)


def _lists(context: _Context) -> list[dict[str, object]]:
    """The lists of figures and tables book.yaml asks for: each entry names the page the print
    edition has it on, as the printed list does."""
    language, page_map = context.language, context.page_map
    options = dataclasses.replace(_markup_options(context, None), before_id=lambda element_id: "")
    lists: list[dict[str, object]] = []
    for kind in context.config.lists:
        entries = []
        for item in listed(context.book, kind):
            label = attr(f"{language.word(kind[:-1])} {item.number}") if item.number else ""
            caption = inlines_html(as_list_entry(item.caption), options).strip()
            page = page_map.label_of(item.id) if item.id in page_map.anchor_pages else None
            text = ". ".join(part for part in (label, caption) if part)
            if page:
                text += f" ({attr(language.word('page_reference'))}\u00a0{attr(page)})"
            entries.append({"href": context.href(item.id), "text": Markup(text)})
        lists.append({"id": f"list-of-{kind}", "type": "loi" if kind == "figures" else "lot",
                      "title": language.word(f"list_of_{kind}"), "entries": entries})
    return lists


def build_stylesheets(context: _Context, faces: Iterable[FontFace]) -> list[PackageFile]:
    css = context.layouts.find("epub/book.css").read_bytes()
    font_css = "\n".join(
        f"@font-face {{ font-family: {css_string(face.family)}; src: url({css_string('../fonts/' + face.packed_name)}); "
        f'font-weight: {face.weight}; font-style: {"italic" if face.italic else "normal"}; }}'
        for face in faces
    )
    return [PackageFile("css/book.css", css, "text/css"), PackageFile("css/fonts.css", font_css.encode(), "text/css")]


def build_fonts(faces: Iterable[FontFace], subset_data: Mapping[Path, bytes]) -> list[PackageFile]:
    """Each font, already cut down to the characters the book uses, with the licence beside it."""
    files: list[PackageFile] = []
    licences: dict[bytes, str] = {}
    """Each licence text once, under its file name (numbered if another text has the name already)."""
    for face in faces:
        media_type = "font/otf" if face.packed_name.lower().endswith(".otf") else "font/ttf"
        files.append(PackageFile(f"fonts/{face.packed_name}", subset_data[face.path], media_type))
        for licence in face.licence_files:
            if not inside(licence, licence.parent):
                raise RenderError("this licence file is a link to a file outside the fonts folder", Location(licence),
                                  "copy the licence into the fonts/ folder instead of linking to it")
            text = licence.read_bytes()
            taken = set(licences.values())
            name, number = licence.name, 1
            while text not in licences and name in taken:
                number += 1
                name = f"{licence.stem}-{number}{licence.suffix}"
            licences.setdefault(text, name)
    files.extend(PackageFile(f"fonts/{name}", text, "text/plain") for text, name in licences.items())
    return files


def epub_faces(faces: tuple[FontFace, ...], layouts: Layouts) -> tuple[FontFace, ...]:
    """The faces the e-book's stylesheet names: the only ones it packs."""
    named = {family for family, _ in families(faces, layouts.find("epub/book.css").read_text(encoding="utf-8"))}
    return tuple(face for face in faces if face.family in named)


BINARY = (".docx", ".odt")


def book_characters(book: Book, language: Language) -> str:
    """Every character the e-book can show: its sources, settings and interface words, digits and
    the punctuation of the layouts. Known before layout, so fonts can be subset alongside it."""
    texts = [path.read_text(encoding="utf-8-sig") for path in book.config.chapters if path.suffix.lower() not in BINARY]
    for chapter in book.chapters:  # a Word or ODT file's words are known from the model
        if chapter.source.suffix.lower() in BINARY:
            texts.append(chapter.title_text)
            texts.extend(block_text(block) for block in iter_blocks(chapter.blocks))
            texts.extend(block_text(block) for note in chapter.footnotes for block in iter_blocks(note.children))
    texts.append(book.config.source.read_text(encoding="utf-8"))
    texts.extend(language.ui.values())
    texts.extend(language.months)
    texts.append("0123456789ivxlcdmIVXLCDM–—…«»“”‘’.,;:!?()[]#%&*/+-=<>@ ")
    return "".join(sorted(set("".join(texts)) | {chr(c) for c in range(0x20, 0x7F)}))


def subset_fonts(faces: Iterable[FontFace], characters: str, cache_dir: Path | None,
                 executor: Executor | None = None) -> Callable[[], dict[Path, bytes]]:
    """Start subsetting (on `executor` if given) and return a function that waits for the result."""
    pending: dict[Path, Any] = {}
    for face in faces:
        cached = cached_font_if_present(cache_dir, face.path, characters)
        if cached is not None:
            pending[face.path] = cached
        elif executor is not None:
            pending[face.path] = executor.submit(subset_font, face.path, characters)
        else:
            pending[face.path] = subset_font(face.path, characters)

    def result() -> dict[Path, bytes]:
        done: dict[Path, bytes] = {}
        for path, value in pending.items():
            done[path] = value if isinstance(value, bytes) else value.result()
            store_font(cache_dir, path, characters, done[path])
        return done

    return result


def build_images(book: Book) -> list[PackageFile]:
    manuscript = book.config.manuscript_dir.resolve()
    files: dict[str, PackageFile] = {}
    for figure in _figures(block for chapter in book.chapters for block in chapter.blocks):
        href = image_href(figure.image, manuscript)
        media_type = mimetypes.guess_type(figure.image.name)[0] or "application/octet-stream"
        try:
            data = figure.image.read_bytes()
        except OSError as error:
            raise RenderError(f"image {figure.image.name!r} could not be read: {error.strerror}", figure.location,
                              "check the file; if it was moved or changed during the build, build again") from None
        files[href] = PackageFile(href, data, media_type)
    return list(files.values())


def _figures(blocks: Iterable[Block]) -> Iterable[Figure]:
    return (block for block in iter_blocks(blocks) if isinstance(block, Figure))


def modified_time(config: BookConfig) -> str:
    """dcterms:modified that does not change between builds (see config.written_moment)."""
    return written_moment(config).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_package(context: _Context, files: list[PackageFile], has_images: bool) -> PackageFile:
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "pageBreakMarkers", "pageNavigation",
                "displayTransformability"]
    if context.back.index is not None:
        features.append("index")
    if has_images:
        features.append("alternativeText")
    visual = has_images or bool(context.back.chronology and context.back.chronology.figure)
    data = context.layouts.render(
        "epub/package.opf.j2", book=context.config, ui=context.language.ui, modified=modified_time(context.config),
        page_break_source=context.config.identifier, visual=visual, features=features,
        manifest=files, spine=[f.id for f in files if f.in_spine],
    ).encode("utf-8")
    return PackageFile("package.opf", data, "application/oebps-package+xml")


def zip_package(files: list[PackageFile]) -> bytes:
    """mimetype first and stored; every entry with the same time and mode, in a fixed order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        def add(name: str, data: bytes, compress: int) -> None:
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = compress
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, data, compresslevel=9 if compress == zipfile.ZIP_DEFLATED else None)

        add("mimetype", MIMETYPE, zipfile.ZIP_STORED)
        add("META-INF/container.xml", CONTAINER, zipfile.ZIP_DEFLATED)
        for file in sorted(files, key=lambda f: f.href):
            add(f"EPUB/{file.href}", file.data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def write_epub(book: Book, back: BackMatter, page_map: PageMap, layouts: Layouts, language: Language,
               faces: tuple[FontFace, ...], fonts: Callable[[], dict[Path, bytes]] | None = None,
               cover_picture: bytes | None = None) -> WrittenEpub:
    """The whole e-book as bytes; `fonts` waits for subset fonts started earlier (see subset_fonts).
    A book with `cover:` opens with a cover page: its `cover.image`, or else `cover_picture`, the
    printed front cover drawn as a PNG picture (see cover.front_cover_picture)."""
    config = book.config
    where = _locations(book, back)
    starts = page_starts(page_map)
    placement: dict[str, str] = {}
    for element_id, labels in starts.items():
        for label in labels:
            placement[label] = _file_of(element_id, where) or ""
    markers = _Markers(dict(starts))
    used_faces = epub_faces(faces, layouts)
    credits = list(dict.fromkeys((face.family, face.licence) for face in used_faces))
    context = _Context(book, config, language, layouts, back, page_map, where, markers, credits)

    covers = build_cover(context, cover_picture)
    content: list[PackageFile] = [*covers[:1], build_title(context), build_imprint(context)]
    builders: list[Callable[[], PackageFile | None]] = [
        *(lambda chapter=chapter: build_chapter(context, chapter) for chapter in book.chapters),
        lambda: build_chronology_file(context),
        lambda: build_bibliography_file(context),
        lambda: build_index_file(context),
    ]
    later = [file for file in (build() for build in builders) if file is not None]
    page_files = [(label, placement.get(label) or (later[-1].href if later else "nav.xhtml"))
                  for index, label in enumerate(page_map.labels) if not page_map.is_cover(index)]
    navigation = build_navigation_doc(context, page_files)
    trailing = markers.before("")  # blank pages at the very end of the print edition
    if trailing and later:
        last = later[-1]
        later[-1] = PackageFile(last.href, last.data.replace(b"</body>", trailing.encode() + b"\n</body>"),
                                last.media_type, last.properties, last.in_spine)
    spine_files = [*content, navigation, *later]
    problems = [Problem(Location(config.source), f"printed page {label} has no place in the e-book",
                        "report this: a page-break marker is missing") for labels in markers.starts.values()
                for label in labels]
    images = build_images(book)
    fonts = fonts or subset_fonts(used_faces, book_characters(book, language), None)
    support = [*build_stylesheets(context, used_faces), *build_fonts(used_faces, fonts()), *images, *covers[1:]]
    files = [*spine_files, *support]
    files.append(build_package(context, files, bool(images)))
    return WrittenEpub(zip_package(files), tuple(files), tuple(page_files), tuple(problems))
