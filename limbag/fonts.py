"""Bundled and book fonts: discovered from their files, declared with @font-face, never from the system."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError

from .errors import Location, Problem
from .layouts import builtin_folder

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
        return (f'@font-face {{ font-family: "{self.family}"; src: url("{self.path.as_uri()}"); '
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
    """Every usable font file in the built-in and the book's fonts/; broken files are warnings."""
    faces: list[FontFace] = []
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
                faces.append(read_font(path))
            except (TTLibError, KeyError, OSError, AssertionError) as error:
                problems.append(Problem(Location(path), f"font cannot be loaded: {error}",
                                        "replace the file with a valid TrueType or OpenType font, or remove it"))
    return tuple(faces), problems


def families(faces: tuple[FontFace, ...], used: str) -> list[tuple[str, str]]:
    """(family, licence) of the fonts a stylesheet names, in first-seen order, for the imprint."""
    seen: dict[str, str] = {}
    for face in faces:
        if f'"{face.family}"' in used or f"'{face.family}'" in used:
            seen.setdefault(face.family, face.licence)
    return list(seen.items())


def subset_font(path: Path, characters: str) -> bytes:
    """The font cut down to `characters` (OpenType features kept, Graphite tables dropped: e-readers
    do not use them). A plain function of its arguments, so a worker process can run it."""
    import io

    from fontTools import subset

    font = TTFont(path, recalcTimestamp=False)
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
