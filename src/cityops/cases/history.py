"""Append-only, hash-chained case history.

Each entry's hash covers the previous hash and a canonical JSON of the change, and the case
row keeps the head hash and the count, so an edited, inserted or deleted entry (the last one
included) breaks verification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

import orjson

from cityops.cases.models import Change, HistoryEntry

GENESIS = "0" * 64


def canonical(change: Change) -> bytes:
    body = {
        "case_id": change.case_id,
        "at": change.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": change.actor,
        "role": change.role,
        "action": change.action,
        "from": change.from_status,
        "to": change.to_status,
        "reason": change.reason,
        "data": change.data,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, change: Change) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(change)).hexdigest()


def next_entry(head: str, count: int, change: Change) -> HistoryEntry:
    prev_hash = head or GENESIS
    return HistoryEntry(seq=count + 1, change=change, prev_hash=prev_hash, hash=chain_hash(prev_hash, change))


@dataclass(frozen=True)
class Problem:
    case_id: int
    seq: int
    what: str


def verify(case_id: int, entries: Sequence[HistoryEntry], head: str, count: int) -> list[Problem]:
    """Every problem in one case's chain; an empty list means intact."""
    problems: list[Problem] = []
    prev_hash = GENESIS
    for expected_seq, entry in enumerate(entries, start=1):
        if entry.seq != expected_seq:
            problems.append(Problem(case_id, expected_seq, f"entry {expected_seq} is missing"))
            break
        if entry.change.case_id != case_id:
            problems.append(Problem(case_id, entry.seq, "entry belongs to another case"))
        if entry.prev_hash != prev_hash:
            problems.append(Problem(case_id, entry.seq, "chain broken: previous hash does not match"))
        if chain_hash(entry.prev_hash, entry.change) != entry.hash:
            problems.append(Problem(case_id, entry.seq, "entry was edited: its hash does not match"))
        prev_hash = entry.hash
    if not problems:
        if len(entries) != count:
            problems.append(
                Problem(case_id, len(entries), f"case records {count} entries, found {len(entries)}")
            )
        elif prev_hash != (head or GENESIS):
            problems.append(Problem(case_id, len(entries), "last entry does not match the case's head hash"))
    return problems
