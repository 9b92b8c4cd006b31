"""A case listener: when an acceptor corrects a case's matter code at registration, the text
and the corrected code are kept as training data (intel_corrections), like triage picks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityops import hooks
from cityops.intel import store

if TYPE_CHECKING:
    from cityops.cases.models import Case, Change
    from cityops.core import Platform


@hooks.on_case_changed
def keep_corrections(repo: Any, platform: Platform, before: Case | None, after: Case, change: Change) -> None:
    if before is None or change.action != "register" or before.matter_code == after.matter_code:
        return
    intel = (before.attributes or {}).get("intel") or {}
    store.add_correction(repo.conn, int(change.at.timestamp()), after.description, after.matter_code,
                         before.matter_code, intel.get("confidence"), change.actor, "case")
