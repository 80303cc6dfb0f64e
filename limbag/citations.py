"""Citations: Pandoc's citeproc formats `[@key]` from the book's bibliography files in a CSL style.

Citeproc runs once over the whole book (every chapter's tree in one document), for a style numbers
notes and citations and says "ibid." across the book, not chapter by chapter. It gives back the
trees with every citation written out (a note style puts each in a footnote of its own) and the
bibliography, which the reader turns into the model like any other text. The styles Limbag ships
(`limbag/csl/`, from the CSL project) are named in book.yaml by their file name; a book may bring
its own `.csl`. For a book in Filipino, the style is given the Filipino terms of
`limbag/csl/locales-tl.xml` (citeproc has no Filipino locale of its own).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Location, ManuscriptError, RenderError
from .files import write_atomically

STYLES_FOLDER = Path(__file__).parent / "csl"
BUNDLED_STYLES = ("chicago-notes-bibliography", "chicago-author-date", "apa", "modern-language-association", "ieee")
"""The styles shipped with Limbag (CC BY-SA 3.0, citationstyles.org), by the name book.yaml gives."""
DEFAULT_STYLE = "chicago-notes-bibliography"
"""The historians' style: citations in footnotes, and a bibliography."""
FILIPINO_LOCALE = STYLES_FOLDER / "locales-tl.xml"
FILIPINO = ("tl", "fil")
BIBLIOGRAPHY_SUFFIXES = (".bib", ".bibtex", ".json", ".yaml", ".yml")
"""BibLaTeX, BibTeX, CSL JSON and CSL YAML: the formats citeproc reads."""
CSL = "http://purl.org/net/xbiblio/csl"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TIME_LIMIT = 120.0
"""Seconds for citeproc over the whole book; a book of a thousand citations takes some 2."""
FILE_MARK = "limbag-file-"
"""The id of the division that holds each file's text in the one document citeproc formats."""
NOTE_DISTANCE = ("near-note", "first-reference-note-number")
"""What a style that counts notes between citations uses (CSL 1.0.2, 3.7 and 4.8)."""
BLOCK_MARK = "limbag-block-"
"""The id of the division that holds one of a file's blocks there (with its place in the file)."""
MISSING = re.compile(r"\[WARNING\] Citeproc: citation (\S+) not found")
BIBTEX_ERROR = re.compile(r"\(line (\d+), column \d+\)")
XML_ERROR = re.compile(r"errorPosition = (\d+):\d+")


@dataclass(frozen=True, slots=True)
class CitationSettings:
    """What book.yaml says about citations (`bibliography:`, `csl:`, `reference-section-title:`, `nocite:`)."""

    bibliography: tuple[Path, ...]
    style: Path
    """The CSL file: one of BUNDLED_STYLES, or the book's own."""
    section_title: str | None = None
    """The bibliography's heading; by default the book's language's word for it."""
    nocite: tuple[str, ...] = ()
    """Keys of works listed in the bibliography though not cited (`*`: every work)."""


@dataclass(frozen=True, slots=True)
class Formatted:
    """The trees with every citation written out, the bibliography's blocks (Pandoc's), and the
    keys cited that no bibliography file holds."""

    trees: tuple[dict[str, Any], ...]
    bibliography: tuple[dict[str, Any], ...]
    missing: frozenset[str]


def bundled_style(name: str) -> Path:
    return STYLES_FOLDER / f"{name}.csl"


