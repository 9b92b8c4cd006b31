"""SensorThings `$filter` and `$orderby`: a tokenizer and a recursive-descent parser that
turn an OData expression into SQL with parameters. Values never enter the SQL text: every
literal becomes a `?` parameter; property names are checked against the entity's columns.

Grammar (OData 4 subset used by SensorThings 1.1):
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | cmp
    cmp    := add (("eq"|"ne"|"gt"|"ge"|"lt"|"le") add)?
    add    := mul (("add"|"sub") mul)*
    mul    := unary (("mul"|"div"|"mod") unary)*
    unary  := "-" unary | primary
    primary:= literal | "(" or ")" | name "(" args ")" | path
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityops.errors import InvalidInput


class FilterError(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(f"$filter: {message}", f"$filter 查询表达式有误：{message}")


class FilterTooCostly(FilterError):
    """Over a cost bound (length, nesting, navigation hops): 400, as the other bounds."""

    status = 400
    code = "query_too_costly"


# Cost bounds: an expression's SQL grows with its text and the parser recurses with its
# nesting, so both are capped (a 400 with a message, never a RecursionError's 500).
MAX_FILTER_CHARS = 4000
MAX_FILTER_DEPTH = 24
MAX_NAV_HOPS = 3  # `Datastream/Thing/Locations/location`: three hops at most
INT64 = 2**63 - 1
HOLE = "\x00cond\x00"  # where a navigation path's condition goes in its IN (…) wrapper


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<geo>geography'(?:[^']|'')*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<clock>\d{2}:\d{2}:\d{2}(?:\.\d+)?)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_@$][\w.@$]*(?:/[A-Za-z_@$][\w.@$]*)*)
  | (?P<op>[(),-])
""", re.VERBOSE)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str


def tokenize(text: str) -> list[Tok]:
    if len(text) > MAX_FILTER_CHARS:
        raise FilterTooCostly(f"the expression is {len(text)} characters long; at most {MAX_FILTER_CHARS} are allowed")
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"unexpected character {text[pos]!r} at {pos}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group()))
    return out


@dataclass(frozen=True)
class Entity:
    """What a query may name: property → SQL column expression; which are times (ms),
    which are geometries (lon, lat column pairs), which hold JSON (`properties/x`)."""

    columns: dict[str, str]
    times: frozenset[str] = frozenset()
    geometries: dict[str, tuple[str, str]] = field(default_factory=dict)
    json: frozenset[str] = frozenset({"properties"})
    links: dict[str, Link] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """A navigation property a `$filter` path may follow (`Thing/name` on a Datastream):
    `target` names the entity set; `pairs` is SQL of (p, c) rows, from this entity's `key`
    value p to the target's `column` value c, or None when the target's column holds it."""

    target: str
    key: str = "id"
    column: str = "id"
    pairs: str | None = None
    same: str | None = None  # SQL over the target's row `{a}` that must equal p too


# Entity set name → (what it may name, its SQL source): where navigation paths lead.
World = dict[str, tuple[Entity, str]]


@dataclass
class Sql:
    text: str
    params: list[Any]
    time: bool = False  # an expression in ms since the epoch
    geo: tuple[str, str] | None = None
    wrap: str | None = None  # over a navigation path: the IN (…) its condition goes into, at HOLE
    wkt: bool = False  # a geography'…' literal, checked as WKT


def _wrap(*parts: Sql) -> str | None:
    """The navigation wrappers of an expression's parts, nested (outer first)."""
    out: str | None = None
    for p in parts:
        if p.wrap is not None:
            out = p.wrap if out is None else out.replace(HOLE, p.wrap)
    return out


def _cond(sql: Sql) -> Sql:
    """A condition: one over a navigation path goes into its wrapper."""
    if sql.wrap is None:
        return sql
    return Sql(sql.wrap.replace(HOLE, sql.text), sql.params)


