"""Where cityops keeps files it can rebuild (a built city pack, sentence embeddings).

The folder is `$CITYOPS_CACHE_DIR`, else `$XDG_CACHE_HOME/cityops`, else `~/.cache/cityops`;
`CITYOPS_CACHE_DIR=off` turns caching off. Only a file this user owns in a folder no one else
may write is read back: a cached answer must not be someone else's to plant.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_dir() -> Path | None:
    configured = os.environ.get("CITYOPS_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cityops"


def trusted(path: Path) -> bool:
    try:
        st, parent = path.stat(), path.parent.stat()
    except OSError:
        return False
    uid = os.getuid()
    writable_by_others = stat.S_IWGRP | stat.S_IWOTH
    return (st.st_uid == uid and parent.st_uid == uid and not st.st_mode & writable_by_others
            and not parent.st_mode & writable_by_others)
