"""The catalogue's storage: register, bulk import, read and search data resources (一本账)."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.data.models import Item, Resource, check
from cityops.store.dialect import POSTGRES, SQLITE, Dialect, PgConnection, copy_rows

# The stored columns; the first 15 are the description itself (then published, modified, source).
COLS = ("code", "name", "description", "provider", "provider_code", "classification", "theme", "items",
        "sharing", "sharing_condition", "openness", "openness_condition", "update_cycle", "format",
        "keywords", "published", "modified", "source")
# A resource registered again under its code replaces the old description, but keeps its
# first publication date: the date says when the city first published it.
_UPSERT = (f"INSERT INTO data_resource ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))}) "
           "ON CONFLICT(code) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in COLS if c not in ("code", "published")))
MAX_ROWS = 1000
NO_LIMIT = 2**63 - 1  # LIMIT's "all" on both stores (PostgreSQL refuses SQLite's -1)


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def from_us(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def row_values(r: Resource) -> tuple[Any, ...]:
    items = orjson.dumps([{"name": i.name, "type": i.type, "description": i.description} for i in r.items]).decode()
    return (r.code, r.name, r.description, r.provider, r.provider_code, r.classification, r.theme, items,
            r.sharing, r.sharing_condition, r.openness, r.openness_condition, r.update_cycle, r.format,
            r.keywords, r.published, r.modified, r.source)


def upsert(conn: sqlite3.Connection, resources: Iterable[Resource], at: datetime) -> int:
    """Store each (already checked) resource; those without a modification time get `at`."""
    stamp = to_us(at)
    return upsert_rows(conn, [row_values(r if r.modified else _with_modified(r, stamp)) for r in resources])


def upsert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Store rows in COLS order and index their text (the bulk import's path: no object per
    row; the bigrams of all rows are made in one vectorised pass)."""
    _STATS.clear()
    codes = [r[0] for r in rows]
    old = _ids(conn, codes)
    conn.executemany("DELETE FROM data_resource_fts WHERE rowid = ?", [(i,) for i in old.values()])
    conn.executemany(_UPSERT, rows)
    ids = _ids(conn, codes)
    copy_rows(conn, "data_resource_fts", ("rowid", "terms"), zip((ids[c] for c in codes), _terms(rows), strict=True))
    return len(rows)


def _terms(rows: Sequence[Sequence[Any]]) -> list[str]:
    return index_terms([" ".join((r[0], r[1], r[2], r[3], r[5], r[6], r[14], _item_names(r[7]))) for r in rows])


def reindex(conn: sqlite3.Connection) -> int:
    """Index every entry's text again (in the caller's write transaction): after a copy of a
    database indexed before the terms were stored as tokens (see `tokens_text`)."""
    _STATS.clear()
    rows = conn.execute(f"SELECT id, {', '.join(COLS)} FROM data_resource ORDER BY id").fetchall()
    conn.execute("DELETE FROM data_resource_fts")
    return copy_rows(conn, "data_resource_fts", ("rowid", "terms"),
                     zip((r[0] for r in rows), _terms([tuple(r)[1:] for r in rows]), strict=True))


def _ids(conn: sqlite3.Connection, codes: Sequence[str]) -> dict[str, int]:
    """Stored ids by code, for these codes (a bulk import reads them all at once)."""
    if len(codes) > 500:
        wanted = set(codes)
        return {c: i for c, i in conn.execute("SELECT code, id FROM data_resource") if c in wanted}
    rows = (conn.execute("SELECT code, id FROM data_resource WHERE code = ?", (c,)).fetchone() for c in codes)
    return {r[0]: r[1] for r in rows if r is not None}


def _item_names(items_json: str) -> str:
    return " ".join(i["name"] for i in orjson.loads(items_json))


_SEP = "\x1f"


