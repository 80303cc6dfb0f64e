"""Catalogs: several books built at once, in a pool of processes here or on a dask.distributed cluster.

Each book is built on its own, and whatever happens to one (bad input, a bug, a worker that
dies) is that book's entry and never stops the others. Two books never write into one folder:
books that would are refused, each with a message. On a cluster (`build_on_cluster`) a book's
folder travels to a worker as the bytes of an archive, is built there in a temporary folder,
and its outputs travel back as bytes and are written here; workers need no shared disk, and
messages name the book's files as they are here.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import LimbagError
from .files import BOOK_FOLDERS, output_error, replace_together
from .pipeline import build


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One book of a catalog build: what it wrote, or the error that stopped it (as text, so that it
    crosses process and machine boundaries)."""

    book_dir: Path
    written: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    page_count: int = 0
    error: str | None = None


Done = Callable[[CatalogEntry, int, int], None]
"""Told each book as it is done, with how many are done of how many."""


def output_folders(book_dirs: Iterable[Path], out_dir: Path | None) -> list[tuple[Path, Path, str | None]]:
    """Each book with its output folder (`out_dir/<book folder name>`, else its own build/), and why it
    is refused if it would share that folder with another book of the catalog."""
    planned = [(book_dir, out_dir / book_dir.resolve().name if out_dir else book_dir / "build")
               for book_dir in book_dirs]
    sharing: dict[Path, list[Path]] = {}
    for book_dir, target in planned:
        sharing.setdefault(target.resolve(), []).append(book_dir)
    result = []
    for book_dir, target in planned:
        others = [str(other) for other in sharing[target.resolve()] if other is not book_dir]
        refused = None
        if others:
            refused = (f"{book_dir}: its outputs would go into {target}, with those of {', '.join(others)} — "
                       "give the book folders different names, or build them with different --out folders")
        result.append((book_dir, target, refused))
    return result


def build_one(book_dir: Path, out_dir: Path, formats: tuple[str, ...], strict: bool) -> CatalogEntry:
    """A catalog worker: builds one book and returns only plain, picklable data."""
    try:
        result = build(book_dir, out_dir, formats, strict, processes=1)
    except LimbagError as error:
        return CatalogEntry(book_dir, error=error.format_message())
    except Exception as error:  # noqa: BLE001 - one book's bug must not stop the catalog
        return CatalogEntry(book_dir, error=_internal(book_dir, error))
    return CatalogEntry(book_dir, result.written, tuple(str(w) for w in result.warnings), result.page_count)


def _internal(book_dir: Path, error: BaseException) -> str:
    return (f"{book_dir}: internal error: {type(error).__name__}: {error} — this is a bug in Limbag; build the "
            "book on its own with --verbose and report what it prints")


def _lost(book_dir: Path, error: BaseException) -> str:
    return (f"{book_dir}: the process building it stopped ({type(error).__name__}: {error}) — build it again; "
            "if it stops again, build it on its own to see why")


def build_catalog(book_dirs: Iterable[Path], executor: Executor, out_dir: Path | None = None,
                  formats: tuple[str, ...] = (), strict: bool = False, done: Done | None = None,
                  alone: Callable[[], Executor] | None = None) -> list[CatalogEntry]:
    """Build several books at once on any concurrent.futures-style executor (a local process pool);
    for a cluster, see build_on_cluster. With `out_dir`, each book writes into `out_dir/<book folder
    name>`; else into its own build/.

    A process pool whose worker dies (out of memory, killed) fails every book it holds; with
    `alone`, which makes an executor of one worker, each of those books is built again on its own,
    so that only the book that kills its worker fails."""
    plan = output_folders(book_dirs, out_dir)
    futures = {book_dir: executor.submit(build_one, book_dir, target, formats, strict)
               for book_dir, target, refused in plan if refused is None}

    def settle(book_dir: Path, target: Path) -> CatalogEntry:
        try:
            return futures[book_dir].result()
        except Exception as error:  # noqa: BLE001 - a worker killed (out of memory, by hand)
            if alone is not None:
                return _built_alone(alone, book_dir, target, formats, strict)
            return CatalogEntry(book_dir, error=_lost(book_dir, error))

    return _collect(plan, settle, done)


def _collect(plan: list[tuple[Path, Path, str | None]], settle: Callable[[Path, Path], CatalogEntry],
             done: Done | None) -> list[CatalogEntry]:
    """The catalog's entries in its order: a refused book as refused, the others as `settle` gives
    them; `done` is told each."""
    entries = []
    for book_dir, target, refused in plan:
        entries.append(CatalogEntry(book_dir, error=refused) if refused is not None else settle(book_dir, target))
        if done is not None:
            done(entries[-1], len(entries), len(plan))
    return entries


def _built_alone(alone: Callable[[], Executor], book_dir: Path, target: Path, formats: tuple[str, ...],
                 strict: bool) -> CatalogEntry:
    with alone() as executor:
        try:
            return executor.submit(build_one, book_dir, target, formats, strict).result()
        except Exception as error:  # noqa: BLE001 - this book's own worker died: it is the one
            return CatalogEntry(book_dir, error=_lost(book_dir, error))


