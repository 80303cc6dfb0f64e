"""Limbag: a book folder of Markdown and YAML in, print-ready PDF and e-book out."""

__version__ = "0.1.0"
