"""The one place that knows which SQL database it talks to.

Features write their SQL once, in the portable subset SQLite and PostgreSQL share, with `?` or
`:name` parameters, and run it through `repo.conn` as with sqlite3. On PostgreSQL the connection
is a `PgConnection`: it rewrites parameters into psycopg's style, turns SQLite's `INSERT OR
IGNORE/REPLACE` into `ON CONFLICT` (the keys come from the schema), hands back rows that read by
index and by name, and raises sqlite3's error classes, so a feature's `except
sqlite3.IntegrityError` means the same on both. What has no portable spelling (full-text search,
JSON members, the next case id) is asked of `Dialect`.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")
ID_BLOCK = 32  # ids a PostgreSQL connection takes from a sequence at once (Dialect.next_id)


def is_postgres(db: object) -> bool:
    return str(db).startswith(POSTGRES_PREFIXES)


def libpq_url(db: str) -> str:
    """The URL psycopg takes (SQLAlchemy's driver suffix removed)."""
    return db.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlalchemy_url(db: str) -> str:
    if is_postgres(db):
        rest = db.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    return f"sqlite:///{db}"


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" | "postgresql"

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def next_id(self, conn: Any, table: str) -> int:
        """The id a new row of `table` gets. On PostgreSQL the column's sequence, safe with
        several writers at once, taken ID_BLOCK at a time per connection (one round trip, not
        one per row; a sequence's values are never handed out twice, so an id is never reused,
        though ids from several servers interleave out of time order and a block a stopped
        server had not used is left as a gap). In SQLite, with its one writer, the highest plus one."""
        if not self.postgres:
            return int(conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])
        pool = conn.ids.setdefault(table, [])
        if not pool:
            rows = conn.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
                                f" FROM generate_series(1, {ID_BLOCK})").fetchall()
            pool.extend(sorted((int(r[0]) for r in rows), reverse=True))
        return int(pool.pop())

    def json_text(self, column: str, member: str) -> str:
        """A JSON object's member as text (`member` a plain key)."""
        if self.postgres:
            return f"({column}::jsonb ->> '{member}')"
        return f"json_extract({column}, '$.{member}')"

    def json_array_rows(self, expr: str) -> str:
        """A table function of a JSON array's elements, each as column `value`."""
        if self.postgres:
            return f"jsonb_array_elements_text(({expr})::jsonb)"
        return f"json_each({expr})"

    # SensorThings' $filter (sensing/staquery.py): times are integer ms since the epoch, in UTC.

    def epoch_ms_text(self, fmt: str, expr: str) -> str:
        """A time in ms as UTC text: `fmt` "date" (YYYY-MM-DD) or "time" (HH:MM:SS.fff)."""
        if self.postgres:
            pattern = {"date": "YYYY-MM-DD", "time": "HH24:MI:SS.MS"}[fmt]
            return f"to_char(to_timestamp(({expr}) / 1000.0) AT TIME ZONE 'UTC', '{pattern}')"
        pattern = {"date": "%Y-%m-%d", "time": "%H:%M:%f"}[fmt]
        return f"strftime('{pattern}', ({expr}) / 1000.0, 'unixepoch')"

    def epoch_ms_part(self, part: str, expr: str) -> str:
        """One field (year, month, day, hour, minute, second) of a time in ms, UTC, as an integer."""
        if self.postgres:
            return f"CAST(floor(extract({part} FROM to_timestamp(({expr}) / 1000.0) AT TIME ZONE 'UTC')) AS BIGINT)"
        letter = {"year": "Y", "month": "m", "day": "d", "hour": "H", "minute": "M", "second": "S"}[part]
        return f"CAST(strftime('%{letter}', ({expr}) / 1000.0, 'unixepoch') AS INTEGER)"

    def floor(self, expr: str) -> str:
        if self.postgres:
            return f"floor({expr})"
        return f"CAST(({expr}) - (({expr}) < CAST(({expr}) AS INTEGER)) AS INTEGER)"

    def ceiling(self, expr: str) -> str:
        if self.postgres:
            return f"ceiling({expr})"
        return f"-CAST(-({expr}) - ((-({expr})) < CAST(-({expr}) AS INTEGER)) AS INTEGER)"

    def mod(self, a: str, b: str) -> str:
        """SQLite's `%`: both operands truncated to integers; NULL (not an error) for a zero divisor."""
        if self.postgres:
            return f"(CAST(trunc({a}) AS BIGINT) % NULLIF(CAST(trunc({b}) AS BIGINT), 0))"
        return f"({a} % {b})"

    def json_path(self, column: str, kind: str = "any") -> str:
        """A JSON object's member at a path given as ONE `?` parameter (`json_path_param`);
        `kind` "number" or "text" on PostgreSQL, whose JSON members are untyped text
        (SQLite's json_extract answers the member's own type whatever `kind`)."""
        if not self.postgres:
            return f"json_extract({column}, ?)"
        if kind == "number":
            return (f"(CASE WHEN jsonb_typeof(({column})::jsonb #> CAST(? AS text[])) = 'number'"
                    f" THEN CAST(({column})::jsonb #>> CAST(? AS text[]) AS DOUBLE PRECISION) END)")
        if kind == "bool":
            return (f"(CASE ({column})::jsonb #>> CAST(? AS text[]) WHEN 'true' THEN 1"
                    " WHEN 'false' THEN 0 END)")
        if kind == "order":  # jsonb sorts numbers as numbers (text would put "10" before "9")
            return f"(({column})::jsonb #> CAST(? AS text[]))"
        return f"(({column})::jsonb #>> CAST(? AS text[]))"

    def json_path_params(self, keys: Sequence[str], kind: str = "any") -> list[Any]:
        """The parameters of `json_path(column, kind)` for the member at `keys`."""
        if not self.postgres:
            return ["$." + ".".join(keys)]
        arr = "{" + ",".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys) + "}"
        return [arr, arr] if kind == "number" else [arr]

    def json_last_item(self, column: str, index: int) -> str:
        """Member `index` of the last element of a JSON array of arrays (a segment's last reading)."""
        if self.postgres:
            return f"(({column})::jsonb -> -1 ->> {int(index)})"
        return f"json_extract({column}, '$[#-1][{int(index)}]')"

    def st(self, op: str, lon: str, lat: str, wkt: str) -> str:
        """A spatial predicate (`st_within`, `st_intersects`, …) of the point (lon, lat) and a WKT
        geometry, planar in degrees as OGC's geography literals are given: SQLite's Python
        function `sta_geo` (shapely), PostGIS's `ST_*`; false, not NULL, for a missing point."""
        if self.postgres:
            fn = {"geo.intersects": "st_intersects"}.get(op, op)
            return f"COALESCE({fn}(ST_MakePoint({lon}, {lat}), ST_GeomFromText({wkt})), false)"
        return f"sta_geo('{op}', {lon}, {lat}, {wkt})"

    def st_distance(self, lon: str, lat: str, wkt: str) -> str:
        """Planar distance in degrees (NULL for a missing point)."""
        if self.postgres:
            return f"ST_Distance(ST_MakePoint({lon}, {lat}), ST_GeomFromText({wkt}))"
        return f"sta_geo_distance({lon}, {lat}, {wkt})"

    def st_relate(self, lon: str, lat: str, wkt: str, pattern: str) -> str:
        if self.postgres:
            return f"COALESCE(ST_Relate(ST_MakePoint({lon}, {lat}), ST_GeomFromText({wkt}), {pattern}), false)"
        return f"sta_geo_relate({lon}, {lat}, {wkt}, {pattern})"

    def st_length(self, wkt: str) -> str:
        """A WKT geometry's planar length in degrees."""
        if self.postgres:
            return f"ST_Length(ST_GeomFromText({wkt}))"
        return f"sta_geo_length({wkt})"

    @property
    def like_nocase(self) -> str:
        """LIKE that ignores case, as SQLite's LIKE does (for ASCII; ILIKE for all letters)."""
        return "ILIKE" if self.postgres else "LIKE"

    # Full-text search over a table of (rowid, terms): FTS5 in SQLite; in PostgreSQL a plain
    # table with a GIN index on to_tsvector('simple', terms) (the baseline revision makes both).
    # `terms` holds tokens of letters and digits separated by single spaces, which FTS5's
    # unicode61 tokenizer and PostgreSQL's parser split alike. A query is phrases (each its
    # tokens in a row), all of which must appear.

    def text_match(self, table: str, alias: str, phrases: Sequence[Sequence[str]]) -> tuple[str, list[Any]]:
        """The condition that row `alias` of `table` holds every phrase, and its parameters.
        PostgreSQL: every token through the index (exact: no row's vector is rebuilt), then each
        phrase of several tokens as a substring of the terms (tokens one space apart)."""
        if not self.postgres:
            return f"{table} MATCH ?", [" AND ".join('"' + " ".join(p).replace('"', '""') + '"' for p in phrases)]
        tokens = dict.fromkeys(t.replace("\\", "\\\\").replace("'", "''") for p in phrases for t in p)
        sql = [f"to_tsvector('simple', {alias}.terms) @@ CAST(? AS tsquery)"]
        args: list[Any] = [" & ".join(f"'{t}'" for t in tokens)]
        for p in phrases:
            if len(p) > 1:
                sql.append(f"strpos({_padded(alias)}, ?) > 0")
                args.append(_pattern(p))
        return " AND ".join(sql), args

    def text_rank(self, table: str, alias: str, phrases: Sequence[Sequence[str]],
                  stats: Any = None) -> tuple[str, list[Any]]:
        """An ORDER BY expression, best match first, and its parameters. SQLite: FTS5's bm25.
        PostgreSQL: the same Okapi BM25 (k1 1.2, b 0.75), each phrase's count in the row found
        by substring, lengths in tokens; `stats(sql, args)` answers a query (the corpus
        figures: rows, average length, rows holding each phrase)."""
        if not self.postgres:
            return f"{alias}.rank", []
        import math

        tokens = f"(length({alias}.terms) - length(replace({alias}.terms, ' ', '')) + 1)"
        total, avg = stats(f"SELECT count(*), avg{tokens} FROM {table} AS {alias}", [])
        if not total:
            return "1", []
        weights = [1.0] * len(phrases)
        if len(phrases) > 1:  # one phrase: its idf orders nothing
            hits = [stats(f"SELECT count(*) FROM {table} AS {alias} WHERE {c}", a)[0]
                    for c, a in (self.text_match(table, alias, [p]) for p in phrases)]
            weights = [max(math.log((total - n + 0.5) / (n + 0.5)), 1e-6) for n in hits]
        terms: list[str] = []
        args: list[Any] = []
        norm = f"1.2 * (0.25 + 0.75 * {tokens} / {float(avg or 1)!r})"
        for p, w in zip(phrases, weights, strict=True):
            # tf·(k1+1)/(tf + norm) written as (k1+1)·(1 − norm/(tf + norm)): tf counted once.
            tf = f"(cardinality(string_to_array({_padded(alias)}, ?)) - 1)"
            terms.append(f"{w * 2.2!r} * (1 - {norm} / ({tf} + {norm}))")
            args.append(_pattern(p))
        return "(" + " + ".join(terms) + ") DESC", args


