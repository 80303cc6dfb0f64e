"""A Filipino book quotes a Chinese word, a Japanese title or a Korean name, and a teacher's handout
has an emoji: the text face has none of them, so they are set in the fallback faces (Noto Emoji,
monochrome for print; Noto Serif CJK), embedded and cut down like the text face, in both outputs."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from limbag.fonts import FALLBACK_FAMILIES, find_fonts, missing_characters, source_characters
from limbag.pipeline import build, prepare

from .conftest import pdf_pages_text
from .validators import ace_violations, epubcheck

CHAPTERS = {
    "01.md": "# Isa\n\nAng salitang Tsino para sa bansa ay 国家, at ang Hapon ay 日本語. Sa Korea, 한국어.\n\n"
             "Masaya ang mga bata 😀, at **makapal na 国家 😀**.\n",
    "02.md": "# Dalawa\n\nIba pa: 東京 at 大阪, ひらがな. Isang aklat 📖 at isa pang 😀.\n",
}


def embedded_fonts(pdf) -> dict[str, str]:
    """Base font name (without the subset tag) → the kind of program embedded."""
    found = {}
    for page in PdfReader(pdf).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            kind = next(key for key in ("/FontFile2", "/FontFile3", "/FontFile") if key in descriptor)
            found[str(font["/BaseFont"]).split("+")[-1]] = kind
    return found


def glyphs_without_outlines(pdf) -> list[tuple[str, int]]:
    """(font, glyph) for each glyph a page's font draws (its widths) that its embedded CFF program has
    no outline for: what a page pointed at another part's subset of the face would print as blanks."""
    missing = []
    for page in PdfReader(pdf).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"].get("/FontFile3")
            if program is None:
                continue
            cff = TTFont(io.BytesIO(program.get_object().get_data()))["CFF "].cff
            charstrings = cff[cff.fontNames[0]].CharStrings
            order = cff[cff.fontNames[0]].charset
            widths = list(descendant["/W"])
            used, index = [], 0
            while index < len(widths):
                start = int(widths[index])
                if isinstance(widths[index + 1], list):
                    used += range(start, start + len(widths[index + 1]))
                    index += 2
                else:
                    used += range(start, int(widths[index + 1]) + 1)
                    index += 3
            for glyph in used:
                if glyph == 1:
                    continue  # the space, in Adobe's CJK glyph orders: no outline to have
                charstring = charstrings[order[glyph]]
                if charstring.calcBounds(charstrings) is None:
                    missing.append((str(font.get_object()["/BaseFont"]), glyph))
    return missing


def test_the_fallback_faces_are_declared_only_for_a_book_that_needs_them(make_book):
    """Noto Serif CJK is 26 MB a weight: a book without CJK or emoji does not make the engine load it."""
    plain = make_book({"book.yaml": "title: T\nlanguage: tl\n", "01.md": "# Isa\n\nMga salita lamang.\n"}, "plain")
    needy = make_book({"book.yaml": "title: T\nlanguage: tl\n", **CHAPTERS}, "needy")
    plain_families = {face.family for face in find_fonts(plain, source_characters(prepare(plain).config))[0]}
    needy_families = {face.family for face in find_fonts(needy, source_characters(prepare(needy).config))[0]}
    assert not plain_families & set(FALLBACK_FAMILIES)
    assert set(FALLBACK_FAMILIES) <= needy_families


@pytest.mark.build
def test_emoji_and_cjk_print_in_the_fallback_faces_and_the_ebook_carries_them(make_book, tmp_path):
    book = make_book({"book.yaml": "title: Mga Titik\nlanguage: tl\noutputs: [pdf, epub]\n", **CHAPTERS})
    result = build(book, tmp_path / "one", processes=1)
    assert not [w for w in result.warnings if "font" in w.message], result.warnings
    pdf = next(p for p in result.written if p.suffix == ".pdf")

    fonts = embedded_fonts(pdf)
    assert fonts["Noto-Emoji"] == "/FontFile2" and fonts["Noto-Serif-CJK"] == "/FontFile3", fonts
    assert "Noto-Serif-CJK-Bold" in fonts and not [name for name in fonts if "DejaVu" in name], fonts
    text = "\n".join(pdf_pages_text(pdf))
    for word in ("国家", "日本", "한국어", "😀", "東京", "ひらがな", "📖"):
        assert word in text, word

    # Two chapters, each with its own CFF subset of the CJK face: both read back, whatever the joining did.
    second = next(page for page in pdf_pages_text(pdf) if "Iba pa" in page)
    assert "東京" in second and "大阪" in second
    assert not glyphs_without_outlines(pdf)

    epub = next(p for p in result.written if p.suffix == ".epub")
    with zipfile.ZipFile(epub) as archive:
        names = set(archive.namelist())
        css = archive.read("EPUB/css/fonts.css").decode()
    assert {"EPUB/fonts/NotoEmoji-Regular.ttf", "EPUB/fonts/NotoSerifCJK-Regular.otf",
            "EPUB/fonts/OFL-NotoEmoji.txt", "EPUB/fonts/OFL-NotoSerifCJK.txt"} <= names
    assert re.search(r'"Noto Serif CJK".*NotoSerifCJK-Regular\.otf', css)
    report = epubcheck(epub)
    assert report.fatals == report.errors == report.warnings == 0, report.output
    assert ace_violations(epub, tmp_path / "ace") == []

    again = build(book, tmp_path / "two", processes=2)
    for first, second_file in zip(sorted(result.written), sorted(again.written), strict=True):
        assert first.read_bytes() == second_file.read_bytes(), first.name


