"""A step writes only the case columns that change (an index is rewritten only when its column
is set): whatever the steps, savepoint rollbacks and re-saves inside one batch, the stored row is
the one a full UPDATE would have left."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.cases import service
from cityops.cases.models import Actor, Case, Change, Role
from cityops.core import utcnow
from cityops.store.codec import case_to_row

ADMIN = Actor("admin", Role.ADMIN)

# (field, new value) changes a step might make
CHANGES = st.lists(st.sampled_from([
    ("department", "d1"), ("department", None), ("escalated", True), ("escalated", False),
    ("rework_count", 2), ("address", "江汉路 1 号"), ("attributes", {"k": [1, 2]}), ("attributes", {}),
    ("due_at", "later"), ("due_at", None), ("lon", 114.31), ("description", "积水 / standing water"),
]), max_size=4)
# Per save: the changes, whether its savepoint is rolled back, whether it reads the case first.
SAVES = st.lists(st.tuples(CHANGES, st.booleans(), st.booleans()), min_size=1, max_size=6)


def _change(case: Case) -> Change:
    return Change(case_id=case.id, at=utcnow(), actor="admin", role="admin", action="note",
                  from_status=case.status.value, to_status=case.status.value)


def _apply(case: Case, changes: list[tuple[str, Any]]) -> Case:
    values = {k: (utcnow() + timedelta(hours=1) if v == "later" else v) for k, v in changes}
    return dataclasses.replace(case, **values)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saves=SAVES)
def test_stored_row_equals_the_case_saved_last(platform: Any, saves: list[tuple[list[tuple[str, Any]], bool, bool]]) -> None:
    report = service.NewReport("07002", "积水", 114.30, 30.58)
    case_id = platform.store.write(lambda repo: service.intake(repo, platform, report, ADMIN, utcnow()).id)

    def batch(repo: Any) -> Case:
        held = repo.get_case(case_id)
        for changes, undo, reread in saves:
            before = repo.get_case(case_id) if reread else held
            repo.conn.execute("SAVEPOINT s")
            saved = repo.save_case(_apply(before, changes), _change(before))
            if undo:
                repo.conn.execute("ROLLBACK TO s")
                held = repo.get_case(case_id)  # what is stored again
            else:
                repo.conn.execute("RELEASE s")
                held = saved
        return held  # type: ignore[no-any-return]

    expected = platform.store.write(batch)
    with platform.store.read() as repo:
        stored = repo.get_case(case_id)
    assert stored is not None
    assert case_to_row(stored) == case_to_row(expected)
    assert stored.version == expected.version
