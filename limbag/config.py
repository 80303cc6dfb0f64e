"""book.yaml → a frozen, typed BookConfig; every problem is collected, then raised once."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .citations import BIBLIOGRAPHY_SUFFIXES, BUNDLED_STYLES, DEFAULT_STYLE, CitationSettings, bundled_style
from .cover import PAPER_THICKNESS_MM, PRICE_CODE
from .errors import ConfigError, LimbagError, Location, ManuscriptError, Problem
from .files import check_book_folders, inside
from .language import data_code_for

OUTPUT_FORMATS = ("pdf", "booklet", "press", "epub", "cover")
DEFAULT_OUTPUTS = ("pdf", "booklet", "epub")

# Trimmed page and sheet sizes in millimetres (width, height), portrait.
PAPER_SIZES_MM: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "a3": (297.0, 420.0),
        "a4": (210.0, 297.0),
        "a5": (148.0, 210.0),
        "a6": (105.0, 148.0),
        "b5": (176.0, 250.0),
        "letter": (215.9, 279.4),
        "legal": (215.9, 355.6),
        "halfletter": (139.7, 215.9),
        "tabloid": (279.4, 431.8),
    }
)
# Trim sizes that print-on-demand services print (Amazon KDP's, IngramSpark's and Lulu's lists share
# these), by the names the trade gives them and as `WxHin`.
TRIM_SIZES_MM: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "5x8in": (127.0, 203.2),
        "5.25x8in": (133.35, 203.2),
        "5.5x8.5in": (139.7, 215.9),
        "digest": (139.7, 215.9),
        "6x9in": (152.4, 228.6),
        "ustrade": (152.4, 228.6),
        "6.14x9.21in": (155.956, 233.934),
        "royal": (155.956, 233.934),
        "7x10in": (177.8, 254.0),
        "executive": (177.8, 254.0),
        "7.44x9.69in": (188.976, 246.126),
        "crownquarto": (188.976, 246.126),
        "8x10in": (203.2, 254.0),
        "8.5x11in": (215.9, 279.4),
    }
)
PAGE_SIZES = ("a4", "a5", "a6", "b5", "letter", "halfletter", *TRIM_SIZES_MM)
MARKS = ("crop", "cross")
MM_PER_UNIT = MappingProxyType({"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72, "pc": 25.4 / 6})

TOP_LEVEL_KEYS = (
    "title", "subtitle", "authors", "author", "language", "date", "publisher", "rights",
    "description", "isbn", "identifier", "slug", "chapters", "page", "outputs", "booklet",
    "index", "chronology", "markdown", "bibliography", "csl", "reference-section-title", "nocite",
    "crossref", "lists", "cover",
)
COVER_KEYS = ("image", "alt", "background", "colour", "blurb", "price")
CROSSREF_KEYS = ("chapters",)
LISTS = ("figures", "tables")
PAGE_KEYS = ("size", "margins", "bleed", "marks", "colour", "condition", "paper")
PRINTING_CONDITIONS = ("swop",)
"""The printing conditions Limbag knows by name (see press.py); else a CMYK .icc file in manuscript/."""
BOOKLET_KEYS = ("sheet", "creep")
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
LENGTH = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(mm|cm|in|pt|pc)\s*$")


@dataclass(frozen=True, slots=True)
class PageSettings:
    """The trimmed page of the printed book."""

    width_mm: float
    height_mm: float
    margins: str | None = None
    """A CSS margin shorthand such as `20mm 18mm 22mm`; the layout's default when unset."""
    bleed_mm: float = 0.0
    marks: tuple[str, ...] = ()
    colour: str | Path = "swop"
    """The press PDF's printing condition: a name Limbag knows (see press.py), or a CMYK printer
    profile (.icc) in manuscript/."""
    condition: str | None = None
    """With a profile of the book's: the registered name of its printing condition (`FOGRA39`)."""
    paper_mm: float = PAPER_THICKNESS_MM["white"]
    """How thick a page (half a leaf) is, which makes the spine of the cover: `page.paper`."""

    @property
    def css_size(self) -> str:
        return f"{_mm(self.width_mm)} {_mm(self.height_mm)}"


@dataclass(frozen=True, slots=True)
class CoverSettings:
    """`cover:` in book.yaml: the front and back cover, drawn by the `print/cover.html.j2` layout."""

    image: Path | None = None
    """A picture that is the whole front cover; without it the layout sets title and authors."""
    alt: str | None = None
    """What the front cover shows, for readers who cannot see it."""
    background: str = "#1f3a5f"
    """A CSS colour behind the covers and spine."""
    background_image: Path | None = None
    """A picture behind the front cover's text."""
    colour: str = "#ffffff"
    """The colour of the covers' text."""
    blurb: Path | None = None
    """A Markdown file in manuscript/, set on the back cover."""
    price: str | None = None
    """The EAN-5 add-on beside the ISBN bar code: a currency digit and four of price (`51995`)."""


