"""A built city pack kept on disk, so that each command and server process need not rebuild it.

Building the demo city (grids, patrol grids, indexes) takes 0.4-0.7 s; unpickling it 5 ms. The
file is named by a fingerprint of everything the build depends on (this package's geo sources,
the versions of cityops, Python, NumPy, Shapely and geotool-cn), so a change to any of them
builds afresh. The folder is `$CITYOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/cityops`, else
`~/.cache/cityops`; `CITYOPS_CACHE_DIR=off` turns the cache off. Only a file this user owns in
a folder no one else may write is read (a pickle runs code when loaded).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from cityops.geo.models import CityPack


def cache_dir() -> Path | None:
    configured = os.environ.get("CITYOPS_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cityops"


def fingerprint() -> str:
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    for package in ("cityops", "numpy", "shapely", "geotool-cn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{package}={metadata.version(package)};".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:20]


def cached_pack(name: str, build: Callable[[], CityPack]) -> CityPack:
    """The pack `build()` makes, from the cache when a file of the same fingerprint is there."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"{name}-{fingerprint()}.pickle"
    if _trusted(path):
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            with path.open("rb") as f:
                pack = pickle.load(f)  # noqa: S301 - our own file, checked by _trusted
            if isinstance(pack, CityPack):
                return pack
    pack = build()
    with contextlib.suppress(OSError, pickle.PicklingError):
        _write(folder, path, pickle.dumps(pack, protocol=pickle.HIGHEST_PROTOCOL))
        for stale in folder.glob(f"{name}-*.pickle"):  # builds of older code
            if stale != path:
                stale.unlink(missing_ok=True)
    return pack


def _trusted(path: Path) -> bool:
    try:
        st, parent = path.stat(), path.parent.stat()
    except OSError:
        return False
    uid = os.getuid()
    writable_by_others = stat.S_IWGRP | stat.S_IWOTH
    return (st.st_uid == uid and parent.st_uid == uid and not st.st_mode & writable_by_others
            and not parent.st_mode & writable_by_others)


def _write(folder: Path, path: Path, data: bytes) -> None:
    """Atomically (a temporary file renamed into place), readable by this user only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".pack-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