def _padded(alias: str) -> str:
    """The terms with every separator doubled and one at each end, so that a phrase's pattern
    (`_pattern`) matches whole tokens and back-to-back occurrences are each counted."""
    return f"(' ' || replace({alias}.terms, ' ', '  ') || ' ')"


def _pattern(phrase: Sequence[str]) -> str:
    return " " + "  ".join(phrase) + " "


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgresql")


def dialect_of(db: object) -> Dialect:
    return POSTGRES if is_postgres(db) else SQLITE


# --- PostgreSQL behind sqlite3's surface ------------------------------------------------------


class Row(tuple):  # type: ignore[type-arg]
    """A result row readable like sqlite3.Row: by position, by column name, `keys()`."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(c.name for c in cursor.description))
    return lambda values: cls(values)


_TOKEN = re.compile(r"""('(?:[^']|'')*')|("(?:[^"])*")|(\?\d*)|(?<![:\w]):([A-Za-z_]\w*)|(%)|(::)""")
_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\s+", re.I)
_OR_REPLACE = re.compile(r"^\s*INSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_BEGIN = re.compile(r"^\s*BEGIN(\s+(IMMEDIATE|DEFERRED|EXCLUSIVE))?\s*(TRANSACTION)?\s*;?\s*$", re.I)
_JSON_EXTRACT = re.compile(r"json_extract\(\s*([\w.]+)\s*,\s*'\$\.([\w.]+)'\s*\)", re.I)
# `IN (SELECT value FROM json_each(?))`: a list of integer ids sent as one JSON parameter.
_JSON_IDS = re.compile(r"SELECT\s+value\s+FROM\s+json_each\((\?|[\w.]+)\)", re.I)
# `json_each(?) AS j`: rows of a JSON array, each element as `j.value` (jsonb; cast where compared).
_JSON_ROWS = re.compile(r"json_each\((\?|[\w.]+)\)\s+AS\s+(\w+)", re.I)
_INSTR = re.compile(r"\binstr\(", re.I)
_INDEXED_BY = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.I)
# SQLite's `INDEXED BY` says "through this index or not at all". PostgreSQL has no such hint: a
# join with a JSON array of ranges is estimated at 100 probes of unknown selectivity, and the
# planner scans the whole table instead (measured: 122 ms against 5 ms at 210,000 segments).
# Such a statement runs with scans and hash/merge joins off, so each element probes the index,
# and without parallel workers (in the two-server day they started and stopped for every batch).
_INDEX_ONLY = ("SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off;"
               " SET max_parallel_workers_per_gather = 0")
