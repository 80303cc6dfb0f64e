"""The reading PDF's structure tree, in reading order: what a screen reader follows.

The layout engine tags page by page: a paragraph that crosses a page is two `P` elements, the
page's footnotes are read in the middle of its sentence, a table across two pages is two tables,
running heads and folios are marked content that no element holds. This module takes the
engine's place (`install`) and builds the tree from the document instead: one element per HTML
element, whatever pages its boxes fall on, each holding its marked content from every page.

- `P`, `H1`…`H6`, `L`/`LI`/`Lbl`/`LBody`, `Table`/`THead`/`TBody`/`TR`/`TH`/`TD`, `Figure` (with
  its `Alt` and `Caption`), `Formula` (with the TeX as `Alt`), `BlockQuote`, `Code`, `Link` (with
  its annotations, whose `/Contents` say in words where it goes), `TOC`/`TOCI`, `Index`,
  `BibEntry`, `Sect`, `Part`, `Div`, `Span`.
- A footnote is a `Note` (its number a `Lbl`) placed after the paragraph that calls it; the call's
  number stays in the paragraph as a `Reference`.
- Running heads, folios, contents leaders and the head rows a table repeats on its later pages
  are pagination artifacts.
- A word broken by hyphenation at a line's end carries `/ActualText` without the added hyphen, so
  the text layer (copy, search, a screen reader) has the whole word.

Like engine.py, this reads the engine's insides (boxes, streams' marked content), written
against WeasyPrint 70.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Make the engine tag PDFs with `add_tags` (once per process)."""
    import weasyprint.pdf

    weasyprint.pdf.add_tags = add_tags


def add_tags(pdf: Any, document: Any, pdf_version: Any, page_streams: list[Any]) -> None:
    """The engine's `add_tags`, in reading order (see the module's docstring)."""
    import pydyf

    parent_tree = pydyf.Dictionary({})
    pdf.add_object(parent_tree)
    root = pydyf.Dictionary({"Type": "/StructTreeRoot", "ParentTree": parent_tree.reference})
    pdf.add_object(root)
    top = pydyf.Dictionary({"Type": "/StructElem", "S": "/Document", "K": pydyf.Array(), "P": root.reference})
    pdf.add_object(top)
    root["K"] = pydyf.Array([top.reference])
    pdf.catalog["StructTreeRoot"] = root.reference
    builder = _TreeBuilder(pdf, top)
    numbers = pydyf.Array()
    for page_number, (page, stream) in enumerate(zip(document.pages, page_streams, strict=True)):
        numbers.extend([page_number, pydyf.Array(builder.page(page_number, page._page_box, stream))])
    builder.prune()
    for key, (owner, annotation) in enumerate(builder.annotations, start=len(document.pages)):
        numbers.extend([key, owner.reference])
        annotation["StructParent"] = key
    parent_tree["Nums"] = numbers
    root["ParentTreeNextKey"] = len(document.pages) + len(builder.annotations)
    pdf.catalog["ViewerPreferences"] = pydyf.Dictionary({"DisplayDocTitle": "true"})
    pdf.catalog["MarkInfo"] = pydyf.Dictionary({"Marked": "true"})
    if "Lang" not in pdf.catalog:
        pdf.catalog["Lang"] = pydyf.String()


PARAGRAPHS = frozenset({"P", "H1", "H2", "H3", "H4", "H5", "H6", "Caption", "Code", "TOCI", "BibEntry"})
"""Blocks of text: a footnote called in one is read after it."""
BLOCK_ROLES = frozenset({"P", "H1", "H2", "H3", "H4", "H5", "H6", "LBody", "TD", "TH", "Caption", "BlockQuote",
                         "Div", "Sect", "Part", "Code", "TOCI", "BibEntry", "Index", "Figure"})
"""Elements a footnote is placed after (the nearest one that holds its call)."""