def cite(trees: Sequence[dict[str, Any]], settings: CitationSettings, language: str, cache_dir: Path,
         pandoc: Path) -> Formatted:
    """Run citeproc over the trees of the book's files, in order (kept in `cache_dir` by what went in).

    Citeproc is given only the blocks that hold a citation (and those that hold a note, for a
    style that counts the notes between citations): the rest it would hand back unchanged, after
    reading and writing them. Each block goes in a division that says where it came from."""
    style_text = settings.style.read_text(encoding="utf-8", errors="replace")
    counted = {"Cite", "Note"} if any(word in style_text for word in NOTE_DISTANCE) else {"Cite"}
    files = []
    for number, tree in enumerate(trees):
        kept = [{"t": "Div", "c": [[f"{BLOCK_MARK}{place}", [], []], [block]]}
                for place, block in enumerate(tree.get("blocks", [])) if holds(block, counted)]
        files.append({"t": "Div", "c": [[f"{FILE_MARK}{number}", [], []], kept]})
    document = {"pandoc-api-version": trees[0]["pandoc-api-version"] if trees else [1, 23, 1, 1],
                "meta": _metadata(settings, language),
                "blocks": [*files, {"t": "Div", "c": [["refs", [], []], []]}]}
    given = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    style = _style_for(settings.style, language, cache_dir)
    key = hashlib.sha256(given)
    for path in (*settings.bibliography, style):
        key.update(path.read_bytes())
    stored = cache_dir / "citations" / f"{key.hexdigest()[:32]}.json"
    try:
        return _formatted(trees, json.loads(stored.read_text(encoding="utf-8")))
    except (OSError, ValueError, LookupError, TypeError, AttributeError):  # not kept, or damaged: run again
        pass
    answer = _run(given, settings, style, pandoc)
    write_atomically(stored, json.dumps(answer).encode("utf-8"))
    for other in stored.parent.glob("*.json"):  # the cache keeps the last build's citations only
        if other != stored:
            with suppress(OSError):
                other.unlink()
    return _formatted(trees, answer)


def _formatted(trees: Sequence[dict[str, Any]], answer: dict[str, Any]) -> Formatted:
    """Citeproc's answer put back: each block it formatted in its place in its file."""
    formatted = {block["c"][0][0]: block["c"][1] for block in answer["document"]["blocks"] if block["t"] == "Div"}
    result = []
    for number, tree in enumerate(trees):
        blocks = list(tree.get("blocks", []))
        for division in formatted.get(f"{FILE_MARK}{number}", []):
            place = int(division["c"][0][0].removeprefix(BLOCK_MARK))
            blocks[place] = division["c"][1][0]  # one block went in, one comes back
        result.append({**tree, "blocks": blocks})
    return Formatted(tuple(result), tuple(formatted.get("refs", [])), frozenset(map(str, answer["missing"])))


