"""Authorised operation (授权运营): data users, applications, grants, and access under a grant.

A data user (a company, or another city) applies for a product in a domain for a purpose;
the owner grants it with a scope (fields, districts, period), a duration, a mode (`rows`:
de-identified rows may leave; `inside`, 可用不可见: only aggregate queries run here and only
their results leave) and a protection (smallest cell, and ε per query and total budget for
differential privacy). The grant's credential works only while the grant is live: each use
looks the grant up, so expiry and revocation take effect at once. Refusals are logged too:
the access operations return a `Refused` value instead of raising, so that the log entry
commits with the refusal.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import polars as pl

from cityops.data import accesslog, privacy
from cityops.data.catalogue import from_us, to_us
from cityops.data.products import DOMAINS, PRODUCTS, Product
from cityops.errors import Conflict, InvalidInput, NotFound, Unauthorized

USER_PREFIX, GRANT_PREFIX = "cdu_", "cdg_"
MODES = ("rows", "inside")
MAX_DAYS = 3 * 366
MAX_ROWS = 10_000


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    id: int
    user_name: str
    product: str
    purpose: str
    fields: tuple[str, ...]
    districts: tuple[str, ...]  # empty: all
    start: datetime | None
    end: datetime | None
    mode: str
    min_cell: int
    epsilon: float | None  # per query; None: no noise
    budget: float | None  # total ε
    spent: float
    expires_at: datetime
    revoked_at: datetime | None
    secret: bytes  # the pseudonym key (the credential's hash; never leaves)


@dataclass(frozen=True)
class Refused:
    status: int
    message_en: str
    message_zh: str
    grant_id: int | None = None
    user: str | None = None


# data users --------------------------------------------------------------------------------
def create_user(conn: sqlite3.Connection, name: str, org_name: str, org_code: str, kind: str, now: datetime,
                by: str) -> str:
    """Create a data-user account; its key (shown once; only its hash is kept)."""
    if kind not in ("company", "city"):
        raise InvalidInput("kind must be company or city", "账户类型应为 company（企业）或 city（城市）")
    if not name.strip() or not org_name.strip():
        raise InvalidInput("name and org_name are required", "须填写账户名与单位名称")
    if conn.execute("SELECT 1 FROM data_user WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"data user {name} exists", f"数据使用方 {name} 已存在")
    key = USER_PREFIX + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO data_user (name, org_name, org_code, kind, key_hash, created_at) VALUES (?,?,?,?,?,?)",
                 (name, org_name, org_code, kind, _hash(key), to_us(now)))
    accesslog.append(conn, now, by, "owner", "user.create", None, "", user=name, org=org_name, kind=kind)
    return key


def set_user_active(conn: sqlite3.Connection, name: str, active: bool, by: str, now: datetime) -> None:
    """Disable (or enable again) a data user: every grant of theirs is refused while disabled."""
    if conn.execute("UPDATE data_user SET active = ? WHERE name = ?", (int(active), name)).rowcount != 1:
        raise NotFound(f"no data user {name}", f"数据使用方 {name} 不存在")
    accesslog.append(conn, now, by, "owner", "user.enable" if active else "user.disable", None, "", user=name)


def user_for_key(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT name, active FROM data_user WHERE key_hash = ?", (_hash(key),)).fetchone()
    if row is None or not row[1]:
        raise Unauthorized("unknown or disabled data-user key", "数据使用方密钥无效或已停用")
    return str(row[0])


# applications and grants -------------------------------------------------------------------
def apply(conn: sqlite3.Connection, user: str, product: str, domain: str, purpose: str, user_product: str,
          now: datetime) -> int:
    if product not in PRODUCTS:
        raise InvalidInput(f"no product {product}; offered: {', '.join(PRODUCTS)}", f"无此数据产品：{product}")
    if domain not in DOMAINS:
        raise InvalidInput(f"domain must be one of {', '.join(DOMAINS)}",
                           "领域应为：" + "、".join(f"{k}（{v[0]}）" for k, v in DOMAINS.items()))
    if len(purpose.strip()) < 4 or not user_product.strip():
        raise InvalidInput("state the purpose and the product or scenario the data is for",
                           "须写明用途及所用于的产品或场景")
    cur = conn.execute("INSERT INTO data_application (user_name, product, domain, purpose, user_product, created_at)"
                       " VALUES (?,?,?,?,?,?)", (user, product, domain, purpose, user_product, to_us(now)))
    app_id = int(cur.lastrowid or 0)
    accesslog.append(conn, now, user, "data_user", "apply", None, purpose, application=app_id, product=product,
                     domain=domain, user_product=user_product)
    return app_id


@dataclass(frozen=True)
class Terms:
    """What the owner grants."""

    fields: tuple[str, ...]
    districts: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    days: int = 30
    mode: str = "rows"
    min_cell: int = privacy.DEFAULT_MIN_CELL
    epsilon: float | None = None
    budget: float | None = None


def _check_terms(p: Product, t: Terms, known_districts: set[str]) -> None:
    extra = [f for f in t.fields if f not in p.fields]
    if not t.fields or extra:
        raise InvalidInput(f"fields must be some of {', '.join(p.fields)}" + (f"; not {', '.join(extra)}" if extra else ""),
                           "授权字段应取自：" + "、".join(p.fields))
    unknown = [d for d in t.districts if d not in known_districts]
    if unknown:
        raise InvalidInput(f"unknown district(s): {', '.join(unknown)}", f"未知的区：{'、'.join(unknown)}")
    if t.mode not in MODES:
        raise InvalidInput("mode must be rows (de-identified rows) or inside (可用不可见: aggregates only)",
                           "方式应为 rows（去标识化明细）或 inside（可用不可见，仅汇总查询）")
    if not 1 <= t.days <= MAX_DAYS:
        raise InvalidInput(f"days must be 1 to {MAX_DAYS}", f"授权期限应为 1 至 {MAX_DAYS} 天")
    if t.min_cell < privacy.MIN_CELL_FLOOR:
        raise InvalidInput(f"min_cell must be at least {privacy.MIN_CELL_FLOOR}",
                           f"最小单元格不得小于 {privacy.MIN_CELL_FLOOR}")
    if (t.epsilon is None) != (t.budget is None) or (t.epsilon is not None and not 0 < t.epsilon <= (t.budget or 0)):
        raise InvalidInput("differential privacy needs both epsilon > 0 (per query) and budget >= epsilon (in all)",
                           "差分隐私须同时给出每次查询的 ε（>0）与总预算（≥ ε）")
    if t.start and t.end and t.start >= t.end:
        raise InvalidInput("the period's start must be before its end", "时段起点应早于终点")


def grant(conn: sqlite3.Connection, application_id: int, terms: Terms, by: str, known_districts: set[str],
          now: datetime) -> tuple[int, str, datetime]:
    """Grant an application: (grant id, credential shown once, expiry)."""
    accesslog.hold(conn)  # two servers granting one application: the second finds it granted
    row = conn.execute("SELECT * FROM data_application WHERE id = ?", (application_id,)).fetchone()
    if row is None:
        raise NotFound(f"no application {application_id}", f"申请 {application_id} 不存在")
    if row["status"] != "pending":
        raise Conflict(f"application {application_id} is already {row['status']}", f"申请已处理（{row['status']}）")
    product = PRODUCTS[row["product"]]
    _check_terms(product, terms, known_districts)
    credential = GRANT_PREFIX + secrets.token_urlsafe(32)
    expires = now + timedelta(days=terms.days)
    scope = {"fields": list(terms.fields), "districts": list(terms.districts),
             "start": terms.start.isoformat() if terms.start else None,
             "end": terms.end.isoformat() if terms.end else None}
    protection = {"min_cell": terms.min_cell, "epsilon": terms.epsilon, "budget": terms.budget,
                  "level": "dp" if terms.epsilon else ("aggregate" if terms.mode == "inside" else "deidentified")}
    cur = conn.execute(
        "INSERT INTO data_grant (application_id, user_name, product, purpose, scope, mode, protection, credential_hash,"
        " granted_by, granted_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (application_id, row["user_name"], row["product"], row["purpose"], orjson.dumps(scope).decode(), terms.mode,
         orjson.dumps(protection).decode(), _hash(credential), by, to_us(now), to_us(expires)))
    grant_id = int(cur.lastrowid or 0)
    conn.execute("UPDATE data_application SET status = 'granted', decided_by = ?, decided_at = ? WHERE id = ?",
                 (by, to_us(now), application_id))
    accesslog.append(conn, now, by, "owner", "grant", grant_id, row["purpose"], application=application_id,
                     user=row["user_name"], product=row["product"], mode=terms.mode, scope=scope,
                     protection=protection, expires_at=expires.isoformat())
    return grant_id, credential, expires


def reject(conn: sqlite3.Connection, application_id: int, by: str, reason: str, now: datetime) -> None:
    cur = conn.execute("UPDATE data_application SET status = 'rejected', decided_by = ?, decided_at = ? "
                       "WHERE id = ? AND status = 'pending'", (by, to_us(now), application_id))
    if cur.rowcount != 1:
        raise Conflict(f"application {application_id} is not pending", f"申请 {application_id} 不在待审状态")
    accesslog.append(conn, now, by, "owner", "reject", None, reason, application=application_id)


def revoke(conn: sqlite3.Connection, grant_id: int, by: str, reason: str, now: datetime) -> None:
    cur = conn.execute("UPDATE data_grant SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       (to_us(now), grant_id))
    if cur.rowcount != 1:
        raise Conflict(f"grant {grant_id} does not exist or is already revoked", f"授权 {grant_id} 不存在或已撤销")
    accesslog.append(conn, now, by, "owner", "revoke", grant_id, reason)


def _grant(row: sqlite3.Row) -> Grant:
    scope, prot = orjson.loads(row["scope"]), orjson.loads(row["protection"])
    when = [datetime.fromisoformat(scope[k]) if scope.get(k) else None for k in ("start", "end")]
    return Grant(id=row["id"], user_name=row["user_name"], product=row["product"], purpose=row["purpose"],
                 fields=tuple(scope["fields"]), districts=tuple(scope["districts"]), start=when[0], end=when[1],
                 mode=row["mode"], min_cell=int(prot["min_cell"]), epsilon=prot.get("epsilon"),
                 budget=prot.get("budget"), spent=float(row["spent"]), expires_at=from_us(row["expires_at"]),
                 revoked_at=from_us(row["revoked_at"]) if row["revoked_at"] else None,
                 secret=bytes.fromhex(row["credential_hash"]))


def grants(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    out = []
    for row in conn.execute("SELECT * FROM data_grant ORDER BY id"):
        g = _grant(row)
        out.append({"id": g.id, "user": g.user_name, "product": g.product, "purpose": g.purpose, "mode": g.mode,
                    "fields": list(g.fields), "districts": list(g.districts), "min_cell": g.min_cell,
                    "epsilon": g.epsilon, "budget": g.budget, "spent": g.spent,
                    "expires_at": g.expires_at.isoformat(),
                    "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None})
    return out


def applications(conn: sqlite3.Connection, user: str | None = None) -> list[dict[str, Any]]:
    where, args = ("WHERE a.user_name = ?", [user]) if user else ("", [])
    rows = conn.execute("SELECT a.*, g.id AS grant_id FROM data_application a LEFT JOIN data_grant g "
                        f"ON g.application_id = a.id {where} ORDER BY a.id", args)
    return [{"id": r["id"], "user": r["user_name"], "product": r["product"], "domain": r["domain"],
             "purpose": r["purpose"], "user_product": r["user_product"], "status": r["status"],
             "created_at": from_us(r["created_at"]).isoformat(), "grant_id": r["grant_id"]} for r in rows]


# access under a grant ----------------------------------------------------------------------
def live_grant(conn: sqlite3.Connection, credential: str, product: str, now: datetime,
               peer: str | None = None) -> Grant | Refused:
    """The grant behind a credential, if it may be used for `product` now (and, through the
    exchange, by the city whose certificate names `peer`: a city's grant is bound to its code)."""
    row = conn.execute("SELECT * FROM data_grant WHERE credential_hash = ?", (_hash(credential),)).fetchone()
    if row is None:
        return Refused(401, "unknown grant credential", "授权凭证无效")
    g = _grant(row)
    active = conn.execute("SELECT active, kind, org_code FROM data_user WHERE name = ?", (g.user_name,)).fetchone()
    if peer is not None and (active is None or active[1] != "city" or active[2] != peer):
        return Refused(403, f"grant {g.id} is not held by the city {peer} whose certificate signed this",
                       f"授权 {g.id} 不属于签名证书所示城市 {peer}", g.id, g.user_name)
    if g.revoked_at is not None:
        return Refused(403, f"grant {g.id} was revoked at {g.revoked_at.isoformat()}", f"授权 {g.id} 已撤销",
                       g.id, g.user_name)
    if now >= g.expires_at:
        return Refused(403, f"grant {g.id} expired at {g.expires_at.isoformat()}", f"授权 {g.id} 已到期",
                       g.id, g.user_name)
    if not active or not active[0]:
        return Refused(403, f"data user {g.user_name} is disabled", f"数据使用方 {g.user_name} 已停用",
                       g.id, g.user_name)
    if g.product != product:
        return Refused(403, f"grant {g.id} is for product {g.product}, not {product}",
                       f"授权 {g.id} 仅限数据产品 {g.product}", g.id, g.user_name)
    return g


def _scoped(g: Grant, p: Product, frame: pl.DataFrame) -> pl.DataFrame:
    if g.districts:
        frame = frame.filter(pl.col(p.district).is_in(list(g.districts)))
    if p.period and g.start:
        frame = frame.filter(pl.col(p.period) >= g.start)
    if p.period and g.end:
        frame = frame.filter(pl.col(p.period) < g.end)
    return frame


@dataclass(frozen=True)
class Prepared:
    """What an access would release, computed on a read snapshot; it leaves only once `record`
    has checked the grant again and logged it in a write transaction."""

    grant_id: int
    action: str  # read | query
    payload: dict[str, Any]
    details: dict[str, Any]  # for the log
    epsilon: float = 0.0


def prepare_rows(repo: Any, platform: Any, credential: str, product: str, limit: int, offset: int,
                 now: datetime, peer: str | None = None) -> Prepared | Refused:
    """De-identified rows under a `rows` grant: the granted fields only, ids as pseudonyms under
    the grant's key, times to the hour."""
    g = live_grant(repo.conn, credential, product, now, peer)
    if isinstance(g, Refused):
        return g
    if g.mode != "rows":
        return Refused(403, "this grant is 可用不可见 (inside): run aggregate queries, rows do not leave",
                       "该授权为“可用不可见”：只能在平台内运行汇总查询，明细不出域", g.id, g.user_name)
    p = PRODUCTS[product]
    frame = _scoped(g, p, p.load(repo, platform)).select(list(g.fields))
    total = len(frame)
    frame = frame.slice(offset, min(limit, MAX_ROWS))
    if p.citizen:
        frame = _deidentify(frame, g.secret)
    return Prepared(g.id, "read", {"grant": g.id, "total": total, "rows": frame.to_dicts()},
                    {"rows": len(frame), "offset": offset})


def prepare_query(repo: Any, platform: Any, credential: str, product: str, group_by: list[str], now: datetime,
                  peer: str | None = None) -> Prepared | Refused:
    """Counts grouped by granted columns, run here; only the released cells would leave."""
    g = live_grant(repo.conn, credential, product, now, peer)
    if isinstance(g, Refused):
        return g
    p = PRODUCTS[product]
    allowed = [f for f in p.group_fields if f in g.fields or (f == "day" and p.period in g.fields)]
    bad = [f for f in group_by if f not in allowed]
    if not group_by or bad:
        return Refused(422, f"group_by must be some of {', '.join(allowed)}", "分组字段应取自：" + "、".join(allowed),
                       g.id, g.user_name)
    if _over_budget(g):
        return _budget_refusal(g)
    frame = _scoped(g, p, p.load(repo, platform))
    if "day" in group_by:
        frame = frame.with_columns(pl.col(p.period).dt.convert_time_zone(str(platform.calendar.zone))
                                   .dt.date().cast(pl.String).alias("day"))
    counts = frame.group_by(group_by).agg(pl.len().cast(pl.Int64).alias("count")).sort(group_by)
    released = privacy.release(counts, g.min_cell, g.epsilon)
    payload = {"grant": g.id, "group_by": group_by, "cells": released.frame.to_dicts(),
               "suppressed": released.suppressed, "min_cell": max(g.min_cell, privacy.MIN_CELL_FLOOR),
               "epsilon": released.epsilon,
               "budget_left": (g.budget - g.spent - released.epsilon) if g.budget is not None else None,
               "noise": "OpenDP integer Laplace, scale 1/epsilon" if released.epsilon else None}
    return Prepared(g.id, "query", payload, {"group_by": group_by, "cells": len(released.frame),
                                             "suppressed": released.suppressed, "epsilon": released.epsilon},
                    released.epsilon)


def _over_budget(g: Grant) -> bool:
    return g.epsilon is not None and g.spent + g.epsilon > (g.budget or 0) + 1e-9


def _budget_refusal(g: Grant) -> Refused:
    return Refused(403, f"the grant's privacy budget is spent ({g.spent:g} of {g.budget:g})",
                   f"隐私预算已用尽（已用 {g.spent:g} / 共 {g.budget:g}）", g.id, g.user_name)


def record(repo: Any, platform: Any, credential: str, product: str, prepared: Prepared | Refused, who: str,
           now: datetime, peer: str | None = None) -> dict[str, Any] | Refused:
    """The write half of an access: check the grant again (revoked meanwhile: refused), spend
    the privacy budget, log it; the payload leaves only if this commits."""
    conn = repo.conn
    accesslog.hold(conn)  # the budget read below is the latest: two servers never both spend its last ε
    g = live_grant(conn, credential, product, now, peer)
    refusal = prepared if isinstance(prepared, Refused) else g if isinstance(g, Refused) else None
    if refusal is None and isinstance(g, Grant) and isinstance(prepared, Prepared) and prepared.epsilon:
        refusal = _budget_refusal(g) if _over_budget(g) else None
    if refusal is not None or not isinstance(g, Grant) or not isinstance(prepared, Prepared):
        why = refusal or Refused(403, "refused", "拒绝")
        accesslog.append(conn, now, why.user or who, "data_user", "refused", why.grant_id, why.message_en,
                         product=product, status=why.status)
        return why
    if prepared.epsilon:
        conn.execute("UPDATE data_grant SET spent = spent + ? WHERE id = ?", (prepared.epsilon, g.id))
    accesslog.append(conn, now, g.user_name, "data_user", prepared.action, g.id, g.purpose, product=product,
                     **prepared.details)
    return prepared.payload


def read_rows(repo: Any, platform: Any, credential: str, product: str, limit: int, offset: int, who: str,
              now: datetime, peer: str | None = None) -> dict[str, Any] | Refused:
    """Both halves in one write transaction (the command line; tests)."""
    prepared = prepare_rows(repo, platform, credential, product, limit, offset, now, peer)
    return record(repo, platform, credential, product, prepared, who, now, peer)


def run_query(repo: Any, platform: Any, credential: str, product: str, group_by: list[str], who: str,
              now: datetime, peer: str | None = None) -> dict[str, Any] | Refused:
    prepared = prepare_query(repo, platform, credential, product, group_by, now, peer)
    return record(repo, platform, credential, product, prepared, who, now, peer)


def _deidentify(frame: pl.DataFrame, secret: bytes) -> pl.DataFrame:
    out = frame
    if "case_id" in out.columns:
        out = out.with_columns(pl.col("case_id").map_elements(lambda v: privacy.pseudonym(secret, v),
                                                              return_dtype=pl.String))
    times = [c for c, t in out.schema.items() if isinstance(t, pl.Datetime)]
    return out.with_columns([pl.col(c).dt.truncate("1h").dt.to_string("%Y-%m-%dT%H:00Z") for c in times])
