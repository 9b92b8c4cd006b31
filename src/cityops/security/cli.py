"""`cityops security …`: outbound allow-list, trusted proxies, the two-person rule."""

from __future__ import annotations

import click

from cityops.clitools import db_option, read_db, setting_command


@click.group("security")
def security() -> None:
    """安全设置 / Security settings: egress allow-list, trusted proxies, two-person rule."""


def _check(key: str, value: str) -> str:
    from cityops.security.settings import check_setting

    return check_setting(key, value)


set_cmd = setting_command(
    security, _check, """Set egress_allow / trusted_proxies (comma-separated CIDRs, "" for none) or two_person (on|off).""",
    ["egress_allow", "trusted_proxies", "two_person"])


@security.command("show")
@db_option
def show_cmd(db: str) -> None:
    """Show the security settings in force."""
    from cityops.security.settings import load, show

    for key, value in show(read_db(db, load)):
        click.echo(f"security.{key} = {value}")