@dataclass(frozen=True, slots=True)
class BookletSettings:
    """The sheet a saddle-stitched booklet is printed on (landscape, two pages a side)."""

    sheet_width_mm: float = 210.0
    sheet_height_mm: float = 297.0
    creep_mm: float = 0.0


@dataclass(frozen=True, slots=True)
class BookConfig:
    """The validated contents of `manuscript/book.yaml`."""

    book_dir: Path
    source: Path
    title: str
    language: str
    subtitle: str | None = None
    authors: tuple[str, ...] = ()
    date: dt.date | None = None
    publisher: str | None = None
    rights: str | None = None
    description: str | None = None
    isbn: str | None = None
    identifier: str = ""
    """The ISBN as `urn:isbn:…`, the given identifier, or a stable UUID made from the title."""
    slug: str = "book"
    chapters: tuple[Path, ...] = ()
    """Chapter files in reading order, absolute."""
    page: PageSettings = field(default_factory=lambda: PageSettings(148.0, 210.0))
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS
    booklet: BookletSettings = field(default_factory=BookletSettings)
    index: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    chronology: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    markdown: str = "markdown"
    """The Markdown dialect the chapters are written in, as Pandoc names it (`markdown`, `gfm`,
    `commonmark_x` …, with +/- extensions)."""
    citations: CitationSettings | None = None
    """The bibliography and citation style, when the book has a bibliography."""
    numbers_by_chapter: bool = False
    """`crossref: {chapters: true}`: figures, tables and equations numbered within each chapter
    ("Figure 2.3"), not through the book."""
    lists: tuple[str, ...] = ()
    """`lists: [figures, tables]`: the lists printed after the contents."""
    cover: CoverSettings | None = None
    """The covers, when book.yaml has `cover:` or asks for the `cover` output."""
    key_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Line of every key path (`page.size`, `chapters[1]`) in book.yaml, for later messages."""

    @property
    def manuscript_dir(self) -> Path:
        return self.book_dir / "manuscript"

    @property
    def cover_alt(self) -> str:
        """What the front cover shows, for readers who cannot see it: `cover.alt`, else title — authors."""
        given = self.cover.alt if self.cover is not None else None
        return given or " — ".join(filter(None, (self.title, ", ".join(self.authors))))

    def location(self, key_path: str) -> Location:
        """Where a key stands in book.yaml (its parent's line if it is absent)."""
        return Location(self.source, line_of(self.key_lines, key_path))


def written_moment(config: BookConfig) -> dt.datetime:
    """The time written into the outputs, never the clock's, so that two builds are byte-identical:
    SOURCE_DATE_EPOCH (seconds since 1970, UTC) when set, else the book's date, else 2000-01-01."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch.isdigit() else None
        except (OverflowError, OSError, ValueError):
            moment = None
        if moment is None:
            raise LimbagError(f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a time the outputs can carry",
                              hint="set it to whole seconds since 1970 (e.g. 1700000000), or unset it")
        return moment
    date = config.date or dt.date(2000, 1, 1)
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)


def line_of(lines: Mapping[str, int], key_path: str) -> int | None:
    """The line of a key path, or of its nearest parent that is written (`page.size` → `page`)."""
    path = key_path
    while path and path not in lines:
        path = path.rpartition(".")[0]
    return lines.get(path)


def _mm(value: float) -> str:
    return f"{value:g}mm"


def parse_length_mm(text: str) -> float | None:
    """'3mm' → 3.0, '0.125in' → 3.175; None when it is not a length."""
    match = LENGTH.match(text)
    if not match:
        return None
    return float(match.group(1)) * MM_PER_UNIT[match.group(2)]


MAX_SLUG = 80
"""Output names are the slug and a suffix; file systems take 255 bytes a name."""


def _shortened(slug: str) -> str:
    """A slug made from a long title, cut at a word to MAX_SLUG characters."""
    if len(slug) <= MAX_SLUG:
        return slug
    return slug[:MAX_SLUG + 1].rsplit("-", 1)[0][:MAX_SLUG].strip("-") or "book"


def slugify(text: str) -> str:
    """An ASCII file-name stem: 'Ang Kahilingan ng USSR' → 'ang-kahilingan-ng-ussr'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "book"


def isbn13_is_valid(digits: str) -> bool:
    if not re.fullmatch(r"97[89]\d{10}", digits):
        return False
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits))
    return total % 10 == 0