_PLANNER_DEFAULTS = ("RESET enable_seqscan; RESET enable_hashjoin; RESET enable_mergejoin;"
                     " RESET max_parallel_workers_per_gather")


@functools.lru_cache(maxsize=1024)
def _index_hinted(sql: str) -> bool:
    return _INDEXED_BY.search(sql) is not None


def translate(sql: str) -> tuple[str, str | None]:
    """SQLite-flavoured SQL → (psycopg SQL, the key column whose value is `lastrowid`)."""
    return _translate(sql)[:2]


@functools.lru_cache(maxsize=4096)
def _translate(sql: str) -> tuple[str, str | None, tuple[int, ...] | None]:
    """(psycopg SQL, `lastrowid`'s key column, and for SQLite's numbered parameters `?1`, `?2` …
    which parameter each `%s` takes, in order: psycopg numbers none; None for plain `?`)."""
    if _BEGIN.match(sql):
        return "BEGIN", None, None
    conflict = ""
    m = _OR_REPLACE.match(sql)
    if m:
        table, cols = m.group(1), [c.strip() for c in m.group(2).split(",")]
        keys = _keys(table)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in keys)
        conflict = f" ON CONFLICT ({', '.join(keys)}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
        sql = re.sub(r"^\s*INSERT\s+OR\s+REPLACE\s+INTO", "INSERT INTO", sql, count=1, flags=re.I)
    elif _OR_IGNORE.match(sql):
        conflict = " ON CONFLICT DO NOTHING"
        sql = _OR_IGNORE.sub("INSERT INTO ", sql, count=1)
    sql = _JSON_EXTRACT.sub(_json_member, sql)
    sql = _JSON_IDS.sub(lambda j: f"SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST({j.group(1)} AS jsonb)) AS ids(value)", sql)
    sql = _JSON_ROWS.sub(lambda j: f"jsonb_array_elements(CAST({j.group(1)} AS jsonb)) AS {j.group(2)}(value)", sql)
    sql = _INDEXED_BY.sub("", sql)
    sql = _INSTR.sub("strpos(", sql)
    order = tuple(int(n) - 1 for n in re.findall(r"\?(\d+)", _strip_literals(sql))) or None
    sql = _TOKEN.sub(_placeholder, sql.rstrip().rstrip(";"))
    returning_key = None
    if conflict:
        r = _RETURNING.search(sql)
        sql = sql[:r.start()] + conflict.strip() + " " + sql[r.start():] if r else sql + conflict
    m = _INSERT.match(sql)
    if m and not _RETURNING.search(sql):
        key = serial_key(m.group(1))
        if key:
            sql += f" RETURNING {key}"
            returning_key = key
    return sql, returning_key, order


