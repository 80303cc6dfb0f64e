"""The reading PDF's structure tree as a screen reader follows it: each element with the text of
its marked content, read with pdfminer.six (which knows nothing of Limbag)."""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf


@dataclass
class Element:
    role: str
    children: list[Element | str] = field(default_factory=list)
    """Sub-elements and the text of its own marked content, in the tree's order."""
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(child if isinstance(child, str) else child.text for child in self.children)

    def all(self, role: str) -> list[Element]:
        found = [self] if self.role == role else []
        for child in self.children:
            if isinstance(child, Element):
                found.extend(child.all(role))
        return found

    def elements(self) -> list[Element]:
        return [child for child in self.children if isinstance(child, Element)]


MARKED = re.compile(r'<(\w+)((?: \w+="[^"]*")*)>(.*?)</\1>', re.S)


def marked_content(path: Path) -> tuple[dict[tuple[int, int], str], list[list[str]]]:
    """Each page's marked content: (page, MCID) → its text (its ActualText if it has one), and
    each page's artifacts' texts."""
    from pdfminer.pdfdevice import TagExtractor
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    out = io.BytesIO()
    with path.open("rb") as file:
        resources = PDFResourceManager()
        device = TagExtractor(resources, out, codec="utf-8")
        interpreter = PDFPageInterpreter(resources, device)
        for page in PDFPage.get_pages(file):
            interpreter.process_page(page)
    pages = re.split(r'<page id="\d+"[^>]*>', out.getvalue().decode("utf-8"))[1:]
    texts: dict[tuple[int, int], str] = {}
    artifacts: list[list[str]] = []
    for number, page in enumerate(pages):
        artifacts.append([])
        for tag, attributes, text in MARKED.findall(page):
            values = dict(re.findall(r'(\w+)="([^"]*)"', attributes))
            text = html.unescape(values.get("ActualText", text))
            if tag == "Artifact":
                artifacts[-1].append(html.unescape(text))
            elif "MCID" in values:
                texts[(number, int(values["MCID"]))] = text
    return texts, artifacts


def structure_tree(path: Path) -> tuple[Element, list[tuple[int, int]], dict[tuple[int, int], str], list[list[str]]]:
    """The tree from the PDF's StructTreeRoot, each element's marked content replaced by its text;
    also every (page, MCID) the tree refers to, in order, the marked content and the artifacts."""
    texts, artifacts = marked_content(path)
    referred: list[tuple[int, int]] = []
    with pikepdf.open(path) as pdf:
        pages = {page.objgen: number for number, page in enumerate(pdf.pages)}

        def convert(node: pikepdf.Dictionary, page: int | None) -> Element:
            element = Element(str(node.get("/S", "/?"))[1:])
            for key in ("/Alt", "/Lang"):
                if key in node:
                    element.attributes[key[1:]] = str(node[key])
            if "/Pg" in node:
                page = pages[node.Pg.objgen]
            kids = node.get("/K")
            kids = [] if kids is None else list(kids) if isinstance(kids, pikepdf.Array) else [kids]
            for kid in kids:
                if isinstance(kid, int):
                    referred.append((page, kid))  # type: ignore[arg-type]
                    element.children.append(texts.get((page, kid), ""))  # type: ignore[arg-type]
                elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/MCR":
                    where = pages[kid.Pg.objgen] if "/Pg" in kid else page
                    referred.append((where, int(kid.MCID)))  # type: ignore[arg-type]
                    element.children.append(texts.get((where, int(kid.MCID)), ""))  # type: ignore[arg-type]
                elif isinstance(kid, pikepdf.Dictionary) and kid.get("/Type") == "/OBJR":
                    continue
                elif isinstance(kid, pikepdf.Dictionary):
                    element.children.append(convert(kid, page))
            return element

        tree = convert(pdf.Root.StructTreeRoot.K[0], None)
    return tree, referred, texts, artifacts
