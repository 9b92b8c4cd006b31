"""Batch workflow steps (批量处理): many cases' steps in one durable write.

A department's system or the workbench's multi-select (批量派遣, 批量办结) takes steps for many
cases at once. Each step goes through the very same `service.act` as a single step (roles,
visibility, rules, hooks, history chain, outbox), in a savepoint of its own, so a refused step
undoes only itself. Steps on one case apply in request order; once one of them is refused, the
case's later steps are not tried (they assumed it went through).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cityops import hooks
from cityops.cases import names, service
from cityops.cases.workflow import Command
from cityops.errors import CityopsError, Conflict, InvalidInput, StorageUnavailable
from cityops.store.dialect import Savepoints

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.store.base import Repo

MAX_STEPS = 500  # per request: one write transaction should not keep other writers waiting long


class EarlierStepRefused(Conflict):
    code = "earlier_step_refused"


@dataclass(frozen=True)
class Step:
    """One step of a batch: which case, and the command as a single step would build it."""

    case_id: int
    cmd: Command


# Per step: (True, the case's new status) or (False, the refusal as the API tells it).
Outcome = tuple[bool, Any]


def check_size(n: int) -> None:
    if n > MAX_STEPS:
        raise InvalidInput(
            f"a batch takes at most {MAX_STEPS} steps, this one has {n}; send the rest in another request",
            f"每批最多 {MAX_STEPS} 步，本批 {n} 步，其余请分批提交",
        )


def act_many(repo: Repo, platform: Platform, steps: list[Step]) -> list[Outcome]:
    """Apply each step with `service.act`, each in its own savepoint; one outcome per step.

    A refusal (a CityopsError) rolls back that step only. Anything else (the storage failing,
    a bug) is raised: the whole batch is undone and the caller told, as for a single step.
    """
    each = Savepoints(repo.conn, "step")  # type: ignore[attr-defined]
    _read_ahead(repo, sorted({step.case_id for step in steps}))
    try:
        outcomes = _each_step(repo, platform, steps, each)
    finally:
        _read_ahead(repo, [])  # what no step took is not kept beyond the batch's steps
    each.release()
    return outcomes


def _read_ahead(repo: Repo, case_ids: list[int]) -> None:
    """One query for the batch's cases, and one for whatever each feature will ask of them
    (hooks.on_steps_ahead), not one per step; an empty list drops what was read."""
    repo.read_ahead(case_ids)
    hooks.steps_ahead(repo, case_ids)


def _each_step(repo: Repo, platform: Platform, steps: list[Step], each: Savepoints) -> list[Outcome]:
    refused: dict[int, int] = {}  # case id → index of its refused step
    outcomes: list[Outcome] = []
    for i, step in enumerate(steps):
        if step.case_id in refused:
            j = refused[step.case_id]
            outcomes.append((False, _refusal(EarlierStepRefused(
                f"not tried: steps[{j}] of this batch, on the same case {step.case_id}, was refused",
                f"未执行：本批第 {j + 1} 步（同一案卷 {step.case_id}）已被拒绝",
            ))))
            continue
        each.next()
        try:
            case = service.act(repo, platform, step.case_id, step.cmd)
        except StorageUnavailable:
            raise
        except CityopsError as exc:
            each.undo()
            refused[step.case_id] = i
            outcomes.append((False, _refusal(exc)))
            continue
        outcomes.append((True, case.status.value))
    return outcomes


def _refusal(exc: CityopsError) -> dict[str, Any]:
    return {**exc.to_dict(), "http_status": exc.status}


def results_json(steps: list[Step], outcomes: list[Outcome]) -> dict[str, Any]:
    """The answer: one result per step in request order, and how many were done or refused."""
    results: list[dict[str, Any]] = []
    for step, (ok, value) in zip(steps, outcomes, strict=True):
        head = {"case_id": step.case_id, "action": step.cmd.action.value, "ok": ok}
        if ok:
            zh, en = names.status_names(value)
            results.append({**head, "status": value, "status_name": zh, "status_name_en": en})
        else:
            results.append({**head, **value})
    done = sum(1 for ok, _ in outcomes if ok)
    return {"done": done, "refused": len(outcomes) - done, "results": results}
