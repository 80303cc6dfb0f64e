"""Writing what a build makes: whole or not at all, with the permissions a new file gets from the umask.

Every file Limbag writes (outputs, cache entries) goes through `write_atomically` or
`replace_together`: the bytes go to a temporary file beside the target, named after this
process, and are renamed into place when whole. A build that is killed leaves at most a
temporary file, which the next build into the same folder removes (`remove_leftovers`).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import LimbagError, Location

TEMPORARY = re.compile(r"^\..+\.(\d+)-[^.]+\.(part|old)$")
"""`.<name>.<pid>-<random>.part` (being written) or `.old` (the file it replaces, until all are replaced)."""


BOOK_FOLDERS = ("manuscript", "layouts", "fonts")


def check_book_folders(book_dir: Path) -> None:
    """A book's folders may be links, but only to folders inside the book: a book from a stranger
    must not make the build read elsewhere."""
    for name in BOOK_FOLDERS:
        folder = book_dir / name
        if folder.is_symlink() and not inside(folder, book_dir):
            raise LimbagError(f"{name}/ is a link to a folder outside the book ({folder.resolve()})", Location(folder),
                              "copy the folder into the book instead of linking to it")


def inside(path: Path, folder: Path) -> bool:
    """True if `path`, links followed, is in `folder` (links followed too)."""
    return path.resolve().is_relative_to(folder.resolve())


def is_temporary(name: str) -> bool:
    """A file `write_atomically` or `replace_together` is writing, or one a killed build left."""
    return TEMPORARY.match(name) is not None


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0o666 less the umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def _umask() -> int:
    # Read, not set and set back: setting it would race with other threads creating files.
    with suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


def _temporary(path: Path, kind: str) -> tuple[int, Path]:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=f".{kind}", dir=path.parent)
    return handle, Path(name)


def _write_temporary(path: Path, data: bytes) -> Path:
    """`data` in a new file beside `path`, flushed to disk, with the umask's permissions."""
    handle, temporary = _temporary(path, "part")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), new_file_mode())
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target and rename when whole: a failed build never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _write_temporary(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def replace_together(files: Mapping[Path, bytes]) -> None:
    """Put every file in place, or, if one cannot be, leave every target as it was.

    All are written to temporary files first; then each target is replaced, the old file kept
    under a second name until all are, so that a failure half-way puts the old ones back.
    Interrupts (Ctrl-C) that arrive while the files are being swapped take effect after.
    """
    for path in files:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    written: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            written[path] = _write_temporary(path, data)
        with _interrupts_deferred():
            _swap(written)
    finally:
        for temporary in written.values():
            temporary.unlink(missing_ok=True)


def _swap(written: Mapping[Path, Path]) -> None:
    kept: dict[Path, Path | None] = {}
    try:
        for path, temporary in written.items():
            old = None
            if path.exists():
                handle, old = _temporary(path, "old")
                os.close(handle)
                if not _hard_link(path, old):
                    os.replace(path, old)
            kept[path] = old
            os.replace(temporary, path)
    except BaseException:
        for path, old in kept.items():
            with suppress(OSError):
                if old is not None:
                    os.replace(old, path)
                else:
                    path.unlink(missing_ok=True)
        raise
    finally:
        for old in kept.values():
            if old is not None:
                old.unlink(missing_ok=True)


def _hard_link(path: Path, link: Path) -> bool:
    """A second name for `path` at `link` (replacing the placeholder there); False where the file
    system has no hard links."""
    try:
        link.unlink()
        os.link(path, link)
    except OSError:
        return False
    return True


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive meanwhile are delivered when the block ends (main thread only:
    elsewhere signal handlers cannot be changed, and signals are handled by the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    deferred = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda received, _: arrived.append(received)) for number in deferred}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for received in dict.fromkeys(arrived):
            signal.raise_signal(received)


def remove_leftovers(folder: Path) -> None:
    """Delete temporary files that builds killed part-way left in `folder` (those of processes that
    are still running are theirs, and are left alone)."""
    with suppress(OSError):
        for path in folder.iterdir():
            match = TEMPORARY.match(path.name)
            if match and not _running(int(match.group(1))):
                path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OUTPUT_HINTS = {
    errno.EACCES: "check the folder's permissions, or choose another folder with --out",
    errno.EPERM: "check the folder's permissions, or choose another folder with --out",
    errno.EROFS: "the disk is read-only: choose another folder with --out",
    errno.ENOSPC: "the disk is full: free some space and build again",
    errno.EFBIG: "the file is larger than this system lets a file grow (ulimit -f, or the disk): raise the limit",
    errno.EDQUOT: "the disk quota is used up: free some space and build again",
    errno.ENAMETOOLONG: "the file name is too long: set a shorter `slug:` in book.yaml",
    errno.ENOTDIR: "part of the path is a file, not a folder: choose another folder with --out",
    errno.EISDIR: "a folder stands where the file goes: move it away, or choose another folder with --out",
}


def output_error(error: OSError, path: Path) -> LimbagError:
    """A failed write as a located message that says what to do."""
    where = Path(error.filename) if isinstance(error.filename, str) else path
    reason = error.strerror or str(error)
    return LimbagError(f"cannot write {path.name}: {reason}", Location(where),
                       OUTPUT_HINTS.get(error.errno or 0, "check the output folder, or choose another with --out"))


SYSTEM_HINTS = {
    **OUTPUT_HINTS,
    errno.ENOSPC: "a disk is full (the output folder's, or the system's temporary folder): free some space",
    errno.ENOENT: "a file of the book was moved or deleted during the build: build again",
    errno.EMFILE: "too many files are open: build fewer books at once (--jobs)",
    errno.ENOMEM: "the machine is out of memory: build fewer books at once (--jobs)",
}


def system_error(error: OSError, fallback: Path) -> LimbagError:
    """An error the operating system gave somewhere in a build (a full temporary folder, a file gone)
    as a located message: the file it names, else `fallback` (the book's book.yaml)."""
    where = Path(error.filename) if isinstance(error.filename, str) else fallback
    return LimbagError(f"the system refused: {error.strerror or error}", Location(where),
                       SYSTEM_HINTS.get(error.errno or 0, "check the disk and the book's files, then build again"))
