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


def public_status(status: Status | str) -> str:
    return "closed" if Status(status) in FINAL_STATUSES else "open"


def w3(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at is not None else None


def bilingual(pair: tuple[str, str]) -> str:
    return f"{pair[0]} / {pair[1]}"


def action_label(action: str) -> str:
    if action == "report":
        return bilingual(OPENED_LABEL)
    if action in Action.__members__.values():
        return bilingual(ACTION_LABELS[Action(action)])
    return action


def note(entry: HistoryEntry, tz: ZoneInfo) -> dict[str, Any]:
    """One history entry as a Chicago-style note: opened, activity or closed."""
    c = entry.change
    if c.action == "report":
        return {"datetime": w3(c.at, tz), "summary": bilingual(OPENED_LABEL), "type": "opened"}
    if Status(c.to_status) in FINAL_STATUSES and c.from_status != c.to_status:
        return {"datetime": w3(c.at, tz), "summary": bilingual(CLOSED_LABEL), "type": "closed"}
    return {"datetime": w3(c.at, tz), "summary": action_label(c.action), "description": _describe(entry),
            "type": "activity"}


# Steps whose reason is the back office talking to itself (a comment, why a department sent a
# case back, a suspension, an extension, an escalation): never shown to the public, unless a
# back office posted it through Open311 as an update meant for the citizen.
INTERNAL_ACTIONS = frozenset({
    Action.COMMENT, Action.RETURN, Action.SUSPEND, Action.RESUME, Action.ESCALATE,
    Action.REQUEST_EXTENSION, Action.APPROVE_EXTENSION, Action.DENY_EXTENSION, "merged_in",
})


def public_reason(entry: HistoryEntry) -> str:
    c = entry.change
    if c.action == "report" or (c.action in INTERNAL_ACTIONS and not c.actor.startswith("open311:")):
        return ""
    return c.reason


def _describe(entry: HistoryEntry) -> str:
    c = entry.change
    status = bilingual(STATUS_LABELS[Status(c.to_status)])
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
) -> dict[str, Any]:
    """The spec's fields; with `history` (extensions=true) also extended_attributes and notes."""
    o311: Mapping[str, Any] = case.attributes.get("open311", {})
    out: dict[str, Any] = {
        "service_request_id": str(case.id),
        "status": public_status(case.status),
        "status_notes": status_notes(case, history[-1] if history else None),
        "service_name": service_name,
        "service_code": case.matter_code,
        "description": case.description,
        "agency_responsible": agency or "",
        "service_notice": service_notice,
        "requested_datetime": w3(case.reported_at, tz),
        "updated_datetime": w3(case.updated_at or case.reported_at, tz),
        "expected_datetime": w3(case.due_at, tz),
        "address": case.address,
        "address_id": o311.get("address_id", ""),
        "zipcode": "",
        "lat": case.lat,
        "long": case.lon,
        "media_url": o311.get("media_url", ""),
    }
    if o311.get("attributes"):
        out["attributes"] = dict(o311["attributes"])
    if history is not None:
        out["extended_attributes"] = extended_attributes(case)
        out["notes"] = [note(e, tz) for e in history]
    return out


def extended_attributes(case: Case) -> dict[str, Any]:
    ext: dict[str, Any] = {
        "channel": case.source,
        "case_status": case.status.value,
        "case_status_label": bilingual(STATUS_LABELS[case.status]),
        "district": case.district,
        "grid": case.grid,
        "area_class": case.area_class,
        "department": case.department or "",
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
        "status": EXTENDED_STATUS[Status(c.to_status)],
        "updated_datetime": w3(c.at, tz),
        "description": public_reason(entry) or _describe(entry),
        "media_url": str(c.data.get("media_url", "")),
        "external_status_code": c.to_status,
    }
