"""Tagalog hyphenation: a syllabifier from the Komisyon sa Wikang Filipino's rules, Liang patterns
generated from it, and their registration so the layout engine's `hyphens: auto` uses them.

Neither pyphen nor hyph-utf8 has Tagalog patterns. `syllabify` states the rules; `generate_patterns`
learns patterns level by level, as patgen does, from words split by `syllabify`; the result is
shipped as `hyph_tl.dic` (regenerate with `python -m limbag.hyphenation`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

VOWELS = frozenset("aeiouáéíóúàèìòùâêîôû")
ONSET_AFTER_NASAL = frozenset({"bl", "br", "dr", "pl", "pr", "tr"})
DICTIONARY = "hyph_tl.dic"
LANGUAGES = ("tl", "fil")
SYLLABIC_LANGUAGES = ("ceb", "hil", "war", "bik", "pam", "ilo")
"""Philippine languages with no patterns anywhere: their words are broken by `syllabify` itself,
the KWF's rules of the (C)V(C) syllable, which their spellings share with Filipino ('ki-na-hang-lan')."""


def _units(word: str) -> list[str]:
    """Letters as the orthography counts them: NG is one consonant."""
    units: list[str] = []
    position = 0
    lowered = word.lower()
    while position < len(word):
        if lowered.startswith("ng", position):
            units.append(word[position:position + 2])
            position += 2
        else:
            units.append(word[position])
            position += 1
    return units


def _is_vowel(unit: str) -> bool:
    return unit.lower() in VOWELS


def _split_simple(word: str) -> list[str]:
    """Syllables of a word without a written hyphen."""
    units = _units(word)
    vowels = [i for i, unit in enumerate(units) if _is_vowel(unit)]
    if len(vowels) < 2:
        return [word] if word else []
    cuts: list[int] = []  # unit index where a new syllable starts
    for left, right in zip(vowels, vowels[1:], strict=False):
        consonants = units[left + 1:right]
        count = len(consonants)
        if count == 0:  # vowels in hiatus: ma-a-ga
            cuts.append(right)
        elif count == 1:  # V-CV: ba-hay
            cuts.append(left + 1)
        elif count == 2:  # VC-CV: ak-lat, sang-gol
            cuts.append(left + 2)
        elif count == 3:
            first, cluster = consonants[0].lower(), (consonants[1] + consonants[2]).lower()
            if first in ("m", "n") and cluster in ONSET_AFTER_NASAL:  # sen-tro, kom-ple-to
                cuts.append(left + 2)
            else:  # eks-per-to, trans-por-te
                cuts.append(left + 3)
        else:  # four or more: the first two close the syllable, eks-tra
            cuts.append(left + 3)
    syllables: list[str] = []
    start = 0
    for cut in cuts:
        syllables.append("".join(units[start:cut]))
        start = cut
    syllables.append("".join(units[start:]))
    return syllables


def syllabify(word: str) -> list[str]:
    """'pangmatagalang' → ['pang', 'ma', 'ta', 'ga', 'lang']; a written hyphen is a break of its own
    (the hyphen stays with the syllable before it: 'pag-uugali' → ['pag-', 'u', 'u', 'ga', 'li'])."""
    word = unicodedata.normalize("NFC", word)
    parts = word.split("-")
    syllables: list[str] = []
    for number, part in enumerate(parts):
        pieces = _split_simple(part)
        if number < len(parts) - 1:
            pieces = [*pieces[:-1], (pieces[-1] if pieces else "") + "-"]
        syllables.extend(piece for piece in pieces if piece)
    return syllables


def break_points(word: str) -> set[int]:
    """Character offsets where the word may break (not at written hyphens: they break anyway)."""
    points: set[int] = set()
    offset = 0
    for syllable in syllabify(word)[:-1]:
        offset += len(syllable)
        if not syllable.endswith("-"):
            points.add(offset)
    return points


# Pattern generation ----------------------------------------------------------------------------------

