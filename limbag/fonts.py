"""Bundled and book fonts: discovered from their files, declared with @font-face, never from the system."""

from __future__ import annotations

import functools
import struct
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont, TTLibError

from .config import BookConfig
from .errors import Location, Problem
from .layouts import SYSTEM_FONTS, builtin_folder
from .markup import css_string
from .model import CONTAINERS, Book, Figure, Heading, Inline, Paragraph, Table, Text, iter_blocks

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
COLLECTION_SUFFIXES = (".ttc", ".otc")

FALLBACK_FAMILIES = ("Noto Emoji", "Noto Serif CJK")
"""The faces the layouts name after the text face, in this order, for what it lacks: emoji and
symbols in Noto Emoji (monochrome, for print; bundled), then Chinese, Japanese and Korean in
Noto Serif CJK. A face is declared only for a book whose sources use a character that only it has."""


@dataclass(frozen=True, slots=True)
class FontFace:
    path: Path
    family: str
    weight: int
    """400 or 700: what CSS font matching needs."""
    italic: bool
    licence: str
    licence_files: tuple[Path, ...] = ()
    """The licence texts the e-book carries beside the font."""

    @property
    def system(self) -> bool:
        """One of the system's fallback faces, outside the fonts folders."""
        return any(self.path == path for path, _, _ in SYSTEM_FONTS)

    @property
    def packed_name(self) -> str:
        """Its file name in the e-book: a collection's one font, cut out, is an OpenType file."""
        return self.path.stem + ".otf" if self.path.suffix.lower() in COLLECTION_SUFFIXES else self.path.name

    def css(self) -> str:
        style = "italic" if self.italic else "normal"
        return (f"@font-face {{ font-family: {css_string(self.family)}; src: url({css_string(self.path.as_uri())}); "
                f"font-weight: {self.weight}; font-style: {style}; }}")


def _licence(font: TTFont) -> str:
    description = " ".join(str(font["name"].getDebugName(13) or "").split())
    if "Open Font License" in description:
        return "SIL Open Font License 1.1"
    return description[:80] or "licence not stated in the font"


def _open(path: Path) -> TTFont:
    """The font of a file; of a collection (.ttc), its first font, which the engine uses too."""
    return TTFont(path, lazy=True, fontNumber=0 if path.suffix.lower() in COLLECTION_SUFFIXES else -1)


def read_font(path: Path, family: str | None = None, licence_files: tuple[Path, ...] | None = None) -> FontFace:
    with _open(path) as font:
        name = font["name"]
        family = family or str(name.getDebugName(16) or name.getDebugName(1))
        selection, weight = font["OS/2"].fsSelection, font["OS/2"].usWeightClass
        return FontFace(path.resolve(), family, 700 if selection & 0x20 or weight >= 600 else 400, bool(selection & 0x01),
                        _licence(font), _licence_files(path) if licence_files is None else licence_files)


def _licence_files(font: Path) -> tuple[Path, ...]:
    """The licence texts beside a font: `OFL-<name>.txt` if the font's file name starts with <name>,
    else the folder's other OFL*.txt files (those that name no font of the folder)."""
    texts = sorted(font.parent.glob("OFL*.txt"))
    own = tuple(text for text in texts if text.stem.startswith("OFL-") and font.name.startswith(text.stem[4:]))
    if own:
        return own
    fonts = [other.name for other in font.parent.iterdir() if other.suffix.lower() in FONT_SUFFIXES]
    return tuple(text for text in texts
                 if not (text.stem.startswith("OFL-") and any(name.startswith(text.stem[4:]) for name in fonts)))


def font_folders(book_dir: Path) -> tuple[Path, ...]:
    """The built-in fonts, then the book's own (once, when the book is this repository)."""
    folders: list[Path] = []
    for folder in (builtin_folder("fonts"), book_dir / "fonts"):
        if folder.is_dir() and folder.resolve() not in folders:
            folders.append(folder.resolve())
    return tuple(folders)


