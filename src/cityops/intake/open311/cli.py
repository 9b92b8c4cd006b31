"""`cityops apikey create|list|revoke`: Open311 API keys (the plain key is printed once)."""

from __future__ import annotations

import click

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform


@click.group("apikey")
def apikey() -> None:
    """Open311 API keys for citizen apps and back offices (Open311 接入密钥)."""


@apikey.command("create")
@click.argument("name")
@click.option("--backoffice", is_flag=True, help="may also POST servicerequestupdates (处置系统回写)")
@_db
def create(name: str, backoffice: bool, db: str) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored."""
    from cityops.core import utcnow
    from cityops.intake.open311.keys import new_key

    plain, record = new_key(name, "backoffice" if backoffice else "report", utcnow())
    platform = _platform(db)
    try:
        platform.store.write(lambda repo: repo.add_api_key(record))
    finally:
        platform.close()
    click.echo(plain)


@apikey.command("list")
@_db
def list_keys(db: str) -> None:
    """Name, scope, created and revoked times (never the keys)."""
    platform = _platform(db)
    try:
        with platform.store.read() as repo:
            rows = repo.list_api_keys()
    finally:
        platform.close()
    for k in rows:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "active"
        click.echo(f"{k.name}\t{k.scope}\t{k.created_at.isoformat(timespec='seconds')}\t{revoked}")


@apikey.command("revoke")
@click.argument("name")
@_db
def revoke(name: str, db: str) -> None:
    """Revoke a key at once: its next request gets 403."""
    from cityops.core import utcnow
    from cityops.errors import NotFound

    platform = _platform(db)
    try:
        done = platform.store.write(lambda repo: repo.revoke_api_key(name, utcnow()))
    finally:
        platform.close()
    if not done:
        raise NotFound(f"no active API key '{name}'", f"没有有效的 API 密钥 {name}")
    click.echo(f"revoked {name}")