def _apply(dotted: str, patterns: Mapping[str, tuple[int, ...]], longest: int) -> list[int]:
    values = [0] * (len(dotted) + 1)
    for start in range(len(dotted)):
        for end in range(start + 1, min(len(dotted), start + longest) + 1):
            digits = patterns.get(dotted[start:end])
            if digits:
                for offset, digit in enumerate(digits):
                    values[start + offset] = max(values[start + offset], digit)
    return values


def generate_patterns(training: Mapping[str, set[int]], levels: int = 6, longest: int = 8) -> dict[str, tuple[int, ...]]:
    """Liang patterns that reproduce the training words' breaks, learnt level by level.

    Odd levels add breaks that are missing, even levels take away breaks that are wrong; at each
    level every error is fixed by the shortest letter window that harms no other position.
    """
    patterns: dict[str, tuple[int, ...]] = {}
    words = {f".{word.lower()}.": {p + 1 for p in points} for word, points in training.items()}
    for level in range(1, levels + 1):
        good: dict[tuple[str, int], int] = defaultdict(int)
        bad: dict[tuple[str, int], int] = defaultdict(int)
        errors: list[tuple[str, int]] = []
        for dotted, truth in words.items():
            values = _apply(dotted, patterns, longest)
            for position in range(2, len(dotted) - 1):
                breaks_now = values[position] % 2 == 1
                should = position in truth
                if values[position] >= level:
                    continue  # a pattern of this level or higher already decides here
                wrong = (level % 2 == 1 and should and not breaks_now) or (level % 2 == 0 and not should and breaks_now)
                harmed = (level % 2 == 1 and not should) or (level % 2 == 0 and should and breaks_now)
                for start in range(max(0, position - longest), position + 1):
                    for end in range(max(position, start + 1), min(len(dotted), start + longest) + 1):
                        key = (dotted[start:end], position - start)
                        if wrong:
                            good[key] += 1
                        elif harmed:
                            bad[key] += 1
                if wrong:
                    errors.append((dotted, position))
        if not errors:
            break
        chosen: set[tuple[str, int]] = set()
        for dotted, position in errors:
            best: tuple[str, int] | None = None
            for size in range(1, longest + 1):
                windows = [(dotted[s:s + size], position - s) for s in range(max(0, position - size), position + 1)
                           if s + size <= len(dotted) and s + size >= position and size >= 1]
                fitting = [w for w in windows if good[w] and not bad[w]]
                if fitting:
                    best = max(fitting, key=lambda w: good[w])
                    break
            if best is not None:
                chosen.add(best)
        for letters, offset in chosen:
            digits = list(patterns.get(letters, (0,) * (len(letters) + 1)))
            digits[offset] = max(digits[offset], level)
            patterns[letters] = tuple(digits)
    return patterns


def pattern_lines(patterns: Mapping[str, tuple[int, ...]]) -> list[str]:
    """'.pa1ng' style lines, sorted."""
    lines = []
    for letters, digits in patterns.items():
        text = "".join((str(d) if d else "") + c for d, c in zip(digits, letters, strict=False))
        text += str(digits[-1]) if digits[-1] else ""
        lines.append(text)
    return sorted(lines)


def training_words(texts: Iterable[str]) -> dict[str, set[int]]:
    """Every word of the texts (letters and inner hyphens), lower case, with its break points."""
    found: dict[str, set[int]] = {}
    for text in texts:
        for word in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text):
            word = word.lower()
            for part in word.split("-"):
                if len(part) >= 2:
                    found.setdefault(part, break_points(part))
    return found


def dictionary_path() -> Path:
    return Path(str(resources.files("limbag.hyphenation").joinpath(DICTIONARY)))