def _key_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    """Record the 1-based line of every key path below a composed YAML node."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            _key_lines(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value):
            _key_lines(item, f"{path}[{number}]", lines)


MAX_YAML_BYTES = 512 * 1024
"""book.yaml is read whole; a real one, with hundreds of index terms and events, is a few dozen KB."""
MAX_YAML_DEPTH = 40


class _Refused(yaml.MarkedYAMLError):
    """YAML that is valid but not read: an alias, or nesting too deep."""


class _BookLoader(yaml.SafeLoader):
    """The safe loader, but dates stay text (`2026-13-01` becomes our located error, not a crash),
    and without aliases (`*name`, which can make a few lines stand for billions of values) or
    nesting deeper than MAX_YAML_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(problem="YAML aliases (*name) are not read", problem_mark=mark)
        if self.depth >= MAX_YAML_DEPTH:
            raise _Refused(problem=f"nested more than {MAX_YAML_DEPTH} levels deep", problem_mark=mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_BookLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(source: Path) -> tuple[Any, dict[str, int]]:
    """Safe-load a YAML file and the line of each key path; syntax errors name line and column,
    and so do keys written twice."""
    try:
        size = source.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError([Problem(Location(source), f"the file is {size / 1024:.0f} KB; at most "
                                       f"{MAX_YAML_BYTES // 1024} KB is read", "keep long texts in the chapters")])
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(Location(source), "file not found",
                                   "every book needs manuscript/book.yaml with at least `title` and `language`")]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([Problem(Location(source), f"not UTF-8 text (byte {error.start})",
                                   "save the file as UTF-8")]) from None
    except OSError as error:
        raise ConfigError([Problem(Location(source), f"cannot be read: {error.strerror}",
                                   "check the file's permissions")]) from None
    loader = _BookLoader(text)
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(source, node)
        if duplicates:
            raise ConfigError(duplicates)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as error:
        mark = error.problem_mark
        hint = ("write the values out in full, without anchors and aliases" if "alias" in str(error.problem)
                else "write the settings with fewer levels")
        raise ConfigError([Problem(Location(source, mark.line + 1, mark.column + 1) if mark else Location(source),
                                   str(error.problem), hint)]) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = Location(source, mark.line + 1, mark.column + 1) if mark else Location(source)
        raise ConfigError([Problem(location, f"YAML syntax error: {error.problem or error.context}",
                                   "check the indentation and quoting on this line or the one before")]) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem(Location(source), f"YAML error: {error}", "fix the YAML")]) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _key_lines(node, "", lines)
    return data, lines


