"""Citations: an editor names the bibliography in book.yaml and writes [@key]; the book prints each
source in the style's form (in footnotes for a note style, in the text for an author-date one)
and lists the works cited in a bibliography before the index, in the PDF and the e-book."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

import limbag
from limbag.errors import LimbagError
from limbag.markup import block_text
from limbag.pandoc import pandoc_program
from limbag.pipeline import build

from .conftest import assert_footnotes_on_their_call_pages, pdf_pages_text, run_command
from .validators import ace_violations, epubcheck

pytestmark = pytest.mark.build

WORKS = """
@book{roberts2006,
  author    = {Roberts, Geoffrey},
  title     = {Stalin's Wars: From World War to Cold War, 1939--1953},
  publisher = {Yale University Press},
  address   = {New Haven},
  year      = {2006},
}
@article{roberts2008,
  author  = {Roberts, Geoffrey},
  title   = {A Chance for Peace? The Soviet Campaign to End the Cold War, 1953--1955},
  journal = {Cold War International History Project Working Paper},
  number  = {57},
  year    = {2008},
}
@book{agoncillo1990,
  author    = {Agoncillo, Teodoro A.},
  title     = {History of the Filipino People},
  edition   = {8},
  publisher = {Garotech},
  address   = {Quezon City},
  year      = {1990},
}
@book{uncited1999,
  author    = {Zubok, Vladislav and Pleshakov, Constantine},
  title     = {Inside the Kremlin's Cold War},
  publisher = {Harvard University Press},
  address   = {Cambridge, MA},
  year      = {1996},
}
"""

CHAPTER = """# The Offer

The Soviet note of March 1954 surprised the West.[^n] Historians read it as a tactic
[@roberts2008, 12], or as a real wish for a settlement [see @roberts2006, 455--60].

[^n]: A note of the book's own, not a citation.

# The Answer

The answer came in May [@roberts2008, 20]. Much later, @agoncillo1990 set such notes beside
Philippine politics.
"""


def _book(make_book, style: str = "", language: str = "en", extra: str = ""):
    settings = f"title: Cited\nlanguage: {language}\noutputs: [pdf, epub]\nbibliography: works.bib\n{style}{extra}"
    return make_book({"book.yaml": settings, "01.md": CHAPTER, "works.bib": WORKS})


def _text(path) -> str:
    return "\n".join(pdf_pages_text(path)).replace("‐\n", "")


def test_a_note_style_puts_each_citation_in_a_footnote_and_lists_the_works_cited(make_book, tmp_path):
    result = build(_book(make_book), tmp_path / "out")
    pdf, epub = result.written
    text = " ".join(_text(pdf).split()).replace("– ", "–")
    # Chicago notes and bibliography (the default): a full note the first time, a short one after.
    assert ("2. Geoffrey Roberts, “A Chance for Peace? The Soviet Campaign to End the Cold War, 1953–1955,” Cold War "
            "International History Project Working Paper, no. 57 (2008): 12.") in text
    assert "1. Roberts, “A Chance for Peace?" in text and "1953–1955,” 20." in text
    assert "[@" not in text and "@agoncillo" not in text
    # The bibliography, before the index if any, headed in the book's language, holds the works
    # cited and only those, in the style's order (by author, then title).
    bibliography = result.back_matter.bibliography
    assert bibliography is not None
    first_words = [re.sub(r"\W+", " ", block_text(entry.blocks[0])).split()[0] for entry in bibliography.entries]
    assert first_words == ["Agoncillo", "Roberts", "Roberts"]
    assert "Zubok" not in text
    page = result.page_map.anchor_pages["bibliography"]
    assert PdfReader(pdf).pages[page].extract_text().lstrip().startswith("Bibliography")
    assert "Bibliography" in pdf_pages_text(pdf)[result.page_map.anchor_pages["contents"]]
    # Each citation links to its work in the bibliography (the PDF's link to a named place there).
    targets = {str(annotation.get_object()["/Dest"]) for page in PdfReader(pdf).pages
               for annotation in page.get("/Annots", []) if "/Dest" in annotation.get_object()}
    assert {entry.id for entry in bibliography.entries} <= targets
    # The e-book: a bibliography section, its works listed, the citations linking to them.
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    with zipfile.ZipFile(epub) as package:
        listing = package.read("EPUB/bibliography.xhtml").decode()
        chapter = package.read("EPUB/chapter-01.xhtml").decode()
        nav = package.read("EPUB/nav.xhtml").decode()
    assert 'role="doc-bibliography"' in listing and listing.count('class="bib-entry"') == 3
    roberts_2008 = next(entry for entry in bibliography.entries if "57" in block_text(entry.blocks[0]))
    assert f'href="bibliography.xhtml#{roberts_2008.id}"' in chapter
    # ... and each work back to where it is first cited.
    assert len(roberts_2008.cited_at) == 2
    first = roberts_2008.cited_at[0]
    assert f'role="doc-backlink" href="chapter-01.xhtml#{first}"' in listing and f'id="{first}"' in chapter
    assert 'epub:type="bibliography"' in nav


def test_an_author_date_style_cites_in_the_text(make_book, tmp_path):
    result = build(_book(make_book, "csl: apa\n"), tmp_path / "out")
    text = " ".join(_text(result.written[0]).split())
    assert "(Roberts, 2008, p. 12)" in text
    assert "Agoncillo (1990)" in text
    assert "Roberts, G. (2006). Stalin’s wars" in text


def test_a_filipino_book_cites_with_filipino_words_and_keeps_tagalog_titles_as_written(make_book, tmp_path):
    works = WORKS + """
@incollection{cruz2000,
  author    = {Cruz, Juan},
  editor    = {Santos, Maria and Reyes, Jose},
  title     = {Ang kasaysayan ng digmaan},
  booktitle = {Mga sanaysay sa kasaysayan},
  publisher = {UP Press},
  address   = {Lungsod Quezon},
  year      = {2000},
  pages     = {10--25},
}
@book{english1990,
  author    = {Cruz, Juan},
  title     = {a history of the war in the islands},
  publisher = {UP Press},
  year      = {1990},
  langid    = {english},
}
"""
    book = make_book({"book.yaml": "title: Sinipi\nlanguage: tl\noutputs: [pdf]\nbibliography: works.bib\n",
                      "01.md": "# Simula\n\nAyon kay Cruz, mahaba ang digmaan [@cruz2000, 12; @english1990].\n",
                      "works.bib": works})
    result = build(book, tmp_path / "out")
    text = " ".join(_text(result.written[0]).split())
    assert "inedit nina Maria Santos at Jose Reyes" in text or "ed. nina Maria Santos at Jose Reyes" in text
    assert "“Ang kasaysayan ng digmaan,”" in text  # not "Ang Kasaysayan Ng Digmaan"
    assert "A History of the War in the Islands" in text  # a work in English: the style's title case
    assert "Sanggunian" in text


def test_a_cited_work_missing_from_the_bibliography_is_a_located_warning(make_book, tmp_path):
    book = make_book({"book.yaml": "title: Cited\nlanguage: en\noutputs: [pdf]\nbibliography: works.bib\n",
                      "01.md": "# One\n\nFirst line.\n\nAs shown [@nosuchwork, 3].\n", "works.bib": WORKS})
    result = build(book, tmp_path / "out")
    missing = [problem for problem in result.warnings if "nosuchwork" in problem.message]
    assert len(missing) == 1
    assert missing[0].location.file.name == "01.md" and missing[0].location.line == 5
    assert "works.bib" in missing[0].hint
    ran = run_command("build", str(book), "--out", str(tmp_path / "strict"), "--strict")
    assert ran.code != 0 and "01.md:5" in ran.stderr and "nosuchwork" in ran.stderr


def test_a_malformed_bibliography_is_an_error_naming_the_file_and_line(make_book, tmp_path):
    broken = WORKS.replace("  year      = {1990},\n}", "  year      = {1990},\n", 1)
    book = make_book({"book.yaml": "title: Cited\nlanguage: en\noutputs: [pdf]\nbibliography: works.bib\n",
                      "01.md": CHAPTER, "works.bib": broken})
    with pytest.raises(LimbagError) as raised:
        build(book, tmp_path / "out")
    assert "works.bib" in str(raised.value)
    ran = run_command("build", str(book), "--out", str(tmp_path / "cli"))
    assert ran.code != 0 and "works.bib" in ran.stderr and "Traceback" not in ran.stderr


def test_unknown_styles_and_bibliographies_outside_the_book_are_located_errors(make_book, tmp_path):
    book = _book(make_book, "csl: chicago-note\n")
    ran = run_command("build", str(book), "--out", str(tmp_path / "out"))
    assert ran.code != 0 and "book.yaml:5" in ran.stderr and "chicago-notes-bibliography" in ran.stderr
    outside = make_book({"book.yaml": "title: C\nlanguage: en\nbibliography: ../../secret.bib\n", "01.md": CHAPTER},
                        name="outside")
    (tmp_path / "secret.bib").write_text(WORKS)
    ran = run_command("build", str(outside), "--out", str(tmp_path / "out2"))
    assert ran.code != 0 and "outside manuscript/" in ran.stderr


def test_nocite_lists_works_not_cited(make_book, tmp_path):
    result = build(_book(make_book, extra="nocite: [uncited1999]\n"), tmp_path / "out")
    assert len(result.back_matter.bibliography.entries) == 4
    assert "Zubok" in _text(result.written[0])


def test_a_chapter_may_name_its_bibliography_in_its_metadata_block(make_book, tmp_path):
    book = make_book({"book.yaml": "title: Cited\nlanguage: en\noutputs: [pdf]\n",
                      "01.md": "---\nbibliography: works.bib\n---\n\n# One\n\nAs shown [@roberts2006, 3].\n",
                      "works.bib": WORKS})
    result = build(book, tmp_path / "out")
    assert [block_text(entry.blocks[0])[:16] for entry in result.back_matter.bibliography.entries] == ["Roberts, Geoffre"]
    assert not [problem for problem in result.warnings if "bibliography" in problem.message]
    assert "Stalin’s Wars" in _text(result.written[0])


def test_cross_references_are_not_taken_for_citations(make_book, tmp_path):
    chapter = CHAPTER + "\nAs @fig:map shows, and [@tbl:years; @tbl:more] list.\n"
    book = make_book({"book.yaml": "title: Cited\nlanguage: en\noutputs: [pdf]\nbibliography: works.bib\n",
                      "01.md": chapter, "works.bib": WORKS})
    result = build(book, tmp_path / "out")
    messages = [problem.message for problem in result.warnings]
    # (These labels are not in the book: each reference is shown as written, with a warning.)
    assert any("cross-reference @fig:map" in message and "shown as written" in message for message in messages)
    assert any("cross-reference @tbl:years" in message for message in messages)
    assert not any("not in the bibliography" in message for message in messages)
    text = _text(result.written[0])
    assert "fig:map?" not in text and "@fig:map" in text


def test_a_broken_style_file_is_an_error_naming_it(make_book, tmp_path):
    book = make_book({"book.yaml": "title: C\nlanguage: en\noutputs: [pdf]\nbibliography: works.bib\ncsl: my.csl\n",
                      "01.md": CHAPTER, "works.bib": WORKS,
                      "my.csl": '<style xmlns="http://purl.org/net/xbiblio/csl" version="1.0"><info>'})
    ran = run_command("build", str(book), "--out", str(tmp_path / "out"))
    assert ran.code != 0 and "my.csl" in ran.stderr and "cannot read the citation style" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_damaged_citation_cache_is_formatted_again(make_book, tmp_path):
    book = _book(make_book)
    out = tmp_path / "out"
    build(book, out, ("pdf",))
    (kept,) = (out / ".limbag-cache" / "citations").glob("*.json")
    kept.write_text('{"document": {"blocks": [{"t": "Div", "c": 3}]}}')
    chapter = book / "manuscript" / "01.md"
    chapter.write_text(chapter.read_text().replace("surprised the West", "surprised everyone"))  # no citation changed
    again = build(book, out, ("pdf",))
    assert "“A Chance for Peace?" in _text(again.written[0])


REAL_BOOK = Path(__file__).parent / "fixtures" / "rlhf-book"
"""Two chapters of a textbook written for Pandoc, pandoc-crossref and citeproc, with its 412-entry
bibliography (see its SOURCE.md)."""
CHAPTERS = ("02-related-works.md", "03-training-overview.md")


def _citeprocs_own_bibliography(manuscript: Path, style: str) -> list[str]:
    """The works Pandoc's citeproc, run on its own over the same chapters, lists, in its order: the
    reference the book's bibliography is checked against."""
    done = subprocess.run([str(pandoc_program()), "--citeproc", "--bibliography", "bib.bib",
                           "--csl", str(Path(limbag.__file__).parent / "csl" / f"{style}.csl"),
                           "-f", "markdown", "-t", "json", *CHAPTERS],
                          cwd=manuscript, capture_output=True, text=True, timeout=300, check=True)
    blocks = json.loads(done.stdout)["blocks"]
    refs = next(block for block in blocks if block["t"] == "Div" and block["c"][0][0] == "refs")
    return [entry["c"][0][0] for entry in refs["c"][1]]


@pytest.mark.parametrize("style", ["chicago-notes-bibliography", "chicago-author-date"])
def test_a_real_textbook_with_a_412_entry_bibliography(style, tmp_path):
    book = tmp_path / "rlhf"
    shutil.copytree(REAL_BOOK, book / "manuscript", ignore=shutil.ignore_patterns("LICENSE", "SOURCE.md"))
    (book / "manuscript" / "book.yaml").write_text(
        f"title: Reinforcement Learning from Human Feedback\nlanguage: en\nchapters: [{', '.join(CHAPTERS)}]\n"
        f"outputs: [pdf, epub]\nbibliography: bib.bib\ncsl: {style}\nlists: [figures, tables]\n", encoding="utf-8")
    result = build(book, tmp_path / "out")
    pdf, epub = result.written
    # Every citation and cross-reference resolved: nothing is left as written, nothing warned of but
    # the chapters' metadata for the author's web site (and the pictures, reduced for this repository).
    assert [problem for problem in result.warnings
            if "metadata key" not in problem.message and "ppi" not in problem.message] == []
    text = " ".join(pdf_pages_text(pdf))
    assert not re.search(r"@(fig|tbl|eq|sec):|\[@|@[a-z]+\d{4}|\?\?\?", text)
    # The bibliography holds exactly the works cited, in the style's order, as citeproc alone lists them.
    expected = _citeprocs_own_bibliography(book / "manuscript", style)
    assert len(expected) > 40
    with zipfile.ZipFile(epub) as package:
        listed = re.findall(r'<li class="bib-entry" id="(ref-[^"]+)"',
                            package.read("EPUB/bibliography.xhtml").decode())
    assert listed == expected
    assert {name for name in PdfReader(pdf).named_destinations if name.startswith("ref-")} == set(expected)
    if style == "chicago-notes-bibliography":  # the sources stand in footnotes at the foot of the page
        assert assert_footnotes_on_their_call_pages(result, pdf) > 40
    else:
        assert "(Christiano et al. 2017)" in " ".join(text.split())
    report = epubcheck(epub)
    assert (report.fatals, report.errors, report.warnings) == (0, 0, 0), report.output
    assert ace_violations(epub, tmp_path / "ace") == []
