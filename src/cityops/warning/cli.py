"""`cityops warnings …`: back-test, per-point skill, CAP documents."""

from __future__ import annotations

import sys
import time
from functools import partial
from typing import Any

import click

from cityops.clitools import data_file, db_option, default_db, existing_db
from cityops.errors import CityopsError


@click.group("warnings")
def warnings() -> None:
    """预警 / Early warnings: back-test, skill per point, CAP 1.2."""


def _named(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"'{item}' is not NAME=PATH", param_hint="--input")
        if name in out:
            raise click.BadParameter(f"input '{name}' given twice", param_hint="--input")
        out[name] = path
    return out


@warnings.command("backtest")
@click.option("--level", "level_path", required=True, help="CSV time,value of the level (depth or stage)")
@click.option("--input", "inputs", multiple=True, required=True,
              help="NAME=PATH, a driver CSV time,value; names starting with 'rain' are amounts per interval; "
                   "names starting with 'nowcast' are a rain forecast CSV issued,time,value")
@click.option("--threshold", type=float, required=True, help="event threshold, in the level's unit")
@click.option("--train-fraction", type=click.FloatRange(0.05, 0.95), default=0.5, show_default=True)
@click.option("--forecast", type=click.Choice(["none", "perfect", "both"]), default="none", show_default=True,
              help="rain forecast: none (observed rain only), perfect (the record's own future rain), both")
@click.option("--horizon", "horizon_min", type=int, default=180, show_default=True, help="forecast horizon, minutes")
@click.option("--window", "window_min", type=int, default=None, help="a warning counts for an event starting within this many minutes [default: the horizon]")
@click.option("--gap", "gap_min", type=int, default=720, show_default=True, help="quiet gap between events, minutes")
@click.option("--step", "step_min", type=float, default=None, help="common step, minutes [default: the level's usual spacing]")
@click.option("--utc-offset", "offset", default="+00:00", show_default=True, help="offset of times written without one")
@click.option("--verbose", is_flag=True, help="also print the split, margins and timing")
@click.option("--list", "list_events", is_flag=True,
              help="also list every event (warned or not, lead) and every false alarm, as # lines")
@click.option("--peer", "peers", multiple=True,
              help="LEVEL_PATH,RAIN_PATH,THRESHOLD of another point of the same kind, to pool the rain "
                   "thresholds across (only its hours before the split are used)")
@click.option("--point", default=None, help="store the figures as this point's skill in --db")
@click.option("--db", default=None, callback=existing_db,
              help="database for --point (default $CITYOPS_DB or ./demo.db; it must exist)")
