"""Regenerate hyph_tl.dic from the word lists: python -m limbag.hyphenation"""

from . import write_dictionary

print(f"wrote {write_dictionary()}")