def _strip_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _json_member(m: re.Match[str]) -> str:
    """json_extract(col, '$.a.b') → the member as text (the index on intel_triage matches the one-key form)."""
    keys = m.group(2).split(".")
    if len(keys) == 1:
        return f"({m.group(1)}::jsonb ->> '{keys[0]}')"
    return f"({m.group(1)}::jsonb #>> '{{{','.join(keys)}}}')"


def _placeholder(m: re.Match[str]) -> str:
    if m.group(3):
        return "%s"  # `?` or `?N` (numbered: `_adapt` puts the parameters in order)
    if m.group(4):
        return f"%({m.group(4)})s"
    if m.group(5):
        return "%%"
    literal = m.group(1)
    return literal.replace("%", "%%") if literal else m.group(0)


@functools.cache
def _keys(table: str) -> tuple[str, ...]:
    from cityops.store.schema import load

    t = load().tables.get(table)
    if t is None:
        raise sqlite3.OperationalError(f"no such table: {table}")
    return tuple(c.name for c in t.primary_key.columns)


@functools.cache
def serial_key(table: str) -> str | None:
    """The table's own integer id (what sqlite3's `lastrowid` would be), if it has one."""
    from sqlalchemy import Integer

    from cityops.store.schema import load

    t = load().tables.get(table)
    if t is None or len(t.primary_key.columns) != 1:
        return None
    col = next(iter(t.primary_key.columns))
    return col.name if isinstance(col.type, Integer) or "INT" in str(col.type).upper() else None


