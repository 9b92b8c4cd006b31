"""Content-addressed file storage for photos: a directory next to the database by default.

A blob is named by the SHA-256 of its bytes, so the same picture is stored once and a name can
never point at other content. A write goes to a temporary file in the same directory, is
fsynced, then renamed into place (atomic on POSIX) and the directory fsynced: a crash leaves
either no file or the whole file, never half of one. Files no row points at (a refused or
crashed upload) are removed by `cleanup_orphans`.

`BlobStore` is the small interface an S3-compatible back end would implement too (put, open,
exists, delete, names); only the directory back end exists today.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes | None: ...

    def exists(self, digest: str) -> bool: ...

    def delete(self, digest: str) -> None: ...

    def names(self, older_than_s: float = 0) -> Iterator[str]: ...


def _valid(digest: str) -> bool:
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


class DirectoryBlobs:
    """Blobs as files `<root>/<first two hex digits>/<sha256>`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if not _valid(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    def get(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, digest: str) -> bool:
        return _valid(digest) and self.path(digest).exists()

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def names(self, older_than_s: float = 0) -> Iterator[str]:
        """Stored digests (and stale temporary files' names) modified over `older_than_s` ago."""
        if not self.root.exists():
            return
        cutoff = time.time() - older_than_s
        for sub in self.root.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.stat().st_mtime > cutoff:
                    continue
                if f.name.startswith(".tmp-"):
                    f.unlink(missing_ok=True)  # a write that died before its rename
                elif _valid(f.name):
                    yield f.name


def blobs_for(db_path: str | Path) -> DirectoryBlobs:
    """The default store: `<database>.files/` beside the database file (so two databases in
    one directory never share, and never clean up, each other's photos)."""
    override = os.environ.get("CITYOPS_FILES_DIR")
    if override:
        return DirectoryBlobs(override)
    return DirectoryBlobs(str(db_path) + ".files")
