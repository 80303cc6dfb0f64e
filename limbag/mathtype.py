"""TeX math, typeset without TeX: vector drawings for print, MathML for the e-book.

Print: ziamath lays the formula out in its bundled STIX Two Math font and draws it as SVG; the
drawing stands in the line as an image sized in em, its baseline on the text's baseline, with
the TeX as its alternative text. E-book: latex2mathml (which ziamath is built on) writes MathML,
which reading systems set in their own fonts and read aloud; the TeX goes in `alttext`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from .cache import package_version
from .files import write_atomically

SIZE = 100.0
"""The font size the drawing is made at; it is then scaled to the text's em."""


class MathError(ValueError):
    """TeX that the math typesetter cannot read."""


def check_tex(tex: str) -> None:
    """Raises MathError when `tex` cannot be typeset, so the reader can name its line."""
    mathml(tex, False)


@lru_cache(maxsize=4096)
def mathml(tex: str, display: bool) -> str:
    """The formula as a MathML `<math>` element, with the TeX as its alternative text."""
    from latex2mathml.converter import convert

    try:
        element = convert(tex.strip(), display="block" if display else "inline")
    except Exception as error:  # the converter raises many kinds of its own, all for bad TeX
        raise MathError(str(error) or type(error).__name__) from None
    return element.replace("<math ", f'<math alttext="{escape(" ".join(tex.split()), quote=True)}" ', 1)


def read_styles_quickly() -> None:
    """ziamath reads each node's style from a dict of its parent's made by `dataclasses.asdict`,
    which copies the parent's style deeply (its font variant too) for every node: a fifth of the
    time a formula-dense chapter takes to typeset. The keys it reads there are the style's own
    fields, which a shallow dict of them holds alike (the variant it takes from the parent itself)."""
    from ziamath import styles

    if getattr(styles, "asdict", None) is dataclasses.asdict:
        styles.asdict = _fields  # type: ignore[assignment]


def _fields(style: object) -> dict[str, object]:
    return dict(vars(style))


def measure_rows_quickly() -> None:
    """ziamath sets each row of a formula out twice: once, on a copy, to measure how tall it is
    without its stretchy operators (how far those stretch), then for real. Each nested row does the
    same inside both passes, so a formula nested n rows deep is set out 2^n times: half the time a
    formula takes. The measure is used only by stretchy operators (what `Moperator` reads from
    `rowymin` and `nostretch`), so a row with none anywhere inside it is set out once."""
    from ziamath import operators
    from ziamath.nodes import mrow
    from ziamath.nodes.nodetools import elementtext

    engine_measure = mrow.Mrow._get_height_nostretch
    if getattr(engine_measure, "measured_quickly", False):
        return

    def may_stretch(element: Any) -> bool:
        """A fence, or an operator that is stretchy in any form (ziamath decides the form later,
        from its place in the row)."""
        if element.tag == "mfenced":
            return True
        if element.tag not in ("mo", "mi"):
            return False
        text = elementtext(element)
        if element.tag == "mi" and text not in operators.names:  # ziamath reads these as operators
            return False
        stretchy = element.get("stretchy")
        if stretchy is not None:
            return bool(stretchy != "false")
        return any(operators.get_params(text, form).get("stretchy", "false") != "false"
                   for form in ("prefix", "infix", "postfix"))

    def measure(row: Any, line: list[Any], **kwargs: Any) -> tuple[float, float]:
        if not any(may_stretch(element) for child in line for element in child.iter()):
            return 9999.0, -9999.0  # what the engine gives a row of nothing: read by nothing here
        return engine_measure(row, line, **kwargs)

    measure.measured_quickly = True  # type: ignore[attr-defined]
    measure.engine_measure = engine_measure  # type: ignore[attr-defined]
    mrow.Mrow._get_height_nostretch = measure  # type: ignore[method-assign, assignment]


