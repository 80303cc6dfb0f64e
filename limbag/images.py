"""Figures are checked before layout: inside the book, present, and really an image."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .errors import Location, ManuscriptError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
VECTOR_SUFFIXES = (".svg",)


def check_image(src: str, manuscript_dir: Path, location: Location) -> Path:
    """The image's absolute path; an error naming the chapter line if it cannot be used."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", src):
        raise ManuscriptError(f"image {src!r} is not a file in the book", location,
                              "download it into manuscript/images/ and refer to it as images/<name>")
    path = (manuscript_dir / src).resolve()
    if not path.is_relative_to(manuscript_dir.resolve()):
        raise ManuscriptError(f"image {src!r} lies outside manuscript/", location,
                              "copy it into manuscript/images/ and refer to it as images/<name>")
    if not path.is_file():
        raise ManuscriptError(f"image {src!r} not found", location,
                              f"put the file at {manuscript_dir / src} or correct the path")
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        return path
    if suffix not in RASTER_SUFFIXES:
        raise ManuscriptError(f"image {src!r} is not PNG, JPEG, GIF, WebP or SVG", location,
                              "convert it to PNG or JPEG")
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ManuscriptError(f"image {src!r} cannot be read: {error}", location,
                              "re-export the image as PNG or JPEG") from None
    return path