HTML_ROLES = {
    "p": "P", "h1": "H1", "h2": "H2", "h3": "H3", "h4": "H4", "h5": "H5", "h6": "H6", "ul": "L", "ol": "L",
    "dl": "L", "table": "Table", "thead": "THead", "tbody": "TBody", "tfoot": "TFoot", "tr": "TR", "th": "TH",
    "td": "TD", "caption": "Caption", "figcaption": "Caption", "figure": "Figure", "blockquote": "BlockQuote",
    "pre": "Code", "code": "Code", "a": "Link", "section": "Sect", "main": "Part", "article": "Art",
    "div": "Div", "aside": "Div", "details": "Div", "summary": "P", "nav": "TOC", "span": "Span", "em": "Span",
    "strong": "Span", "i": "Span", "b": "Span", "sub": "Span", "sup": "Span", "s": "Span", "u": "Span",
    "mark": "Span", "small": "Span",
}
TRANSPARENT = frozenset({"html", "body", "br", "hr", "colgroup", "col", "svg"})


class _TreeBuilder:
    """Builds the tree page after page; each element's structure element is made when its first
    box is met, under its parent's, so the tree's order is the reading order."""

    def __init__(self, pdf: Any, top: Any) -> None:
        self.pdf = pdf
        self.top = top
        self.elements: dict[tuple[Any, str], Any] = {}
        """(HTML element, pseudo-element) → its structure element."""
        self.first_page: dict[tuple[Any, str], int] = {}
        self.annotations: list[tuple[Any, Any]] = []
        self.page_number = 0
        self.page_reference = b""
        """The page being taken in, as a reference (the engine makes a new one each time it is asked)."""
        self.numbers: dict[int, Any] = {}
        self.marked: dict[int, tuple[list[Any], int, Any]] = {}
        self.parents: dict[Any, Any] = {}
        """Each HTML element's parent (the engine's elements do not know it)."""
        self.made: list[tuple[Any, Any]] = []
        """Every structure element made, with its parent, in the order made."""
        self.broken: dict[int, tuple[Any, str]] = {}
        """For a block whose last line ended in a hyphenated word's first part: that line's
        property list and text (its next line may be on the next page, after this one's notes)."""
        self.notes_after: dict[Any, int] = {}
        """How many notes are placed after a paragraph so far."""

    # A page ---------------------------------------------------------------------------------------
    def page(self, page_number: int, page_box: Any, stream: Any) -> list[Any]:
        """Take in one page's boxes; returns the page's MCID → structure element array."""
        self.page_number = page_number
        self.page_reference = self.pdf.page_references[page_number]
        self.numbers = {}
        if not self.parents:
            root = next((child.element for child in page_box.children if child.element is not None), None)
            self.parents = {child: parent for parent in root.iter() for child in parent} if root is not None else {}
        self.tags = stream._tags
        self.marked = _marked_content(stream)
        self.walk(page_box, self.top, self.top)
        for box in list(self.tags):  # content no element holds (none is expected): pagination artifacts
            self.artifact(box)
        self.tags.clear()
        size = max(self.numbers, default=-1) + 1
        return [self.numbers[mcid].reference if mcid in self.numbers else "null" for mcid in range(size)]

    def walk(self, box: Any, owner: Any, block: Any) -> None:
        """Take in a box and what it holds; `owner` is the structure element its content goes to
        if it has none of its own, `block` the one of the block it is in."""
        from weasyprint.formatting_structure import boxes
        from weasyprint.layout.absolute import AbsolutePlaceholder

        if isinstance(box, AbsolutePlaceholder):
            box = box._box
        if isinstance(box, boxes.MarginBox):
            self.artifacts_in(box)
            return
        if getattr(box, "is_leader", False):  # a contents line's dots: decoration, but still the link
            if getattr(box, "link_annotation", None) is not None:
                self.link(owner, box.link_annotation, box)
            self.artifacts_in(box)
            return
        struct = owner
        if box.element is not None and not isinstance(box, boxes.PageBox):
            key = _key(box)
            if self._repeated_head(box, key):
                self.artifacts_in(box)
                return
            struct = self.structure(box.element, key[1], box) or owner
            self.first_page.setdefault(key, self.page_number)
        if isinstance(box, boxes.BlockContainerBox):
            block = struct
        annotation = getattr(box, "link_annotation", None)
        if annotation is not None:
            self.link(struct, annotation, box)
        if isinstance(box, boxes.TextBox):
            self.text(box, struct, block)
            return
        if isinstance(box, boxes.ReplacedBox):
            self.content(box, struct)
        for child in getattr(box, "children", ()):
            self.walk(child, struct, block)

    def _repeated_head(self, box: Any, key: tuple[Any, str]) -> bool:
        """A table's head rows drawn again on a later page."""
        return box.element_tag == "thead" and self.first_page.get(key, self.page_number) < self.page_number

    # Marked content -------------------------------------------------------------------------------
    def text(self, box: Any, struct: Any, block: Any) -> None:
        """A run of text. A word the layout hyphenated at a line's end is read whole: the piece
        before the break says the whole word (its ActualText), the piece after the break leaves
        the word's end out of its own."""
        import pydyf

        properties = self.content(box, struct)
        if properties is None:
            return
        text = box.text
        broken = self.broken.pop(id(block), None)  # the block's last line ended inside a word
        if broken is not None:
            before, beginning = broken
            end, space, rest = text.partition(" ")
            before["ActualText"] = pydyf.String(beginning + end)
            properties["ActualText"] = pydyf.String(space + rest)
            text = space + rest
        line = _before_hyphen(box, text)
        if line is not None:
            self.broken[id(block)] = (properties, line)

    def content(self, box: Any, struct: Any) -> Any:
        """The box's marked content into `struct`; returns its property list (None if it has none)."""
        import pydyf

        kid = self.tags.pop(box, None)
        if kid is None:
            return None
        mcid = kid["mcid"]
        page = self.page_reference
        if struct.get("Pg") is page:
            struct["K"].append(mcid)
        else:
            struct["K"].append(pydyf.Dictionary({"Type": "/MCR", "Pg": page, "MCID": mcid}))
        self.numbers[mcid] = struct
        found = self.marked.get(mcid)
        return found[2] if found is not None else None

    def artifacts_in(self, box: Any) -> None:
        if box in self.tags:
            self.artifact(box)
        for child in getattr(box, "children", ()):
            self.artifacts_in(child)

    def artifact(self, box: Any) -> None:
        """Marked content made a pagination artifact: out of the tree and of what is read."""
        import pydyf

        kid = self.tags.pop(box)
        found = self.marked.get(kid["mcid"])
        if found is not None:
            items, index, _ = found
            items[index] = "/Artifact"
            items[index + 1] = pydyf.Dictionary({"Type": "/Pagination"})

    # Structure elements ---------------------------------------------------------------------------
    def structure(self, element: Any, pseudo: str, box: Any) -> Any:
        """The structure element of an HTML element (or of one of its pseudo-elements), made with
        its ancestors' if it has none yet; None for an element that has none (html, body, br)."""
        import pydyf

        key = (element, pseudo)
        if key in self.elements:
            return self.elements[key]
        role = self.role(element, pseudo)
        if role is None:
            parent = self.parent(element)
            return self.structure(parent, "", box) if parent is not None else None
        if pseudo == "footnote-call":  # the note's number stands in the sentence that calls it
            holder = self._holder(self.parent(element), box)
        elif pseudo == "marker":
            self.structure(element, "", box)
            holder = self.elements.get((element, "#item")) or self._holder(element, box)
        elif pseudo:
            holder = self._holder(element, box)
        else:
            holder = self._holder(self.parent(element), box)
        at = len(holder["K"])
        if role == "Note":
            holder, at = self._after_block(element, box)
        elif role == "Lbl" and holder["S"] == "/LI":  # a list item's marker comes before its body
            at = 0
        struct = pydyf.Dictionary({"Type": "/StructElem", "S": f"/{role}", "K": pydyf.Array(),
                                   "P": holder.reference, "Pg": self.page_reference})
        self.pdf.add_object(struct)
        _attributes(struct, role, element, box, any(a.tag == "thead" for a in self.ancestors(element)))
        holder["K"].insert(at, struct.reference)
        self.made.append((struct, holder))
        if role == "Note":  # a note is named, for what refers to it
            struct["ID"] = pydyf.String(element.get("id") or f"_note-{self.page_number}-{len(self.made)}")
        self.elements[key] = struct
        if role == "LI":  # the item's own content goes in its body
            body = pydyf.Dictionary({"Type": "/StructElem", "S": "/LBody", "K": pydyf.Array(), "P": struct.reference,
                                     "Pg": self.page_reference})
            self.pdf.add_object(body)
            struct["K"].append(body.reference)
            self.made.append((body, struct))
            self.elements[key] = body
            self.elements[(element, "#item")] = struct
        return self.elements[key]

    def _holder(self, element: Any, box: Any) -> Any:
        if element is None:
            return self.top
        struct = self.structure(element, "", box)
        return struct if struct is not None else self.top

    def _after_block(self, element: Any, box: Any) -> tuple[Any, int]:
        """Where a footnote goes: right after the paragraph (or heading, caption …) that calls it,
        and after the notes it called before; at the end of a list item's body, a cell, a box
        … that holds its call outside any paragraph. Returns the parent and the place in it."""
        block = self.parent(element)
        while block is not None and self.role(block, "") not in BLOCK_ROLES:
            block = self.parent(block)
        if block is None:
            return self.top, len(self.top["K"])
        struct = self.structure(block, "", box)  # the block is in the tree before its note
        if self.role(block, "") not in PARAGRAPHS:
            return struct, len(struct["K"])
        holder = self._holder(self.parent(block), box)
        reference = struct.reference
        at = next((index + 1 for index, kid in enumerate(holder["K"]) if kid == reference), len(holder["K"]))
        at += self.notes_after.get(reference, 0)
        self.notes_after[reference] = self.notes_after.get(reference, 0) + 1
        return holder, at

    def prune(self) -> None:
        """Take the inline elements that hold nothing (an empty anchor's span) out of the tree; an
        empty table cell stays, so that every row has its columns."""
        for struct, holder in reversed(self.made):
            if not struct["K"] and struct["S"] in ("/Span", "/NonStruct", "/Div"):
                reference = struct.reference
                holder["K"][:] = [kid for kid in holder["K"] if kid != reference]

    def link(self, struct: Any, annotation: Any, box: Any) -> None:
        """A link annotation, held by its link's Link element (the engine gives one to each box of
        the link, its inner spans' too), printable, saying in words where it goes."""
        import pydyf

        element = box.element
        anchor = element if _tag(element) == "a" else next((a for a in self.ancestors(element) if _tag(a) == "a"), None)
        if anchor is not None:
            struct = self.structure(anchor, "", box)
            element = anchor
        reference = pydyf.Dictionary({"Type": "/OBJR", "Obj": annotation.reference,
                                      "Pg": self.page_reference})
        self.pdf.add_object(reference)
        struct["K"].append(reference.reference)
        self.annotations.append((struct, annotation))
        annotation["F"] = 4  # printed, as the text it is on
        words = element.get("aria-label") or element.get("title") or " ".join("".join(element.itertext()).split())
        if words:
            annotation["Contents"] = pydyf.String(words)

    # The HTML tree ---------------------------------------------------------------------------------
    def parent(self, element: Any) -> Any:
        return self.parents.get(element)

    def ancestors(self, element: Any) -> list[Any]:
        found = []
        parent = self.parents.get(element)
        while parent is not None:
            found.append(parent)
            parent = self.parents.get(parent)
        return found

    def role(self, element: Any, pseudo: str) -> str | None:
        """The structure type of an HTML element or pseudo-element; None for one that has no element
        of its own."""
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.rsplit("}", 1)[-1]
        classes = (element.get("class") or "").split()
        if pseudo == "marker":
            return "Lbl"
        if pseudo == "footnote-marker":
            return "Lbl"
        if pseudo == "footnote-call":
            return "Reference"
        if pseudo in ("before", "after"):
            return "Span"
        if tag in TRANSPARENT:
            return None
        if "footnote" in classes:
            return "Note"
        if tag == "img":
            return "Formula" if "math" in classes else "Figure" if self.role_of_parent(element) != "Figure" else None
        if tag == "li":
            return "TOCI" if self.inside_contents(element) else "LI"
        if tag in ("dt", "dd"):
            return "LI"
        if tag in ("ol", "ul") and self.inside_contents(element):
            parent = self.parent(element)
            return "TOC" if parent is not None and parent.tag == "li" else None
        if tag == "section" and "index-section" in classes:
            return "Index"
        if "bib-entry" in classes:
            return "BibEntry"
        return HTML_ROLES.get(tag, "NonStruct")


    def role_of_parent(self, element: Any) -> str | None:
        parent = self.parent(element)
        return self.role(parent, "") if parent is not None else None


    def inside_contents(self, element: Any) -> bool:
        return any(ancestor.tag == "nav" for ancestor in self.ancestors(element))