def find_fonts(book_dir: Path, characters: frozenset[str] | None = None) -> tuple[tuple[FontFace, ...], list[Problem]]:
    """Every usable font file in the built-in and the book's fonts/, and the system's fallback faces;
    broken files are warnings. A book's font replaces a built-in one of the same file name, or of the
    same family, weight and style. Given the `characters` the book uses, fallback faces that add
    none of them are left out (so the engine does not load 26 MB of CJK for a book without any)."""
    faces: dict[tuple[str, int, bool], FontFace] = {}
    problems: list[Problem] = []
    for folder in font_folders(book_dir):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in FONT_SUFFIXES:
                continue
            if not path.resolve().is_relative_to(folder):
                problems.append(Problem(Location(path), "font file links outside the fonts folder; not used",
                                        "copy the font into the book's fonts/ folder"))
                continue
            try:
                face = read_font(path)
            except (TTLibError, KeyError, OSError, AssertionError, ValueError, struct.error) as error:
                problems.append(Problem(Location(path), f"font cannot be loaded: {error}",
                                        "replace the file with a valid TrueType or OpenType font, or remove it"))
                continue
            for key, known in list(faces.items()):
                if known.path.name == path.name and known.path.parent != folder:
                    del faces[key]
            faces[(face.family, face.weight, face.italic)] = face
    for path, family, licence in SYSTEM_FONTS:
        if not path.is_file():
            continue
        try:
            face = read_font(path, family, (builtin_folder("fonts") / licence,))
        except (TTLibError, KeyError, OSError, AssertionError, ValueError, struct.error):
            continue  # a damaged system font: as if it were not installed
        faces.setdefault((face.family, face.weight, face.italic), face)
    found = tuple(faces.values())
    return (found if characters is None else needed_faces(found, characters)), problems


def needed_faces(faces: tuple[FontFace, ...], characters: frozenset[str]) -> tuple[FontFace, ...]:
    """The faces without the fallbacks that have none of `characters` that the faces before them lack.
    A fallback's character map is read only when the text faces leave characters uncovered (a CJK
    face's takes a fifth of a second), and one face's stands for its family."""
    kept = [face for face in faces if face.family not in FALLBACK_FAMILIES]
    wanted = {ord(char) for char in characters if not char.isspace() and char not in UNPRINTED}
    for face in kept:
        wanted -= _characters_of(face.path)
        if not wanted:
            return tuple(kept)
    for family in FALLBACK_FAMILIES:
        members = [face for face in faces if face.family == family]
        if wanted and members:
            has = _characters_of(min(members, key=lambda face: (face.weight, face.italic)).path)
            if wanted & has:
                kept.extend(members)
                wanted -= has
    return tuple(face for face in faces if face in kept)


def source_characters(config: BookConfig) -> frozenset[str]:
    """Every character of the book's sources, known before they are read into the model: book.yaml,
    the chapters and the blurb as text, the XML of Word and ODT files' text parts (its markup is ASCII)."""
    found: set[str] = set()
    blurb = config.cover.blurb if config.cover is not None else None
    for path in (config.source, *config.chapters, *((blurb,) if blurb is not None else ())):
        try:
            if path.suffix.lower() in (".docx", ".odt"):
                with zipfile.ZipFile(path) as archive:
                    for name in archive.namelist():
                        if name.startswith("word/") and name.endswith(".xml") or name == "content.xml":
                            with archive.open(name) as part:
                                found.update(part.read(MAX_XML_PART).decode("utf-8", "replace"))
            else:
                found.update(path.read_text(encoding="utf-8-sig", errors="replace"))
        except (OSError, zipfile.BadZipFile):
            continue  # the reader reports it, located
    return frozenset(found)


MAX_XML_PART = 64 * 1024 * 1024


def families(faces: tuple[FontFace, ...], used: str) -> list[tuple[str, str]]:
    """(family, licence) of the fonts a stylesheet names, in first-seen order, for the imprint."""
    seen: dict[str, str] = {}
    for face in faces:
        if f'"{face.family}"' in used or f"'{face.family}'" in used:
            seen.setdefault(face.family, face.licence)
    return list(seen.items())


