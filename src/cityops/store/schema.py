"""The whole schema: every feature's tables on one MetaData (Alembic's target, `store copy`'s
table list, and the PostgreSQL dialect's knowledge of keys)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from cityops.store.meta import metadata

# Each feature declares its own tables beside its code (cases/tables.py, sensing/tables.py …).
FEATURES = ("store", "cases", "auth", "intake", "sensing", "detect", "warning", "intel", "field", "notify", "data", "stream")


def load() -> MetaData:
    for feature in FEATURES:
        importlib.import_module(f"cityops.{feature}.tables")
    return metadata

# Made by hand in the baseline migration, not SQLAlchemy tables: SQLite's FTS5 table and its
# shadow tables (a plain table with a GIN index in PostgreSQL), and an index on a JSON member.
HAND_MADE = ("data_resource_fts", "intel_triage_key")
