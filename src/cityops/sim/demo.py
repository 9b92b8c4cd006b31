"""The demo: the Wuhan demo city plays its day up to now at accelerated speed.

The simulated time runs from 08:00 of the last working day before today until the moment the
demo runs, so the dashboard's 今日 (today) figures are real and yesterday's cases have had
time to close on time, close late or run overdue.

Every step goes through the same service and workflow as the API, with simulated times, so
the indicators at the end are real numbers: some cases close on time, some late, some are
returned and re-dispatched, some fail verification and are reworked, some stay overdue.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from rich.console import Console

from cityops.auth.service import new_user
from cityops.cases import service
from cityops.cases.models import Action, Actor, Role, Status
from cityops.cases.workflow import Command
from cityops.core import Platform, open_platform, utcnow
from cityops.errors import CityopsError
from cityops.field.attachments import attach_demo_photo

DEMO_PASSWORD = "cityops-demo"
# Matters citizens and inspectors report most, with relative weights (GB/T 47678.5 codes).
COMMON_MATTERS = {
    "06010": 12, "06012": 8, "06042": 6, "09006": 8, "09009": 6, "09010": 5, "06036": 4,
    "07001": 5, "08004": 3, "08001": 3, "06013": 3, "06028": 3, "01003": 2, "01004": 3,
    "06017": 3, "09012": 1, "06001": 2, "01037": 3, "02016": 1, "04001": 2,
}


@dataclass(order=True)
class Step:
    at: datetime
    seq: int
    case_id: int = field(compare=False)
    action: Action | None = field(compare=False)  # None: a new report arrives
    extra: dict[str, Any] = field(compare=False, default_factory=dict)


def demo_day(platform: Platform, now: datetime, back: int = 1) -> datetime:
    """08:00 city time, `back` working days before today: where the simulated time starts (it
    ends now), so that the last working day's cases have run their course (or run late)."""
    cal = platform.calendar
    day = now.astimezone(cal.zone).date()
    for _ in range(back):
        day -= timedelta(days=1)
        while not cal.is_working_day(day):
            day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 8, 0, tzinfo=cal.zone)


def create_demo_users(platform: Platform) -> dict[str, Actor]:
    known = {d.code for d in platform.city.departments}
    staff: dict[str, tuple[str, str | None]] = {
        "admin": ("admin", None), "collector": ("collector", None), "acceptor": ("acceptor", None),
        "dispatcher": ("dispatcher", None), "verifier": ("verifier", None),
        "supervisor": ("supervisor", None),
    }
    for d in platform.city.departments:
        staff[f"dept-{d.code.lower()}"] = ("department", d.code)
    users = [new_user(name, role, dept, DEMO_PASSWORD, known) for name, (role, dept) in staff.items()]

    def add(repo: Any) -> None:
        for u in users:
            if repo.get_user(u.name) is None:
                repo.add_user(u, utcnow())

    platform.store.write(add)
    return {name: Actor(name, Role(role), dept) for name, (role, dept) in staff.items()}


def available_matters(platform: Platform) -> tuple[list[str], np.ndarray]:
    codes, weights = [], []
    for code, w in COMMON_MATTERS.items():
        try:
            platform.catalogue.matter(code)
        except KeyError:
            continue
        codes.append(code)
        weights.append(w)
    p = np.asarray(weights, dtype=float)
    return codes, p / p.sum()


