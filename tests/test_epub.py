"""A publisher hands out the e-book: valid, accessible, and citable by the printed page."""

from __future__ import annotations

import io
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from limbag.pipeline import build

from .conftest import REPO, png_image
from .validators import ace_violations, epubcheck

pytestmark = pytest.mark.build

NS = {"opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/",
      "x": "http://www.w3.org/1999/xhtml", "epub": "http://www.idpf.org/2007/ops"}
EPUB_TYPE = "{http://www.idpf.org/2007/ops}type"

ENGLISH_BOOK = {
    "book.yaml": """\
title: Notes on the Cold War
authors: [Jane Roe]
language: en
date: 2026-11-24
publisher: Test Press
rights: CC BY 4.0
description: A short English test book.
isbn: 978-3-16-148410-0
page: {size: halfletter}
outputs: [pdf, epub]
index:
  terms:
    Soviet Union: {aliases: [USSR, Soviet Union]}
  see: {Russia: Soviet Union}
chronology: {detect: true}
""",
    "images/chart.png": png_image(),
    "01-request.md": """\
# The Request

On March 31, 1954, the USSR asked to join [NATO]{idx="NATO"}.[^note] The Western powers answered
on May 7, 1954.^[In notes of the same date.]

![A chart of the two alliances](images/chart.png){alt="Two boxes joined by a diagonal line"}

| Year | Event |
|------|-------|
| 1949 | NATO founded |
| 1955 | Warsaw Pact |

[^note]: The note was sent to the governments of the United States, Britain and France.

    A second paragraph of the note.
""",
    "02-answer.md": "# The Answer\n\n" + "\n\n".join(
        f"Paragraph {n}: the Soviet Union and NATO went on as rivals, and the USSR signed the Warsaw "
        f"Pact on May 14, 1955 with seven other states, as the record of meeting {n} shows in detail. "
        + " ".join(f"Sentence {k} of paragraph {n} adds a few more words to make it long." for k in range(12))
        for n in range(1, 8)) + "\n",
}


