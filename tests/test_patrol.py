"""Patrols: routes and schedules per patrol grid, GPS tracks stored once, coverage on the
unit-grid raster, who is on duty, and the field indicators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cityops.field import patrol, plan
from cityops.field.samples import jpeg
from conftest import Api
from field_support import quick_api, walk
from stores import new_db


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with quick_api(new_db(tmp_path_factory.mktemp("patrol"), "t.db")) as a:
        yield a


def lane_track(api: Api, code: str, lane_m: float, start: datetime | None = None,
               end: datetime | None = None) -> list[list[object]]:
    """A walk along the grid's lanes, one fix every 15 s, from `start` or ending at `end`."""
    route = np.array(plan.walking_route(api.platform.city, code, lane_m))
    # Densify so the points are a walk, one fix every ~20 m.
    out = []
    for (x0, y0), (x1, y1) in zip(route[:-1], route[1:], strict=True):
        n = max(2, int(plan.EARTH_M_PER_DEG * max(abs(x1 - x0), abs(y1 - y0)) / 20))
        out += [[float(x), float(y)] for x, y in zip(np.linspace(x0, x1, n), np.linspace(y0, y1, n), strict=True)]
    first = start if start is not None else (end or datetime.now(UTC)) - timedelta(seconds=15 * (len(out) - 1))
    return [[x, y, (first + timedelta(seconds=15 * i)).isoformat()] for i, (x, y) in enumerate(out)]


def test_today_route_and_schedule(api: Api) -> None:
    today = api.get("collector", "/api/v1/patrols/today").json()
    assert today["patrol_grid"] and len(today["route"]) >= 4 and today["outline"]
    sched = api.get("supervisor", "/api/v1/patrols/schedule?day=2026-12-01").json()["grids"]
    classes = {g["class"] for g in sched}
    assert {"A", "B"} <= classes or classes  # A and B grids every day, C every other day
    assert all(g["patrols"] == {"A": 2, "B": 1, "C": 1}[g["class"]] for g in sched)
    c_all = [c for c, k in patrol.grid_classes(api.platform).items() if k == "C"]
    if c_all:
        d1 = {g["patrol_grid"] for g in sched if g["class"] == "C"}
        d2 = {g["patrol_grid"] for g in api.get("admin", "/api/v1/patrols/schedule?day=2026-12-02").json()["grids"]
              if g["class"] == "C"}
        assert d1.isdisjoint(d2) and d1 | d2 == set(c_all)


def test_track_upload_once_coverage_and_on_duty(api: Api) -> None:
    code = api.platform.city.patrol_grids[3].code
    now = datetime.now(UTC)
    pts = lane_track(api, code, 100.0, end=now - timedelta(minutes=1))
    body = {"patrol_grid": code, "points": pts}
    r = api.client.post("/api/v1/patrols/tracks", json=body, headers={**api.h("collector"), "Idempotency-Key": "t1"})
    assert r.status_code == 201, r.text
    assert r.json()["length_m"] > 1000
    again = api.client.post("/api/v1/patrols/tracks", json=body, headers={**api.h("collector"), "Idempotency-Key": "t1"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    day = r.json()["day"]
    cov = api.get("supervisor", f"/api/v1/patrols/coverage?day={day}&patrol_grid={code}").json()["grids"]
    assert len(cov) == 1 and cov[0]["coverage"] >= 0.95  # lanes 100 m apart see every 100 m cell
    duty = api.get("supervisor", "/api/v1/patrols/on-duty").json()["on_duty"]
    assert [d["inspector"] for d in duty] == ["collector"]


def test_sparse_track_covers_less(api: Api) -> None:
    code = api.platform.city.patrol_grids[5].code
    start = (datetime.now(UTC) - timedelta(days=3)).replace(hour=1, minute=0)  # 09:00 in Wuhan
    body = {"patrol_grid": code, "points": lane_track(api, code, 400.0, start)}
    r = api.post("collector", "/api/v1/patrols/tracks", json=body)
    assert r.status_code == 201, r.text
    cov = api.get("supervisor", f"/api/v1/patrols/coverage?day={r.json()['day']}&patrol_grid={code}").json()["grids"][0]
    assert 0.1 < cov["coverage"] < 0.6


@pytest.mark.parametrize("body", [{"points": [[114.3, 30.5, "2026-11-02T09:00:00+08:00"]]},
                                  {"points": [[114.3, 30.5, "yesterday"], [114.3, 30.5, "now"]]},
                                  {"points": [[114.3, 95, 0], [114.3, 30.5, 1000]]},
                                  {"patrol_grid": "nowhere", "points": [[1, 1, 0], [1, 1, 1]]}])
def test_bad_tracks_are_refused(api: Api, body: dict[str, object]) -> None:
    r = api.post("collector", "/api/v1/patrols/tracks", json=body)
    assert r.status_code == 422 and r.json()["message_zh"]


def test_track_times_are_bounded(api: Api) -> None:
    """A track from tomorrow or from last year is refused, naming the point and the range."""
    code = api.platform.city.patrol_grids[9].code
    now = datetime.now(UTC)
    for start in (now + timedelta(hours=1), now - timedelta(days=90), datetime(2099, 1, 1, tzinfo=UTC)):
        r = api.post("collector", "/api/v1/patrols/tracks",
                     json={"patrol_grid": code, "points": lane_track(api, code, 400.0, start)[:5]})
        body = r.json()
        assert r.status_code == 422 and body["error"] == "time_out_of_range", r.text
        assert "points[0] time" in body["message"] and "allowed range" in body["message"]
    late = [[114.3, 30.5, (now - timedelta(minutes=3)).isoformat()], [114.3, 30.5, (now + timedelta(minutes=9)).isoformat()]]
    assert "points[1] time" in api.post("collector", "/api/v1/patrols/tracks",
                                        json={"patrol_grid": code, "points": late}).json()["message"]


def test_indicators(api: Api) -> None:
    code = api.platform.city.patrol_grids[7].code
    walked = lane_track(api, code, 200.0, end=datetime.now(UTC) - timedelta(hours=1))
    assert api.post("collector", "/api/v1/patrols/tracks", json={"patrol_grid": code, "points": walked}).status_code == 201
    valid = api.report().json()["id"]
    walk(api, valid, "reported_back")
    assert api.post("verifier", f"/api/v1/cases/{valid}/attachments", data={"stage": "after"},
                    files={"file": ("a.jpg", jpeg(), "image/jpeg")}).status_code == 201
    assert api.act("collector", valid, "verify", passed=True).status_code == 200
    bad = api.report(description="重复 / duplicate").json()["id"]
    assert api.act("acceptor", bad, "reject", reason="不属实").status_code == 200
    rows = api.get("supervisor", "/api/v1/patrols/indicators?by=inspector").json()["rows"]
    me = next(r for r in rows if r["inspector"] == "collector")
    assert me["reports"] >= 2 and 0 < me["valid_report_rate"] < 1
    assert me["verifications"] == 1 and me["timely_verification_rate"] == 1.0
    assert me["patrol_km"] > 1 and me["patrol_coverage"] > 0
    for by in ("patrol_grid", "district"):
        assert api.get("supervisor", f"/api/v1/patrols/indicators?by={by}").json()["rows"]
    assert api.get("collector", "/api/v1/patrols/indicators").status_code == 403
    assert api.get("supervisor", "/api/v1/patrols/indicators?by=moon").status_code == 422