def convert_lengths_once() -> None:
    """ziamath converts a length such as `thickmathspace` or `0.5em` to pixels by building a table
    of names and units on every call, some 14,000 calls in a statistics vignette. The result
    depends only on the length and the font size, so each is converted once."""
    from ziamath.nodes import mnode

    engine_size = mnode.Mnode.size_px
    if getattr(engine_size, "converted_once", False):
        return
    converted: dict[tuple[Any, float], float] = {}

    def size_px(node: Any, size: str, fontsize: float | None = None) -> float:
        key = (size, node.glyphsize if fontsize is None else fontsize)
        found = converted.get(key)
        if found is None:
            found = engine_size(node, size, key[1])
            if len(converted) < LENGTHS_KEPT:
                converted[key] = found
        return found

    size_px.converted_once = True  # type: ignore[attr-defined]
    size_px.engine_size = engine_size  # type: ignore[attr-defined]
    mnode.Mnode.size_px = size_px  # type: ignore[method-assign, assignment]


LENGTHS_KEPT = 4096
"""How many converted lengths a process keeps (a book has a few dozen: lengths times sizes)."""


@lru_cache(maxsize=4096)
def svg_image(tex: str, display: bool) -> str:
    """The formula as an `<img>` holding its drawing: width, height and the depth below the
    baseline in em, so it scales with the text around it."""
    import ziamath

    read_styles_quickly()
    measure_rows_quickly()
    convert_lengths_once()

    try:
        drawing = ziamath.Latex(tex.strip(), size=SIZE, inline=not display, margin=0)
        svg = drawing.svg()
    except Exception as error:  # as above: bad TeX, in the typesetter's own words
        raise MathError(str(error) or type(error).__name__) from None
    box = re.search(r'viewBox="([-0-9.]+) ([-0-9.]+) ([-0-9.]+) ([-0-9.]+)"', svg)
    if box is None:
        raise MathError("the typesetter made no drawing")
    _, top, width, height = (float(value) for value in box.groups())
    depth = height + top
    source = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    style = f"width:{width / SIZE:.3f}em;height:{height / SIZE:.3f}em;vertical-align:{-depth / SIZE:.3f}em"
    alt = escape(" ".join(tex.split()), quote=True)
    return f'<img class="math" src="{source}" alt="{alt}" style="{style}"/>'


DRAWN_FILE = "formulas.json"
"""The drawings of the last build's formulas, in the build cache."""
IMAGE = re.compile(r'<img class="math" src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]*" alt="[^"<>]*" '
                   r'style="width:-?[0-9.]+em;height:-?[0-9.]+em;vertical-align:-?[0-9.]+em"/>')
"""What svg_image writes: a kept drawing of any other shape is not taken."""


@dataclass
class DrawnFormulas:
    """The print drawings of a book's formulas, kept between builds: ziamath takes some 25 ms a
    formula (three seconds for a statistics vignette), which an edit elsewhere in the book would
    otherwise pay again. Keyed by the TeX, the display mode and ziamath's version."""

    kept: dict[str, str] = field(default_factory=dict)
    used: dict[str, str] = field(default_factory=dict)
    """The drawings this build asked for: what `save_drawn` keeps."""

    def image(self, tex: str, display: bool) -> str:
        """svg_image, from the kept drawings when there."""
        key = _drawing_key(tex, display)
        found = self.used.get(key) or self.kept.get(key)
        if found is None:
            found = svg_image(tex, display)
        self.used[key] = found
        return found


def load_drawn(cache_dir: Path) -> DrawnFormulas:
    """The drawings kept by the last build into this folder (none if the file is missing or damaged)."""
    try:
        kept = json.loads((cache_dir / DRAWN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DrawnFormulas()
    if not isinstance(kept, dict):
        return DrawnFormulas()
    return DrawnFormulas({key: image for key, image in kept.items()
                          if isinstance(key, str) and isinstance(image, str) and IMAGE.fullmatch(image)})


def save_drawn(cache_dir: Path, drawn: DrawnFormulas) -> None:
    """Keep this build's drawings (only those it used) for the next build; nothing when unchanged."""
    if drawn.used == drawn.kept:
        return
    write_atomically(cache_dir / DRAWN_FILE, json.dumps(drawn.used, sort_keys=True).encode("utf-8"))


def _drawing_key(tex: str, display: bool) -> str:
    typesetter = f"ziamath {package_version('ziamath')}, ziafont {package_version('ziafont')}"
    return hashlib.sha256(f"{typesetter}\0{display}\0{tex}".encode()).hexdigest()
