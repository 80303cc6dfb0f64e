#!/usr/bin/env python3
"""Limbag's command line. `python build.py` with no arguments builds this repository's sample book."""

from pathlib import Path

from limbag.__main__ import main

if __name__ == "__main__":
    main(default_book=Path(__file__).resolve().parent)