def _duplicate_keys(source: Path, root: yaml.Node | None) -> list[Problem]:
    """A key written twice in one mapping: YAML would keep the last one without a word."""
    problems = []
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            first_lines: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and name in first_lines:
                    problems.append(Problem(Location(source, line, key.start_mark.column + 1),
                                            f"{name}: written twice (first on line {first_lines[name]})",
                                            "keep one of them"))
                first_lines.setdefault(name, line)
                pending.append(value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return sorted(problems, key=lambda problem: problem.location.line or 0)


class _Checker:
    """Collects problems against book.yaml key paths while the values are converted."""

    def __init__(self, source: Path, data: Mapping[str, Any], lines: Mapping[str, int]) -> None:
        self.source = source
        self.data = data
        self.lines = lines
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def where(self, key_path: str) -> Location:
        return Location(self.source, line_of(self.lines, key_path) or 1)

    def error(self, key_path: str, message: str, hint: str) -> None:
        self.errors.append(Problem(self.where(key_path), f"{key_path}: {message}", hint))

    def warn(self, key_path: str, message: str, hint: str) -> None:
        self.warnings.append(Problem(self.where(key_path), f"{key_path}: {message}", hint))

    def text(self, mapping: Mapping[str, Any], key: str, prefix: str = "", required: bool = False) -> str | None:
        path = f"{prefix}{key}"
        value = mapping.get(key)
        if value is None:
            if required:
                self.errors.append(Problem(Location(self.source, 1), f"{path}: missing", f"add `{key}:` to book.yaml"))
            return None
        if isinstance(value, (dt.date, int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"expected text, got {_describe(value)}", "write it as a quoted string")
            return None
        return value.strip()

    def unknown_keys(self, mapping: Mapping[str, Any], known: tuple[str, ...], prefix: str = "") -> None:
        self.warnings.extend(unknown_key_warnings(self.where, mapping, known, prefix))


def unknown_key_warnings(where: Callable[[str], Location], mapping: Mapping[str, Any], known: tuple[str, ...],
                         prefix: str = "") -> list[Problem]:
    """A warning, with a "did you mean", for each key of `mapping` that is not `known`."""
    problems = []
    for key in mapping:
        if str(key) not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
            problems.append(Problem(where(f"{prefix}{key}"), f"{prefix}{key}: unknown key, ignored", hint))
    return problems


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _size_mm(checker: _Checker, key_path: str, value: Any, allowed: tuple[str, ...]) -> tuple[float, float] | None:
    if not isinstance(value, str):
        checker.error(key_path, f"expected a size name or two lengths, got {_describe(value)}",
                      f"use one of {', '.join(allowed)} or two lengths such as `5.5in 8.5in`")
        return None
    name = value.strip().lower().replace("-", "").replace(" ", "") if " " not in value.strip() else ""
    if name in allowed:
        return PAPER_SIZES_MM[name] if name in PAPER_SIZES_MM else TRIM_SIZES_MM[name]
    parts = value.split()
    if len(parts) == 2:
        width, height = (parse_length_mm(part) for part in parts)
        if width and height and width > 0 and height > 0:
            return (width, height)
    checker.error(key_path, f"unknown size {value!r}",
                  f"use one of {', '.join(allowed)} or two lengths such as `5.5in 8.5in`")
    return None


def _page(checker: _Checker, raw: Any, manuscript: Path) -> PageSettings:
    if raw is None:
        return PageSettings(*PAPER_SIZES_MM["a5"])
    if not isinstance(raw, Mapping):
        checker.error("page", f"expected a mapping, got {_describe(raw)}", "write `page:` with `size:` below it")
        return PageSettings(*PAPER_SIZES_MM["a5"])
    checker.unknown_keys(raw, PAGE_KEYS, "page.")
    width, height = _size_mm(checker, "page.size", raw.get("size", "A5"), PAGE_SIZES) or PAPER_SIZES_MM["a5"]
    margins = checker.text(raw, "margins", "page.")
    if margins is not None and not all(parse_length_mm(part) is not None for part in margins.split()):
        checker.error("page.margins", f"not a list of lengths: {margins!r}", "write one to four lengths, e.g. `20mm 18mm`")
        margins = None
    bleed = 0.0
    if raw.get("bleed") is not None:
        parsed = parse_length_mm(str(raw["bleed"]))
        if parsed is None or parsed < 0:
            checker.error("page.bleed", f"not a length: {raw['bleed']!r}", "write a length such as `3mm` or `0.125in`")
        else:
            bleed = parsed
    marks_raw = raw.get("marks") or []
    marks_list = [marks_raw] if isinstance(marks_raw, str) else marks_raw
    marks: list[str] = []
    if not isinstance(marks_list, list):
        checker.error("page.marks", f"expected a list, got {_describe(marks_raw)}", f"use any of {', '.join(MARKS)}")
    else:
        for number, mark in enumerate(marks_list):
            if mark not in MARKS:
                checker.error(f"page.marks[{number}]", f"unknown mark {mark!r}", f"use any of {', '.join(MARKS)}")
            else:
                marks.append(mark)
    colour: str | Path = "swop"
    colour_raw = raw.get("colour", "swop")
    if isinstance(colour_raw, str) and colour_raw.strip().lower() in PRINTING_CONDITIONS:
        colour = colour_raw.strip().lower()
    elif isinstance(colour_raw, str) and colour_raw.strip().lower().endswith((".icc", ".icm")):
        colour = _book_file(checker, "page.colour", colour_raw, manuscript, (".icc", ".icm"), "a CMYK printer profile") \
            or "swop"
    else:
        checker.error("page.colour", f"unknown printing condition {colour_raw!r}",
                      f"use {', '.join(PRINTING_CONDITIONS)}, or a CMYK printer profile (.icc) in manuscript/")
    condition = checker.text(raw, "condition", "page.")
    return PageSettings(width, height, margins, bleed, tuple(marks), colour, condition,
                        _paper(checker, raw.get("paper", "white")))


def _paper(checker: _Checker, raw: Any) -> float:
    """`page.paper`: a print-on-demand stock by name, or the thickness of a page as a length."""
    if isinstance(raw, str) and raw.strip().lower() in PAPER_THICKNESS_MM:
        return PAPER_THICKNESS_MM[raw.strip().lower()]
    parsed = parse_length_mm(str(raw)) if isinstance(raw, (str, int, float)) else None
    if parsed is not None and 0.02 <= parsed <= 0.5:
        return parsed
    checker.error("page.paper", f"unknown paper {raw!r}",
                  f"use {', '.join(PAPER_THICKNESS_MM)}, or the thickness of one page, such as `0.06mm`")
    return PAPER_THICKNESS_MM["white"]


CSS_COLOUR = re.compile(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[a-zA-Z]{3,20}")
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _cover_picture(checker: _Checker, key: str, name: Any, manuscript: Path) -> Path | None:
    """A picture of the cover, checked as a chapter's figures are (it is there, it decodes, it is not
    too many pixels)."""
    from .images import check_image

    path = _book_file(checker, key, name, manuscript, PICTURE_SUFFIXES, "a JPEG or PNG picture")
    if path is None:
        return None
    try:
        checked = check_image(path.relative_to(manuscript).as_posix(), manuscript, checker.where(key))
    except ManuscriptError as error:
        checker.error(key, error.what, error.hint)
        return None
    from PIL import Image

    with Image.open(checked) as picture:
        if picture.mode == "CMYK":  # e-book reading systems show CMYK pictures in wrong colours, or not at all
            checker.warn(key, f"{path.name!r} is a CMYK picture: the e-book shows it in wrong colours",
                         "save it in RGB (sRGB); the press PDF and the cover convert it to the printer's CMYK")
    return checked


def _cover(checker: _Checker, data: Mapping[str, Any], manuscript: Path, outputs: tuple[str, ...],
           isbn: str | None) -> CoverSettings | None:
    raw = data.get("cover")
    if raw is None or raw is False:
        return CoverSettings() if "cover" in outputs else None
    if raw is True:
        return CoverSettings()
    if not isinstance(raw, Mapping):
        checker.error("cover", f"expected a mapping or `true`, got {_describe(raw)}",
                      "write `cover: true`, or `cover:` with `blurb:`, `image:` … indented below")
        return None
    checker.unknown_keys(raw, COVER_KEYS, "cover.")
    defaults = CoverSettings()
    image = _cover_picture(checker, "cover.image", raw["image"], manuscript) if raw.get("image") is not None else None
    background, background_image = defaults.background, None
    if raw.get("background") is not None:
        value = raw["background"]
        if isinstance(value, str) and value.strip().lower().endswith(PICTURE_SUFFIXES):
            background_image = _cover_picture(checker, "cover.background", value, manuscript)
        elif isinstance(value, str) and CSS_COLOUR.fullmatch(value.strip()):
            background = value.strip()
        else:
            checker.error("cover.background", f"not a colour or a picture: {value!r}",
                          "write a colour such as `'#1f3a5f'` or `navy`, or a .jpg or .png file in manuscript/")
    colour = defaults.colour
    if raw.get("colour") is not None:
        value = raw["colour"]
        if isinstance(value, str) and CSS_COLOUR.fullmatch(value.strip()):
            colour = value.strip()
        else:
            checker.error("cover.colour", f"not a colour: {value!r}", "write a colour such as `'#ffffff'` or `white`")
    blurb = _book_file(checker, "cover.blurb", raw["blurb"], manuscript, (".md", ".markdown"), "a Markdown file") \
        if raw.get("blurb") is not None else None
    price = None
    if raw.get("price") is not None:
        value = str(raw["price"]).strip()
        if not PRICE_CODE.fullmatch(value):
            checker.error("cover.price", f"not a price code: {raw['price']!r}",
                          "write the five digits of the EAN-5 add-on: the currency (5 = US dollars, 0 or 1 = pounds, "
                          "6 = Canadian dollars) and the price, e.g. `51995` for $19.95; `90000` for no price")
        elif isbn is None and "isbn" not in data:
            checker.error("cover.price", "a price code goes beside the ISBN's bar code, and the book has no `isbn:`",
                          "add `isbn:` to book.yaml, or remove `price:`")
        else:
            price = value
    return CoverSettings(image, checker.text(raw, "alt", "cover."), background, background_image, colour, blurb, price)


def _booklet(checker: _Checker, raw: Any) -> BookletSettings:
    if raw is None:
        return BookletSettings()
    if not isinstance(raw, Mapping):
        checker.error("booklet", f"expected a mapping, got {_describe(raw)}", "write `booklet:` with `sheet:` below it")
        return BookletSettings()
    checker.unknown_keys(raw, BOOKLET_KEYS, "booklet.")
    sizes = tuple(PAPER_SIZES_MM)
    width, height = _size_mm(checker, "booklet.sheet", raw.get("sheet", "A4"), sizes) or PAPER_SIZES_MM["a4"]
    creep = 0.0
    if raw.get("creep") is not None:
        parsed = parse_length_mm(str(raw["creep"]))
        if parsed is None or parsed < 0:
            checker.error("booklet.creep", f"not a length: {raw['creep']!r}", "write a length such as `0.2mm`")
        else:
            creep = parsed
    return BookletSettings(width, height, creep)


def _numbers_by_chapter(checker: _Checker, raw: Any) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, Mapping):
        checker.error("crossref", f"expected a mapping, got {_describe(raw)}",
                      "write `crossref:` with `chapters: true` below it")
        return False
    checker.unknown_keys(raw, CROSSREF_KEYS, "crossref.")
    chapters = raw.get("chapters", False)
    if not isinstance(chapters, bool):
        checker.error("crossref.chapters", f"expected true or false, got {_describe(chapters)}",
                      "write `chapters: true` to number figures, tables and equations within each chapter")
        return False
    return chapters


def _lists(checker: _Checker, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    raw_list = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw_list, list):
        checker.error("lists", f"expected a list, got {_describe(raw)}", "write `lists: [figures, tables]`")
        return ()
    lists: list[str] = []
    for number, name in enumerate(raw_list):
        if name not in LISTS:
            checker.error(f"lists[{number}]", f"unknown list {name!r}", f"allowed: {', '.join(LISTS)}")
        elif name not in lists:
            lists.append(name)
    return tuple(sorted(lists, key=LISTS.index))


def _authors(checker: _Checker, data: Mapping[str, Any]) -> tuple[str, ...]:
    if "authors" in data and "author" in data:
        checker.warn("author", "both `author` and `authors` are given; `author` is ignored", "keep only `authors`")
    if "authors" in data:
        raw = data["authors"]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(a, str) and a.strip() for a in raw):
            checker.error("authors", f"expected a list of names, got {_describe(raw)}", "write one `- Name` a line")
            return ()
        return tuple(a.strip() for a in raw)
    author = checker.text(data, "author")
    return (author,) if author else ()


def _date(checker: _Checker, data: Mapping[str, Any]) -> dt.date | None:
    raw = data.get("date")
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        checker.error("date", f"not a date: {raw!r}", "write it as YYYY-MM-DD, e.g. 2026-11-24")
        return None


def _identifiers(checker: _Checker, data: Mapping[str, Any], title: str, authors: tuple[str, ...]) -> tuple[str | None, str]:
    isbn = checker.text(data, "isbn")
    identifier = checker.text(data, "identifier")
    if isbn is not None:
        digits = re.sub(r"[\s-]", "", isbn)
        if not isbn13_is_valid(digits):
            checker.error("isbn", f"not a valid ISBN-13: {isbn!r}",
                          "check the digits (13 digits starting 978 or 979; the last is a check digit)")
            isbn = None
        elif identifier is None:
            identifier = f"urn:isbn:{digits}"
    if identifier is None:
        # Stable across builds so that e-book readers keep their place and notes.
        identifier = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'limbag:' + title + '|' + '|'.join(authors))}"
    return isbn, identifier


