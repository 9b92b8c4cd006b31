"""The rule the case service asks before a verification closes a case: where the catalogue
says the matter is verified on site (现场核查), an after-photo must be on the case, taken in
since the department last reported back.

Registered as a case rule (`cityops.hooks.case_rule`): the case service runs it without
importing this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityops import hooks
from cityops.cases.models import Action, Actor, Case, Role, Status
from cityops.errors import Conflict
from cityops.store.codec import to_us

if TYPE_CHECKING:
    from cityops.cases.workflow import Command
    from cityops.core import Platform

SETTING = "field.after_photo_required"  # 'off' turns the rule off for a city
PHOTO_STAGES = ("after", "verify")


def after_photo_needed(repo: Any, platform: Platform, case: Case, actor: Actor) -> bool:
    if actor.role is Role.SYSTEM or actor.name.startswith("open311:"):
        # Integrations verify in their own system and report the outcome; they carry no camera.
        return False
    entry = platform.catalogue.find("matter", case.matter_code)
    if entry is None or not entry.verify_on_site:
        return False
    return bool(repo.get_setting(SETTING) != "off")


@hooks.case_rule
def verify_photo_rule(repo: Any, platform: Platform, before: Case, after: Case, cmd: Command) -> None:
    """A verification that closes a case passes only with the after-photo it needs."""
    if cmd.action is Action.VERIFY and after.status is Status.CLOSED:
        check_verify_photo(repo, platform, before, cmd.actor)


def check_verify_photo(repo: Any, platform: Platform, case: Case, actor: Actor) -> None:
    """Raise Conflict (409) when a passing verification lacks the after-photo it needs."""
    if not after_photo_needed(repo, platform, case, actor):
        return
    since = _last_report_back(repo, case)
    row = repo.conn.execute(
        f"SELECT 1 FROM attachments WHERE case_id = ? AND stage IN ({','.join('?' * len(PHOTO_STAGES))}) "
        "AND uploaded_at >= ? LIMIT 1",
        (case.id, *PHOTO_STAGES, since),
    ).fetchone()
    if row is None:
        raise Conflict(
            f"case {case.id}: matter {case.matter_code} is verified on site; upload an after-photo "
            f"(POST /api/v1/cases/{case.id}/attachments with stage=after) before closing it",
            f"案卷 {case.id} 的事项需要现场核查：请先上传处置后照片（stage=after），再核查结案",
        )


def _last_report_back(repo: Any, case: Case) -> int:
    row = repo.conn.execute(
        "SELECT max(at) FROM case_history WHERE case_id = ? AND action = 'report_back'", (case.id,)
    ).fetchone()
    if row is not None and row[0] is not None:
        return int(row[0])
    return to_us(case.reported_at) or 0
