"""The catalogue's operations over a platform: describe what cityops holds, register, import."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cityops.core import Platform, utcnow
from cityops.data import catalogue, importer, own
from cityops.data.models import Resource, check

DIGEST_KEY = "data_own_digest"


def own_resources(conn: Any, platform: Platform, now: datetime) -> list[Resource]:
    city = platform.city
    layers = {"districts": len(city.districts), "grids": len(city.grids.code),
              "patrol_grids": len(city.patrol_grids), "waterlogging_points": len(city.waterlogging_points),
              "departments": len(city.departments)}
    published = now.astimezone(platform.calendar.zone).date().isoformat()
    return own.describe(conn, city.code, city.name, layers, len(platform.catalogue.matters()), published)


def sync_own(repo: Any, platform: Platform, now: datetime) -> int:
    """Describe cityops' own resources again (a write operation for `Platform.awrite`)."""
    resources = own_resources(repo.conn, platform, now)
    stored = own.sync(repo.conn, resources, now)
    repo.set_setting(DIGEST_KEY, own.digest(resources))
    return stored


def own_is_current(platform: Platform, now: datetime) -> bool:
    with platform.store.read() as repo:
        return repo.get_setting(DIGEST_KEY) == own.digest(own_resources(repo.conn, platform, now))


async def ensure_described(platform: Platform) -> None:
    """Before the catalogue is read: describe cityops' own holdings if they changed (a case,
    a datastream family, a warning), so the catalogue never lags what the platform holds."""
    import asyncio

    now = utcnow()
    if not await asyncio.to_thread(own_is_current, platform, now):
        await platform.awrite(sync_own, now)


def register(repo: Any, platform: Platform, resources: list[Resource], now: datetime) -> int:
    return catalogue.upsert(repo.conn, [check(r) for r in resources], now)


def import_csv(repo: Any, platform: Platform, data: bytes, by: str, now: datetime) -> int:
    return importer.import_sheet(repo.conn, data, now, by)


def import_file(platform: Platform, path: Path, by: str) -> int:
    data = path.read_bytes()
    return platform.store.write(lambda repo: import_csv(repo, platform, data, by, utcnow()))


def remove(repo: Any, platform: Platform, code: str) -> bool:
    return catalogue.remove(repo.conn, code)