def backtest(level_path: str, inputs: tuple[str, ...], threshold: float, train_fraction: float,
             forecast: str, horizon_min: int, window_min: int | None, gap_min: int,
             step_min: float | None, offset: str, verbose: bool, list_events: bool, peers: tuple[str, ...],
             point: str | None, db: str | None) -> None:
    """回测 / Back-test the warning model on a real record against two baselines."""
    from cityops.warning import backtest as bt
    from cityops.warning.choose import Peer
    from cityops.warning.series import read_csv, read_nowcast

    started = time.perf_counter()
    try:
        off = _offset_minutes(offset)
        level = read_csv(level_path, off)
        named = _named(inputs)
        nowcasts = {k: read_nowcast(p, off) for k, p in named.items() if k.lower().startswith("nowcast")}
        drivers = {k: read_csv(p, off) for k, p in named.items() if k not in nowcasts}
        opts = bt.Options(threshold=threshold, train_fraction=train_fraction, horizon_min=horizon_min,
                          window_min=window_min, gap_min=gap_min,
                          step_s=round(step_min * 60) if step_min else None)
        grid = bt.align(level, drivers, opts, nowcasts)
        peer_list = [Peer(bt.align(read_csv(lv, off), {"rain": read_csv(rn, off)},
                                   bt.Options(threshold=pt, step_s=grid.step)), pt)
                     for lv, rn, pt in (_peer(x) for x in peers)]
        modes = ["none", "perfect"] if forecast == "both" else [forecast]
        results = {mode: bt.run(grid, opts, mode, peer_list) for mode in modes}
    except CityopsError as exc:
        click.echo(f"error: {exc.message_en} / {exc.message_zh}", err=True)
        sys.exit(2)
    first = results[modes[0]]
    click.echo(f"# model: {first.chosen}: {first.description}; rain forecast {modes[0]}"
               + (" (with the nowcast)" if nowcasts else ""))
    click.echo("\n".join(first.model.lines()))
    if len(modes) == 2:
        click.echo("# model with a perfect rain forecast (upper bound)")
        click.echo("\n".join(results["perfect"].model.lines("perfect ")))
    click.echo("# baseline: persistence (forecast = the current level)")
    click.echo("\n".join(first.persistence.lines("persistence ")))
    click.echo("# baseline: persistence with a margin calibrated on the training part like the model's")
    click.echo("\n".join(first.persistence_calibrated.lines("persistence_margin ")))
    click.echo("# baseline: always warn")
    click.echo("\n".join(first.always.lines("always_warn ")))
    for mode, r in results.items():  # how each model was chosen, after the figures
        click.echo(f"# rain forecast {mode}: model {r.chosen}: {r.description}")
        if r.validation:
            click.echo(f"# chosen by inner validation on the training part at {r.validation_threshold:g}: "
                       + ", ".join(f"{k} F1 {_f1(s):.2f} ({s.warned}/{s.events}, {s.false_alarms} false)"
                                   for k, s in r.validation.items()))
        else:
            click.echo(f"# not validated: {r.reason}")
    if grid.coverage:
        click.echo(f"# coverage (share of each input's own steps with a reading; the level every "
                   f"{grid.level_step // 60} min): " + ", ".join(f"{k} {v:.0%}" for k, v in grid.coverage.items())
                   + f"; common step {grid.step // 60} min")
    if verbose:
        for mode, r in results.items():
            click.echo(f"# {mode}: step {r.step_s} s, train {r.train_steps} steps, test {r.test_steps} steps, "
                       f"margin {r.margin:.3g}, persistence margin {r.persistence_margin:.3g}, "
                       f"warnings {r.model.warnings}")
        click.echo(f"# elapsed {time.perf_counter() - started:.2f} s")
    if list_events:
        _list(grid, first, opts, modes[0])
    if point:
        _store(point, db, threshold, results, opts, grid, level_path)
        click.echo(f"# stored as the skill of point {point}")


def _f1(s: Any) -> float:
    return float(2 * s.precision * s.recall / (s.precision + s.recall)) if s.precision + s.recall else 0.0


def _peer(text: str) -> tuple[str, str, float]:
    parts = text.split(",")
    try:
        return parts[0], parts[1], float(parts[2])
    except (IndexError, ValueError):
        raise click.BadParameter(f"'{text}' is not LEVEL_PATH,RAIN_PATH,THRESHOLD", param_hint="--peer") from None


def _list(grid: Any, r: Any, opts: Any, mode: str) -> None:
    from datetime import UTC, datetime

    from cityops.warning.explain import recent_rain
    from cityops.warning.score import detail

    step = r.step_s
    gap = max(1, round(opts.gap_min * 60 / step))
    d = detail(r.alert, grid.truth, opts.threshold, gap, opts.window(step), step, start=r.train_steps)

    def when(i: int) -> str:
        return datetime.fromtimestamp(float(grid.t[i]), UTC).isoformat()

    rain = grid.rain_mean

    def why(i: int) -> str:  # what a duty officer would have read beside the warning
        mm = recent_rain(rain[: i + 1], step)
        return f"  [{r.chosen}; rain 15/30/60 min {mm[0]:.1f}/{mm[1]:.1f}/{mm[2]:.1f} mm]"

    click.echo(f"# events in the replayed part (rain forecast {mode}):")
    for s, lead in zip(d.event_start.tolist(), d.event_lead_min.tolist(), strict=True):
        click.echo(f"#   event {when(s)}  " + ("NOT warned" if lead != lead else
                                               f"warned {lead:.0f} min ahead" + why(s - round(lead * 60 / step))))
    click.echo("# false alarms (warnings with no event within the window):")
    for i in d.false_alarm.tolist():
        click.echo(f"#   warning {when(i)}" + why(i))


