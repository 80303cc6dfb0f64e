"""`watch`: build, then build again each time a file of the book changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import watchfiles


def watched_folders(book_dir: Path) -> list[Path]:
    """The book's sources: manuscript/, layouts/ and fonts/ (never build/, which we write)."""
    return [folder for folder in (book_dir / "manuscript", book_dir / "layouts", book_dir / "fonts") if folder.is_dir()]


def watch(book_dir: Path, rebuild: Callable[[], None], changed: Callable[[list[Path]], None],
          stop_after: int | None = None) -> None:
    """Rebuild now and after every batch of saves; `stop_after` ends it after that many rebuilds.

    The watcher is running before the first build, so a save made during that build is not missed.
    """
    batches = watchfiles.watch(*watched_folders(book_dir), debounce=300, raise_interrupt=False,
                               yield_on_timeout=True, rust_timeout=200)
    built_once = False
    count = 0
    for changes in batches:
        if not changes:  # the watcher's idle tick: the first one starts the first build
            if not built_once:
                built_once = True
                rebuild()
            continue
        changed(sorted({Path(path) for _, path in changes}))
        rebuild()
        built_once = True
        count += 1
        if stop_after is not None and count >= stop_after:
            return
