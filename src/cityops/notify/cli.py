"""`cityops notify …`: settings, templates, the sender worker, the outbox and citizen indicators."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform
from cityops.clitools import read_db, setting_command


@click.group("notify")
def notify() -> None:
    """通知与回访 / Notifications to citizens, return visits (回访), satisfaction."""


def _check(key: str, value: str) -> str:
    from cityops.notify.config import check_setting

    return check_setting(key, value)


set_cmd = setting_command(
    notify, _check, "Set a city setting, e.g. smtp_host, smtp_port, sms_url, public_url, unsatisfied (reopen|review).")


@notify.command("config")
@_db
def config_cmd(db: str) -> None:
    """Show the notification settings in force."""
    from dataclasses import asdict

    from cityops.notify.config import load_config

    cfg = read_db(db, lambda repo: load_config(repo.conn))
    for k, v in asdict(cfg).items():
        click.echo(f"notify.{k} = {v}")


@notify.command("templates")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a templates YAML to use from now on (checked first)")
@_db
def templates_cmd(path: Path | None, db: str) -> None:
    """Print the message templates in force, or replace them with --file."""
    from cityops.notify.config import TEMPLATES_KEY, default_templates_text, parse_templates

    platform = _platform(db)
    try:
        if path is None:
            with platform.store.read() as repo:
                click.echo(repo.get_setting(TEMPLATES_KEY) or default_templates_text(), nl=False)
            return
        text = path.read_text("utf-8")
        parse_templates(text)
        platform.store.write(lambda repo: repo.set_setting(TEMPLATES_KEY, text))
        click.echo(f"templates from {path} in force")
    finally:
        platform.close()


@notify.command("run")
@_db
@click.option("--once", is_flag=True, help="send what is due now and exit")
@click.option("--every", default=2.0, show_default=True, help="seconds between rounds when idle")
def run_cmd(db: str, once: bool, every: float) -> None:
    """Run the sender: claim due messages, send them, mark them sent (Ctrl-C to stop)."""
    from cityops.notify.sender import run_once

    platform = _platform(db)
    total = 0
    try:
        while True:
            n = run_once(platform)
            total += n
            if once and n == 0:
                break
            if n == 0:
                time.sleep(every)
    except KeyboardInterrupt:
        pass
    finally:
        platform.close()
    click.echo(f"tried {total} messages")


@notify.command("outbox")
@_db
def outbox_cmd(db: str) -> None:
    """Count the outbox by channel and status."""
    rows = read_db(db, lambda repo: repo.conn.execute("SELECT channel, status, count(*) FROM notify_outbox"
                                                      " GROUP BY channel, status ORDER BY channel, status").fetchall())
    for channel, status, n in rows:
        click.echo(f"{channel:8} {status:10} {n}")
    if not rows:
        click.echo("outbox empty")


@notify.command("indicators")
@_db
@click.option("--by", type=click.Choice(["district", "department", "matter", "channel", "city"]),
              default="district", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv"]), default="table", show_default=True)
def indicators_cmd(db: str, by: str, fmt: str) -> None:
    """回访率, 满意率, 解决率, 重办率, 响应时长 by district, department, matter or channel."""
    from cityops.notify.indicators import citizen_indicators
    from cityops.notify.report import citizen_table
    from cityops.sim.demo import console

    platform = _platform(db)
    try:
        with platform.store.read() as repo:
            frame = citizen_indicators(repo.conn, by, total=by != "city")  # type: ignore[arg-type]
        if fmt == "csv":
            from cityops.evaluate.report import spreadsheet_csv
            from cityops.evaluate.service import code_names
            from cityops.notify.indicators import LABELS

            # Like `cityops indicators`: BOM, "中文 key" headers, names beside codes.
            sys.stdout.write(spreadsheet_csv(frame, code_names(platform), LABELS))
        else:
            console().print(citizen_table(frame, platform, f"市民评价 Citizen indicators by {by}"))
    finally:
        platform.close()
