"""The platform: one object that holds the store and the city's configuration.

Features take a `Platform` instead of reaching for globals, so a test can build one over a
temporary database and a server can hold exactly one.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cityops.cases.calendar import WorkingCalendar
from cityops.catalog.service import Catalogue, load_catalogue
from cityops.geo.models import CityPack
from cityops.store.process import ProcessWriter, serve_writes
from cityops.store.sqlite import SqliteRepo, SqliteStore

DEMO_CITY = "wuhan-demo"
T = TypeVar("T")


@dataclass
class Platform:
    store: SqliteStore
    catalogue: Catalogue
    city: CityPack
    calendar: WorkingCalendar
    # Set while serving: writes go to a process of their own (see store/process.py).
    write_process: ProcessWriter | None = None
    # Set while serving: whether this server leads the once-only jobs (see leader.py).
    leadership: Any = None

    async def awrite(self, op: Callable[..., T], *args: Any) -> T:
        """Run `op(repo, platform, *args)` in a durable write transaction, from an event loop.

        `op` must be a module-level function and `args` picklable: with a write process the
        operation runs there, against that process's own platform over the same database.
        """
        if self.write_process is not None:
            return await self.write_process.run(op, *args)  # type: ignore[no-any-return]
        return await self.store.awrite(lambda repo: op(repo, self, *args))

    async def aread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(repo, *args)` over one committed snapshot, from an event loop: on the loop in
        SQLite (a local read of microseconds, less than a thread hop costs), in a thread on
        PostgreSQL (a round trip to the database server must not stall every other request)."""
        if not self.store.dialect.postgres:
            return _read(self.store, fn, args)
        return await asyncio.to_thread(_read, self.store, fn, args)

    async def start_write_process(self) -> None:
        writer = ProcessWriter([sys.executable, "-m", "cityops", "write-process", "--db", self.store.path])
        await writer.start()
        self.write_process = writer

    async def stop_write_process(self) -> None:
        writer, self.write_process = self.write_process, None
        if writer is not None:
            await writer.close()

    def close(self) -> None:
        self.store.close()


def _read(store: SqliteStore, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    with store.read() as repo:
        return fn(repo, *args)


def utcnow() -> datetime:
    return datetime.now(UTC)


def calendar_warning(platform: Platform, now: datetime) -> str | None:
    """A warning when this year's or next year's public holidays are not in the calendar:
    due times across them would count holidays as working days."""
    missing = platform.calendar.years_without_holidays((now.year, now.year + 1))
    if not missing:
        return None
    years = ", ".join(map(str, missing))
    return (f"警告：工作日历缺少 {years} 年的法定节假日安排，请在城市配置的 calendar.holidays / makeup_workdays 中补充"
            f"\nwarning: the working calendar has no public holidays for {years}; add the State Council's "
            "notice to the city pack's calendar (holidays, makeup_workdays), see docs/deadlines.md")


def load_city(source: str) -> CityPack:
    from cityops.geo.io import load_city_pack

    return _demo_city() if source == DEMO_CITY else load_city_pack(Path(source))


@functools.cache
def _demo_city() -> CityPack:
    """The demo city, once per process (every platform opened in it, a test's or the demo's
    several, shares the pack and the point index it builds on first use; packs are not
    mutated), and from the disk cache when this code has built it before (`geo.cache`)."""
    from cityops.geo.cache import cached_pack
    from cityops.geo.wuhan import wuhan_demo_pack

    return cached_pack("wuhan-demo", wuhan_demo_pack)


def open_platform(db: str | Path, city: str | Path | None = None, catalogue: str | Path | None = None) -> Platform:
    """Open (creating and migrating if needed) the database and load the city it serves.

    The city pack and catalogue override given once are remembered in the database, so later
    commands and the server need only --db.
    """
    from cityops.hooks import load_plugins

    load_plugins()
    store = SqliteStore(db)
    with store.read() as repo:
        saved_city = repo.get_setting("city_pack")
        saved_catalogue = repo.get_setting("catalogue_override")
    city_source = str(Path(city).resolve()) if city else (saved_city or DEMO_CITY)
    catalogue_source = str(Path(catalogue).resolve()) if catalogue else saved_catalogue
    if city_source != saved_city or catalogue_source != saved_catalogue:

        def remember(repo: SqliteRepo) -> None:
            repo.set_setting("city_pack", city_source)
            if catalogue_source:
                repo.set_setting("catalogue_override", catalogue_source)

        store.write(remember)
    pack = load_city(city_source)
    cat = load_catalogue(Path(catalogue_source) if catalogue_source else None)
    calendar = WorkingCalendar.from_config({"timezone": pack.timezone, **pack.calendar})
    return Platform(store=store, catalogue=cat, city=pack, calendar=calendar)


def warm(platform: Platform) -> None:
    """Build what the first write would otherwise build on its request path: the point →
    grid/district index (0.5-1.5 s), and one lookup through it; then rehearse one report in a
    transaction that is rolled back, so the modules and statements the first real write needs
    (its listeners' included) are loaded before anyone waits on them."""
    city = platform.city
    if not len(city.grids.code):
        return
    lon, lat = float(city.grids.lon[0]), float(city.grids.lat[0])
    city.locate_one(lon, lat)
    _rehearse_intake(platform, lon, lat)


class _RehearsalRepo(SqliteRepo):
    """The rehearsal's repo: its case id is read, not drawn from PostgreSQL's sequence, which a
    rollback does not give back (every start would otherwise skip a case id)."""

    def next_case_id(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM cases").fetchone()[0])


def _rehearse_intake(platform: Platform, lon: float, lat: float) -> None:
    import logging
    import sqlite3

    from cityops.cases.models import Actor, Role
    from cityops.cases.service import NewReport, intake
    from cityops.errors import CityopsError

    matter = next((m.code for m in platform.catalogue.matters()), None)
    if matter is None:
        return
    conn = platform.store.connect()
    try:
        # Another writer holds the lock: skip, don't wait.
        conn.execute("SET lock_timeout = '200ms'" if platform.store.dialect.postgres else "PRAGMA busy_timeout = 200")
        conn.execute("BEGIN IMMEDIATE")
        intake(_RehearsalRepo(conn), platform, NewReport(matter, "warm-up", lon, lat, source="warm-up"),
               Actor("warm-up", Role.ADMIN), utcnow())
    except (sqlite3.Error, OSError, CityopsError) as exc:  # say an unwritable database: writes will tell
        logging.getLogger("cityops").info("warm-up rehearsal skipped: %s", exc)
    finally:
        conn.rollback()
        conn.close()


def write_process_main(db: str, fd: int) -> None:
    """The write process: its own platform over the same database, serving the socket `fd`."""
    # Ctrl-C reaches the whole process group: the parent shuts down and closes the socket,
    # and this process finishes its batch then, never in the middle of one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Likewise SIGTERM sent to the whole group (systemd's default, `timeout`, `kill -- -PGID`):
    # the server stops taking writes, closes the socket, and this process exits after its batch.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    platform = open_platform(db)
    warm(platform)  # before answering ready: the first write is as fast as the rest
    # What start-up built (city pack, point index, catalogue) lives as long as the process: out
    # of the collector's scans, whose pauses would hold up a whole batch (as in api/app.py).
    gc.collect()
    gc.freeze()
    with socket.socket(fileno=fd) as sock:
        serve_writes(sock, platform.store.connect, SqliteRepo, platform)
    platform.close()