def _tag(element: Any) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _key(box: Any) -> tuple[Any, str]:
    tag = box.element_tag or ""
    return box.element, tag.split("::", 1)[1] if "::" in tag else ""


def _attributes(struct: Any, role: str, element: Any, box: Any, inside_head: bool) -> None:
    import pydyf

    language = element.get("lang")
    if language:
        struct["Lang"] = pydyf.String(language)
    if role in ("Figure", "Formula"):
        alt = _alternative_text(element)
        if alt:
            struct["Alt"] = pydyf.String(alt)
        x, y = box.content_box_x(), box.content_box_y()
        struct["A"] = pydyf.Dictionary({"O": "/Layout", "BBox": pydyf.Array((x, y, x + box.width, y + box.height)),
                                        "Placement": "/Block" if role == "Figure" else "/Inline"})
    elif role in ("TH", "TD"):
        attributes = pydyf.Dictionary({"O": "/Table"})
        if role == "TH":
            attributes["Scope"] = "/Column" if inside_head or element.get("scope") == "col" else "/Row"
        if getattr(box, "colspan", 1) != 1:
            attributes["ColSpan"] = box.colspan
        if getattr(box, "rowspan", 1) != 1:
            attributes["RowSpan"] = box.rowspan
        struct["A"] = attributes


