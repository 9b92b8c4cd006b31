"""Values read once per write transaction: a setting every step of a batch asks for (is the
event stream on?) is read by the first and remembered until the batch's COMMIT or ROLLBACK.

Only inside a batch of the group-commit writer (writer.py begins and ends the memo): a
connection outside one reads afresh each time. Another connection's change to such a value
during a batch is seen by the next batch, as a change committed a moment later would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_open: dict[int, dict[str, Any]] = {}


def begin(conn: Any) -> None:
    _open[id(conn)] = {}


def end(conn: Any) -> None:
    _open.pop(id(conn), None)


def forget(conn: Any) -> None:
    """A setting changed in this transaction: later steps read afresh."""
    if id(conn) in _open:
        _open[id(conn)] = {}


def memo(conn: Any, key: str, read: Callable[[], T]) -> T:
    values = _open.get(id(conn))
    if values is None:
        return read()
    if key not in values:
        values[key] = read()
    return values[key]  # type: ignore[no-any-return]


def rows(conn: Any, name: str) -> dict[Any, Any] | None:
    """A table of values this batch remembers under `name` (rows it read, say); None outside a batch."""
    values = _open.get(id(conn))
    return None if values is None else values.setdefault(name, {})


class PerConnection(Generic[T]):
    """A value kept per open connection, beyond its transactions (what a writer knows of the
    store until another connection commits): by id, with the connection held so its id is not
    another's while the entry lives (sqlite3's connections take no weak reference); the oldest
    entry goes beyond `most` (a process has a few writers)."""

    def __init__(self, most: int = 32) -> None:
        self.most = most
        self._by_id: dict[int, tuple[Any, T]] = {}

    def get(self, conn: Any) -> T | None:
        entry = self._by_id.get(id(conn))
        return entry[1] if entry is not None and entry[0] is conn else None

    def set(self, conn: Any, value: T) -> T:
        if id(conn) not in self._by_id and len(self._by_id) >= self.most:
            del self._by_id[next(iter(self._by_id))]
        self._by_id[id(conn)] = (conn, value)
        return value