_CMP = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}
_TIME_PARTS = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}
_STRING_FN = {"tolower": "lower({0})", "toupper": "upper({0})", "length": "length({0})", "trim": "trim({0})",
              "round": "round({0})", "floor": "CAST(({0}) - (({0}) < CAST(({0}) AS INTEGER)) AS INTEGER)",
              "ceiling": "-CAST(-({0}) - ((-({0})) < CAST(-({0}) AS INTEGER)) AS INTEGER)"}
_GEO_FN = {"geo.intersects", "st_intersects", "st_within", "st_contains", "st_equals", "st_disjoint", "st_touches",
           "st_overlaps", "st_crosses"}
# Times are stored in UTC ms: their offset is always 0, and date() and time() read them in UTC.
MIN_DATETIME_MS = -62135596800000  # 0001-01-01T00:00:00Z
MAX_DATETIME_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def time_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class Parser:
    def __init__(self, text: str, entity: Entity, world: World | None = None, alias: str = "e") -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.entity = entity
        self.world = world or {}
        self.alias = alias  # the outer query's name for the entity's rows
        self.depth = 0
        self.aliases = 0
        self.scalar = False  # navigation paths as values ($orderby), not conditions ($filter)

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise FilterTooCostly(f"nested more than {MAX_FILTER_DEPTH} levels deep; simplify the expression")

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def word(self, *words: str) -> str | None:
        t = self.peek()
        if t is not None and t.kind == "name" and t.text.lower() in words:
            self.i += 1
            return t.text.lower()
        return None

    def expect(self, text: str) -> None:
        t = self.peek()
        if t is None or t.text != text:
            raise FilterError(f"expected '{text}' but found {t.text if t else 'the end'!r}")
        self.i += 1

    def parse(self) -> Sql:
        if not self.toks:
            raise FilterError("empty expression")
        out = self.or_()
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek().text!r}")  # type: ignore[union-attr]
        return _cond(out)

    def or_(self) -> Sql:
        self.deeper()
        left = self.and_()
        while self.word("or"):
            left, right = _cond(left), _cond(self.and_())
            left = Sql(f"({left.text} OR {right.text})", left.params + right.params)
        self.depth -= 1
        return left

    def and_(self) -> Sql:
        left = self.not_()
        while self.word("and"):
            left, right = _cond(left), _cond(self.not_())
            left = Sql(f"({left.text} AND {right.text})", left.params + right.params)
        return left

    def not_(self) -> Sql:
        if self.word("not"):
            self.deeper()
            inner = _cond(self.not_())
            self.depth -= 1
            return Sql(f"(NOT {inner.text})", inner.params)
        return self.cmp()

    def cmp(self) -> Sql:
        left = self.add()
        op = self.word(*_CMP)
        if op is None:
            return left  # a value (a function's argument), or a condition applied where it is combined
        right = self.add()
        left, right = _align_times(left, right)
        if op in ("eq", "ne") and (right.text == "NULL" or left.text == "NULL"):
            side = left if right.text == "NULL" else right
            return _cond(Sql(f"({side.text} IS {'NOT ' if op == 'ne' else ''}NULL)", side.params, wrap=side.wrap))
        return _cond(Sql(f"({left.text} {_CMP[op]} {right.text})", left.params + right.params,
                         wrap=_wrap(left, right)))

    def add(self) -> Sql:
        left = self.mul()
        while (op := self.word("add", "sub")) is not None:
            right = self.mul()
            left = Sql(f"({left.text} {_ARITH[op]} {right.text})", left.params + right.params, wrap=_wrap(left, right))
        return left

    def mul(self) -> Sql:
        left = self.unary()
        while (op := self.word("mul", "div", "mod")) is not None:
            right = self.unary()
            text = f"(CAST({left.text} AS REAL) / {right.text})" if op == "div" else f"({left.text} % {right.text})" \
                if op == "mod" else f"({left.text} * {right.text})"
            left = Sql(text, left.params + right.params, wrap=_wrap(left, right))
        return left

    def unary(self) -> Sql:
        t = self.peek()
        if t is not None and t.text == "-":
            self.i += 1
            self.deeper()
            inner = self.unary()
            self.depth -= 1
            return Sql(f"(-{inner.text})", inner.params, wrap=inner.wrap)
        return self.primary()

    def primary(self) -> Sql:
        t = self.peek()
        if t is None:
            raise FilterError("unexpected end of expression")
        self.i += 1
        if t.text == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if t.kind == "num":
            value: float = float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
            if abs(value) > INT64:  # past SQLite's integers: compared as a real number
                value = float(value)
            return Sql("?", [value])
        if t.kind == "str":
            return Sql("?", [t.text[1:-1].replace("''", "'")])
        if t.kind == "time":
            return Sql("?", [time_ms(t.text)], time=True)
        if t.kind in ("date", "clock"):  # compared with date() and time(), as text
            if t.kind == "date":
                return Sql("?", [t.text])
            whole, _, frac = t.text.partition(".")  # as strftime's %f writes it: SS.fff
            return Sql("?", [f"{whole}.{(frac + '000')[:3]}"])
        if t.kind == "geo":  # checked here: an error inside SQLite would be a 500, not a 400
            wkt = t.text[len("geography'"):-1].replace("''", "'")
            import shapely

            try:
                shapely.from_wkt(wkt)
            except shapely.errors.GEOSException:
                raise FilterError(f"not a WKT geometry: {wkt[:80]}") from None
            return Sql("?", [wkt], wkt=True)
        if t.kind == "name":
            low = t.text.lower()
            if low in ("true", "false"):
                return Sql("?", [1 if low == "true" else 0])
            if low == "null":
                return Sql("NULL", [])
            nxt = self.peek()
            if nxt is not None and nxt.text == "(":
                self.i += 1
                return self.function(low)
            return self.path(t.text)
        raise FilterError(f"unexpected {t.text!r}")

    def args(self) -> list[Sql]:
        out: list[Sql] = []
        t = self.peek()
        if t is not None and t.text == ")":
            self.i += 1
            return out
        while True:
            out.append(self.or_())
            t = self.peek()
            if t is not None and t.text == ",":
                self.i += 1
                continue
            self.expect(")")
            return out

    def function(self, name: str) -> Sql:
        args = self.args()

        def need(n: int) -> None:
            if len(args) != n:
                raise FilterError(f"{name}() takes {n} argument(s)")

        if name in ("now", "mindatetime", "maxdatetime"):
            need(0)
            if name == "now":
                return Sql("?", [int(time.time() * 1000)], time=True)  # the request's moment, as SQL would
            return Sql("?", [MIN_DATETIME_MS if name == "mindatetime" else MAX_DATETIME_MS], time=True)
        if name in ("fractionalseconds", "totaloffsetminutes", "date", "time"):
            need(1)
            a = args[0]
            if not a.time:
                raise FilterError(f"{name}() needs a time")
            text = {"fractionalseconds": "((({0}) % 1000) / 1000.0)", "totaloffsetminutes": "(({0}) * 0)",
                    "date": "strftime('%Y-%m-%d', ({0}) / 1000.0, 'unixepoch')",
                    "time": "strftime('%H:%M:%f', ({0}) / 1000.0, 'unixepoch')"}[name]
            return Sql(text.format(a.text), a.params, wrap=a.wrap)
        if name == "substring":
            if len(args) not in (2, 3):
                raise FilterError("substring() takes 2 or 3 arguments")
            rest = f", {args[2].text}" if len(args) == 3 else ""  # OData counts from 0, SQLite from 1
            return Sql(f"substr({args[0].text}, ({args[1].text}) + 1{rest})", [p for a in args for p in a.params],
                       wrap=_wrap(*args))
        if name == "concat":
            need(2)
            return Sql(f"({args[0].text} || {args[1].text})", args[0].params + args[1].params, wrap=_wrap(*args))
        if name == "geo.length":
            need(1)
            a = args[0]
            if a.geo is not None:  # a point's length is 0
                return Sql(f"(CASE WHEN {a.geo[0]} IS NULL THEN NULL ELSE 0.0 END)", [], wrap=a.wrap)
            if not _wkt_literal(a):
                raise FilterError("geo.length() needs a location property or a geography'…' literal")
            return Sql(f"sta_geo_length({a.text})", a.params, wrap=a.wrap)
        if name == "st_relate":
            need(3)
            geom, wkt, de9im = (args[0], args[1], args[2]) if args[0].geo else (args[1], args[0], args[2])
            if geom.geo is None or not _wkt_literal(wkt) or not (len(de9im.params) == 1 and isinstance(de9im.params[0], str)
                                        and re.fullmatch(r"[TF*012]{9}", de9im.params[0])):
                raise FilterError("st_relate() needs a location property, a geography'…' literal and a"
                                  " DE-9IM pattern ('T*F**F***')")
            if not args[0].geo:  # the literal first: the pattern relates it to the location, so transpose it
                p = de9im.params[0]
                de9im = Sql("?", [p[0] + p[3] + p[6] + p[1] + p[4] + p[7] + p[2] + p[5] + p[8]])
            return _cond(Sql(f"sta_geo_relate({geom.geo[0]}, {geom.geo[1]}, {wkt.text}, {de9im.text})",
                             wkt.params + de9im.params, wrap=_wrap(geom, wkt, de9im)))
        if name in _TIME_PARTS:
            need(1)
            a = args[0]
            if not a.time:
                raise FilterError(f"{name}() needs a time")
            return Sql(f"CAST(strftime('{_TIME_PARTS[name]}', {a.text} / 1000.0, 'unixepoch') AS INTEGER)", a.params,
                       wrap=a.wrap)
        if name in _STRING_FN:
            need(1)
            return Sql(_STRING_FN[name].format(args[0].text), args[0].params * _STRING_FN[name].count("{0}"),
                       wrap=args[0].wrap)
        if name in ("substringof", "contains", "startswith", "endswith"):
            need(2)
            hay, needle = (args[1], args[0]) if name == "substringof" else (args[0], args[1])
            pattern = {"startswith": "{n} || '%'", "endswith": "'%' || {n}"}.get(name, "'%' || {n} || '%'")
            return _cond(Sql(f"({hay.text} LIKE {pattern.format(n=needle.text)} ESCAPE '\\')",
                             hay.params + needle.params, wrap=_wrap(hay, needle)))
        if name == "indexof":
            need(2)
            return Sql(f"(instr({args[0].text}, {args[1].text}) - 1)", args[0].params + args[1].params,
                       wrap=_wrap(*args))
        if name in _GEO_FN or name == "geo.distance":
            need(2)
            geom, wkt = (args[0], args[1]) if args[0].geo else (args[1], args[0])
            if geom.geo is None or not _wkt_literal(wkt):
                raise FilterError(f"{name}() needs a location property and a geography'…' literal")
            if not args[0].geo:  # the literal first: A contains B is B within A (the others are symmetric)
                name = {"st_within": "st_contains", "st_contains": "st_within"}.get(name, name)
            fn = "sta_geo_distance" if name == "geo.distance" else "sta_geo"
            op_param = [] if name == "geo.distance" else [name]
            out = Sql(f"{fn}({', '.join('?' * len(op_param))}{', ' if op_param else ''}{geom.geo[0]}, {geom.geo[1]}, {wkt.text})",
                      op_param + wkt.params, wrap=_wrap(geom, wkt))
            return out if name == "geo.distance" else _cond(out)
        raise FilterError(f"unknown function {name}()")

    def path(self, name: str) -> Sql:
        return self.property(name, self.entity, None, 0)

    def property(self, name: str, e: Entity, alias: str | None, hops: int) -> Sql:
        """A property of `e`, or a path through its navigation properties; `alias` qualifies
        the columns inside a navigation (None: the outer query's own, unqualified)."""
        def q(column: str) -> str:
            if not column.isidentifier():  # an SQL template over the row `{a}`
                return qualify(column, alias or self.alias)
            return f"{alias}.{column}" if alias else column

        if name in e.geometries:
            lon, lat = e.geometries[name]
            return Sql(q(lon), [], geo=(q(lon), q(lat)))
        head, _, rest = name.partition("/")
        if head in e.json and rest:
            return Sql(f"json_extract({q(e.columns[head])}, ?)", ["$." + rest.replace("/", ".")])
        if name in e.columns:
            return Sql(q(e.columns[name]), [], time=name in e.times)
        link = e.links.get(head)
        if link is not None and rest and link.target in self.world:
            if hops >= MAX_NAV_HOPS:
                raise FilterTooCostly(f"'{name}': a path may follow at most {MAX_NAV_HOPS} navigation properties")
            target, source = self.world[link.target]
            self.aliases += 1
            a = f"x{self.aliases}"
            outer = qualify(link.key, alias or self.alias)
            same = f" AND {qualify(link.same, a)} = l{a}.p" if link.same else ""
            if self.scalar:  # the (first) related entity's value, for ordering
                val = self.property(rest, target, a, hops + 1)
                if link.pairs is None:
                    text = f"(SELECT {val.text} FROM ({source}) AS {a} WHERE {a}.{link.column} = {outer} LIMIT 1)"
                else:
                    text = (f"(SELECT {val.text} FROM ({link.pairs}) AS l{a} JOIN ({source}) AS {a}"
                            f" ON {a}.{link.column} = l{a}.c{same} WHERE l{a}.p = {outer} LIMIT 1)")
                return Sql(text, val.params, time=val.time)
            if link.pairs is None:
                wrap = f"({outer} IN (SELECT {a}.{link.column} FROM ({source}) AS {a} WHERE {HOLE}))"
            else:
                wrap = (f"({outer} IN (SELECT l{a}.p FROM ({link.pairs}) AS l{a} JOIN ({source}) AS {a}"
                        f" ON {a}.{link.column} = l{a}.c{same} WHERE {HOLE}))")
            inner = self.property(rest, target, a, hops + 1)
            inner.wrap = wrap if inner.wrap is None else wrap.replace(HOLE, inner.wrap)
            return inner
        raise FilterError(f"unknown property '{name}'")


