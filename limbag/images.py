"""Figures are checked before layout: inside the book, present, really an image, and of a size the
layout engine can decode."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError

from .errors import Location, ManuscriptError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
VECTOR_SUFFIXES = (".svg",)
MAX_PIXELS = 60_000_000
"""A page-wide photograph at 600 dpi is some 30 million pixels; decoded, 60 million take 240 MB."""
MAX_SVG_BYTES = 10 * 1024 * 1024
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class ImageRefused(ManuscriptError):
    """An image that is not a file of the book (a web address, a file elsewhere): not shown, but not
    a mistake that stops the build either; its alt text stands in its place."""


def check_image(src: str, manuscript_dir: Path, location: Location) -> Path:
    """The image's absolute path; an error naming the chapter line if it cannot be used. The path is
    read as Markdown writes it: percent-escapes (`fig%231.png`) are undone."""
    if URL.match(src):
        raise ImageRefused(f"image {src!r} is not a file in the book; its alt text is shown instead", location,
                           "download it into manuscript/images/ and refer to it as images/<name>")
    path = (manuscript_dir / unquote(src)).resolve()
    if not path.is_relative_to(manuscript_dir.resolve()):
        raise ImageRefused(f"image {src!r} lies outside manuscript/; its alt text is shown instead", location,
                           "copy it into manuscript/images/ and refer to it as images/<name>")
    if not path.is_file():
        raise ManuscriptError(f"image {src!r} not found", location,
                              f"put the file at {manuscript_dir / unquote(src)} or correct the path")
    suffix = path.suffix.lower()
    if suffix in VECTOR_SUFFIXES:
        _check_svg(path, src, location)
        return path
    if suffix not in RASTER_SUFFIXES:
        raise ManuscriptError(f"image {src!r} is not PNG, JPEG, GIF, WebP or SVG", location,
                              "convert it to PNG or JPEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            with Image.open(path) as image:
                pixels = image.width * image.height
                if pixels > MAX_PIXELS:
                    raise ManuscriptError(f"image {src!r} has {image.width} × {image.height} = {pixels:,} pixels; "
                                          f"at most {MAX_PIXELS:,} are decoded", location,
                                          "scale it down (300 dpi at its printed size is plenty)")
                image.verify()
    except Image.DecompressionBombError as error:  # so large that the image library will not even open it
        stated = re.search(r"\((\d+) pixels\)", str(error))
        count = f"{int(stated.group(1)):,}" if stated else "too many"
        raise ManuscriptError(f"image {src!r} has {count} pixels; at most {MAX_PIXELS:,} are decoded", location,
                              "scale it down (300 dpi at its printed size is plenty)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ManuscriptError(f"image {src!r} cannot be read: {error}", location,
                              "re-export the image as PNG or JPEG") from None
    return path


def _check_svg(path: Path, src: str, location: Location) -> None:
    """Well-formed XML with an <svg> root: the layout engine otherwise drops the figure with a vague
    warning. (Python's XML parser refuses entity expansion bombs.)"""
    from xml.etree import ElementTree

    try:
        if path.stat().st_size > MAX_SVG_BYTES:
            raise ManuscriptError(f"image {src!r} is larger than {MAX_SVG_BYTES >> 20} MB", location,
                                  "simplify the drawing, or export it as PNG")
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError, ValueError) as error:
        raise ManuscriptError(f"image {src!r} is not a readable SVG drawing: {error}", location,
                              "re-export the drawing as SVG or PNG") from None
    if root.tag.rpartition("}")[2] != "svg":
        raise ManuscriptError(f"image {src!r} is XML but not an SVG drawing (its root is <{root.tag}>)", location,
                              "re-export the drawing as SVG or PNG")
