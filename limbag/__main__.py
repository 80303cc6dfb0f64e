"""The `limbag` command and `python -m limbag`: Ctrl-C is answered before anything else is loaded."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

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

    try:
        command(obj={"default_book": default_book} if default_book is not None else None)
    except SystemExit as stop:
        end_at_once(stop.code)
    end_at_once(0)


def end_at_once(status: str | int | None) -> NoReturn:
    """Exit with `status` (as `sys.exit` takes it) without tearing the interpreter down.

    A build leaves some hundred thousand objects in reference cycles; Python's teardown collects
    and frees them one by one, half a second after a 30-chapter book, which the operating system
    does at once. Nothing is lost by skipping it: a command has written and closed its files and
    waited for the processes it started when it returns, and this module registers no exit
    handlers; the standard streams are flushed here. A thread still running is waited for the
    usual way."""
    if threading.active_count() > 1:
        sys.exit(status)
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # sys.exit("message")
        print(status, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: as Python reports a failed flush at exit
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    main()
