"""The photo of a report waiting in triage: an Open311 catch-all request the classifier was
unsure of, sent with a multipart `media` photo.

The photo is cleaned and stored before the write exactly as for a sure request
(`field.attachments.prepare_at`, stage `before`, judged against the request's point and time).
The write that puts the report in the triage queue holds its row with the item
(`intel_triage_photos`, migration 0012): while the item is open that row keeps the files from
orphan cleanup, and those who triage fetch the photo at its attachment URL. A person's pick
moves it onto the new case as an ordinary attachment with the same id, in the pick's write, so
the request's `media_url` keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from cityops.cases.models import Actor, Case, Role
from cityops.errors import Forbidden, NotFound
from cityops.field import attachments, images
from cityops.field.attachments import Stored

if TYPE_CHECKING:
    from cityops.core import Platform

# Who works the triage queue (admin too); they alone may see its items and their photos.
TRIAGE_ROLES = (Role.ACCEPTOR, Role.SUPERVISOR, Role.COLLECTOR)
COLUMNS = ("triage_id", *(c for c in attachments.COLUMNS if c != "case_id"))
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM intel_triage_photos"


def may_triage(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or actor.role in TRIAGE_ROLES


def hold(repo: Any, item: int, stored: Stored) -> None:
    """Write op part: keep the stored photo with triage item `item`. One photo per item: a
    request carries one `media`, and a retry never reaches here (it gets its first item back)."""
    repo.conn.execute(
        f"INSERT OR IGNORE INTO intel_triage_photos ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(COLUMNS))})",
        (item, *attachments.values(stored, COLUMNS[1:])),
    )


def of_items(repo: Any, items: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The held photos of these triage items, by item (one query)."""
    if not items:
        return {}
    rows = repo.conn.execute(f"{_SELECT} WHERE triage_id IN ({', '.join('?' * len(items))})",
                             tuple(items)).fetchall()
    return {int(r["triage_id"]): _row(r) for r in rows}


def get(repo: Any, photo_id: str, actor: Actor) -> dict[str, Any]:
    """A held photo by its (future attachment) id, for those who may triage; else NotFound /
    Forbidden, as `attachments.get` answers for a case's photo."""
    row = repo.conn.execute(f"{_SELECT} WHERE id = ?", (photo_id,)).fetchone()
    if row is None:
        raise NotFound(f"no attachment {photo_id}", f"附件 {photo_id} 不存在")
    if not may_triage(actor):
        raise Forbidden(f"role '{actor.role}' may not see reports waiting in triage", f"角色 {actor.role} 无权查看待分拣上报")
    return _row(row)


def public_json(row: dict[str, Any], platform: Platform, base: str = "") -> dict[str, Any]:
    """What the triage view shows: an attachment's answer (its URL serves the photo now and,
    unchanged, once it is the case's), with the triage item instead of a case."""
    out = attachments.public_json(row, platform.calendar.zone, base)
    out["triage_id"] = row["triage_id"]
    return out


def to_case(repo: Any, platform: Platform, item: int, case: Case, actor: Actor) -> dict[str, Any] | None:
    """Write op part (in `resolve_triage`'s write): the item's photo becomes an attachment of
    the case made from it, stage `before`, the same row a sure request's photo gets."""
    row = of_items(repo, [item]).get(item)
    if row is None:
        return None
    names = {f.name for f in fields(Stored)}
    stored = _placed(Stored(**{k: v for k, v in row.items() if k in names and k != "case_id"},
                            case_id=case.id), case)
    attached, _ = attachments.record(repo, platform, stored, actor)
    repo.conn.execute("DELETE FROM intel_triage_photos WHERE triage_id = ?", (item,))
    return attached


def _placed(stored: Stored, case: Case) -> Stored:
    """Distance and `far_away` judged against the case's point: the person who picked the code
    may have moved it from the request's (unmoved, the answer is the same). The other flags
    are about time, judged at the request, and stay."""
    meta = images.PhotoMeta(lon=stored.photo_lon, lat=stored.photo_lat)
    far, dist = images.judge(meta, stored.stage, case.lon, case.lat, case.reported_at, case.reported_at)
    kept = tuple(f for f in stored.flags if f.get("code") != "far_away")
    return replace(stored, distance_m=dist, flags=(*(f.to_dict() for f in far), *kept))


def _row(row: Any) -> dict[str, Any]:
    out = attachments.row_dict(row, COLUMNS)
    out["case_id"] = None
    return out