# On a cluster ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RemoteBuild:
    """What a worker sends back: the outputs' bytes by file name, or the error."""

    outputs: dict[str, bytes] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    page_count: int = 0
    error: str | None = None


def pack_book(book_dir: Path) -> bytes:
    """The book's folders (manuscript/, layouts/, fonts/) as a zip archive. Links are packed as links,
    so that the worker refuses the ones that lead out of the book just as a build here would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in BOOK_FOLDERS:
            top = book_dir / name
            if top.is_symlink():
                _pack_link(archive, top, name, book_dir)
                continue
            for folder, subfolders, files in os.walk(top):
                subfolders.sort()
                for entry in sorted([*files, *(s for s in subfolders if (Path(folder) / s).is_symlink())]):
                    path = Path(folder) / entry
                    relative = path.relative_to(book_dir).as_posix()
                    if path.is_symlink():
                        _pack_link(archive, path, relative, book_dir)
                    elif path.is_file():
                        archive.write(path, relative)
    return buffer.getvalue()


def _pack_link(archive: zipfile.ZipFile, path: Path, name: str, book_dir: Path) -> None:
    """A link inside the book is packed relative to where it stands, so that it works on the worker;
    a link out of the book keeps its target (the worker refuses it, as a build here would)."""
    target = path.resolve()
    pointing = os.path.relpath(target, path.parent.resolve()) if target.is_relative_to(book_dir.resolve()) else str(target)
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, pointing)


def unpack_book(data: bytes, book_dir: Path) -> None:
    """Undo pack_book into an empty `book_dir`: regular files first, links last, so that nothing is
    ever written through a link; names that would leave the folder are skipped."""
    links = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            if name.is_absolute() or ".." in name.parts or name.parts[0] not in BOOK_FOLDERS or info.is_dir():
                continue
            target = book_dir.joinpath(*name.parts)
            if stat.S_ISLNK(info.external_attr >> 16):
                links.append((target, archive.read(info).decode()))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as stream:
                stream.write(archive.read(info))
    for target, pointing in links:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(pointing, target)


def build_packed(data: bytes, shown_as: str, formats: tuple[str, ...], strict: bool) -> RemoteBuild:
    """On a worker: build a packed book in a temporary folder; its messages name `shown_as`, the
    book's folder where it was packed."""
    with tempfile.TemporaryDirectory(prefix="limbag-") as folder:
        book_dir = Path(folder) / "book"
        book_dir.mkdir()

        def shown(text: str) -> str:
            for here in dict.fromkeys((str(book_dir.resolve()), str(book_dir))):
                text = text.replace(here, shown_as)
            return text

        unpack_book(data, book_dir)
        try:
            result = build(book_dir, Path(folder) / "out", formats, strict, processes=1)
        except LimbagError as error:
            return RemoteBuild(error=shown(error.format_message()))
        except Exception as error:  # noqa: BLE001 - sent back as this book's error
            return RemoteBuild(error=shown(_internal(book_dir, error)))
        return RemoteBuild({path.name: path.read_bytes() for path in result.written},
                           tuple(shown(str(w)) for w in result.warnings), result.page_count)


def build_on_cluster(book_dirs: Iterable[Path], scheduler: str, out_dir: Path | None = None,
                     formats: tuple[str, ...] = (), strict: bool = False, done: Done | None = None,
                     connect_seconds: float = 30) -> list[CatalogEntry]:
    """Build a catalog on a running dask.distributed cluster (`scheduler`: its address, such as
    tcp://10.0.0.5:8786); the outputs are written here, as build_catalog writes them."""
    try:
        from distributed import Client
    except ImportError:
        raise LimbagError("building on a cluster needs dask.distributed",
                          hint="install it with: python -m pip install 'limbag[cluster]'") from None
    plan = output_folders(book_dirs, out_dir)
    try:
        client: Any = Client(scheduler, timeout=connect_seconds)
    except (OSError, TimeoutError, ValueError) as error:
        raise LimbagError(f"cannot reach the cluster's scheduler at {scheduler}: {error}",
                          hint="check the address (tcp://host:8786) and that the scheduler runs") from None
    with client:
        futures = {book_dir: client.submit(build_packed, pack_book(book_dir), str(book_dir), formats, strict,
                                           pure=False)
                   for book_dir, _, refused in plan if refused is None}

        def settle(book_dir: Path, target: Path) -> CatalogEntry:
            try:
                return _written_here(book_dir, target, futures[book_dir].result())
            except LimbagError as error:
                return CatalogEntry(book_dir, error=error.format_message())
            except Exception as error:  # noqa: BLE001 - a worker lost, the cluster gone
                return CatalogEntry(book_dir, error=_lost(book_dir, error))

        return _collect(plan, settle, done)


def _written_here(book_dir: Path, target: Path, remote: RemoteBuild) -> CatalogEntry:
    if remote.error is not None:
        return CatalogEntry(book_dir, error=remote.error)
    paths = {target / name: data for name, data in remote.outputs.items()}
    try:
        replace_together(paths)
    except OSError as error:
        raise output_error(error, target) from None
    return CatalogEntry(book_dir, tuple(paths), remote.warnings, remote.page_count)