def subset_font(path: Path, characters: str) -> bytes:
    """The font cut down to `characters`, every OpenType feature and the standard names kept, Graphite tables
    dropped (e-readers do not use them). HarfBuzz does it where the system has its subsetter (the
    layout engine needs it too), a few milliseconds a face; fontTools, ten times slower, otherwise.
    A plain function of its arguments, so a worker process can run it."""
    data = path.read_bytes()
    try:
        return harfbuzz_subset(data, characters)
    except OSError:
        return _fonttools_subset(data, characters)


HARFBUZZ_API = """
typedef struct hb_blob_t hb_blob_t;
typedef struct hb_face_t hb_face_t;
typedef struct hb_set_t hb_set_t;
typedef struct hb_subset_input_t hb_subset_input_t;
hb_blob_t *hb_blob_create(const char *data, unsigned int length, int mode, void *user_data, void *destroy);
void hb_blob_destroy(hb_blob_t *blob);
const char *hb_blob_get_data(hb_blob_t *blob, unsigned int *length);
hb_face_t *hb_face_create(hb_blob_t *blob, unsigned int index);
hb_blob_t *hb_face_reference_blob(hb_face_t *face);
void hb_face_destroy(hb_face_t *face);
void hb_set_add(hb_set_t *set, uint32_t codepoint);
void hb_set_clear(hb_set_t *set);
void hb_set_invert(hb_set_t *set);
hb_subset_input_t *hb_subset_input_create_or_fail(void);
void hb_subset_input_destroy(hb_subset_input_t *input);
hb_set_t *hb_subset_input_unicode_set(hb_subset_input_t *input);
hb_set_t *hb_subset_input_set(hb_subset_input_t *input, int set_type);
void hb_subset_input_set_flags(hb_subset_input_t *input, unsigned int flags);
hb_face_t *hb_subset_or_fail(hb_face_t *source, const hb_subset_input_t *input);
"""
HB_MEMORY_MODE_READONLY = 1
HB_SUBSET_SETS_NAME_ID, HB_SUBSET_SETS_NAME_LANG_ID, HB_SUBSET_SETS_LAYOUT_FEATURE_TAG = 4, 5, 6
HB_SUBSET_FLAGS_NOTDEF_OUTLINE = 0x40
STANDARD_NAME_IDS = range(26)
SUBSETTER_LIBRARIES = {
    "harfbuzz": ("libharfbuzz.so.0", "libharfbuzz.0.dylib", "libharfbuzz-0.dll", "harfbuzz"),
    "harfbuzz-subset": ("libharfbuzz-subset.so.0", "libharfbuzz-subset.0.dylib", "libharfbuzz-subset-0.dll",
                        "harfbuzz-subset"),
}


