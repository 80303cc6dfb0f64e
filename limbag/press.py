"""The press PDF made ready for a print shop's preflight: the laid-out book (PDF/X-4, bleed and
trim boxes) converted to the printing condition's CMYK, with nothing a press cannot print.

- Colours go through the printing condition's ICC profile (littleCMS, through Pillow's ImageCms):
  vector colours with relative colorimetric rendering, pictures with perceptual rendering.
  Neutral greys print with black ink alone (never as four-colour grey), and the book's near-black
  text (the layouts' #111) as 100% black, so small type is not screened.
- The output intent names the printing condition and carries its profile.
- No annotations (links are for screens) and no structure tree (it points at them).
- Crop and registration marks are drawn in the Registration colour (every ink), outside the bleed.

Also: each picture's resolution at its printed size, for both PDFs (`image_resolutions`).
"""

from __future__ import annotations

import hashlib
import io
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import PageSettings
from .errors import Location, Problem, RenderError
from .model import Book, Figure, iter_blocks

MM = 72 / 25.4

GHOSTSCRIPT_PROFILES = (Path("/usr/share/color/icc/ghostscript"), Path("/usr/share/ghostscript/iccprofiles"),
                        Path("/usr/local/share/ghostscript/iccprofiles"))
"""Where Ghostscript's ICC profiles are installed (Debian: package libgs-common)."""


@dataclass(frozen=True, slots=True)
class PrintingCondition:
    """A press and paper the press PDF is made for: what PDF/X calls the output intent."""

    identifier: str
    """The registered name (`CGATS TR 001`, `FOGRA39`), or the profile's own description."""
    registry: str
    """Where `identifier` is registered ("" if it is not)."""
    info: str
    profile: bytes
    """The CMYK printer profile (ICC) that characterises it."""


KNOWN_CONDITIONS = {
    "swop": ("CGATS TR 001", "http://www.color.org",
             "SWOP: web offset on coated publication paper (CGATS TR 001), profile 'Artifex CMYK SWOP Profile'",
             "default_cmyk.icc"),
}
"""Printing conditions known by name: identifier, registry, description, Ghostscript's profile for it."""


def printing_condition(page: PageSettings, where: Location) -> PrintingCondition:
    """The printing condition book.yaml's `page.colour` names, with its profile checked to be a
    CMYK printer profile."""
    from PIL import ImageCms

    if isinstance(page.colour, Path):
        try:
            data = page.colour.read_bytes()
            profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        except (OSError, ImageCms.PyCMSError) as error:
            raise RenderError(f"page.colour: {page.colour.name} is not an ICC profile ({error})", where,
                              "name a CMYK printer profile (.icc), or `swop`") from None
        if profile.profile.xcolor_space.strip() != "CMYK" or profile.profile.device_class != "prtr":
            raise RenderError(f"page.colour: {page.colour.name} is not a CMYK printer profile", where,
                              "name the profile of the press's printing condition (CMYK, output)")
        description = ImageCms.getProfileDescription(profile).strip() or page.colour.stem
        return PrintingCondition(page.condition or description, "http://www.color.org" if page.condition else "",
                                 description, data)
    identifier, registry, info, file_name = KNOWN_CONDITIONS[page.colour]
    for folder in GHOSTSCRIPT_PROFILES:
        if (folder / file_name).is_file():
            return PrintingCondition(identifier, registry, info, (folder / file_name).read_bytes())
    raise RenderError(f"the press PDF needs Ghostscript's CMYK profile {file_name}, which is not installed", where,
                      "install Debian's libgs-common (apt-get install libgs-common), or name a CMYK printer "
                      "profile of your own in book.yaml (page: {colour: press.icc})")


class _Colours:
    """sRGB → the condition's CMYK, each colour worked out once."""

    def __init__(self, profile: bytes) -> None:
        from PIL import ImageCms

        srgb = ImageCms.createProfile("sRGB")
        cmyk = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        flags = ImageCms.Flags.BLACKPOINTCOMPENSATION
        self.vector = ImageCms.buildTransform(srgb, cmyk, "RGB", "CMYK", ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                              flags=flags)
        self.pictures = ImageCms.buildTransform(srgb, cmyk, "RGB", "CMYK", ImageCms.Intent.PERCEPTUAL, flags=flags)
        self.known: dict[tuple[int, ...], tuple[float, ...]] = {}

    def cmyk(self, red: float, green: float, blue: float) -> tuple[float, ...]:
        key = tuple(max(0, min(255, round(value * 255))) for value in (red, green, blue))
        if key not in self.known:
            if max(key) - min(key) <= 1:  # a grey: black ink alone, and the text's near-black as solid black
                grey = sum(key) / 3 / 255
                self.known[key] = (0.0, 0.0, 0.0, 1.0 if grey <= NEAR_BLACK else round(1 - grey, 4))
            else:
                from PIL import Image, ImageCms

                pixel = ImageCms.applyTransform(Image.new("RGB", (1, 1), key), self.vector)
                assert pixel is not None
                self.known[key] = tuple(round(value / 255, 4) for value in pixel.getpixel((0, 0)))  # type: ignore[union-attr]
        return self.known[key]

    def picture(self, image: Any) -> Any:
        from PIL import ImageCms

        return ImageCms.applyTransform(image.convert("RGB"), self.pictures)


