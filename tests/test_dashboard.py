"""The dashboard's JSON endpoints and its change feed, without a browser (tests/test_web.py
drives the page itself)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from cityops.cases import service
from cityops.cases.models import Actor, Role
from cityops.core import utcnow
from cityops.web.feed import ChangeFeed
from conftest import add_users
from stores import new_db

PASSWORD = "test-password-1"


class Api:
    """One platform and app for the module (the shared fixture builds ~45 users per test)."""

    def __init__(self, client: Any, platform: Any, tokens: dict[str, str]) -> None:
        self.client, self.platform, self.tokens = client, platform, tokens

    def token(self, who: str) -> str:
        """A role's token, or a department operator's (by department code), made on first use."""
        if who not in self.tokens:
            from cityops.auth.service import issue_token, new_user

            known = {d.code for d in self.platform.city.departments}
            user = new_user(f"dept-{who.lower()}", "department", who, PASSWORD, known)

            def add(repo: Any) -> str:
                repo.add_user(user, utcnow())
                return issue_token(repo, user.name, utcnow())

            self.tokens[who] = self.platform.store.write(add)
        return self.tokens[who]

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={"Authorization": f"Bearer {self.token(who)}"}, **kw)

    def act(self, who: str, case_id: int, action: str, **body: Any) -> Any:
        return self.client.post(f"/api/v1/cases/{case_id}/actions/{action}", json=body,
                                headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def report(self, lon: float, lat: float) -> Any:
        return self.client.post("/api/v1/cases", headers={"Authorization": f"Bearer {self.tokens['collector']}"},
                                json={"matter_code": "06010", "description": "暴露垃圾", "lon": lon, "lat": lat})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform

    platform = open_platform(new_db(tmp_path_factory.mktemp("dash"), "dash.db"))
    known = {d.code for d in platform.city.departments}
    users = [new_user(r, r, None, PASSWORD, known) for r in ("collector", "acceptor", "dispatcher", "supervisor", "admin")]

    tokens = add_users(platform, users)
    with TestClient(create_app(platform)) as client:
        yield Api(client, platform, tokens)
    platform.close()


@pytest.fixture(scope="module")
def platform(api: Api) -> Any:
    return api.platform


def test_basemap_rasters_hold_every_grid(api: Any) -> None:
    bm = api.client.get("/api/v1/dashboard/basemap").json()  # public: no token
    lat = bm["lattice"]
    city = api.platform.city
    district = np.frombuffer(base64.b64decode(lat["district"]), np.uint8)
    patrol = np.frombuffer(base64.b64decode(lat["patrol"]), np.int16)
    assert district.size == lat["rows"] * lat["cols"] == patrol.size
    assert int((district > 0).sum()) == len(city.grids.code) == lat["grids"]
    assert int(patrol.max()) == len(city.patrol_grids) - 1
    assert len(bm["districts"]) == len(city.districts)
    assert len(bm["waterlogging"]["lon"]) == len(city.waterlogging_points)
    # The raster cell of a grid's centre is that grid's district.
    g = city.grids
    codes = [d.code for d in city.districts]
    k = 1000
    assert codes[district[g.row[k] * lat["cols"] + g.col[k]] - 1] == g.district[k]


def test_layers_list_is_the_hook_later_features_plug_into(api: Any) -> None:
    from cityops.web.layers import Layer, register_layer, remove_layer

    ids = [x["id"] for x in api.client.get("/api/v1/dashboard/layers").json()["layers"]]
    assert {"districts", "grids", "patrols", "waterlogging", "roads", "cases", "overdue"} <= set(ids)
    register_layer(Layer("rain", "雨量站", "Rain gauges", "points", "/api/v1/sensing/rain", live=True))
    try:
        assert "rain" in [x["id"] for x in api.client.get("/api/v1/dashboard/layers").json()["layers"]]
    finally:
        remove_layer("rain")


def test_case_layer_replay_and_trend_are_scoped_to_the_department(api: Any) -> None:
    before = utcnow()
    ids = [api.report(114.3055 + i * 0.01, 30.5928).json()["id"] for i in range(3)]
    for i in ids:
        assert api.act("acceptor", i, "register").status_code == 200
    assert api.act("dispatcher", ids[0], "dispatch").status_code == 200
    dept = api.get("admin", f"/api/v1/cases/{ids[0]}").json()["department"]
    live = api.get("supervisor", "/api/v1/dashboard/cases").json()
    assert set(ids) <= set(live["id"])
    status = {i: live["statuses"][s] for i, s in zip(live["id"], live["status"], strict=True)}
    assert [status[i] for i in ids] == ["dispatched", "registered", "registered"]
    mine = api.get(dept, "/api/v1/dashboard/cases").json()
    assert ids[0] in mine["id"] and set(mine["department"]) == {dept}
    # Replay: just before any of them, nothing was open; now all three are.
    past = api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": (before - timedelta(seconds=1)).isoformat()}).json()
    assert not set(ids) & set(past["id"])
    now = api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": utcnow().isoformat()}).json()
    assert set(ids) <= set(now["id"])
    theirs = api.get(dept, "/api/v1/dashboard/snapshot", params={"at": utcnow().isoformat()}).json()
    assert ids[0] in theirs["id"] and set(theirs["department"]) == {dept}
    params = {"from": before.isoformat(), "to": (utcnow() + timedelta(seconds=1)).isoformat()}
    trend = api.get("supervisor", "/api/v1/dashboard/trend", params=params).json()
    assert sum(trend["reported"]) == 3 and sum(trend["registered"]) == 3
    assert sum(api.get(dept, "/api/v1/dashboard/trend", params=params).json()["reported"]) == 1
    assert api.client.get("/api/v1/dashboard/cases").status_code == 401
    assert api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": "2026-11-27T09:00:00"}).status_code == 422


def test_feed_pushes_committed_changes_to_the_right_subscribers(platform: Any) -> None:
    collector = Actor("c", Role.COLLECTOR)

    async def scenario() -> tuple[dict[str, Any], bool]:
        feed = ChangeFeed(platform.store.connect, poll_s=0.05)
        everyone = feed.subscribe(None)
        other = feed.subscribe("NO-SUCH-DEPT")
        await asyncio.sleep(0.3)  # the feed has taken its cursor
        report = service.NewReport(matter_code="06010", description="暴露垃圾", lon=114.3055, lat=30.5928)
        # Written through a different connection, as the server's write process does.
        case = platform.store.write(lambda repo: service.intake(repo, platform, report, collector, utcnow()))
        item = await asyncio.wait_for(everyone.queue.get(), 5)
        assert item["cases"][0]["id"] == case.id
        empty = other.queue.empty()
        # A client that reconnects with the last id it saw gets what it missed, once.
        resumed = feed.subscribe(None, item["seq"] - 1)
        assert resumed is not None and (await resumed.queue.get())["seq"] == item["seq"]
        up_to_date = feed.subscribe(None, item["seq"])
        assert up_to_date is not None and up_to_date.queue.empty()
        assert feed.subscribe(None, item["seq"] + 100) is None  # not ours: reload
        for sub in (everyone, other, resumed, up_to_date):
            feed.unsubscribe(sub)
        return item, empty

    item, empty = asyncio.run(scenario())
    assert item["cases"][0]["status"] == "reported"
    assert empty


def test_feed_pushes_live_layers_when_their_columns_change(platform: Any) -> None:
    """Sensor layers are pushed over the same stream, not polled: a new subscriber gets each
    layer's columns at once, a write that changes them pushes the new columns (and a write
    that does not, nothing); the public stream (layers only) never sees a case."""
    import sqlite3

    from cityops.web import feed as feed_module

    def count(conn: sqlite3.Connection) -> dict[str, Any]:
        return {"open": conn.execute("SELECT count(*) FROM cases WHERE status = 'reported'").fetchone()[0]}

    collector = Actor("c", Role.COLLECTOR)
    report = service.NewReport(matter_code="06010", description="暴露垃圾", lon=114.3055, lat=30.5928)

    async def scenario() -> None:
        feed_module.LAYER_MIN_S = 0.1
        feed = ChangeFeed(platform.store.connect, poll_s=0.05, layers={"reported": count})
        public = feed.subscribe(None, cases=False)
        first = await asyncio.wait_for(public.queue.get(), 5)
        assert first["layer"] == "reported"
        before = orjson.loads(orjson.dumps(first["data"]))["open"]
        late = feed.subscribe(None)  # joins later: the current columns first, no wait
        assert late is not None and late.queue.get_nowait()["seq"] == first["seq"]
        platform.store.write(lambda repo: service.intake(repo, platform, report, collector, utcnow()))
        item = await asyncio.wait_for(public.queue.get(), 5)  # no case item on the public stream
        assert item["layer"] == "reported" and orjson.loads(orjson.dumps(item["data"])) == {"open": before + 1}
        assert "cases" in await asyncio.wait_for(late.queue.get(), 5)
        # A resuming client gets the layer item it missed, like case changes.
        resumed = feed.subscribe(None, first["seq"], cases=False)
        assert resumed is not None and (await resumed.queue.get())["seq"] == item["seq"]
        await asyncio.sleep(0.5)  # more polls, nothing changed: nothing pushed
        assert public.queue.empty()
        for sub in (public, late, resumed):
            feed.unsubscribe(sub)

    try:
        asyncio.run(scenario())
    finally:
        feed_module.LAYER_MIN_S = 1.0


def test_public_layer_stream_is_open_and_the_case_stream_is_not(api: Any) -> None:
    from cityops.web.layers import sources

    assert {"gauges", "detectors", "warnings"} <= set(sources())
    assert api.client.get("/api/v1/dashboard/events").status_code == 401


def test_page_and_static_files_are_served(api: Any) -> None:
    r = api.client.get("/")
    assert r.status_code == 200 and "城市运行驾驶舱" in r.text and 'lang="zh-CN"' in r.text
    for name in ("app.js", "map.js", "glmap.js", "charts.js", "i18n.js", "workbench.js", "app.css",
                 "vendor/echarts.js", "vendor/maplibre-gl.mjs", "vendor/maplibre-gl-worker.mjs"):
        assert api.client.get(f"/static/{name}").status_code == 200


def test_sensor_and_warning_layers_answer_columns(api: Any) -> None:
    """Gauges coloured by depth against their thresholds, detectors by speed against free flow,
    issued warnings as CAP area rings; all public, all columns."""
    from cityops.detect.columns import Columns
    from cityops.sensing.ingest import ingest
    from cityops.sensing.registry import detector_spec, register_point_gauges, register_specs_op
    from cityops.sensing.store import datastreams_of_kind
    from cityops.warning import service as warnings
    from cityops.warning.glue import draft_op
    from cityops.warning.score import Skill

    platform, city = api.platform, api.platform.city
    layers = {x["id"]: x for x in api.client.get("/api/v1/dashboard/layers").json()["layers"]}
    assert layers["gauges"]["url"] == "/api/v1/dashboard/gauges" and layers["warnings"]["kind"] == "polygons"
    empty = api.client.get("/api/v1/dashboard/warnings").json()
    assert empty["rings"] == [] and empty["level"] == []

    register_point_gauges(platform)
    with platform.store.read() as repo:
        gauge_of = {point: ds for ds, point in datastreams_of_kind(repo.conn, "water_depth")}
    p = city.waterlogging_points
    ds = [gauge_of[p[i].code] for i in range(3)]
    det = platform.store.write(lambda repo: register_specs_op(repo, platform, [
        detector_spec("D1", "S1", p[0].lon, p[0].lat, p[0].district, {"free_flow": 100.0}),
        detector_spec("D2", "S2", p[1].lon, p[1].lat, p[1].district)]))
    now = utcnow()
    t0 = int(now.timestamp() * 1000) - 600_000
    # Gauge 0 dries (30 cm then 5 cm: the latest counts), gauge 1 at yellow, gauge 2 over red.
    cols = Columns.of([ds[0], ds[0], ds[1], ds[2], det[0], det[1]], [t0, t0 + 60_000, t0, t0, t0, t0],
                      [30.0, 5.0, 22.0, 40.0, 35.0, 35.0])
    platform.store.write(lambda repo: ingest(repo, None, cols.sorted(), None, now, detect=False))

    g = api.client.get("/api/v1/dashboard/gauges").json()  # public: no token
    assert len(g["lon"]) == len(g["lat"]) == len(g["level"]) == len(city.waterlogging_points)
    at = {pt: i for i, pt in enumerate(g["point"])}
    assert [g["value"][at[p[i].code]] for i in range(3)] == [5.0, 22.0, 40.0]
    assert [g["level"][at[p[i].code]] for i in range(3)] == [1, 2, 3]
    assert g["yellow"][at[p[0].code]] == (p[0].yellow_cm or 20.0)
    assert g["level"][at[p[3].code]] == 0 and g["value"][at[p[3].code]] is None  # no reading yet
    d = api.client.get("/api/v1/dashboard/detectors").json()
    i1, i2 = d["id"].index(det[0]), d["id"].index(det[1])
    # 35 km/h is 0.35 of a 100 km/h free flow (red); without a free flow, 35 km/h is slow (yellow).
    assert (d["level"][i1], d["free_flow"][i1], d["level"][i2], d["free_flow"][i2]) == (3, 100.0, 2, None)

    district = p[2].district
    draft = warnings.Draft("orange", (district,), "积水橙色预警", "Orange waterlogging warning", "d", "d",
                           now, now + timedelta(hours=2), p[2].code)
    supervisor = Actor("supervisor", Role.SUPERVISOR)

    def warn(repo: Any) -> None:
        wid = draft_op(repo, platform, draft, now)
        warnings.approve_warning(repo, platform, wid, supervisor, now)
        warnings.issue_warning(repo, platform, wid, supervisor, now)
        warnings.save_skill(repo.conn, p[2].code, "none", 20.0, Skill(4, 3, 1, 4, 0.75, 0.75, 35.0), {}, {}, now)

    platform.store.write(warn)
    w = api.client.get("/api/v1/dashboard/warnings").json()
    # A warning for one point is marked at that point; it fills no district (issue 18 item 10).
    assert w["level"] == ["orange"] and w["point"] == [p[2].code] and w["rings"] == [[]] and w["areas"] == []
    assert (w["lon"], w["lat"]) == ([p[2].lon], [p[2].lat])
    # A district-wide warning (no point) fills its district, once however many warn it.
    wide = warnings.Draft("yellow", (district,), "积水黄色预警", "Yellow waterlogging warning", "d", "d",
                          now, now + timedelta(hours=2), None)

    def warn_wide(repo: Any) -> None:
        for _ in range(2):
            wid = draft_op(repo, platform, wide, now)
            warnings.approve_warning(repo, platform, wid, supervisor, now)
            warnings.issue_warning(repo, platform, wid, supervisor, now)

    platform.store.write(warn_wide)
    w = api.client.get("/api/v1/dashboard/warnings").json()
    assert sorted(w["level"]) == ["orange", "yellow", "yellow"] and w["lon"].count(None) == 2
    assert [(a["district"], a["level"]) for a in w["areas"]] == [(district, "yellow")]
    ring = np.array(w["areas"][0]["rings"][0]).reshape(-1, 2)
    minx, miny, maxx, maxy = city.geometries[district].bounds
    assert ring[0].tolist() == ring[-1].tolist() and len(ring) >= 4  # closed, lon/lat order
    assert (ring[:, 0] >= minx - 0.01).all() and (ring[:, 0] <= maxx + 0.01).all()
    assert (ring[:, 1] >= miny - 0.01).all() and (ring[:, 1] <= maxy + 0.01).all()
    # The point panel's figures: the skill of the warned point, none yet for another.
    skill = api.client.get(f"/api/v1/warnings/points/{p[2].code}/skill").json()["skill"][0]
    assert (skill["events"], skill["recall"], skill["median_lead_min"]) == (4, 0.75, 35.0)
    assert api.client.get(f"/api/v1/warnings/points/{p[0].code}/skill").status_code == 404
    assert api.client.get("/api/v1/dashboard/basemap").json()["waterlogging"]["code"][2] == p[2].code


def test_trend_stops_at_now_and_replay_refuses_the_future(api: Any) -> None:
    """An hour that has not begun is null (nothing to plot) and nothing stamped after now is
    counted; a replay of a time after now is refused with 400 (issue 18 item 9)."""
    from cityops.web import queries

    api.report(114.3055, 30.5928)
    now = utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    with api.platform.store.read() as repo:
        tr = queries.trend(repo.conn, start, start + timedelta(hours=24), timedelta(hours=1), None, now)
        # The same day seen from an hour ago: the report made now is not counted, its hour not begun.
        before = queries.trend(repo.conn, start, start + timedelta(hours=24), timedelta(hours=1), None,
                               now - timedelta(hours=1))
    assert tr["begun"] == 3 and tr["reported"][3:] == [None] * 21 and tr["reported"][2] >= 1
    assert before["begun"] == 2 and before["reported"][2:] == [None] * 22 and before["reported"][0] == tr["reported"][0]
    r = api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": (now + timedelta(hours=1)).isoformat()})
    assert r.status_code == 400 and r.json()["error"] == "not_yet"
    assert api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": now.isoformat()}).status_code == 200
