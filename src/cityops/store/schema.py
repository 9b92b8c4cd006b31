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
# shadow tables (a plain table with a GIN index in PostgreSQL), an index on a JSON member, and
# the PostGIS point columns (revision 0003) computed from lon/lat, and PostGIS's own table.
HAND_MADE = ("data_resource_fts", "intel_triage_key", "geom", "spatial_ref_sys")


def hand_made(name: str | None) -> bool:
    return bool(name) and (str(name).startswith(HAND_MADE) or str(name).endswith("_geom"))
