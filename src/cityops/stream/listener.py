"""Outbox rows for every case step and every feature event, inside the change's transaction
(registered through `cityops.hooks`; named in its PLUGINS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityops import hooks
from cityops.stream import outbox
from cityops.stream.models import case_event, other_event

if TYPE_CHECKING:
    from cityops.cases.models import Case, Change
    from cityops.core import Platform


@hooks.on_case_changed
def case_step(repo: Any, platform: Platform, before: Case | None, after: Case, change: Change) -> None:
    if outbox.sinks_on(repo.conn):
        outbox.append(repo.conn, case_event(after, change))


@hooks.on_event
def feature_event(repo: Any, kind: str, key: str, data: dict[str, Any]) -> None:
    from cityops.core import utcnow

    if outbox.sinks_on(repo.conn):
        outbox.append(repo.conn, other_event(kind, key, data, utcnow()))