def qualify(column: str, alias: str) -> str:
    """A column of the rows named `alias`: `alias.column`, or an SQL template over `{a}` filled in."""
    return f"{alias}.{column}" if column.isidentifier() else column.replace("{a}", alias)


def _wkt_literal(sql: Sql) -> bool:
    """A geometry argument is a literal (checked as WKT when parsed), never a column: a bad
    geometry found inside SQLite would be a 500, not a 400."""
    return sql.wkt


def _align_times(a: Sql, b: Sql) -> tuple[Sql, Sql]:
    """A time property compared with a string literal: read the string as ISO 8601."""
    for x, y in ((a, b), (b, a)):
        if x.time and y.text == "?" and len(y.params) == 1 and isinstance(y.params[0], str):
            try:
                y.params[0] = time_ms(y.params[0])
            except ValueError:
                raise FilterError(f"not a time: {y.params[0]!r}") from None
    return a, b


def parse_filter(text: str, entity: Entity, world: World | None = None) -> Sql:
    return Parser(text, entity, world).parse()


def parse_orderby(text: str, entity: Entity, world: World | None = None) -> tuple[str, list[Any]]:
    """`$orderby=a desc, b`: SQL ORDER BY text over known properties, expressions, or paths
    through navigation properties (`Thing/name`: the related entity's value)."""
    parts: list[str] = []
    params: list[Any] = []
    for item in _split_top(text, ","):
        words = item.strip().rsplit(None, 1)
        direction = "ASC"
        if len(words) == 2 and words[1].lower() in ("asc", "desc"):
            item, direction = words[0], words[1].upper()
        parser = Parser(item, entity, world)
        parser.scalar = True
        sql = parser.parse()
        parts.append(f"{sql.text} {direction}")
        params.extend(sql.params)
    return ", ".join(parts), params


def _split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside parentheses and quotes."""
    out, depth, quote, buf = [], 0, False, ""
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    if buf.strip():
        out.append(buf)
    return out


def split_options(text: str, sep: str) -> list[str]:
    return _split_top(text, sep)