def _alternative_text(element: Any) -> str | None:
    """A figure's words for those who cannot see it: its picture's `alt`, or its drawing's `<title>`."""
    for inner in element.iter():
        tag = inner.tag.rsplit("}", 1)[-1] if isinstance(inner.tag, str) else ""
        if tag == "img" and inner.get("alt"):
            return str(inner.get("alt"))
        if tag == "svg":
            title = next((child for child in inner if isinstance(child.tag, str) and child.tag.endswith("title")), None)
            if title is not None and (title.text or "").strip():
                return " ".join(title.text.split())
    return None


def _before_hyphen(box: Any, text: str) -> str | None:
    """For a line that ends in a word the layout hyphenated: the line's text without the hyphen."""
    hyphen = box.style["hyphenate_character"]
    if not text or not hyphen or not text.endswith(hyphen) or box.style["hyphens"] == "none":
        return None
    return text[: -len(hyphen)]


def _marked_content(stream: Any) -> dict[int, tuple[list[Any], int, Any]]:
    """Each MCID of a page's stream: the stream's list of items, where its tag stands, and its
    property list (which the engine wrote as `/Tag`, `<< /MCID n >>`, `BDC`)."""
    import pydyf

    found: dict[int, tuple[list[Any], int, Any]] = {}
    items = stream.stream
    for index in range(len(items) - 2):
        properties = items[index + 1]
        if isinstance(properties, pydyf.Dictionary) and "MCID" in properties and items[index + 2] == b"BDC":
            found[int(properties["MCID"])] = (items, index, properties)
    return found
