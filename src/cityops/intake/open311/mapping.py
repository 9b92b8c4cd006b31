"""What a citizen sees: a case as a GeoReport v2 service request, its notes and updates.

Open/closed follows the case: closed once the case is closed, rejected or merged. Times are
ISO 8601 in the city's zone (e.g. +08:00), to the second, like real deployments answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cityops.cases.models import (
    ACTION_LABELS,
    FINAL_STATUSES,
    STATUS_LABELS,
    Action,
    Case,
    HistoryEntry,
    Status,
)
from cityops.intake.open311 import public

# The status a case shows in mySociety's extended vocabulary (servicerequestupdates).
EXTENDED_STATUS: dict[Status, str] = {
    Status.REPORTED: "open",
    Status.REGISTERED: "investigating",
    Status.DISPATCHED: "action_scheduled",
    Status.DISPOSING: "in_progress",
    Status.REPORTED_BACK: "fixed",
    Status.CLOSED: "closed",
    Status.REJECTED: "no_further_action",
    Status.MERGED: "duplicate",
    Status.SUSPENDED: "investigating",
}
OPENED_LABEL = ("已受理上报", "Request opened")
CLOSED_LABEL = ("已办结", "Request closed")


def _status(value: Status | str) -> Status | None:
    try:
        return Status(value)
    except ValueError:  # an imported or future status: shown as open, never a failed answer
        return None


def public_status(status: Status | str) -> str:
    return "closed" if _status(status) in FINAL_STATUSES else "open"


def w3(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at is not None else None


def bilingual(pair: tuple[str, str]) -> str:
    return f"{pair[0]} / {pair[1]}"


def action_label(action: str) -> str:
    if action == "report":
        return bilingual(OPENED_LABEL)
    if action in Action.__members__.values():
        return bilingual(ACTION_LABELS[Action(action)])
    return public.text(action, 32)


def note(entry: HistoryEntry, tz: ZoneInfo) -> dict[str, Any]:
    """One history entry as a Chicago-style note: opened, activity or closed."""
    c = entry.change
    if c.action == "report":
        return {"datetime": w3(c.at, tz), "summary": bilingual(OPENED_LABEL), "type": "opened"}
    if _status(c.to_status) in FINAL_STATUSES and c.from_status != c.to_status:
        return {"datetime": w3(c.at, tz), "summary": bilingual(CLOSED_LABEL), "type": "closed"}
    return {"datetime": w3(c.at, tz), "summary": action_label(c.action), "description": _describe(entry),
            "type": "activity"}


# Kept for callers: which actions are internal is now decided by the allow-list in public.py.
INTERNAL_ACTIONS = frozenset(a for a in Action if a not in public.PUBLIC_ACTIONS) | {"merged_in"}


def public_reason(entry: HistoryEntry) -> str:
    c = entry.change
    return public.reason(c.action, c.actor, c.reason)


def _describe(entry: HistoryEntry) -> str:
    c = entry.change
    known = _status(c.to_status)
    status = bilingual(STATUS_LABELS[known]) if known else public.text(c.to_status, 32)
    parts = [f"{action_label(c.action)} → {status}"]
    if reason := public_reason(entry):
        parts.append(reason)
    return "; ".join(parts)


def status_notes(case: Case, last: HistoryEntry | None) -> str:
    text = bilingual(STATUS_LABELS[case.status])
    if last is not None and (reason := public_reason(last)):
        text += f"; {reason}"
    return text


def request_json(
    case: Case,
    service_name: str,
    agency: str | None,
    tz: ZoneInfo,
    history: Sequence[HistoryEntry] | None = None,
    service_notice: str = "",
    policy: public.Policy = public.DEFAULT,
    attribute_codes: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The spec's fields, each from the allow-list in public.py; with `history`
    (extensions=true) also extended_attributes and the public notes."""
    o311: Mapping[str, Any] = public.open311_part(case.attributes)
    shown = [e for e in history if public.shows_entry(e.change.action, e.change.actor)] if history else []
    def free_text(field: str) -> bool:
        return policy.shows(case.source, field)

    out: dict[str, Any] = {
        "service_request_id": str(case.id),
        "status": public_status(case.status),
        "status_notes": status_notes(case, shown[-1] if shown else None),
        "service_name": public.text(service_name),
        "service_code": case.matter_code,
        "description": public.text(case.description) if free_text("description") else "",
        "agency_responsible": public.text(agency or ""),
        "service_notice": service_notice,
        "requested_datetime": w3(case.reported_at, tz),
        "updated_datetime": w3(case.updated_at or case.reported_at, tz),
        "expected_datetime": w3(case.due_at, tz),
        "address": public.text(case.address, 500) if free_text("address") else "",
        "address_id": public.text(o311.get("address_id", ""), 64),
        "zipcode": "",
        "lat": case.lat,
        "long": case.lon,
        "media_url": public.url(o311.get("media_url")) if free_text("media_url") else "",
    }
    attrs = public.attributes(o311.get("attributes"), attribute_codes) if free_text("attributes") else {}
    if attrs:
        out["attributes"] = attrs
    if history is not None:
        out["extended_attributes"] = extended_attributes(case)
        out["notes"] = [note(e, tz) for e in shown]
    return out


def extended_attributes(case: Case) -> dict[str, Any]:
    ext: dict[str, Any] = {
        "channel": public.text(case.source, 32),
        "case_status": case.status.value,
        "case_status_label": bilingual(STATUS_LABELS[case.status]),
        "district": public.text(case.district, 32),
        "grid": public.text(case.grid, 32),
        "area_class": public.text(case.area_class, 8),
        "department": public.text(case.department or "", 64),
        "escalated": case.escalated,
        "rework_count": case.rework_count,
        "report_count": case.report_count,
    }
    if case.merged_into is not None:
        ext["duplicate"] = True
        ext["parent_service_request_id"] = str(case.merged_into)
    return ext


def update_json(entry: HistoryEntry, tz: ZoneInfo) -> dict[str, Any]:
    """One history entry as a mySociety request_update."""
    c = entry.change
    return {
        "update_id": f"{c.case_id}_{entry.seq}",
        "service_request_id": str(c.case_id),
        "status": EXTENDED_STATUS.get(_status(c.to_status) or Status.REPORTED, "open"),
        "updated_datetime": w3(c.at, tz),
        "description": public_reason(entry) or _describe(entry),
        "media_url": public.url(c.data.get("media_url")) if isinstance(c.data, Mapping) else "",
        "external_status_code": public.text(c.to_status, 32),
    }
