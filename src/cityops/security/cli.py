"""`cityops security …`: outbound allow-list, trusted proxies, the two-person rule."""

from __future__ import annotations

import click

from cityops.clitools import db_option, read_db, write_db


@click.group("security")
def security() -> None:
    """安全设置 / Security settings: egress allow-list, trusted proxies, two-person rule."""


@security.command("set")
@click.argument("key", type=click.Choice(["egress_allow", "trusted_proxies", "two_person"]))
@click.argument("value")
@db_option
def set_cmd(key: str, value: str, db: str) -> None:
    """Set egress_allow / trusted_proxies (comma-separated CIDRs, "" for none) or two_person (on|off)."""
    from cityops.security.settings import check_setting

    full = check_setting(key, value)
    write_db(db, lambda repo: repo.set_setting(full, value))
    click.echo(f"{full} = {value}")


@security.command("show")
@db_option
def show_cmd(db: str) -> None:
    """Show the security settings in force."""
    from cityops.security.settings import load, show

    for key, value in show(read_db(db, load)):
        click.echo(f"security.{key} = {value}")
