"""The dashboard's JSON endpoints and its change feed, without a browser (tests/test_web.py
drives the page itself)."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from typing import Any

import numpy as np

from cityops.cases import service
from cityops.cases.models import Actor, Role
from cityops.core import utcnow
from cityops.web.feed import ChangeFeed


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
    register_layer(Layer("gauges", "积水监测", "Water gauges", "points", "/api/v1/sensing/gauges", live=True))
    try:
        assert "gauges" in [x["id"] for x in api.client.get("/api/v1/dashboard/layers").json()["layers"]]
    finally:
        remove_layer("gauges")


def test_case_layer_replay_and_trend_are_scoped_to_the_department(api: Any) -> None:
    before = utcnow()
    ids = [api.report(lon=114.3055 + i * 0.01, lat=30.5928).json()["id"] for i in range(3)]
    for i in ids:
        assert api.act("acceptor", i, "register").status_code == 200
    assert api.act("dispatcher", ids[0], "dispatch").status_code == 200
    dept = api.get("admin", f"/api/v1/cases/{ids[0]}").json()["department"]
    live = api.get("supervisor", "/api/v1/dashboard/cases").json()
    assert sorted(live["id"]) == ids
    assert [live["statuses"][s] for s in live["status"]] == ["dispatched", "registered", "registered"]
    mine = api.get(dept, "/api/v1/dashboard/cases").json()
    assert mine["id"] == [ids[0]] and mine["department"] == [dept]
    # Replay: just before any of them, nothing was open; now all three are.
    past = api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": (before - timedelta(seconds=1)).isoformat()}).json()
    assert past["id"] == []
    now = api.get("supervisor", "/api/v1/dashboard/snapshot", params={"at": utcnow().isoformat()}).json()
    assert sorted(now["id"]) == ids
    assert api.get(dept, "/api/v1/dashboard/snapshot", params={"at": utcnow().isoformat()}).json()["id"] == [ids[0]]
    params = {"from": (before - timedelta(hours=1)).isoformat(), "to": (utcnow() + timedelta(hours=1)).isoformat()}
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


def test_page_and_static_files_are_served(api: Any) -> None:
    r = api.client.get("/")
    assert r.status_code == 200 and "城市运行驾驶舱" in r.text and 'lang="zh-CN"' in r.text
    for name in ("app.js", "map.js", "charts.js", "i18n.js", "workbench.js", "app.css"):
        assert api.client.get(f"/static/{name}").status_code == 200
