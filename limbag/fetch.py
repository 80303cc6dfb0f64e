"""The only way the layout engine reads files: inside the book, its layouts and fonts; no network."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse


class BookFetcher(URLFetcher):
    """Serves file: URLs below the allowed folders and data: URLs; refuses and records the rest."""

    def __init__(self, allowed: tuple[Path, ...]) -> None:
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.allowed = tuple(folder.resolve() for folder in allowed)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.scheme == "data":
            return super().fetch(url, headers)
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            # resolve() follows symlinks, so a link pointing out of the book is refused too.
            path = Path(unquote(parts.path)).resolve()
            if any(path.is_relative_to(folder) for folder in self.allowed):
                if not path.is_file():  # in the book, but not (or no longer) there: the engine says so
                    raise FileNotFoundError(f"no file at {path}")
                return URLFetcherResponse(url, body=_FileContents(path))
        self.refused.append(url)
        raise ValueError(f"refused to load {url}: only files inside the book folder are read")


class FileBytes(bytes):
    """A file's bytes, with the file they were read from: a font that the engine would copy into a
    folder of its own is linked there instead (see engine.font_configuration)."""

    source: Path


class _FileContents:
    """A file read whole (as FileBytes), as a response's body."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, size: int = -1) -> bytes:
        data = FileBytes(self.path.read_bytes())
        data.source = self.path
        return data if size is None or size < 0 else data[:size]

    def close(self) -> None:
        pass