def test_a_character_no_font_has_is_a_warning_at_its_line_once(make_book):
    """A cuneiform sign: neither the text face nor a fallback has it, so the editor is told where,
    once per character; code (set in the monospaced face) is not checked."""
    book = make_book({
        "book.yaml": "title: T\nlanguage: en\n",
        "01.md": "# One\n\nPlain words.\n\nA sign 𒀀 here,\nand 😀 there.\n\nAgain 𒀀.\n\n```\n│ box drawing\n```\n",
    })
    prepared = prepare(book)
    faces, _ = find_fonts(book, source_characters(prepared.config))
    problems = missing_characters(prepared.book, faces)
    found = {re.search(r"has '(.)'", problem.message).group(1): problem for problem in problems}
    assert sorted(found) == ["𒀀"]
    assert found["𒀀"].location.line == 5
    assert "U+12000, Cuneiform Sign A" in found["𒀀"].message and "fonts/" in found["𒀀"].hint


def test_without_the_cjk_faces_the_warning_says_what_to_install(make_book):
    """On a machine without Noto Serif CJK, a Chinese word is a warning that names the package."""
    book = make_book({"book.yaml": "title: T\nlanguage: en\n", "01.md": "# One\n\nThe word 漢 here.\n"})
    prepared = prepare(book)
    faces = tuple(face for face in find_fonts(book)[0] if face.family != "Noto Serif CJK")
    [problem] = missing_characters(prepared.book, faces)
    assert problem.location.line == 3 and "fonts-noto-cjk" in problem.hint


def test_installing_or_updating_the_cjk_faces_is_a_change_to_the_book(make_book):
    """The unchanged-book check and the kept parts know the system's fallback faces: a build after
    installing fonts-noto-cjk lays the book out again instead of keeping its empty boxes."""
    from limbag.cache import fingerprint, input_digests
    from limbag.layouts import SYSTEM_FONTS

    book = make_book({"book.yaml": "title: T\nlanguage: en\n", "01.md": "# One\n\nThe word 漢 here.\n"})
    inputs = input_digests(book)
    regular = SYSTEM_FONTS[0][0]
    assert inputs[regular.parent, Path(regular.name)]
    before = fingerprint(inputs, ("pdf",), False)
    updated = {**inputs, (regular.parent, Path(regular.name)): b"another size and time"}
    assert fingerprint(updated, ("pdf",), False) != before


def test_the_engine_links_the_fonts_it_would_copy(make_book):
    """The layout engine keeps every @font-face font in a folder of its own, for fontconfig loads
    fonts from files: a link to the font file serves as well as a copy of it (the two CJK
    collections are 53 MB, that every layout process would write)."""
    from limbag.fonts import find_fonts
    from limbag.layouts import book_layouts
    from limbag.pdf import engine_settings
    from limbag.typeset import Typesetter

    book = make_book({"book.yaml": "title: Mga Titik\nlanguage: tl\noutputs: [pdf]\n", **CHAPTERS})
    prepared = prepare(book)
    faces, _ = find_fonts(book, source_characters(prepared.config))
    typesetter = Typesetter(engine_settings(prepared.config, book_layouts(book), faces, press=False))
    held = [path for path in typesetter.font_config._folder.iterdir() if not path.suffix]
    assert sorted(path.resolve() for path in held) == sorted(face.path.resolve() for face in faces)
    assert all(path.is_symlink() for path in held)