def harfbuzz_subset(data: bytes, characters: str) -> bytes:
    """hb-subset through cffi; OSError if the libraries are not there."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(HARFBUZZ_API)
    harfbuzz, subsetter = (_first_library(ffi, names) for names in SUBSETTER_LIBRARIES.values())
    blob = ffi.gc(harfbuzz.hb_blob_create(data, len(data), HB_MEMORY_MODE_READONLY, ffi.NULL, ffi.NULL),
                  harfbuzz.hb_blob_destroy)
    face = ffi.gc(harfbuzz.hb_face_create(blob, 0), harfbuzz.hb_face_destroy)
    request = ffi.gc(subsetter.hb_subset_input_create_or_fail(), subsetter.hb_subset_input_destroy)
    if request == ffi.NULL:
        raise OSError("the font subsetter could not start")
    unicodes = subsetter.hb_subset_input_unicode_set(request)
    for codepoint in sorted({ord(character) for character in characters}):
        harfbuzz.hb_set_add(unicodes, codepoint)
    for kept in (HB_SUBSET_SETS_NAME_LANG_ID, HB_SUBSET_SETS_LAYOUT_FEATURE_TAG):
        every = subsetter.hb_subset_input_set(request, kept)
        harfbuzz.hb_set_clear(every)
        harfbuzz.hb_set_invert(every)
    names = subsetter.hb_subset_input_set(request, HB_SUBSET_SETS_NAME_ID)
    for name_id in STANDARD_NAME_IDS:  # the font's names, copyright and licence; not its feature names
        harfbuzz.hb_set_add(names, name_id)
    subsetter.hb_subset_input_set_flags(request, HB_SUBSET_FLAGS_NOTDEF_OUTLINE)
    subset = subsetter.hb_subset_or_fail(face, request)
    if subset == ffi.NULL:
        raise OSError("the font subsetter could not cut the font down")
    subset = ffi.gc(subset, harfbuzz.hb_face_destroy)
    result = ffi.gc(harfbuzz.hb_face_reference_blob(subset), harfbuzz.hb_blob_destroy)
    length = ffi.new("unsigned int *")
    pointer = harfbuzz.hb_blob_get_data(result, length)
    return bytes(ffi.buffer(pointer, length[0]))


def _first_library(ffi: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        try:
            return ffi.dlopen(name)
        except OSError:
            continue
    raise OSError(f"none of {', '.join(names)} could be loaded")


def _fonttools_subset(data: bytes, characters: str) -> bytes:
    import io

    from fontTools import subset

    font = TTFont(io.BytesIO(data), recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["Silf", "Sill", "Silt", "Glat", "Gloc", "Feat"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(c) for c in characters}))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


@functools.cache
def _characters_of(path: Path) -> frozenset[int]:
    with _open(path) as font:
        return frozenset(font.getBestCmap() or {})


CJK_NAMES = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH")
"""How the names of the characters Noto Serif CJK is for begin."""
UNPRINTED = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")
"""Characters that print nothing of their own: soft hyphen, zero-width space and joiners."""


def _words(inlines: tuple[Inline, ...]) -> Iterator[str]:
    for node in inlines:
        if isinstance(node, Text):
            yield node.text
        elif isinstance(node, CONTAINERS):
            yield from _words(node.children)


def _printed_text(book: Book) -> Iterator[tuple[str, Path]]:
    """The text set in the book's fonts, by the file it comes from: titles, paragraphs, captions and
    table cells (code is set in the monospaced face and formulas are drawn, so neither is here)."""
    for chapter in book.chapters:
        yield chapter.title_text, chapter.source
        blocks = [*chapter.blocks, *(child for note in chapter.footnotes for child in note.children)]
        for block in iter_blocks(blocks):
            if isinstance(block, (Paragraph, Heading)):
                runs = [block.children]
            elif isinstance(block, Figure):
                runs = [block.caption]
            elif isinstance(block, Table):
                runs = [block.caption, *(cell.children for row in (*block.head, *block.body, *block.foot) for cell in row)]
            else:
                continue
            for run in runs:
                yield "".join(_words(run)), chapter.source


def missing_characters(book: Book, faces: tuple[FontFace, ...]) -> list[Problem]:
    """A warning for each character of the text that none of the book's fonts has, at the first line
    that uses it, once per character: it would print as an empty box, or in a font of the system's."""
    covered = frozenset().union(*(_characters_of(face.path) for face in faces))
    first: dict[str, Path] = {}
    for text, source in _printed_text(book):
        for char in text:
            if char not in first and ord(char) not in covered and not char.isspace() and char not in UNPRINTED \
                    and unicodedata.category(char) not in ("Cc", "Cf", "Mn"):
                first[char] = source
    problems = []
    lines: dict[Path, list[str]] = {}
    for char, source in first.items():
        if source not in lines:
            try:
                lines[source] = source.read_text(encoding="utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError):  # a Word or ODT file: no lines to name
                lines[source] = []
        line = next((number for number, text in enumerate(lines[source], start=1) if char in text), None)
        name = unicodedata.name(char, "").title() or "a character without a name"
        hint = "add a font that has it to the book's fonts/ folder and name it in the layout's font-family, " \
               "or write it otherwise"
        if name.upper().startswith(CJK_NAMES):
            hint = "install the Noto Serif CJK fonts (Debian and Ubuntu: apt install fonts-noto-cjk), or " + hint
        problems.append(Problem(Location(source, line), f"none of the book's fonts has {char!r} (U+{ord(char):04X}, "
                                f"{name}): it prints as an empty box, or in another font the system has", hint))
    return problems
