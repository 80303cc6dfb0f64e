"""TeX math, typeset without TeX: vector drawings for print, MathML for the e-book.

Print: ziamath lays the formula out in its bundled STIX Two Math font and draws it as SVG; the
drawing stands in the line as an image sized in em, its baseline on the text's baseline, with
the TeX as its alternative text. E-book: latex2mathml (which ziamath is built on) writes MathML,
which reading systems set in their own fonts and read aloud; the TeX goes in `alttext`.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from html import escape

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


@lru_cache(maxsize=4096)
def svg_image(tex: str, display: bool) -> str:
    """The formula as an `<img>` holding its drawing: width, height and the depth below the
    baseline in em, so it scales with the text around it."""
    import ziamath

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
