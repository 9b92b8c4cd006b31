"""`cityops sensing …`: register gauges, MQTT bridge and read-access settings, counters,
and the traffic replay through the congestion detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cityops.clitools import db_option as _db
from cityops.clitools import open_db as _platform
from cityops.clitools import setting_command


@click.group("sensing")
def sensing() -> None:
    """感知 / Sensors: gauges, detectors, observations, MQTT."""


@sensing.command("register-gauges")
@_db
def register_gauges(db: str) -> None:
    """Register a water-depth gauge at every waterlogging point of the city pack (idempotent)."""
    from cityops.sensing.registry import register_point_gauges

    p = _platform(db)
    try:
        ids = register_point_gauges(p)
    finally:
        p.close()
    click.echo(f"{len(ids)} gauges registered (datastreams {ids[0]}–{ids[-1]})" if ids else "no waterlogging points")


@sensing.command("mqtt")
@_db
@click.option("--broker", default=None, help="HOST:PORT of the MQTT broker, e.g. 127.0.0.1:1883")
@click.option("--session-expiry", "expiry", default=None, type=int,
              help="seconds the broker keeps a stopped server's session and its readings (default 3600)")
@click.option("--sta-topic", "sta_topic", type=click.Choice(["on", "off"]), default=None,
              help="also read the standard's topic v1.1/Datastreams(ID)/Observations: unowned datastreams only "
                   "(the broker cannot say who published there); off by default")
@click.option("--off", is_flag=True, help="stop using MQTT")
def mqtt(db: str, broker: str | None, expiry: int | None, sta_topic: str | None, off: bool) -> None:
    """Have `cityops serve` subscribe to cityops/gw/USER/v1.1/Datastreams(ID)/Observations and
    publish detections (see docs/sensing.md: broker password file and ACL, what is guaranteed)."""
    from cityops.sensing.mqtt import (
        DEFAULT_SESSION_EXPIRY_S,
        EXPIRY_SETTING,
        SETTING,
        STA_SETTING,
        parse_session_expiry,
    )

    if not off and not broker and expiry is None and sta_topic is None:
        raise click.UsageError("give --broker HOST:PORT, --session-expiry S, --sta-topic on|off or --off")
    if expiry is not None:
        try:
            parse_session_expiry(expiry)
        except ValueError as exc:
            raise click.BadParameter(f"会话保留时间无效 / {exc}", param_hint="--session-expiry") from None

    def save(repo: Any) -> None:
        if off or broker:
            repo.set_setting(SETTING, "" if off else str(broker))
        if expiry is not None:
            repo.set_setting(EXPIRY_SETTING, str(expiry))
        if sta_topic is not None:
            repo.set_setting(STA_SETTING, sta_topic)

    p = _platform(db)
    try:
        p.store.write(save)
        with p.store.read() as repo:
            kept = repo.get_setting(EXPIRY_SETTING) or str(DEFAULT_SESSION_EXPIRY_S)
    finally:
        p.close()
    if sta_topic is not None:
        click.echo(f"standard topic v1.1/Datastreams(ID)/Observations: {sta_topic} (unowned datastreams only)")
    if off:
        click.echo("MQTT off")
    elif broker:
        click.echo(f"MQTT broker: {broker}, session kept {kept} s (used by the next `cityops serve`)")
    else:
        click.echo(f"MQTT session kept {kept} s (used by the next `cityops serve`)")


@sensing.command("own")
@_db
@click.option("--user", "user", default=None, help="the sensor user (gateway) the datastreams belong to")
@click.option("--none", "clear", is_flag=True, help="make them unowned")
@click.argument("datastreams", nargs=-1, type=int, required=True)
def own(db: str, user: str | None, clear: bool, datastreams: tuple[int, ...]) -> None:
    """Give datastreams to a sensor user: over MQTT a gateway writes only its own; a sensor
    token over HTTP its own and unowned ones."""
    from cityops.cases.models import Role
    from cityops.sensing.store import set_owner

    if bool(user) == clear:
        raise click.UsageError("give --user NAME or --none")
    p = _platform(db)
    try:
        def op(repo: object) -> int:
            found = repo.get_user(user) if user else None  # type: ignore[attr-defined]
            if user and (found is None or found.role != Role.SENSOR.value):
                raise click.UsageError(f"no sensor user '{user}' (cityops user create {user} --role sensor)")
            return set_owner(repo.conn, list(datastreams), user)  # type: ignore[attr-defined]
        n = p.store.write(op)
    finally:
        p.close()
    click.echo(f"{n} datastreams now belong to {user}" if user else f"{n} datastreams are now unowned")


@sensing.command("read-auth")
@_db
@click.option("--require/--open", "require", default=True, help="whether reading /sta/v1.1 needs a token")
def read_auth(db: str, require: bool) -> None:
    """Sensor data is public by default (as FROST); --require makes reads need a bearer token."""
    from cityops.sensing.sta import READ_SETTING

    p = _platform(db)
    try:
        p.store.write(lambda repo: repo.set_setting(READ_SETTING, "1" if require else "0"))
    finally:
        p.close()
    click.echo("SensorThings reads need a token" if require else "SensorThings reads are open")


@sensing.command("stats")
@_db
def stats(db: str) -> None:
    """Readings accepted, stored, duplicate and rejected (by reason); detections and cases."""
    from cityops.sensing.store import counters

    p = _platform(db)
    try:
        with p.store.read() as repo:
            for name, value in counters(repo.conn).items():
                if name != "datastream_version":
                    click.echo(f"{name}\t{value}")
            for kind, level, n, cases in repo.conn.execute(
                    "SELECT kind, level, count(*), count(DISTINCT case_id) FROM detection_log GROUP BY kind, level"):
                click.echo(f"detections:{kind}:{level}\t{n}\t({cases} cases)")
    finally:
        p.close()


@sensing.command("compact")
@_db
@click.option("--chunk", default=1000, show_default=True, help="datastreams per transaction")
def compact(db: str, chunk: int) -> None:
    """Merge every datastream's short segments (a trickle's) into long ones, one transaction per
    chunk of datastreams: safe beside a running server, to interrupt and to run again. The
    leader server does the same a chunk a minute."""
    from cityops.sensing.compact import compact_all

    p = _platform(db)
    try:
        done = compact_all(p.store, max(1, chunk))
    finally:
        p.close()
    click.echo(f"已压缩：{done.datastreams} 个数据流，合并掉 {done.merged} 个分段，重写 {done.readings:,} 条读数 / "
               f"{done.datastreams} datastreams, {done.merged} segments merged away, {done.readings:,} readings rewritten")


@sensing.command("check-silent")
@_db
@click.option("--minutes", default=30, show_default=True, help="silent for longer than this")
def check_silent(db: str, minutes: int) -> None:
    """A device-fault case (设施故障) for every gauge silent for longer than --minutes."""
    from cityops.core import utcnow
    from cityops.sensing.ingest import sweep_silent

    p = _platform(db)
    try:
        out = p.store.write(lambda repo: sweep_silent(repo, p, utcnow(), minutes))
    finally:
        p.close()
    click.echo(f"{len(out.detections)} silent gauges; cases opened {len(out.cases_opened)}, "
               f"joined {len(set(out.cases_joined))}")


@sensing.command("learn-profiles")
@_db
@click.option("--days", default=28, show_default=True, help="learn from the stored speeds of this many days")
def learn_profiles(db: str, days: int) -> None:
    """Learn each traffic detector's speed profile from its stored history (free flow, typical
    speed by weekday/weekend and time of day): later speed batches are checked against it."""
    from cityops.core import utcnow
    from cityops.sensing.traffic import learn_stored_profiles

    p = _platform(db)
    try:
        n = learn_stored_profiles(p, utcnow(), days)
    finally:
        p.close()
    click.echo(f"{n} detectors profiled from {days} days of speeds / 已学习 {n} 个检测器的车速画像")


@sensing.command("replay-traffic")
@_db
@click.option("--speeds", type=click.Path(exists=True, path_type=Path), default=None,
              help="METR-LA speeds CSV (207 detectors × 2016 five-minute rows); synthetic when absent")
@click.option("--locations", type=click.Path(exists=True, path_type=Path), default=None,
              help="the sensors' locations CSV (index, sensor_id, latitude, longitude)")
def replay_traffic(db: str, speeds: Path | None, locations: Path | None) -> None:
    """Replay a week of detector speeds onto the demo ring roads through congestion detection."""
    from cityops.sensing.traffic import replay

    p = _platform(db)
    try:
        out = replay(p, speeds, locations)
    finally:
        p.close()
    click.echo(f"{out['detectors']} detectors, {out['readings']:,} readings ({out['source']}); "
               f"congestion episodes: {out['recurrent']} recurrent, {out['non_recurrent']} non-recurrent; "
               f"cases opened {out['cases_opened']}")


def _check_setting(key: str, value: str) -> str:
    """`past_days`: how far back a reading's time may be (`sensing.past_days`, default 10,000: only the 2000-01-01 floor binds), a
    whole number of days up to 36,500 (readings before 2000-01-01 are refused whatever it is)."""
    from cityops.timebounds import READINGS_PAST_SETTING

    if key == "past_days" and value.isdigit() and int(value) <= 36_500:
        return READINGS_PAST_SETTING
    raise click.BadParameter(f"{key} takes a whole number of days, 0–36500 / 天数须为 0–36500 的整数")


set_cmd = setting_command(
    sensing, _check_setting, """Set past_days: how many days back a reading's phenomenonTime may be (default 10,000: back to the 2000-01-01 floor).""",
    ["past_days"])