def write_book(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / "manuscript" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


@pytest.fixture(scope="module", params=["sample", "english"])
def built(request, tmp_path_factory):
    if request.param == "sample":
        result = build(REPO, tmp_path_factory.mktemp("sample-epub"), formats=("pdf", "epub"))
    else:
        book = write_book(tmp_path_factory.mktemp("english-epub") / "book", ENGLISH_BOOK)
        result = build(book)
    epub = next(path for path in result.written if path.suffix == ".epub")
    return result, epub


def read_xml(epub: Path, name: str) -> ElementTree.Element:
    with zipfile.ZipFile(epub) as archive:
        return ElementTree.fromstring(archive.read(name))


def test_epubcheck_finds_no_errors_or_warnings(built):
    _, epub = built
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output


def test_ace_finds_no_accessibility_violations(built, tmp_path):
    _, epub = built
    assert ace_violations(epub, tmp_path / "ace") == []


def test_the_package_lists_every_file_and_reads_in_order(built):
    result, epub = built
    with zipfile.ZipFile(epub) as archive:
        names = archive.namelist()
        assert names[0] == "mimetype" and archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
    opf = read_xml(epub, "EPUB/package.opf")
    manifest = {item.get("id"): item.get("href") for item in opf.iterfind("opf:manifest/opf:item", NS)}
    spine = [item.get("idref") for item in opf.iterfind("opf:spine/opf:itemref", NS)]
    assert all(idref in manifest for idref in spine)
    assert {f"EPUB/{href}" for href in manifest.values()} | {"mimetype", "META-INF/container.xml",
                                                              "EPUB/package.opf"} == set(names)
    chapters = [manifest[i] for i in spine if manifest[i].startswith("chapter-")]
    assert len(chapters) == len(result.book.chapters)
    order = [manifest[i] for i in spine]
    if result.book.config.cover is not None:  # a book with covers opens with its cover page
        assert order.pop(0) == "cover.xhtml"
    assert order[:3] == ["title.xhtml", "imprint.xhtml", "nav.xhtml"]
    back = ["chronology.xhtml", *(["bibliography.xhtml"] if result.book.bibliography else []), "index.xhtml"]
    assert order[-len(back):] == back


def test_metadata_including_accessibility(built):
    result, epub = built
    config = result.book.config
    metadata = read_xml(epub, "EPUB/package.opf").find("opf:metadata", NS)
    assert metadata.findtext("dc:title", namespaces=NS) == config.title
    assert metadata.findtext("dc:language", namespaces=NS) == config.language
    assert metadata.findtext("dc:identifier", namespaces=NS) == config.identifier
    assert [c.text for c in metadata.iterfind("dc:creator", NS)] == list(config.authors)
    properties = {}
    for meta in metadata.iterfind("opf:meta", NS):
        properties.setdefault(meta.get("property"), []).append(meta.text)
    assert properties["dcterms:modified"] == [f"{config.date.isoformat()}T00:00:00Z"]
    assert properties["pageBreakSource"] == [config.identifier]
    assert "textual" in properties["schema:accessModeSufficient"]
    assert {"pageBreakMarkers", "pageNavigation", "tableOfContents", "index"} <= set(
        properties["schema:accessibilityFeature"])
    assert properties["schema:accessibilityHazard"] == ["none"]
    assert properties["dcterms:conformsTo"] == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert properties["schema:accessibilitySummary"][0]


def test_a_page_break_marker_for_every_printed_page_in_print_order(built):
    result, epub = built
    # Every printed page but the covers (the e-book has a cover page of its own).
    labels = [label for index, label in enumerate(result.page_map.labels) if not result.page_map.is_cover(index)]
    nav = read_xml(epub, "EPUB/nav.xhtml")
    page_list = next(n for n in nav.iter("{http://www.w3.org/1999/xhtml}nav") if n.get(EPUB_TYPE) == "page-list")
    links = [(a.text, a.get("href")) for a in page_list.iter("{http://www.w3.org/1999/xhtml}a")]
    assert [text for text, _ in links] == labels
    found: dict[str, str] = {}
    with zipfile.ZipFile(epub) as archive:
        for href in dict.fromkeys(h.split("#")[0] for _, h in links):
            text = archive.read(f"EPUB/{href}").decode()
            for label in re.findall(r'epub:type="pagebreak" role="doc-pagebreak" id="_page-([^"]+)" aria-label="\1"', text):
                found[label] = href
    assert [found.get(label) for label in labels] == [href.split("#")[0] for _, href in links]


def test_a_marker_stands_where_its_page_begins(built):
    """The words right after a mid-paragraph marker are the first words of that printed page."""
    from .conftest import pdf_pages_text, words

    result, epub = built
    pdf = next(path for path in result.written if path.suffix == ".pdf")
    texts = pdf_pages_text(pdf)
    checked = 0
    with zipfile.ZipFile(epub) as archive:
        for page, first in enumerate(result.page_map.first_on_page):
            if not (first and first.startswith("_w-")):
                continue
            chapter = next(c for c in result.book.chapters if first[3:].startswith(f"_p-{c.number}-"))
            xhtml = archive.read(f"EPUB/chapter-{chapter.number:02d}.xhtml").decode()
            label = result.page_map.labels[page]
            after = xhtml.split(f'id="_page-{label}"', 1)[1].split("</span>", 1)[1]
            following = words(re.sub(r"<[^>]+>", " ", after.split("</p>", 1)[0]))[:4]
            assert " ".join(following) in " ".join(words(texts[page])), (label, following)
            checked += 1
    assert checked >= 1


def test_footnotes_pop_up_with_backlinks_and_unique_ids(built):
    result, epub = built
    ids: list[str] = []
    with zipfile.ZipFile(epub) as archive:
        for chapter in result.book.chapters:
            root = ElementTree.fromstring(archive.read(f"EPUB/chapter-{chapter.number:02d}.xhtml"))
            ids.extend(e.get("id") for e in root.iter() if e.get("id"))
            refs = [a for a in root.iter("{http://www.w3.org/1999/xhtml}a") if a.get(EPUB_TYPE) == "noteref"]
            asides = {a.get("id"): a for a in root.iter("{http://www.w3.org/1999/xhtml}aside")}
            assert len(asides) == len(chapter.footnotes)
            for ref in refs:
                assert ref.get("role") == "doc-noteref"
                note = asides[ref.get("href")[1:]]
                assert (note.get(EPUB_TYPE), note.get("role")) == ("footnote", "doc-footnote")
                backlink = note.find("x:a", NS)
                assert backlink.get("role") == "doc-backlink" and backlink.get("href").startswith("#_fnref-")
    assert len(ids) == len(set(ids))


def test_every_index_locator_is_a_print_page_linking_to_its_spot(built):
    result, epub = built
    index = read_xml(epub, "EPUB/index.xhtml")
    assert any(e.get(EPUB_TYPE) == "index" for e in index.iter())
    locators = [a for a in index.iter("{http://www.w3.org/1999/xhtml}a") if a.get(EPUB_TYPE) == "index-locator"]
    assert locators
    with zipfile.ZipFile(epub) as archive:
        for locator in locators:
            href, anchor = locator.get("href").split("#")
            assert locator.text == result.page_map.label_of(anchor)
            assert f'id="{anchor}"' in archive.read(f"EPUB/{href}").decode()


def test_the_chronology_links_each_event_to_its_page(built):
    result, epub = built
    chronology = read_xml(epub, "EPUB/chronology.xhtml")
    assert chronology.find(".//{http://www.w3.org/2000/svg}svg") is not None
    links = [a for a in chronology.iter("{http://www.w3.org/1999/xhtml}a") if "#" in (a.get("href") or "")]
    assert len(links) == sum(1 for row in result.chronology.rows if row.page_label)
    for link in links:
        assert link.text == result.page_map.label_of(link.get("href").split("#")[1])


def test_fonts_are_embedded_subset_with_their_licence(built):
    _, epub = built
    with zipfile.ZipFile(epub) as archive:
        fonts = {n: archive.getinfo(n).file_size for n in archive.namelist() if n.startswith("EPUB/fonts/")}
    assert "EPUB/fonts/OFL.txt" in fonts
    ttf = {n: size for n, size in fonts.items() if n.endswith(".ttf")}
    assert len(ttf) == 4 and all(size < 200_000 for size in ttf.values())  # the full faces are ~800 kB


def test_each_face_is_cut_to_the_books_characters_keeping_its_names_and_features():
    """The subset holds every character the book uses, the font's names and licence, and the
    features the full face has (small capitals), whichever subsetter the system has."""
    import io

    from fontTools.ttLib import TTFont

    from limbag.fonts import _fonttools_subset, subset_font

    characters = "".join(sorted(set("Ang Kahilingan ng USSR na Sumali sa NATO: Ñño «»–0123456789")))
    face = REPO / "fonts" / "GentiumBookPlus-Regular.ttf"
    for data in (subset_font(face, characters), _fonttools_subset(face.read_bytes(), characters)):
        font = TTFont(io.BytesIO(data))
        assert {ord(c) for c in characters} <= set(font.getBestCmap())
        assert {13, 14} <= {record.nameID for record in font["name"].names}  # licence and its URL
        features = {record.FeatureTag for record in font["GSUB"].table.FeatureList.FeatureRecord}
        assert {"smcp", "c2sc"} <= features, features


def test_the_same_input_gives_a_byte_identical_epub(built, tmp_path):
    result, epub = built
    again = build(result.book.config.book_dir, tmp_path, formats=("pdf", "epub"))
    assert next(p for p in again.written if p.suffix == ".epub").read_bytes() == epub.read_bytes()


def test_a_book_s_own_copy_of_a_built_in_font_replaces_it_once(make_book, tmp_path):
    """A designer drops a revised Gentium into the book's fonts/: it is the one used, packed once."""
    from fontTools.ttLib import TTFont

    font = TTFont(REPO / "fonts" / "GentiumBookPlus-Regular.ttf")
    font["name"].setName("Revised by the book's designer", 5, 3, 1, 0x409)
    book = make_book({"book.yaml": "title: T\nlanguage: en\noutputs: [pdf, epub]\n", "01.md": "# One\n\nText.\n"})
    (book / "fonts").mkdir()
    font.save(book / "fonts" / "GentiumBookPlus-Regular.ttf")
    shutil.copy(REPO / "fonts" / "OFL.txt", book / "fonts" / "OFL.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no duplicate zip entries
        result = build(book)
    assert result.warnings == ()
    epub = next(path for path in result.written if path.suffix == ".epub")
    with zipfile.ZipFile(epub) as archive:
        names = archive.namelist()
        packed = TTFont(io.BytesIO(archive.read("EPUB/fonts/GentiumBookPlus-Regular.ttf")))
    assert len(names) == len(set(names)) and names.count("EPUB/fonts/OFL.txt") == 1
    assert packed["name"].getDebugName(5) == "Revised by the book's designer"
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