def bigrams(texts: Sequence[str]) -> list[str]:
    """Each text as its overlapping two-character tokens, "供水管网" -> "供水 水管 管网".

    All texts at once: joined by a separator, the pairs are built as a NumPy array of code
    points (pair, space), and the result split back. Each separator yields two stray tokens
    ("x␟", "␟y") that the tokenizer reduces to single characters at the texts' edges, where
    they do no harm; splitting on it gives each text's part and a blank between.
    """
    import numpy as np

    if not texts:
        return []
    joined = _SEP.join(t.lower() for t in texts)
    code_points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    if len(code_points) < 2:
        return [t.lower() for t in texts]
    pairs = np.empty((len(code_points) - 1, 3), dtype=np.uint32)
    pairs[:, 0], pairs[:, 1], pairs[:, 2] = code_points[:-1], code_points[1:], ord(" ")
    return pairs.tobytes().decode("utf-32-le").split(_SEP)[0::2]


# What FTS5's unicode61 tokenizer treats as separators (all but letters and digits).
_NOT_TOKEN = re.compile(r"[\W_]+")


def tokens_text(text: str) -> str:
    """`text` as the tokens FTS5's unicode61 makes of it (diacritics removed, separators one
    space): stored so, PostgreSQL's parser splits it into the same tokens, and a phrase
    matches on both stores alike (its parser would read "-1" or "/a" as one token)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    return _NOT_TOKEN.sub(" ", text).strip()


def index_terms(texts: Sequence[str]) -> list[str]:
    """The indexed text of each text: its bigrams, as tokens."""
    return [tokens_text(b) for b in bigrams(texts)]


def _with_modified(r: Resource, stamp: int) -> Resource:
    from dataclasses import replace

    return replace(r, modified=stamp)


def remove(conn: sqlite3.Connection, code: str) -> bool:
    _STATS.clear()
    conn.execute("DELETE FROM data_resource_fts WHERE rowid = (SELECT id FROM data_resource WHERE code = ?)", (code,))
    return conn.execute("DELETE FROM data_resource WHERE code = ?", (code,)).rowcount == 1


def from_row(row: sqlite3.Row) -> Resource:
    items = tuple(Item(i["name"], i.get("type", "C"), i.get("description", "")) for i in orjson.loads(row["items"]))
    return Resource(code=row["code"], name=row["name"], provider=row["provider"], sharing=row["sharing"],
                    openness=row["openness"], published=row["published"], description=row["description"],
                    provider_code=row["provider_code"], classification=row["classification"], theme=row["theme"],
                    items=items, sharing_condition=row["sharing_condition"],
                    openness_condition=row["openness_condition"], update_cycle=row["update_cycle"],
                    format=row["format"], keywords=row["keywords"], modified=row["modified"], source=row["source"])


def get(conn: sqlite3.Connection, code: str) -> Resource | None:
    row = conn.execute("SELECT * FROM data_resource WHERE code = ?", (code,)).fetchone()
    return from_row(row) if row else None


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM data_resource").fetchone()[0])


def codes(conn: sqlite3.Connection, limit: int | None = None, offset: int = 0) -> list[str]:
    return [r[0] for r in conn.execute("SELECT code FROM data_resource ORDER BY code LIMIT ? OFFSET ?",
                                       (NO_LIMIT if limit is None else limit, offset))]


def all_resources(conn: sqlite3.Connection, limit: int | None = None, offset: int = 0) -> list[Resource]:
    return [from_row(r) for r in conn.execute("SELECT * FROM data_resource ORDER BY code LIMIT ? OFFSET ?",
                                              (NO_LIMIT if limit is None else limit, offset))]


def providers(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    """(provider, provider code, resources) for every provider."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT provider, max(provider_code), count(*) FROM data_resource GROUP BY provider ORDER BY provider")]