NEAR_BLACK = 0.1
"""Greys this dark (#1a1a1a and darker: the layouts' text colour) print as 100% black."""


def make_press_ready(pdf: bytes, condition: PrintingCondition, page: PageSettings) -> bytes:
    """The laid-out press PDF (see pdf.render_book with press=True) in the condition's CMYK, with
    its output intent, without annotations, with the marks `page.marks` asks for."""
    import pikepdf

    colours = _Colours(condition.profile)
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for item in document.objects:
            if isinstance(item, pikepdf.Stream):
                subtype = item.get("/Subtype")
                if subtype == "/Image":
                    _convert_image(item, colours)
                elif subtype == "/Form" or item.get("/PatternType") == 1:
                    _convert_content(item, colours)
                    _convert_group(item)
            if isinstance(item, (pikepdf.Dictionary, pikepdf.Stream)) and "/ShadingType" in item:
                _convert_shading(item, colours)
        for sheet in document.pages:
            sheet.contents_coalesce()
            _convert_content(sheet.obj.Contents, colours, sheet.obj.get("/Resources"))
            _convert_group(sheet.obj)
            if "/Annots" in sheet.obj:
                del sheet.obj["/Annots"]
            if "/StructParents" in sheet.obj:
                del sheet.obj["/StructParents"]
            if page.marks:
                _draw_marks(document, sheet, page.marks)
        for key in ("/StructTreeRoot", "/MarkInfo", "/AcroForm"):
            if key in document.Root:
                del document.Root[key]
        profile = document.make_stream(condition.profile, N=4)
        intent = pikepdf.Dictionary(Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFX,
                                    OutputConditionIdentifier=condition.identifier, Info=condition.info,
                                    RegistryName=condition.registry, DestOutputProfile=profile)
        if not condition.registry:
            del intent["/RegistryName"]
        document.Root.OutputIntents = pikepdf.Array([document.make_indirect(intent)])
        out = io.BytesIO()
        document.save(out, deterministic_id=True, compress_streams=True,
                      object_stream_mode=pikepdf.ObjectStreamMode.preserve)
    return out.getvalue()


RGB_SPACES = ("/DeviceRGB", "/CalRGB")


def _is_rgb(space: Any) -> bool:
    import pikepdf

    if isinstance(space, pikepdf.Name):
        return str(space) in RGB_SPACES
    if isinstance(space, pikepdf.Array) and len(space) >= 2:
        kind = str(space[0])
        return kind in RGB_SPACES or (kind == "/ICCBased" and int(space[1].get("/N", 0)) == 3)
    return False


def _convert_content(stream: Any, colours: _Colours, resources: Any = None) -> None:
    """Every DeviceRGB colour of a content stream (rg, RG, and sc/scn after an RGB cs) in CMYK."""
    import pikepdf

    resources = resources if resources is not None else stream.get("/Resources")
    named = resources.get("/ColorSpace", {}) if resources is not None else {}
    out: list[Any] = []
    changed = False
    rgb = {"fill": False, "stroke": False}
    for instruction in pikepdf.parse_content_stream(stream):
        if isinstance(instruction, pikepdf.ContentStreamInlineImage):
            out.append(instruction)
            continue
        operands, operator = instruction.operands, str(instruction.operator)
        side = "stroke" if operator.isupper() else "fill"
        if operator in ("rg", "RG") and len(operands) == 3:
            out.append(pikepdf.ContentStreamInstruction(
                list(colours.cmyk(*(float(value) for value in operands))), pikepdf.Operator("k" if side == "fill" else "K")))
            changed = True
        elif operator in ("cs", "CS") and operands:
            name = operands[0]
            space = named.get(str(name), name) if isinstance(name, pikepdf.Name) else name
            rgb[side] = _is_rgb(space)
            if rgb[side]:
                out.append(pikepdf.ContentStreamInstruction([pikepdf.Name.DeviceCMYK], instruction.operator))
                changed = True
            else:
                out.append(instruction)
        elif operator in ("sc", "scn", "SC", "SCN") and rgb[side] and len(operands) == 3:
            out.append(pikepdf.ContentStreamInstruction(
                list(colours.cmyk(*(float(value) for value in operands))), instruction.operator))
            changed = True
        else:
            out.append(instruction)
    if changed:
        stream.write(pikepdf.unparse_content_stream(out))


