"""A built city pack kept on disk, so that each command and server process need not rebuild it.

Building the demo city (grids, patrol grids, indexes) takes 0.4-0.7 s; unpickling it 5 ms. The
file is named by a fingerprint of everything the build depends on (this package's geo sources,
the versions of cityops, Python, NumPy, Shapely and geotool-cn), so a change to any of them
builds afresh. The folder and its rules are `cityops.cachedir`'s (a pickle runs code when
loaded: only a file this user owns in a folder no one else may write is read).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from cityops.cachedir import cache_dir, trusted
from cityops.geo.models import CityPack


def fingerprint() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).parent
    # the pack's sources, and the calendar tables (holidays) the demo pack is built with
    for source in [*sorted(here.glob("*.py")), here.parent / "cases" / "calendar.py"]:
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
    if trusted(path):
        with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            with path.open("rb") as f:
                pack = pickle.load(f)  # noqa: S301 - our own file, checked by trusted()
            if isinstance(pack, CityPack):
                return pack
    pack = build()
    with contextlib.suppress(OSError, pickle.PicklingError):
        _write(folder, path, pickle.dumps(pack, protocol=pickle.HIGHEST_PROTOCOL))
        for stale in folder.glob(f"{name}-*.pickle"):  # builds of older code
            if stale != path:
                stale.unlink(missing_ok=True)
    return pack


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
