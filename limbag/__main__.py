"""The `limbag` command and `python -m limbag`: Ctrl-C is answered before anything else is loaded."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def stop_on_interrupt() -> None:
    """The command line's answer to Ctrl-C, at any moment: one line, and exit status 130.

    Nothing needs undoing: outputs are renamed into place only when whole (see files.py), and the
    processes a build starts end with it (see processes.py), which ignore Ctrl-C themselves."""

    def interrupted(number: int, frame: object) -> None:
        os.write(2, "interrupted — the last good outputs are kept\n".encode())
        os._exit(130)

    signal.signal(signal.SIGINT, interrupted)


def main(default_book: Path | None = None) -> None:
    """Run the command line; `default_book` is built when no command is given (build.py's own folder)."""
    stop_on_interrupt()
    from .cli import main as command

    command(obj={"default_book": default_book} if default_book is not None else None)


if __name__ == "__main__":
    main()