class DayPlayer:
    """Plays reports and their lifecycles in time order through the case service."""

    def __init__(self, platform: Platform, actors: dict[str, Actor], start: datetime, end: datetime, seed: int):
        self.p = platform
        self.actors = actors
        self.start = start
        self.end = end  # reports arrive from `start` until `end` (now), mostly in working hours
        self.rng = np.random.default_rng(seed)
        self.queue: list[Step] = []
        self.seq = itertools.count()
        self.stats: dict[str, int] = {}

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=float(self.rng.uniform(low, high)))

    def schedule(self, at: datetime, case_id: int, action: Action | None, **extra: Any) -> None:
        if at <= self.end:
            heapq.heappush(self.queue, Step(at, next(self.seq), case_id, action, extra))

    def report(self, n: int) -> None:
        grids = self.p.city.grids
        idx = self.rng.integers(0, len(grids.code), n)
        lon = grids.lon[idx] + self.rng.uniform(-0.0004, 0.0004, n)
        lat = grids.lat[idx] + self.rng.uniform(-0.0004, 0.0004, n)
        codes, weights = available_matters(self.p)
        matters = self.rng.choice(codes, n, p=weights)
        offsets = self.arrivals(n)  # minutes after `start`
        sources = self.rng.choice(["hotline_12345", "inspector", "citizen_app"], n, p=[0.45, 0.4, 0.15])
        for i in range(n):
            at = self.start + timedelta(minutes=float(offsets[i]))
            entry = self.p.catalogue.matter(str(matters[i]))
            who = self.actors["collector"] if sources[i] == "inspector" else self.actors["acceptor"]
            rep = service.NewReport(
                matter_code=str(matters[i]), lon=float(lon[i]), lat=float(lat[i]),
                description=f"{entry.name}（模拟上报 #{i + 1}）/ {entry.name_en} (simulated report)",
                source=str(sources[i]),
            )
            self.schedule(at, 0, None, report=rep, who=who)

    def arrivals(self, n: int) -> np.ndarray:
        """`n` report times (minutes after `start`, sorted) up to `end`: most in working hours
        (08:00-18:00 of working days), a trickle around the clock (the 12345 hotline never closes)."""
        cal = self.p.calendar
        hours = max(1, int(np.ceil((self.end - self.start).total_seconds() / 3600)))
        weight = np.empty(hours)
        for h in range(hours):
            local = (self.start + timedelta(hours=h)).astimezone(cal.zone)
            busy = cal.is_working_day(local.date()) and 8 <= local.hour < 18
            weight[h] = 1.0 if busy else 0.15
        hour = self.rng.choice(hours, n, p=weight / weight.sum())
        span = (self.end - self.start).total_seconds() / 60
        return np.sort(np.minimum(hour * 60 + self.rng.uniform(0, 60, n), span))

    def play(self, progress: Callable[[str], None] | None = None) -> None:
        batch: list[Step] = []
        hour, done = None, 0
        while self.queue:
            step = heapq.heappop(self.queue)
            batch.append(step)
            # Steps due within the same simulated minute go in one transaction.
            if not self.queue or self.queue[0].at - batch[0].at > timedelta(minutes=1):
                self.p.store.write(lambda repo, b=batch: self.run_all(repo, b))  # type: ignore[misc]
                done += len(batch)
                local = batch[0].at.astimezone(self.start.tzinfo)
                if progress is not None and (hour is None or local.strftime("%m-%d %H") != hour):
                    hour = local.strftime("%m-%d %H")
                    progress(f"  模拟时间 simulated {local:%m-%d %H:00}: {done} steps, "
                             f"{self.stats.get('reported', 0)} reports, {self.stats.get('verify', 0)} verified")
                batch = []

    def run_all(self, repo: Any, steps: list[Step]) -> None:
        for s in steps:
            self.run(repo, s)

    def run(self, repo: Any, step: Step) -> None:
        try:
            if step.action is None:
                case = service.intake(repo, self.p, step.extra["report"], step.extra["who"], step.at)
                self.count("reported")
                self.after_report(case.id, step.at)
                return
            assert step.action is not None
            actor = step.extra.get("actor") or self.actor_for(repo, step, step.action)
            cmd = Command(step.action, actor, step.at, **{k: v for k, v in step.extra.items() if k != "actor"})
            if step.action is Action.VERIFY and cmd.passed:
                attach_demo_photo(repo, self.p, step.case_id, actor, step.at)  # 现场核查照片
            case = service.act(repo, self.p, step.case_id, cmd)
            self.count(step.action.value + ("_fail" if step.extra.get("passed") is False else ""))
            self.next_steps(case, step)
        except CityopsError:
            self.count("refused")

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1

    def actor_for(self, repo: Any, step: Step, action: Action) -> Actor:
        if action in (Action.ACCEPT, Action.RETURN, Action.REPORT_BACK, Action.REQUEST_EXTENSION):
            case = repo.get_case(step.case_id)
            return self.actors[f"dept-{case.department.lower()}"]
        role = {
            Action.REGISTER: "acceptor", Action.REJECT: "acceptor", Action.MERGE: "acceptor",
            Action.DISPATCH: "dispatcher", Action.VERIFY: "verifier",
        }.get(action, "supervisor")
        return self.actors[role]

    def after_report(self, case_id: int, at: datetime) -> None:
        r = self.rng.random()
        later = at + self.minutes(3, 30)
        if r < 0.04:
            self.schedule(later, case_id, Action.REJECT, reason="非管辖范围 / outside our remit")
        elif r < 0.07 and case_id > 5:
            self.schedule(later, case_id, Action.MERGE, target=int(case_id - self.rng.integers(1, 5)),
                          reason="重复上报 / duplicate report")
        else:
            self.schedule(later, case_id, Action.REGISTER)

    def next_steps(self, case: Any, step: Step) -> None:
        at, cid, rng = step.at, case.id, self.rng
        nxt: dict[Status, Callable[[], None]] = {
            Status.REGISTERED: lambda: self.dispatch(case, at),
            Status.DISPATCHED: lambda: self.accept_or_return(case, at),
            Status.DISPOSING: lambda: self.dispose(case, at),
            Status.REPORTED_BACK: lambda: self.verify(cid, at, passed=bool(rng.random() > 0.12)),
        }
        if step.action is Action.REQUEST_EXTENSION:
            self.schedule(at + self.minutes(10, 40), cid, Action.APPROVE_EXTENSION)
            return
        if case.status in nxt and step.action is not Action.APPROVE_EXTENSION:
            nxt[case.status]()

    def verify(self, case_id: int, at: datetime, passed: bool) -> None:
        """The verifier's note says what they found: the failure's reason only when it failed."""
        note = "现场核查已整改到位 / fixed on site" if passed else "现场核查未整改到位 / not fixed on site"
        self.schedule(at + self.minutes(10, 90), case_id, Action.VERIFY, passed=passed, reason=note)

    def accept_or_return(self, case: Any, at: datetime) -> None:
        later = at + self.minutes(5, 60)
        if self.rng.random() < 0.05 and case.return_count == 0:
            self.schedule(later, case.id, Action.RETURN, reason="非本单位职责 / not our responsibility")
        else:
            self.schedule(later, case.id, Action.ACCEPT)

    def dispatch(self, case: Any, at: datetime) -> None:
        options = service.suggest_departments(self.p, case)
        # After a return, the dispatcher tries the rule's next choice.
        dept = options[min(case.return_count, len(options) - 1)] if options else None
        self.schedule(at + self.minutes(2, 20), case.id, Action.DISPATCH, department=dept)

    def dispose(self, case: Any, at: datetime) -> None:
        assert case.due_at is not None
        budget = (case.due_at - at).total_seconds() / 60
        # Most departments finish well inside the limit; a tail runs late.
        spend = float(self.rng.lognormal(np.log(max(budget, 30) * 0.4), 0.6))
        if self.rng.random() < 0.03:
            return  # this one is forgotten: it will show as overdue and be escalated
        if self.rng.random() < 0.04 and case.extension_count == 0:
            self.schedule(at + self.minutes(15, 45), case.id, Action.REQUEST_EXTENSION,
                          amount=4.0, unit="working_hours", reason="需调配设备 / equipment needed")
        self.schedule(at + timedelta(minutes=spend), case.id, Action.REPORT_BACK)