def _convert_group(owner: Any) -> None:
    """A transparency group blends in the printing condition's colour space."""
    import pikepdf

    group = owner.get("/Group")
    if group is not None and _is_rgb(group.get("/CS")):
        group.CS = pikepdf.Name.DeviceCMYK


def _convert_image(image: Any, colours: _Colours) -> None:
    import pikepdf

    space = image.get("/ColorSpace")
    if isinstance(space, pikepdf.Array) and len(space) == 4 and str(space[0]) == "/Indexed" and _is_rgb(space[1]):
        table = bytes(space[3].read_bytes() if isinstance(space[3], pikepdf.Stream) else bytes(space[3]))
        cmyk = b"".join(bytes(round(value * 255) for value in colours.cmyk(*(c / 255 for c in table[i:i + 3])))
                        for i in range(0, len(table) - 2, 3))
        image.ColorSpace = pikepdf.Array([pikepdf.Name.Indexed, pikepdf.Name.DeviceCMYK, space[2],
                                          pikepdf.String(cmyk)])
        return
    if not _is_rgb(space):
        return
    picture = pikepdf.PdfImage(image).as_pil_image()
    converted = colours.picture(picture)
    image.write(zlib.compress(converted.tobytes(), 6), filter=pikepdf.Name.FlateDecode)
    image.ColorSpace = pikepdf.Name.DeviceCMYK
    image.BitsPerComponent = 8
    for key in ("/DecodeParms", "/Decode"):
        if key in image:
            del image[key]


def _convert_shading(shading: Any, colours: _Colours) -> None:
    """A gradient's colours (exponential functions, stitched or not) in CMYK."""
    import pikepdf

    if not _is_rgb(shading.get("/ColorSpace")):
        return

    def convert(function: Any) -> bool:
        if int(function.get("/FunctionType", -1)) == 2:
            for key in ("/C0", "/C1"):
                values = [float(v) for v in function.get(key, [0, 0, 0] if key == "/C0" else [1, 1, 1])]
                function[key] = pikepdf.Array(list(colours.cmyk(*values)))
            return True
        if int(function.get("/FunctionType", -1)) == 3:
            return all(convert(inner) for inner in function.Functions)
        return False

    function = shading.get("/Function")
    if function is not None and not isinstance(function, pikepdf.Array) and convert(function):
        shading.ColorSpace = pikepdf.Name.DeviceCMYK


def _draw_marks(document: Any, sheet: Any, marks: tuple[str, ...]) -> None:
    """Crop marks at the corners of the trim, registration targets at the middle of its sides,
    outside the bleed, in the Registration colour."""
    import pikepdf

    left, bottom, right, top = (float(v) for v in sheet.obj.TrimBox)
    bleed_left = float(sheet.obj.get("/BleedBox", sheet.obj.TrimBox)[0])
    media_left, media_bottom = float(sheet.obj.MediaBox[0]), float(sheet.obj.MediaBox[1])
    gap = max(left - bleed_left, 0) + 1 * MM  # marks start past the bleed
    length = max(min(left - media_left, bottom - media_bottom) - gap - 1 * MM, 0)
    lines: list[str] = ["q /Registration CS 1 SCN 0.25 w 0 J"]
    if "crop" in marks and length > 0:
        for x, y, sx, sy in ((left, bottom, -1, -1), (right, bottom, 1, -1), (left, top, -1, 1), (right, top, 1, 1)):
            lines.append(f"{x + sx * gap:.3f} {y:.3f} m {x + sx * (gap + length):.3f} {y:.3f} l S")
            lines.append(f"{x:.3f} {y + sy * gap:.3f} m {x:.3f} {y + sy * (gap + length):.3f} l S")
    if "cross" in marks and length > 0:
        radius = min(length / 2, 2.5 * MM) * 0.6
        middle_x, middle_y = (left + right) / 2, (bottom + top) / 2
        for x, y in ((middle_x, bottom - gap - length / 2), (middle_x, top + gap + length / 2),
                     (left - gap - length / 2, middle_y), (right + gap + length / 2, middle_y)):
            lines.append(_target(x, y, radius))
    lines.append("Q")
    registration = pikepdf.Array([pikepdf.Name.Separation, pikepdf.Name.All, pikepdf.Name.DeviceCMYK,
                                  document.make_indirect(pikepdf.Dictionary(
                                      FunctionType=2, Domain=[0, 1], C0=[0, 0, 0, 0], C1=[1, 1, 1, 1], N=1))])
    resources = sheet.obj.get("/Resources")
    if resources is None:
        sheet.obj.Resources = resources = pikepdf.Dictionary()
    if "/ColorSpace" not in resources:
        resources.ColorSpace = pikepdf.Dictionary()
    resources.ColorSpace.Registration = registration
    sheet.contents_add(document.make_stream("\n".join(lines).encode()), prepend=False)


