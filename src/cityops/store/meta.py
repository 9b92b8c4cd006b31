"""The one MetaData every feature's tables belong to, and the column types both stores share.

Times are integer microseconds (store/codec.py), so integers are 64-bit everywhere: BIGINT on
PostgreSQL, SQLite's INTEGER (already 64-bit; an `INTEGER PRIMARY KEY` must stay exactly that
to be the rowid alias).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

# Constraint names both databases agree on, so a migration can name what it drops.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

Int = BigInteger().with_variant(Integer(), "sqlite")