def holds(node: Any, kinds: set[str]) -> bool:
    """Whether a node of Pandoc's tree is, or holds, a node of one of these kinds."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("t") in kinds:
                return True
            content = item.get("c")
            if isinstance(content, list):
                stack.append(content)
        elif isinstance(item, list):
            stack.extend(element for element in item if isinstance(element, (dict, list)))
    return False


def _metadata(settings: CitationSettings, language: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"lang": {"t": "MetaString", "c": language},
                            "link-citations": {"t": "MetaBool", "c": True},
                            "notes-after-punctuation": {"t": "MetaBool", "c": True}}
    if settings.nocite:
        meta["nocite"] = {"t": "MetaInlines", "c": [
            {"t": "Cite", "c": [[{"citationId": key, "citationPrefix": [], "citationSuffix": [],
                                  "citationMode": {"t": "NormalCitation"}, "citationNoteNum": 0,
                                  "citationHash": 0}], [{"t": "Str", "c": f"@{key}"}]]}
            for key in settings.nocite]}
    return meta


def _run(given: bytes, settings: CitationSettings, style: Path, pandoc: Path) -> dict[str, Any]:
    from .pandoc import MEMORY_MB, _program_as

    argv, executable = _program_as(str(pandoc))
    command = [*argv, "--sandbox", "-f", "json", "-t", "json", "--citeproc", f"--csl={style}",
               *(f"--bibliography={path}" for path in settings.bibliography), "+RTS", f"-M{MEMORY_MB}m", "-RTS"]
    try:
        done = subprocess.run(command, executable=executable, input=given, capture_output=True, timeout=TIME_LIMIT,
                              check=False, env={"PATH": ""})
    except subprocess.TimeoutExpired:
        raise ManuscriptError(f"formatting the citations took more than {TIME_LIMIT:.0f} s",
                              Location(settings.bibliography[0]), "check the bibliography files") from None
    except OSError as error:
        raise RenderError(f"Pandoc could not be started: {error.strerror}",
                          hint="reinstall pypandoc-binary: pip install --force-reinstall pypandoc-binary") from None
    complaint = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise _bibliography_error(complaint, settings)
    return {"document": json.loads(done.stdout), "missing": sorted(set(MISSING.findall(complaint)))}


def _bibliography_error(complaint: str, settings: CitationSettings) -> ManuscriptError:
    """Pandoc's complaint about a bibliography or style file, at that file, line and entry (if it says)."""
    culprit = next((path for path in (*settings.bibliography, settings.style) if str(path) in complaint),
                   next((path for path in (*settings.bibliography, settings.style) if path.name in complaint),
                        settings.style if "CiteprocXMLError" in complaint or "CiteprocParseError" in complaint
                        else settings.bibliography[0]))
    text = " ".join(complaint.replace(str(culprit), culprit.name).split())
    found = BIBTEX_ERROR.search(complaint) or XML_ERROR.search(complaint)
    line = int(found.group(1)) if found else None
    what = BIBTEX_ERROR.sub("", re.sub(r"^(Error|\[ERROR\])\s*", "", text))
    what = re.sub(rf"^(Error )?reading bibliography file {re.escape(culprit.name)}:?\s*", "", what).strip(" :")[:300]
    if culprit.suffix.lower() == ".csl":
        return ManuscriptError(f"cannot read the citation style: {what or 'citeproc failed'}", Location(culprit, line),
                               "check the style file (a CSL 1.0 style, as https://zotero.org/styles gives them), or "
                               "name a bundled style in book.yaml's `csl:`")
    entry = _entry_before(culprit, line) if line else None
    where = f" in or after the entry {entry[0]!r} (line {entry[1]})" if entry else ""
    return ManuscriptError(f"cannot read the bibliography{where}: {what or 'citeproc failed'}", Location(culprit, line),
                           "fix the entry (BibTeX: matching braces, a comma after each field, `@type{key,` to open "
                           "each entry)")


def _entry_before(path: Path, line: int) -> tuple[str, int] | None:
    """The key and line of the last BibTeX entry opened before `line` (the one a parse error is in)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[:line - 1]
    except OSError:
        return None
    for number in range(len(lines), 0, -1):
        opened = re.match(r"\s*@\w+\s*[{(]\s*([^,\s]+)\s*,", lines[number - 1])
        if opened:
            return opened.group(1), number
    return None


def _style_for(style: Path, language: str, cache_dir: Path) -> Path:
    """The style as given; for a book in Filipino, a copy with the Filipino terms put in."""
    from xml.etree import ElementTree  # only here: a build that has nothing to do does not load it

    if language.split("-")[0].lower() not in FILIPINO:
        return style
    data = style.read_bytes()
    key = hashlib.sha256(data + FILIPINO_LOCALE.read_bytes()).hexdigest()[:32]
    made = cache_dir / "citations" / f"style-{key}.csl"
    if made.is_file():
        return made
    ElementTree.register_namespace("", CSL)
    root = ElementTree.fromstring(data)
    locale = ElementTree.fromstring(FILIPINO_LOCALE.read_bytes())
    locale.set(XML_LANG, language)
    for old in root.findall(f"{{{CSL}}}locale"):
        if old.get(XML_LANG, "").split("-")[0] in FILIPINO:
            root.remove(old)
    info = root.find(f"{{{CSL}}}info")
    root.insert(list(root).index(info) + 1 if info is not None else 0, locale)
    # Titles are set in title case only when the style's language is English (CSL 1.0.2, 2.3):
    # a Tagalog title stays as written.
    root.set("default-locale", language)
    write_atomically(made, ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
    return made