def _target(x: float, y: float, radius: float) -> str:
    """A registration target: a circle with a cross through it."""
    k = 0.5523 * radius  # control-point distance of a quarter circle
    circle = (f"{x + radius:.3f} {y:.3f} m "
              f"{x + radius:.3f} {y + k:.3f} {x + k:.3f} {y + radius:.3f} {x:.3f} {y + radius:.3f} c "
              f"{x - k:.3f} {y + radius:.3f} {x - radius:.3f} {y + k:.3f} {x - radius:.3f} {y:.3f} c "
              f"{x - radius:.3f} {y - k:.3f} {x - k:.3f} {y - radius:.3f} {x:.3f} {y - radius:.3f} c "
              f"{x + k:.3f} {y - radius:.3f} {x + radius:.3f} {y - k:.3f} {x + radius:.3f} {y:.3f} c S")
    cross = 1.5 * radius
    return (f"{circle} {x - cross:.3f} {y:.3f} m {x + cross:.3f} {y:.3f} l S "
            f"{x:.3f} {y - cross:.3f} m {x:.3f} {y + cross:.3f} l S")


# Picture resolution --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlacedImage:
    name: str
    """The engine's name for the picture (`/i<digest of its address>…`)."""
    page_index: int
    pixels: tuple[int, int]
    ppi: float
    """Pixels per inch at its printed size (the lower of the two directions)."""


def image_resolutions(pdf: bytes, names: Callable[[str], bool] = lambda name: True) -> list[PlacedImage]:
    """Every picture drawn in the PDF whose name `names` accepts, with its resolution where it is
    drawn (see placed_images)."""
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        return placed_images(document, names)


def placed_images(document: Any, names: Callable[[str], bool] = lambda name: True) -> list[PlacedImage]:
    """image_resolutions of a PDF open already (a pikepdf.Pdf). Only the pages whose resources
    hold such a picture have their drawing read: in a book of formulas (forms without pictures)
    that is a few pages of hundreds."""
    placed: list[PlacedImage] = []
    for index, sheet in enumerate(document.pages):
        resources = sheet.obj.get("/Resources")
        if resources is None or not _holds_image(resources, names, 0):
            continue
        for name, image, matrix in _drawn_images(sheet.obj, resources, (1, 0, 0, 1, 0, 0), 0):
            width, height = int(image.Width), int(image.Height)
            printed_width = math.hypot(matrix[0], matrix[1]) / 72
            printed_height = math.hypot(matrix[2], matrix[3]) / 72
            if printed_width > 0 and printed_height > 0:
                ppi = min(width / printed_width, height / printed_height)
                placed.append(PlacedImage(name, index, (width, height), ppi))
    return placed


Matrix = tuple[float, float, float, float, float, float]


def _times(first: Matrix, second: Matrix) -> Matrix:
    a, b, c, d, e, f = first
    A, B, C, D, E, F = second  # noqa: N806
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _holds_image(resources: Any, names: Callable[[str], bool], depth: int) -> bool:
    """Whether `resources`, or those of a form they hold, name a picture that `names` accepts."""
    if depth > 8:
        return False
    for name, drawn in resources.get("/XObject", {}).items():
        subtype = drawn.get("/Subtype")
        if subtype == "/Image" and names(str(name)):
            return True
        inner = drawn.get("/Resources") if subtype == "/Form" else None
        if inner is not None and _holds_image(inner, names, depth + 1):
            return True
    return False