def _adapt(params: Any, order: tuple[int, ...] | None = None) -> Any:
    """Parameters as psycopg takes them: booleans as the 0/1 our columns hold, numbered ones in order."""
    if params is None:
        return ()
    if isinstance(params, Mapping):
        return {k: int(v) if isinstance(v, bool) else v for k, v in params.items()}
    if order is not None:
        params = [params[i] for i in order]
    return [int(v) if isinstance(v, bool) else v for v in params]


def _error(exc: Exception) -> Exception:
    """psycopg's error as the sqlite3 class a feature already catches."""
    import psycopg

    text = str(exc).strip()
    if isinstance(exc, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(text)
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return sqlite3.OperationalError(f"attempt to write a readonly database: {text}")
    if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.OutOfMemory):
        return sqlite3.OperationalError(f"database or disk is full: {text}")
    if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled
                  | psycopg.errors.TransactionRollback):  # deadlock or serialization failure: retry
        return sqlite3.OperationalError(f"database is locked: {text}")
    if isinstance(exc, psycopg.OperationalError):
        return sqlite3.OperationalError(f"unable to open database (i/o): {text}")
    return sqlite3.OperationalError(text)


class PgCursor:
    def __init__(self, cur: Any, lastrowid: int | None = None) -> None:
        self._cur = cur
        self.lastrowid = lastrowid

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    @property
    def description(self) -> Any:
        return self._cur.description

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def fetchmany(self, size: int = 1) -> list[Any]:
        return self._cur.fetchmany(size) if self._cur.description is not None else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection with sqlite3.Connection's surface, as the store uses it: autocommit
    until an explicit BEGIN (sqlite3's isolation_level=None), COMMIT and ROLLBACK by statement."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        import psycopg

        try:
            self.raw = psycopg.connect(libpq_url(url), autocommit=True, row_factory=_row_factory)
        except psycopg.Error as exc:
            raise _error(exc) from None
        _numeric_as_number(self.raw)
        if read_only:
            self.raw.execute("SET default_transaction_read_only = on")
        self.row_factory: Any = None  # sqlite3 code sets this; rows here always read by name
        self.heard: list[int] | None = None  # notifications counted (data_version)
        self.ids: dict[str, list[int]] = {}  # ids taken from a sequence, not yet used (Dialect.next_id)

    def execute(self, sql: str, params: Any = ()) -> PgCursor:
        import psycopg
        from psycopg.pq import TransactionStatus

        text, key, order = _translate(sql)
        cur = self.raw.cursor()
        hinted = _index_hinted(sql)
        try:
            if hinted:
                self.raw.execute(_INDEX_ONLY)
            cur.execute(text, _adapt(params, order), prepare=None)
        except psycopg.Error as exc:
            raise _error(exc) from None
        finally:  # a failed transaction's ROLLBACK undoes the SET by itself
            if hinted and self.raw.info.transaction_status != TransactionStatus.INERROR:
                self.raw.execute(_PLANNER_DEFAULTS)
        if key is not None:
            rows = cur.fetchall()
            return PgCursor(cur, rows[-1][0] if rows else None)
        return PgCursor(cur)

    def executemany(self, sql: str, seq: Iterable[Any]) -> PgCursor:
        import psycopg

        text, key, order = _translate(sql)
        if key is not None:
            text = text[: text.rindex(" RETURNING ")]
        cur = self.raw.cursor()
        try:
            cur.executemany(text, [_adapt(p, order) for p in seq])
        except psycopg.Error as exc:
            raise _error(exc) from None
        return PgCursor(cur)

    def executescript(self, script: str) -> None:
        self.raw.execute(script)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """SQLite's Python functions have no place here: PostgreSQL has its own (PostGIS)."""

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dialect_of_conn(conn: Any) -> Dialect:
    """The dialect of an open connection (a feature given only `repo.conn`)."""
    return POSTGRES if isinstance(conn, PgConnection) else SQLITE


def is_type_error(exc: BaseException) -> bool:
    """Whether a statement failed on PostgreSQL's strict types (text compared with a number, a
    function given the wrong type, a text that is no number: SQLSTATE classes 42 and 22 but a
    missing table or column), which SQLite's loose typing would have answered: a request's
    expression at fault, not the server."""
    cause = exc.__context__ or exc.__cause__
    state = str(getattr(cause, "sqlstate", "") or "")
    return state.startswith(("22", "42")) and state not in ("42P01", "42703", "42601")


def database_key(conn: Any) -> str:
    """A name for the database an open connection talks to (a per-database cache's key)."""
    if isinstance(conn, PgConnection):
        info = conn.raw.info
        return f"postgresql://{info.host}:{info.port}/{info.dbname}"
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def _numeric_as_number(conn: Any) -> None:
    """sum() and avg() of integers are NUMERIC in PostgreSQL; SQLite answers int or float."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> Any:
            text = bytes(data).decode()
            return float(text) if any(c in text for c in ".eEN") else int(text)

    conn.adapters.register_loader("numeric", NumberLoader)


class Savepoints:
    """One savepoint `name` after another in a transaction, each item of a batch in its own, so
    a failed item is undone alone. `next()` releases the previous one as it makes the next: one
    round trip on PostgreSQL (two statements in one simple query); SQLite takes one at a time."""

    def __init__(self, conn: Any, name: str) -> None:
        self.conn, self.name, self.open = conn, name, False
        if isinstance(conn, PgConnection):
            self._again: tuple[str, ...] = (f"RELEASE {name}; SAVEPOINT {name}",)
        else:
            self._again = (f"RELEASE {name}", f"SAVEPOINT {name}")

    def next(self) -> None:
        for sql in self._again if self.open else (f"SAVEPOINT {self.name}",):
            self.conn.execute(sql)
        self.open = True

    def undo(self) -> None:
        """Roll back to the current savepoint (which stays open for the next item's release)."""
        self.conn.execute(f"ROLLBACK TO {self.name}")

    def release(self) -> None:
        if self.open:
            self.conn.execute(f"RELEASE {self.name}")
            self.open = False


def data_version(conn: Any) -> int:
    """A number that changes when another connection commits a change the live pages show:
    SQLite's `PRAGMA data_version`; in PostgreSQL the count of `cityops_changes` notifications
    this connection has heard (revision 0005's triggers), read after a trivial round trip."""
    if not isinstance(conn, PgConnection):
        return int(conn.execute("PRAGMA data_version").fetchone()[0])
    if conn.heard is None:
        conn.heard = [0]
        heard = conn.heard
        conn.raw.add_notify_handler(lambda _n: heard.__setitem__(0, heard[0] + 1))
        conn.execute("LISTEN cityops_changes")
    conn.execute("SELECT 1")  # notifications that arrived meanwhile are read with its answer
    return conn.heard[0]


def copy_rows(conn: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Rows into `table` with COPY on PostgreSQL (executemany in SQLite): the bulk path."""
    if isinstance(conn, PgConnection):
        n = 0
        with conn.raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n
    batch = list(rows)
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", batch)
    return len(batch)
