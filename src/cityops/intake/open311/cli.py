"""`cityops apikey create|list|revoke`: Open311 API keys (the plain key is printed once);
`cityops open311 public show|set`: what the anonymous public feed shows."""

from __future__ import annotations

from typing import Any

import click

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform
from cityops.clitools import read_db, write_db


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
    write_db(db, lambda repo: repo.add_api_key(record))
    click.echo(plain)


@apikey.command("list")
@_db
def list_keys(db: str) -> None:
    """Name, scope, created and revoked times in the city's zone (never the keys)."""
    platform = _platform(db)
    try:
        with platform.store.read() as repo:
            rows = repo.list_api_keys()
    finally:
        platform.close()
    zone = platform.calendar.zone

    def at(t: Any) -> str:
        return str(t.astimezone(zone).isoformat(timespec="seconds"))

    for k in rows:
        click.echo(f"{k.name}\t{k.scope}\t{at(k.created_at)}\t{at(k.revoked_at) if k.revoked_at else 'active'}")


@apikey.command("revoke")
@click.argument("name")
@_db
def revoke(name: str, db: str) -> None:
    """Revoke a key at once: its next request gets 403."""
    from cityops.core import utcnow
    from cityops.errors import NotFound

    done = write_db(db, lambda repo: repo.revoke_api_key(name, utcnow()))
    if not done:
        raise NotFound(f"no active API key '{name}'", f"没有有效的 API 密钥 {name}")
    click.echo(f"revoked {name}")


@click.group("open311")
def open311() -> None:
    """Open311 settings (Open311 设置)."""


@open311.group("public")
def public_group() -> None:
    """What the anonymous public feed shows (公开数据范围): channels and free-text fields."""


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _channels(value: str | None, known: frozenset[str], option: str) -> frozenset[str] | None:
    from cityops.errors import InvalidInput

    if value is None or value.strip() in ("all", "*"):
        return None
    chosen = _split(value)
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise InvalidInput(
            f"{option}: unknown channel(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            f"{option}：未知渠道 {'、'.join(unknown)}；可选：{'、'.join(sorted(known))}",
        )
    return frozenset(chosen)


@public_group.command("show")
@_db
def public_show(db: str) -> None:
    """Print the setting in force as JSON (the default when none is set)."""
    import orjson

    from cityops.intake.open311 import public

    policy = read_db(db, public.policy)
    click.echo(orjson.dumps(policy.as_json()).decode())


@public_group.command("set")
@click.option("--channels", default=None,
              help="cases from these channels are listed (comma list, or 'all'; default all)")
@click.option("--text-channels", default=None,
              help="these channels' free text is published (comma list; default open311)")
@click.option("--fields", default=None,
              help="free-text fields published: description,address,attributes,media_url (default all)")
@_db
def public_set(channels: str | None, text_channels: str | None, fields: str | None, db: str) -> None:
    """Change the setting; options left out keep their current value. Unknown channels or
    fields are refused (nothing is written)."""
    import orjson

    from cityops.errors import InvalidInput
    from cityops.intake.open311 import public

    platform = _platform(db)
    try:
        with platform.store.read() as repo:
            current = public.policy(repo)
            seen = {str(r[0]) for r in repo.conn.execute("SELECT DISTINCT source FROM cases")}
        known = public.KNOWN_CHANNELS | seen
        listed = current.channels if channels is None else _channels(channels, known, "--channels")
        texts = current.text_channels
        if text_channels is not None:
            texts = _channels(text_channels, known, "--text-channels") or frozenset()
        chosen = current.fields
        if fields is not None:
            wanted = _split(fields)
            bad = sorted(set(wanted) - set(public.TEXT_FIELDS))
            if bad:
                raise InvalidInput(
                    f"--fields: unknown field(s) {', '.join(bad)}; known: {', '.join(public.TEXT_FIELDS)}",
                    f"--fields：未知字段 {'、'.join(bad)}；可选：{'、'.join(public.TEXT_FIELDS)}",
                )
            chosen = frozenset(wanted)
        policy = public.Policy(channels=listed, text_channels=texts, fields=chosen)
        value = orjson.dumps(policy.as_json()).decode()
        platform.store.write(lambda repo: repo.set_setting(public.SETTING, value))
    finally:
        platform.close()
    click.echo(value)