def register() -> None:
    """Make `hyphens: auto` use the Tagalog patterns for tl and fil (pyphen's table of languages),
    for Filipino words only (see FilipinoHyphenator)."""
    import pyphen

    for language in (*LANGUAGES, *SYLLABIC_LANGUAGES):  # pyphen looks names up in LANGUAGES_LOWERCASE, then LANGUAGES
        pyphen.LANGUAGES.setdefault(language, dictionary_path())
        pyphen.LANGUAGES_LOWERCASE.setdefault(language, language)
    if not getattr(pyphen.Pyphen, "filipino_words_only", False):
        pyphen.Pyphen = _hyphenator_class(pyphen.Pyphen)


def _hyphenator_class(base: type) -> type:
    class FilipinoHyphenator(base):  # type: ignore[valid-type,misc]
        """pyphen's hyphenator; in Filipino text, a word that is not spelt as Filipino (an English
        word, see NOT_TAGALOG) or that is capitalised (a name, an acronym) is not hyphenated:
        the Tagalog patterns would break it wrongly ('backgro-und', 'Eisenho-wer')."""

        filipino_words_only = True

        def __init__(self, filename: str | None = None, lang: str | None = None, left: int = 2, right: int = 2,
                     cache: bool = True) -> None:
            super().__init__(filename=filename, lang=lang, left=left, right=right, cache=cache)
            primary = lang.lower().split("_")[0].split("-")[0] if lang is not None else ""
            self.filipino = primary in LANGUAGES or primary in SYLLABIC_LANGUAGES
            self.syllabic = primary in SYLLABIC_LANGUAGES
            self.limits = (left, right)

        def positions(self, word: str) -> list[Any]:
            if self.filipino and (word[:1].isupper() or not tagalog_shaped(word)):
                return []
            if self.syllabic:
                import pyphen

                left, right = self.limits
                return [pyphen.DataInt(point) for point in sorted(break_points(word))
                        if left <= point <= len(word) - right]
            return list(super().positions(word))

    return FilipinoHyphenator


def sources() -> list[Path]:
    """The word lists the patterns are learnt from."""
    folder = Path(str(resources.files("limbag.hyphenation")))
    return sorted(folder.glob("words-*.txt"))


def write_dictionary(target: Path | None = None) -> Path:
    texts = [path.read_text(encoding="utf-8") for path in sources()]
    words = training_words(line for text in texts for line in text.splitlines() if not line.startswith("#"))
    lines = pattern_lines(generate_patterns(words))
    target = target or dictionary_path()
    target.write_text("UTF-8\nLEFTHYPHENMIN 2\nRIGHTHYPHENMIN 2\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return target


NOT_TAGALOG = re.compile(
    r"ck|ph|th|sh|wh|ch|qu|ou|ea|oa"  # letter pairs the Filipino spelling does not write
    r"|ll|ss|tt|ff|pp|cc|dd|bb|zz"  # doubled consonants
    r"|[bcdfghjklmnpqrstvwxz]y$"  # a consonant and y at the end (city, party)
)
CONSONANTS = frozenset("bcdfghjklmnpqrstvwxz")
LOAN_ENDINGS = frozenset({"ng", "rs", "rd", "rt", "ks", "sk"})
"""Two consonants a Filipino word may end with: ng is one letter; the others end loans (nars, kard)."""
"""What the Komisyon sa Wikang Filipino's spelling never writes, though English does: a word with
one of these (or ending in two consonants, see LOAN_ENDINGS) is not hyphenated by the Tagalog
patterns ('background' is not 'backgro-und'). Not among them: gh (mag-hugas), ee (leeg)."""


def tagalog_shaped(word: str) -> bool:
    """Whether a word could be Filipino as the KWF spells it (loanwords included: eksperto,
    kompyuter); English words inside Filipino text are mostly not."""
    lowered = unicodedata.normalize("NFC", word.lower())
    for part in (part for part in lowered.split("-") if part):
        if NOT_TAGALOG.search(part):
            return False
        ending = part[-2:]
        if len(ending) == 2 and set(ending) <= CONSONANTS and ending not in LOAN_ENDINGS:
            return False  # two consonants at the end: background, request
    return True