def play_day(platform: Platform, reports: int, seed: int,
             progress: Callable[[str], None] | None = None) -> dict[str, int]:
    say = progress or (lambda _: None)
    say("创建演示用户 creating the demo users …")
    actors = create_demo_users(platform)
    now = utcnow()
    player = DayPlayer(platform, actors, demo_day(platform, now), now, seed)
    say(f"模拟至此刻 playing up to now: {reports} reports from {player.start:%Y-%m-%d %H:%M} "
        f"to {now.astimezone(platform.calendar.zone):%Y-%m-%d %H:%M} …")
    player.report(reports)
    player.play(progress)
    from cityops.notify.revisit import simulate_answers

    say("市民回访 citizens answer return visits …")
    answers, reopened = simulate_answers(platform, seed, player.end)  # citizens answer 回访
    player.stats.update(answers)
    for case_id, at in reopened:  # 重办: the department signs for the case again and reworks it
        player.schedule(at + player.minutes(5, 60), case_id, Action.ACCEPT)
    player.play(progress)
    say("督办超期案卷 escalating overdue cases …")
    escalated = platform.store.write(lambda repo: service.sweep_overdue(repo, platform, player.end))
    player.stats["escalate"] = player.stats.get("escalate", 0) + len(escalated)
    return player.stats


