"""`cityops field ...`: photo housekeeping, inspectors' grids, drone flight plans and detections."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform


@click.group("field")
def field() -> None:
    """Field work (现场): photos, patrols and drone patrols."""


@field.command("cleanup")
@click.option("--older-than", default=3600.0, show_default=True, help="seconds a file must be old")
@_db
def cleanup(older_than: float, db: str) -> None:
    """Remove stored photo files that no attachment (nor an open triage item's photo) points at
    (a refused or crashed upload)."""
    from cityops.field.attachments import cleanup_orphans

    platform = _platform(db)
    try:
        removed = platform.store.write(lambda repo: cleanup_orphans(repo, platform, older_than))
    finally:
        platform.close()
    click.echo(f"已清理 removed {len(removed)} 个孤立文件 orphan files")


@field.command("migrate-files")
@click.option("--to", "target", type=click.Choice(["s3", "directory", "database"]), required=True,
              help="s3: from the local store (the directory; the database on PostgreSQL) to the bucket named by "
                   "$CITYOPS_S3_*; directory or database: back")
@_db
def migrate_files(target: str, db: str) -> None:
    """Copy the attachments' files (and triage items' photos) between the local store (a directory;
    on PostgreSQL, the database) and the S3-compatible store."""
    from cityops.field.attachments import copy_files
    from cityops.field.blobs import DatabaseBlobs, S3Blobs, S3Config, directory_for

    platform = _platform(db)
    try:
        path = platform.store.path
        local = DatabaseBlobs(path) if platform.store.dialect.postgres and target != "directory" else directory_for(path)
        bucket = S3Blobs(S3Config.from_env())
        source, dest = (local, bucket) if target == "s3" else (bucket, local)
        with platform.store.read() as repo:
            out = copy_files(repo, source, dest)
    finally:
        platform.close()
    click.echo(f"已复制 copied {out['copied']}, 已存在 already there {out['present']}, "
               f"源缺失 missing at the source {out['missing']}")


@field.command("video-limits")
@click.option("--max-mb", type=float, help="largest video in MB (0: the city takes no videos)")
@click.option("--max-seconds", type=float, help="longest video in seconds")
@_db
def video_limits(max_mb: float | None, max_seconds: float | None, db: str) -> None:
    """Show or set the city's limits for short videos on cases."""
    from cityops.field import attachments

    platform = _platform(db)
    try:
        def change(repo: object) -> attachments.VideoLimits:
            now = attachments.video_limits(repo)
            return attachments.set_video_limits(
                repo, now.max_bytes / 2**20 if max_mb is None else max_mb,
                now.max_seconds if max_seconds is None else max_seconds)

        if max_mb is None and max_seconds is None:
            with platform.store.read() as repo:
                limits = attachments.video_limits(repo)
        else:
            limits = platform.store.write(change)
    finally:
        platform.close()
    if not limits.accepted:
        click.echo("不接受视频 videos are not accepted")
    else:
        click.echo(f"视频上限 video limits: {limits.max_bytes / 2**20:g} MB, {limits.max_seconds:g} s")


@field.command("assign")
@click.argument("user")
@click.argument("patrol_grid")
@_db
def assign(user: str, patrol_grid: str, db: str) -> None:
    """Give an inspector a patrol grid (their phone shows its route)."""
    from cityops.field.pwa import assign_grid

    platform = _platform(db)
    try:
        platform.store.write(lambda repo: assign_grid(repo, platform, user, patrol_grid))
    finally:
        platform.close()
    click.echo(f"{user} -> {patrol_grid}")


@field.command("plan")
@click.argument("patrol_grid")
@click.option("--altitude", default=120.0, show_default=True, help="metres above ground")
@click.option("--side-overlap", default=0.3, show_default=True)
@click.option("--front-overlap", default=0.6, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="the whole plan, waypoints included")
@_db
def flight(patrol_grid: str, altitude: float, side_overlap: float, front_overlap: float, as_json: bool, db: str) -> None:
    """A drone's lawnmower flight over a patrol grid and how much of it the photos cover."""
    from cityops.field.plan import Camera, flight_plan

    platform = _platform(db)
    try:
        fp = flight_plan(platform.city, patrol_grid, altitude,
                         Camera(side_overlap=side_overlap, front_overlap=front_overlap))
    finally:
        platform.close()
    if as_json:
        click.echo(orjson.dumps(fp.__dict__).decode())
        return
    click.echo(f"{fp.patrol_grid}: 覆盖率 coverage {fp.coverage:.1%}, 航线 path {fp.length_m / 1000:.1f} km, "
               f"{fp.minutes:.0f} min, {fp.sorties} 架次 sorties, {len(fp.photos)} 张照片 photos, "
               f"footprint {fp.footprint_m[0]}×{fp.footprint_m[1]} m, lanes {fp.lane_spacing_m} m apart")


@field.command("detections")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db
def detections(file: Path, db: str) -> None:
    """Take in a detections JSON file (see docs/field.md); new ones open cases."""
    from cityops.field.drone import ingest, sightings

    found = sightings(orjson.loads(file.read_bytes()))
    platform = _platform(db)
    try:
        out = platform.store.write(lambda repo: ingest(repo, platform, found))
    finally:
        platform.close()
    click.echo(f"新立 opened {out['opened']}, 并入 joined {out['joined']}, 重放 replayed {out['replayed']}, "
               f"忽略 ignored {out['ignored']}, 市外 outside {out['outside']}")


@field.command("fly")
@click.option("--grids", default=5, show_default=True, help="how many patrol grids fly today")
@click.option("--finds", default=3, show_default=True, help="problems each flight sees")
@_db
def fly(grids: int, finds: int, db: str) -> None:
    """The demo city's drones fly today over its first patrol grids; what they see opens cases."""
    from datetime import datetime

    from cityops.core import utcnow
    from cityops.field.drone import demo_flight, ingest, sightings

    platform = _platform(db)
    try:
        zone = platform.calendar.zone
        today = utcnow().astimezone(zone).date()
        start = datetime(today.year, today.month, today.day, 9, tzinfo=zone)
        for p in platform.city.patrol_grids[:grids]:
            found = sightings(demo_flight(platform, p.code, today.isoformat(), start, finds))
            out = platform.store.write(lambda repo, found=found: ingest(repo, platform, found))
            click.echo(f"{p.code} {p.name}: 新立 opened {out['opened']}, 并入 joined {out['joined']}, "
                       f"重放 replayed {out['replayed']}")
    finally:
        platform.close()