def _store(point: str, db: str | None, threshold: float, results: dict[str, Any], opts: Any, grid: Any,
           level_path: str) -> None:
    from dataclasses import asdict
    from datetime import UTC, datetime

    from cityops.core import open_platform, utcnow
    from cityops.warning.service import save_skill

    target = db or default_db()
    existing_db(None, None, target)
    platform = open_platform(target)
    span = [datetime.fromtimestamp(float(grid.t[0]), UTC).isoformat(),
            datetime.fromtimestamp(float(grid.t[-1]), UTC).isoformat()]

    def write(repo: Any) -> None:
        for mode, r in results.items():
            protocol = {**asdict(opts), "record": span, "level": level_path, "margin": r.margin,
                        "model": r.chosen, "rule": r.description,
                        "train_steps": r.train_steps, "test_steps": r.test_steps, "step_s": r.step_s}
            save_skill(repo.conn, point, mode, threshold, r.model,
                       {"persistence": r.persistence, "persistence_margin": r.persistence_calibrated,
                        "always_warn": r.always}, protocol, utcnow())

    try:
        platform.store.write(write)
    finally:
        platform.close()


@warnings.command("skill")
@click.argument("point")
@db_option
def skill_cmd(point: str, db: str) -> None:
    """回测成绩 / A point's stored back-test figures (model and baselines)."""
    from cityops.core import open_platform
    from cityops.warning.score import Skill
    from cityops.warning.service import get_skill

    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            rows = get_skill(repo.conn, point, platform.calendar.zone)
    finally:
        platform.close()
    if not rows:
        click.echo(f"error: no back-test stored for point {point} / 监测点 {point} 尚无回测结果", err=True)
        sys.exit(2)
    for row in rows:
        click.echo(f"# point {point}, rain forecast {row['forecast']}, threshold {row['threshold']:g}")
        click.echo("\n".join(Skill(**{k: row[k] for k in SKILL_KEYS}, warnings=0).lines()))
        for name, figures in row["baselines"].items():
            click.echo("\n".join(Skill(**figures).lines(f"{name} ")))


SKILL_KEYS = ("events", "warned", "false_alarms", "recall", "precision", "median_lead_min")


@warnings.command("dispatch")
@click.option("--overdue", is_flag=True, help="only dispatches past their deadline / 仅超期未签收")
@click.option("--district", default=None, help="one district's (adcode)")
@db_option
def dispatch_cmd(overdue: bool, district: str | None, db: str) -> None:
    """预警下派 / Warnings dispatched to districts and not yet acknowledged, oldest deadline first."""
    from cityops.core import open_platform, utcnow
    from cityops.warning.service import pending_dispatch

    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            rows = pending_dispatch(repo.conn, utcnow(), platform.calendar.zone, overdue, district)
    finally:
        platform.close()
    for r in rows:
        flag = "超期 OVERDUE" if r["overdue"] else "待签收 pending"
        click.echo(f"{r['warning_id']}\t{r['district']}\t{r['level']}\tdue {r['due_at']}\t{flag}\t{r['identifier']}")
    late = sum(r["overdue"] for r in rows)
    click.echo(f"# {len(rows)} not acknowledged, {late} overdue / 未签收 {len(rows)}，超期 {late}")


@warnings.command("ingest-cap")
@click.argument("paths", nargs=-1, required=True, type=data_file())
@db_option
def ingest_cap_cmd(paths: tuple[str, ...], db: str) -> None:
    """接收外部预警 / Ingest outside CAP 1.2 documents; prints accepted/rejected with reasons."""
    from pathlib import Path

    from cityops.core import open_platform

    platform = open_platform(db)
    accepted = 0
    try:
        for p in paths:
            data = Path(p).read_bytes()
            out = platform.store.write(partial(_ingest_one, platform=platform, data=data, name=p))
            accepted += bool(out["accepted"])
            click.echo(f"{'accepted' if out['accepted'] else 'rejected'}\t{p}\t{out['reason']}")
    finally:
        platform.close()
    click.echo(f"# {accepted} accepted, {len(paths) - accepted} rejected")


def _ingest_one(repo: Any, platform: Any, data: bytes, name: str) -> dict[str, Any]:
    from cityops.core import utcnow
    from cityops.warning.service import ingest_cap

    return ingest_cap(repo, platform, data, name, utcnow())


def _offset_minutes(text: str) -> int:
    t = text.strip()
    if t in ("Z", "z"):
        return 0
    sign = -1 if t.startswith("-") else 1
    digits = t.lstrip("+-").replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise click.BadParameter(f"'{text}' is not an offset like +08:00", param_hint="--utc-offset")
    return sign * (int(digits[:2]) * 60 + int(digits[2:]))