def console() -> Console:
    """At most 100 columns (narrower when the terminal is): the tables are made to fit it."""
    from cityops.clitable import console as narrow

    return narrow()


def run_demo(db: str, reports: int, seed: int, serve: bool, host: str, port: int, storm: bool = False) -> None:
    from cityops.evaluate.report import to_table
    from cityops.evaluate.service import group_names, indicators

    out = console()
    out.print(f"打开数据库并载入城市 opening {db} and loading the city …", highlight=False)
    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            fresh = repo.get_setting("demo_played") is None
        if fresh:
            out.print(f"[bold]{platform.city.name} / {platform.city.name_en}[/]: "
                          f"{len(platform.city.districts)} districts, {len(platform.city.grids.code):,} unit grids, "
                          f"{len(platform.city.departments)} departments")
            stats = play_day(platform, reports, seed, progress=lambda line: out.print(line, highlight=False))
            from cityops.sensing.demo import play_sensors

            stormy: dict[str, Any] = {}
            if storm:  # before the sensors' own two hours, which then find the storm points' readings
                from cityops.sim.stormday import play_storm

                stormy = play_storm(platform, create_demo_users(platform), utcnow(), seed=seed,
                                    say=lambda line: out.print(line, highlight=False))
            sensed = play_sensors(platform)
            platform.store.write(lambda repo: repo.set_setting("demo_played", utcnow().isoformat()))
            out.print("simulated day: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())))
            out.print("sensors: " + ", ".join(f"{k} {v}" for k, v in sensed.items()))
            if stormy:
                out.print("暴雨日 storm day: " + ", ".join(f"{k} {v}" for k, v in stormy.items()), highlight=False)
        else:
            out.print(f"{db} already holds the demo day; showing it (delete the file to replay)")
        out.print("计算综合评价指标 computing the indicators …", highlight=False)
        with platform.store.read() as repo:
            table = indicators(repo, "district", utcnow(), total=True)
        out.print(to_table(table, title="综合评价 Indicators by district", names=group_names(platform)))
        from cityops.notify.indicators import citizen_indicators
        from cityops.notify.report import citizen_table

        with platform.store.read() as repo:
            citizen = citizen_indicators(repo.conn, "channel", total=True)
        out.print(citizen_table(citizen, platform, "市民评价 Citizen indicators by channel"))
        out.print(f"demo users: admin, acceptor, dispatcher, verifier, supervisor, collector, "
                      f"dept-<code>; password '{DEMO_PASSWORD}'")
        if serve:
            from cityops.api.app import serve as serve_platform

            out.print(f"驾驶舱 dashboard http://{host}:{port}/   (log in as supervisor / {DEMO_PASSWORD})")
            out.print(f"API  http://{host}:{port}/api/v1   docs http://{host}:{port}/docs   "
                          f"schema http://{host}:{port}/openapi.json   (Ctrl-C to stop)")
            serve_platform(platform, host, port)
    finally:
        platform.close()