def _drawn_images(stream: Any, resources: Any, start: Matrix, depth: int) -> Iterator[tuple[str, Any, Matrix]]:
    import pikepdf

    if depth > 8:
        return
    objects = resources.get("/XObject", {}) if resources is not None else {}
    matrix, stack = start, []
    contents = stream.Contents if isinstance(stream, pikepdf.Dictionary) and "/Contents" in stream else stream
    for instruction in pikepdf.parse_content_stream(contents):
        if isinstance(instruction, pikepdf.ContentStreamInlineImage):
            continue
        operator = str(instruction.operator)
        if operator == "q":
            stack.append(matrix)
        elif operator == "Q" and stack:
            matrix = stack.pop()
        elif operator == "cm" and len(instruction.operands) == 6:
            matrix = _times(tuple(float(v) for v in instruction.operands), matrix)  # type: ignore[arg-type]
        elif operator == "Do" and instruction.operands:
            name = str(instruction.operands[0])
            drawn = objects.get(name)
            if drawn is None:
                continue
            if drawn.get("/Subtype") == "/Image":
                yield name, drawn, matrix
            elif drawn.get("/Subtype") == "/Form":
                inner = tuple(float(v) for v in drawn.get("/Matrix", [1, 0, 0, 1, 0, 0]))
                yield from _drawn_images(drawn, drawn.get("/Resources", resources), _times(inner, matrix), depth + 1)  # type: ignore[arg-type]


def image_name(url: str) -> str:
    """The name the layout engine gives a picture loaded from `url` (less its last digit)."""
    return "/i" + hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()


def low_resolution(placed: list[PlacedImage], threshold: float,
                   locate: Callable[[str], tuple[Location, str] | None]) -> Iterator[tuple[Location, str, PlacedImage]]:
    """The pictures under `threshold` ppi, each once (at its lowest), with where the manuscript calls
    for it and its file name."""
    lowest: dict[str, PlacedImage] = {}
    for image in placed:
        key = image.name[:-1]
        if image.ppi < threshold and (key not in lowest or image.ppi < lowest[key].ppi):
            lowest[key] = image
    for key, image in lowest.items():
        found = locate(key)
        if found is not None:
            yield found[0], found[1], image


READING_PPI = 150
"""Below this, a picture looks soft in the reading PDF and on an office printer (the booklet)."""
PRESS_PPI = 300
"""Below this, a print shop's preflight flags a picture."""


Pictures = dict[str, tuple[Location, str]]
"""The book's pictures by the engine's name for them (less its last digit): where the manuscript
or book.yaml calls for each, and its file name."""


def book_pictures(book: Book) -> Pictures:
    """The figures and cover pictures whose resolution picture_problems checks."""
    from urllib.parse import urljoin

    from .pdf import print_image_url

    manuscript = book.config.manuscript_dir.resolve()
    base = manuscript.as_uri() + "/"
    pictures = {image_name(urljoin(base, print_image_url(block.image, manuscript))): (block.location, block.image.name)
                for chapter in book.chapters for block in iter_blocks(chapter.blocks) if isinstance(block, Figure)}
    cover = book.config.cover
    for key, path in (("cover.image", cover.image if cover else None),
                      ("cover.background", cover.background_image if cover else None)):
        if path is not None:
            pictures[image_name(urljoin(base, print_image_url(path, manuscript)))] = (book.config.location(key), path.name)
    return pictures


def of_pictures(pictures: Iterable[str]) -> Callable[[str], bool]:
    """The `names` argument of image_resolutions that accepts the book's pictures."""
    wanted = frozenset(pictures)
    return lambda name: name[:-1] in wanted


def picture_problems(placed: list[PlacedImage], pictures: Pictures, press: bool) -> list[Problem]:
    """A warning, at the line that calls for it, for each of the book's `pictures` that the PDF
    prints (`placed`, see image_resolutions) at too low a resolution for the outputs made: under
    150 ppi for every PDF, under 300 ppi for the press PDF and the cover."""
    locate = pictures.get
    wanted = PRESS_PPI if press else READING_PPI
    problems = []
    for location, file_name, image in low_resolution(placed, wanted, locate):
        size = f"image {file_name!r} ({image.pixels[0]}×{image.pixels[1]} pixels) prints at {image.ppi:.0f} ppi"
        if image.ppi < READING_PPI:
            what = f"{size}: it will look blurred (under {READING_PPI} ppi" + (
                f"; the press PDF wants {PRESS_PPI})" if press else ")")
        else:
            what = f"{size}, under the {PRESS_PPI} ppi a print shop expects in the press PDF"
        needed = math.ceil(image.pixels[0] * wanted / image.ppi)
        problems.append(Problem(location, what, f"use a picture at least {needed} pixels wide, or print it smaller"))
    return problems
