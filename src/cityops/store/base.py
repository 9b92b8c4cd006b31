"""The storage interface the domain services use. SQLite implements it; PostgreSQL will too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import polars as pl

from cityops.cases.models import Case, Change, HistoryEntry


@dataclass(frozen=True)
class CaseQuery:
    """Filters for case search; None means 'any'. `department` also enforces scope."""

    status: Sequence[str] | None = None
    matter_code: Sequence[str] | None = None
    district: str | None = None
    grid: str | None = None
    department: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    overdue_at: datetime | None = None  # only cases overdue at this instant
    due_before: datetime | None = None  # open cases due before this instant (due soon)
    escalated: bool | None = None
    source: Sequence[str] | None = None  # channels (hotline_12345, drone …): drone:UAV-3 is drone
    text: str | None = None
    ids: Sequence[int] | None = None
    limit: int = 100
    offset: int = 0
    order: str = "id"  # id | -id | due_at | reported_at | -reported_at


@dataclass(frozen=True)
class User:
    name: str
    role: str
    department: str | None
    password_hash: str
    active: bool = True


@dataclass(frozen=True)
class ApiKey:
    """An Open311 API key: only its SHA-256 digest is stored."""

    name: str
    key_hash: str
    scope: str  # "report" or "backoffice"
    created_at: datetime
    revoked_at: datetime | None = None


class Repo(Protocol):
    """One unit of work: reads, and writes when it runs inside a write transaction."""

    def next_case_id(self) -> int: ...

    def insert_case(self, case: Case, change: Change) -> Case: ...

    def insert_first(self, case: Case, entry: HistoryEntry) -> None: ...

    def get_case(self, case_id: int) -> Case | None: ...

    def read_ahead(self, case_ids: list[int]) -> None: ...

    def save_case(self, case: Case, change: Change) -> Case: ...

    def history(self, case_id: int) -> list[HistoryEntry]: ...

    def search_cases(self, query: CaseQuery) -> tuple[list[Case], int]: ...

    def case_frame(self) -> pl.DataFrame: ...

    def history_heads(self) -> list[tuple[int, str, int]]: ...

    def add_user(self, user: User, at: datetime) -> None: ...

    def get_user(self, name: str) -> User | None: ...

    def list_users(self) -> list[User]: ...

    def set_password(self, name: str, password_hash: str) -> None: ...

    def set_user_active(self, name: str, active: bool) -> None: ...

    def remove_user(self, name: str) -> None: ...

    def add_token(self, token_hash: str, user_name: str, at: datetime, expires_at: datetime | None) -> None: ...

    def user_for_token(self, token_hash: str, now: datetime) -> User | None: ...

    def token_grant(self, token_hash: str, now: datetime) -> tuple[User, datetime | None] | None: ...

    def revoke_tokens(self, user_name: str | None = None, token_hash: str | None = None) -> int: ...

    def purge_expired_tokens(self, now: datetime) -> int: ...

    def idempotent_case(self, key: str) -> int | None: ...

    def remember_idempotent(self, key: str, case_id: int, at: datetime) -> None: ...

    def idempotent_cases(self, keys: Sequence[str]) -> dict[str, int]: ...

    def imported_frame(self, source: str | None = None) -> pl.DataFrame: ...

    def get_setting(self, key: str) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...

    # Open311 ---------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None: ...

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list_api_keys(self) -> list[ApiKey]: ...

    def revoke_api_key(self, name: str, at: datetime) -> bool: ...

    def add_open311_token(self, token: str, case_id: int) -> None: ...

    def case_for_open311_token(self, token: str) -> int | None: ...

    def history_between(self, start: datetime, end: datetime, limit: int) -> list[HistoryEntry]: ...

    def histories(self, case_ids: Sequence[int]) -> dict[int, list[HistoryEntry]]: ...