CHAPTER_SUFFIXES = (".md", ".markdown", ".docx", ".odt")
"""The chapter files taken, in name order, when book.yaml lists none."""


def _chapters(checker: _Checker, data: Mapping[str, Any], manuscript: Path) -> tuple[Path, ...]:
    raw = data.get("chapters")
    if raw is None:
        found = tuple(sorted(p for p in manuscript.iterdir() if p.suffix.lower() in CHAPTER_SUFFIXES
                             and p.is_file() and not p.name.startswith(("~$", ".")))) if manuscript.is_dir() else ()
        for path in found:
            if not path.resolve().is_relative_to(manuscript.resolve()):
                checker.errors.append(Problem(Location(path), "this chapter is a link to a file outside manuscript/",
                                              "copy the file into manuscript/ instead of linking to it"))
        if not found:
            checker.errors.append(Problem(Location(checker.source, 1), "chapters: no chapter files",
                                          "add Markdown (*.md), Word (*.docx) or ODT (*.odt) files to manuscript/, "
                                          "or list them under `chapters:`"))
        return found
    if not isinstance(raw, list) or not raw:
        checker.error("chapters", f"expected a list of file names, got {_describe(raw)}",
                      "write one `- 01-chapter.md` a line, or remove `chapters:` to take every *.md in name order")
        return ()
    chapters: list[Path] = []
    root = manuscript.resolve()
    for number, name in enumerate(raw):
        path_key = f"chapters[{number}]"
        if not isinstance(name, str) or not name.strip() or "\0" in name:
            checker.error(path_key, f"expected a file name, got {_describe(name)}", "write the chapter's file name")
            continue
        candidate = (manuscript / name.strip())
        if not candidate.resolve().is_relative_to(root):
            checker.error(path_key, f"{name!r} is outside manuscript/", "chapters must be files inside manuscript/")
        elif not candidate.is_file():
            checker.error(path_key, f"chapter file {name!r} not found in {manuscript}",
                          "check the file name, or remove it from `chapters:`")
        elif candidate in chapters:
            checker.error(path_key, f"chapter {name!r} is listed twice", "list each chapter once")
        else:
            chapters.append(candidate)
    return tuple(chapters)