def themes(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT theme, count(*) FROM data_resource WHERE theme != '' GROUP BY theme ORDER BY theme")]


@dataclass(frozen=True)
class Query:
    """A catalogue search. Text terms (space-separated) must all appear; the filters are exact."""

    text: str = ""
    provider: str | tuple[str, ...] | None = None  # a tuple: any of them
    theme: str | tuple[str, ...] | None = None
    not_provider: tuple[str, ...] = ()
    not_theme: tuple[str, ...] = ()
    format: str | None = None
    modified_from: int | None = None  # µs, inclusive
    modified_to: int | None = None
    limit: int = 20
    offset: int = 0


_TEXT_COLS = ("code", "name", "description", "provider", "keywords")


def phrases(text: str) -> tuple[list[list[str]], list[str]]:
    """The terms of two or more characters, each as the phrase of its bigram tokens (every one
    must appear), and the one-character terms that only LIKE can find."""
    terms = [t for t in text.split() if t]
    # One term at a time: a term's bigrams must not pick up its neighbour's edge characters.
    return [index_terms([t])[0].split() for t in terms if len(t) >= 2], [t for t in terms if len(t) < 2]


def match_expression(text: str) -> tuple[str | None, list[str]]:
    """The FTS5 query for `text`, and its one-character terms."""
    found, singles = phrases(text)
    return (SQLITE.text_match("data_resource_fts", "f", found)[1][0] if found else None), singles


def dialect_of_conn(conn: object) -> Dialect:
    return POSTGRES if isinstance(conn, PgConnection) else SQLITE


# The corpus figures ranking asks for (PostgreSQL counts 20,000 rows in tens of ms, FTS5 keeps
# them): kept a minute per database and query, forgotten when this process writes the catalogue.
_STATS: dict[tuple[str, str, tuple[Any, ...]], tuple[float, Any]] = {}
STATS_SECONDS = 60.0


def _stats(conn: Any, sql: str, args: Sequence[Any]) -> Any:
    import time

    key = (str(conn.raw.info.dsn) if isinstance(conn, PgConnection) else str(id(conn)), sql, tuple(args))
    now = time.monotonic()
    held = _STATS.get(key)
    if held is None or now - held[0] > STATS_SECONDS:
        if len(_STATS) > 1000:
            _STATS.clear()
        held = _STATS[key] = (now, tuple(conn.execute(sql, list(args)).fetchone()))
    return held[1]


def search(conn: sqlite3.Connection, q: Query) -> tuple[list[Resource], int]:
    """Resources matching `q`, best first (bm25 in SQLite, ts_rank in PostgreSQL), and how
    many match in all."""
    dialect = dialect_of_conn(conn)
    if not dialect.postgres:
        # The index's pages stay in this connection's cache (32 MB, grown only as used): from the
        # OS cache at the default 2 MB, one search over 20,000 entries took several times longer.
        conn.execute("PRAGMA cache_size = -32768")
    found, singles = phrases(q.text)
    if any(not p for p in found):  # a term of separators only: FTS5's empty phrase matches nothing
        return [], 0
    where: list[str] = []
    args: list[Any] = []
    order_args: list[Any] = []
    source, order = "data_resource r", "r.code"
    if found:
        source = "data_resource_fts f JOIN data_resource r ON r.id = f.rowid"
        match, match_args = dialect.text_match("data_resource_fts", "f", found)
        where.append(match)
        args.extend(match_args)
        rank, order_args = dialect.text_rank("data_resource_fts", "f", found, lambda sql, a: _stats(conn, sql, a))
        order = f"{rank}, r.code"
    for t in singles:
        pattern = "%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(" + " OR ".join(f"r.{c} {dialect.like_nocase} ? ESCAPE '\\'" for c in _TEXT_COLS) + ")")
        args.extend([pattern] * len(_TEXT_COLS))
    for column, value in (("provider", q.provider), ("theme", q.theme), ("format", q.format)):
        if isinstance(value, tuple):
            where.append(f"r.{column} IN ({', '.join('?' * len(value))})")
            args.extend(value)
        elif value is not None:
            where.append(f"r.{column} = ?")
            args.append(value)
    for column, values in (("provider", q.not_provider), ("theme", q.not_theme)):
        if values:
            where.append(f"r.{column} NOT IN ({', '.join('?' * len(values))})")
            args.extend(values)
    if q.modified_from is not None:
        where.append("r.modified >= ?")
        args.append(q.modified_from)
    if q.modified_to is not None:
        where.append("r.modified <= ?")
        args.append(q.modified_to)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = int(conn.execute(f"SELECT count(*) FROM {source}{clause}", args).fetchone()[0])
    rows = conn.execute(f"SELECT r.* FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                        [*args, *order_args, min(q.limit, MAX_ROWS), q.offset]).fetchall()
    return [from_row(r) for r in rows], total


def checked(resources: Iterable[Resource]) -> list[Resource]:
    return [check(r) for r in resources]
