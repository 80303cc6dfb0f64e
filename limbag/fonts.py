"""Bundled and book fonts: discovered from their files, declared with @font-face, never from the system."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont, TTLibError

from .errors import Location, Problem
from .layouts import builtin_folder
from .markup import css_string

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")


@dataclass(frozen=True, slots=True)
class FontFace:
    path: Path
    family: str
    weight: int
    """400 or 700: what CSS font matching needs."""
    italic: bool
    licence: str

    def css(self) -> str:
        style = "italic" if self.italic else "normal"
        return (f"@font-face {{ font-family: {css_string(self.family)}; src: url({css_string(self.path.as_uri())}); "
                f"font-weight: {self.weight}; font-style: {style}; }}")


def _licence(font: TTFont) -> str:
    description = " ".join(str(font["name"].getDebugName(13) or "").split())
    if "Open Font License" in description:
        return "SIL Open Font License 1.1"
    return description[:80] or "licence not stated in the font"


def read_font(path: Path) -> FontFace:
    with TTFont(path, lazy=True) as font:
        name = font["name"]
        family = str(name.getDebugName(16) or name.getDebugName(1))
        selection = font["OS/2"].fsSelection
        return FontFace(path.resolve(), family, 700 if selection & 0x20 else 400, bool(selection & 0x01), _licence(font))


def font_folders(book_dir: Path) -> tuple[Path, ...]:
    """The built-in fonts, then the book's own (once, when the book is this repository)."""
    folders: list[Path] = []
    for folder in (builtin_folder("fonts"), book_dir / "fonts"):
        if folder.is_dir() and folder.resolve() not in folders:
            folders.append(folder.resolve())
    return tuple(folders)


def find_fonts(book_dir: Path) -> tuple[tuple[FontFace, ...], list[Problem]]:
    """Every usable font file in the built-in and the book's fonts/; broken files are warnings. A book's
    font replaces a built-in one of the same file name, or of the same family, weight and style."""
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
    return tuple(faces.values()), problems


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