def _outputs(checker: _Checker, data: Mapping[str, Any]) -> tuple[str, ...]:
    raw = data.get("outputs")
    if raw is None:
        return DEFAULT_OUTPUTS
    raw_list = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw_list, list):
        checker.error("outputs", f"expected a list, got {_describe(raw)}", f"use any of {', '.join(OUTPUT_FORMATS)}")
        return DEFAULT_OUTPUTS
    outputs: list[str] = []
    for number, name in enumerate(raw_list):
        if name not in OUTPUT_FORMATS:
            close = difflib.get_close_matches(str(name), OUTPUT_FORMATS, n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            checker.error(f"outputs[{number}]", f"unknown output {name!r}", f"{hint}allowed: {', '.join(OUTPUT_FORMATS)}")
        elif name not in outputs:
            outputs.append(name)
    return tuple(outputs)


MARKDOWN_DIALECTS = ("markdown", "gfm", "commonmark", "commonmark_x", "markdown_strict", "markdown_mmd",
                     "markdown_phpextra")
"""Pandoc's readers of Markdown: its own (the default), GitHub's, CommonMark's and the older ones."""
MARKDOWN_FORMAT = re.compile(r"([a-z_]+)((?:[+-][a-z0-9_]+)*)")


def _markdown(checker: _Checker, data: Mapping[str, Any]) -> str:
    value = checker.text(data, "markdown") or "markdown"
    match = MARKDOWN_FORMAT.fullmatch(value.strip())
    if match is None or match.group(1) not in MARKDOWN_DIALECTS:
        close = difflib.get_close_matches(match.group(1) if match else value, MARKDOWN_DIALECTS, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        checker.error("markdown", f"unknown Markdown dialect {value!r}",
                      f"{hint}use one of {', '.join(MARKDOWN_DIALECTS)}, with +extension or -extension after it")
        return "markdown"
    return value.strip()


def _citations(checker: _Checker, data: Mapping[str, Any], manuscript: Path) -> CitationSettings | None:
    """`bibliography:` (a file or a list, in manuscript/), `csl:`, `reference-section-title:`, `nocite:`."""
    raw = data.get("bibliography")
    if raw is None:
        for key in ("csl", "reference-section-title", "nocite"):
            if key in data:
                checker.warn(key, "has no effect without `bibliography:`", "add `bibliography: works.bib` (a file in "
                             "manuscript/), or remove the key")
        return None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        checker.error("bibliography", f"expected a file name or a list of them, got {_describe(raw)}",
                      "write `bibliography: works.bib`, a BibTeX, BibLaTeX, CSL JSON or CSL YAML file in manuscript/")
        return None
    files: list[Path] = []
    for number, name in enumerate(names):
        key = "bibliography" if isinstance(raw, str) else f"bibliography[{number}]"
        path = _book_file(checker, key, name, manuscript, BIBLIOGRAPHY_SUFFIXES,
                          "a BibTeX or BibLaTeX (.bib), CSL JSON (.json) or CSL YAML (.yaml) file")
        if path is not None:
            files.append(path)
    style_name = checker.text(data, "csl") or DEFAULT_STYLE
    if style_name in BUNDLED_STYLES:
        style: Path | None = bundled_style(style_name)
    elif style_name.endswith(".csl"):
        style = _book_file(checker, "csl", style_name, manuscript, (".csl",), "a CSL style file")
    else:
        close = difflib.get_close_matches(style_name, BUNDLED_STYLES, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        checker.error("csl", f"unknown citation style {style_name!r}",
                      f"{hint}use one of {', '.join(BUNDLED_STYLES)}, or a .csl file in manuscript/ "
                      "(from https://zotero.org/styles)")
        style = None
    nocite_raw = data.get("nocite")
    nocite_list = [] if nocite_raw is None else [nocite_raw] if isinstance(nocite_raw, str) else nocite_raw
    if not isinstance(nocite_list, list) or not all(isinstance(key, str) and key.strip() for key in nocite_list):
        checker.error("nocite", f"expected a list of citation keys, got {_describe(nocite_raw)}",
                      "write `nocite: [key1, key2]`, or `nocite: '*'` to list every work of the bibliography")
        nocite_list = []
    if not files or style is None:
        return None
    return CitationSettings(tuple(files), style, checker.text(data, "reference-section-title"),
                            tuple(key.strip().lstrip("@") for key in nocite_list))


def _book_file(checker: _Checker, key: str, name: Any, manuscript: Path, suffixes: tuple[str, ...],
               kind: str) -> Path | None:
    """A file named in book.yaml that must be in manuscript/."""
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        checker.error(key, f"expected a file name, got {_describe(name)}", f"write the name of {kind} in manuscript/")
        return None
    path = manuscript / name.strip()
    if not path.resolve().is_relative_to(manuscript.resolve()):
        checker.error(key, f"{name!r} is outside manuscript/", f"put {kind} in manuscript/ and name it from there")
    elif path.suffix.lower() not in suffixes:
        checker.error(key, f"{name!r} is not {kind}", f"name a file ending in {', '.join(suffixes)}")
    elif not path.is_file():
        checker.error(key, f"file {name!r} not found in {manuscript}", "check the file name")
    else:
        return path
    return None


def _section(checker: _Checker, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    raw = data.get(key)
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, Mapping):
        checker.error(key, f"expected a mapping, got {_describe(raw)}", f"write `{key}:` with its settings indented below")
        return MappingProxyType({})
    return MappingProxyType(dict(raw))


def config_path(book_dir: Path) -> Path:
    return book_dir / "manuscript" / "book.yaml"


def load_config(book_dir: Path) -> tuple[BookConfig, list[Problem]]:
    """Read and validate `book_dir/manuscript/book.yaml`; raise ConfigError listing every error."""
    config, warnings, errors = load_config_partially(book_dir)
    if errors:
        raise ConfigError(errors)
    return config, warnings


def load_config_partially(book_dir: Path) -> tuple[BookConfig, list[Problem], list[Problem]]:
    """book.yaml read as far as it can be: the settings (a setting in error has its default), the
    warnings and the errors; so that the chapters can be read too and every problem of a book
    reported at once. Raises ConfigError when there are no settings at all (no file, bad YAML)."""
    source = config_path(book_dir)
    check_book_folders(book_dir)
    if not (book_dir / "manuscript").is_dir():
        raise ConfigError([Problem(Location(book_dir), "no manuscript/ folder here",
                                   "a book folder holds manuscript/book.yaml and the chapters (*.md)")])
    if source.is_symlink() and not inside(source, book_dir / "manuscript"):
        raise ConfigError([Problem(Location(source), "book.yaml is a link to a file outside manuscript/",
                                   "copy the file into manuscript/ instead of linking to it")])
    data, lines = read_yaml(source)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(Location(source, 1), f"expected a mapping of settings, got {_describe(data)}",
                                   "write `key: value` lines, starting with `title:` and `language:`")])
    checker = _Checker(source, data, lines)
    checker.unknown_keys(data, TOP_LEVEL_KEYS)

    title = checker.text(data, "title", required=True) or ""
    language = checker.text(data, "language", required=True) or "en"
    if "language" in data and not LANGUAGE_TAG.fullmatch(language):
        checker.error("language", f"not a BCP 47 language tag: {language!r}", "write e.g. `tl`, `fil` or `en`")
    elif data_code_for(language) is None:
        checker.warn("language", f"no language data for {language!r} (neither CLDR nor Pandoc has it); "
                     "UI words, month names and dates fall back to English",
                     "add limbag/languages/<code>.yaml (copy en.yaml) to translate them")
    authors = _authors(checker, data)
    isbn, identifier = _identifiers(checker, data, title, authors)
    slug = checker.text(data, "slug") or _shortened(slugify(title))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug):
        checker.error("slug", f"not usable as a file name: {slug!r}", "use letters, digits, '-', '_' and '.' only")
        slug = _shortened(slugify(slug))
    elif len(slug) > MAX_SLUG:
        checker.error("slug", f"{len(slug)} characters long; at most {MAX_SLUG}, for file names that every disk takes",
                      "write a shorter slug")
        slug = _shortened(slug)

    outputs = _outputs(checker, data)
    config = BookConfig(
        book_dir=book_dir,
        source=source,
        title=title,
        language=language,
        subtitle=checker.text(data, "subtitle"),
        authors=authors,
        date=_date(checker, data),
        publisher=checker.text(data, "publisher"),
        rights=checker.text(data, "rights"),
        description=checker.text(data, "description"),
        isbn=isbn,
        identifier=identifier,
        slug=slug,
        chapters=_chapters(checker, data, book_dir / "manuscript"),
        page=_page(checker, data.get("page"), book_dir / "manuscript"),
        outputs=outputs,
        booklet=_booklet(checker, data.get("booklet")),
        index=_section(checker, data, "index"),
        chronology=_section(checker, data, "chronology"),
        markdown=_markdown(checker, data),
        citations=_citations(checker, data, book_dir / "manuscript"),
        numbers_by_chapter=_numbers_by_chapter(checker, data.get("crossref")),
        lists=_lists(checker, data.get("lists")),
        cover=_cover(checker, data, book_dir / "manuscript", outputs, isbn),
        key_lines=MappingProxyType(dict(lines)),
    )
    return config, checker.warnings, checker.errors
