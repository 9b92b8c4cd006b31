"""The plugin surface, in one file (as Datasette keeps its hookspecs).

A feature that may refuse a workflow step (the after-photo that on-site verification needs,
say) registers a rule with `case_rule`; the case service runs every rule before it saves a step,
without knowing the features behind them.

A feature that must react to case changes (notifications, return visits, warnings that track
their dispatch, …) registers a listener here instead of editing the case service. Listeners run
inside the write transaction that made the change, so what they write (an outbox row, say) is
committed with the change or not at all; they must be quick and must not do I/O beyond the repo.

Feature modules that register listeners are named in PLUGINS and imported by `load_plugins()`,
which `open_platform` calls, so the server, its write process and the CLI all see the same set.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cityops.cases.models import Case, Change
    from cityops.cases.workflow import Command
    from cityops.core import Platform

# (repo, platform, before, after, change): `before` is None for a new case.
CaseListener = Callable[[Any, "Platform", "Case | None", "Case", "Change"], None]
# (repo, platform, before, after, command): raises a CityopsError to refuse the step before it is saved.
CaseRule = Callable[[Any, "Platform", "Case", "Case", "Command"], None]
# (repo, case ids): the steps of a batch are about to run on these cases (cases/bulk.py).
AheadListener = Callable[[Any, list[int]], None]
# (repo, kind, key, data): a change other than a case step ("warning.issued", "detection",
# "readings.batch", …); `key` orders the events of one thing (a warning, a datastream).
EventListener = Callable[[Any, str, str, dict[str, Any]], None]

# Modules that register listeners when imported; each feature adds its own line.
PLUGINS: tuple[str, ...] = (
    "cityops.notify.outbox", "cityops.intel.listener", "cityops.intake.open311.service",
    "cityops.field.verify", "cityops.stream.listener",
)

_case_listeners: list[CaseListener] = []
_case_rules: list[CaseRule] = []
_event_listeners: list[EventListener] = []
_ahead_listeners: list[AheadListener] = []
_loaded = False


def on_case_changed(listener: CaseListener) -> CaseListener:
    """Register `listener` (usable as a decorator); registering twice is harmless."""
    if listener not in _case_listeners:
        _case_listeners.append(listener)
    return listener


def case_changed(repo: Any, platform: Platform, before: Case | None, after: Case, change: Change) -> None:
    for listener in _case_listeners:
        listener(repo, platform, before, after, change)


def on_event(listener: EventListener) -> EventListener:
    """Register a listener of `event` (usable as a decorator); registering twice is harmless."""
    if listener not in _event_listeners:
        _event_listeners.append(listener)
    return listener


def event(repo: Any, kind: str, key: str, data: dict[str, Any]) -> None:
    """A feature tells of a change it made, inside its write transaction (as `case_changed`)."""
    load_plugins()
    for listener in _event_listeners:
        listener(repo, kind, key, data)


def on_steps_ahead(listener: AheadListener) -> AheadListener:
    """Register a listener that reads ahead, in one query, what every step of a batch will ask
    of its case (usable as a decorator; twice is harmless). What it reads lives in the batch's
    transaction memo (store/txmemo.py) and must be dropped when the step itself changes it."""
    if listener not in _ahead_listeners:
        _ahead_listeners.append(listener)
    return listener


def steps_ahead(repo: Any, case_ids: list[int]) -> None:
    load_plugins()
    for listener in _ahead_listeners:
        listener(repo, case_ids)


def case_rule(rule: CaseRule) -> CaseRule:
    """Register a rule every workflow step must pass (usable as a decorator); twice is harmless."""
    if rule not in _case_rules:
        _case_rules.append(rule)
    return rule


def check_case_rules(repo: Any, platform: Platform, before: Case, after: Case, cmd: Command) -> None:
    """Run every registered rule on a step about to be saved; a rule refuses by raising."""
    load_plugins()
    for rule in _case_rules:
        rule(repo, platform, before, after, cmd)


def load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    for name in PLUGINS:
        importlib.import_module(name)
    _loaded = True
