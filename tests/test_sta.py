"""SensorThings API 1.1 at /sta/v1.1, exercised with raw HTTP requests as the standard
describes them (and, where a Python 3.13 with aio-sensorthings is at hand, with that client:
see test_aio_sensorthings_client)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cityops.core import utcnow
from cityops.sensing.staquery import Entity, FilterError, parse_filter
from sensing_support import NDJSON, SensingApi, iso, ndjson, sensing_api

STA = "/sta/v1.1"
OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SensingApi]:
    gen = sensing_api(tmp_path_factory.mktemp("sta"))
    a = next(gen)
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    rows = [{"datastream": a.gauges[i], "phenomenonTime": iso(start + timedelta(minutes=5 * k)), "result": float(k + i)}
            for i in range(3) for k in range(12)]
    r = a.client.post("/api/v1/observations", content=ndjson(rows), headers={**a.h("gw1"), "Content-Type": NDJSON})
    assert r.json()["stored"] == 36
    yield a
    next(gen, None)


def test_root_lists_entity_sets(api: SensingApi) -> None:
    body = api.client.get(STA).json()
    names = [v["name"] for v in body["value"]]
    assert names == ["Things", "Locations", "HistoricalLocations", "Sensors", "ObservedProperties", "Datastreams", "Observations",
                     "FeaturesOfInterest"]
    assert all(v["url"] == f"http://testserver{STA}/{v['name']}" for v in body["value"])
    assert any("create-entity" in c for c in body["serverSettings"]["conformance"])


def test_collections_paging_and_count(api: SensingApi) -> None:
    body = api.client.get(f"{STA}/Things", params={"$top": "100", "$count": "true"}).json()
    assert body["@iot.count"] >= 448 and len(body["value"]) == 100
    nxt = body["@iot.nextLink"]
    assert nxt.startswith("http://testserver/sta/v1.1/Things?")
    page2 = api.client.get(nxt).json()
    assert page2["value"][0]["@iot.id"] == body["value"][-1]["@iot.id"] + 1
    thing = body["value"][0]
    assert thing["Datastreams@iot.navigationLink"].endswith(f"Things({thing['@iot.id']})/Datastreams")


def test_navigation_expand_select_orderby(api: SensingApi) -> None:
    ds = api.gauges[1]
    obs = api.client.get(f"{STA}/Datastreams({ds})/Observations",
                         params={"$orderby": "phenomenonTime desc", "$top": "3", "$select": "result,phenomenonTime"}).json()
    assert [o["result"] for o in obs["value"]] == [12.0, 11.0, 10.0]
    assert set(obs["value"][0]) == {"result", "phenomenonTime"}
    one = api.client.get(f"{STA}/Datastreams({ds})",
                         params={"$expand": "Thing/Locations,Observations($top=2;$orderby=result desc),Sensor"}).json()
    assert one["Thing"]["Locations"][0]["location"]["type"] == "Point"
    assert [o["result"] for o in one["Observations"]] == [12.0, 11.0]
    assert one["properties"]["kind"] == "water_depth" and one["properties"]["yellow"] == 20.0
    oid = obs["value"] and api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$top": "1"}).json()
    first = oid["value"][0]
    again = api.client.get(first["@iot.selfLink"].replace("http://testserver", "")).json()
    assert again["result"] == first["result"]
    value = api.client.get(f"{STA}/Datastreams({ds})/name/$value")
    assert value.status_code == 200 and api.gauges and value.text.startswith("积水监测")
    assert api.client.get(f"{STA}/Observations({first['@iot.id']})/Datastream").json()["@iot.id"] == ds


def test_filters(api: SensingApi) -> None:
    ds = api.gauges[2]
    got = api.client.get(f"{STA}/Observations", params={
        "$filter": f"Datastream/@iot.id eq {ds} and (result ge 10 or result lt 3) and not (result eq 13)",
        "$orderby": "result"}).json()
    assert [o["result"] for o in got["value"]] == [2.0, 10.0, 11.0, 12.0]
    now = utcnow()
    t = api.client.get(f"{STA}/Observations", params={
        "$filter": f"phenomenonTime gt {iso(now - timedelta(minutes=12))} and year(phenomenonTime) eq {now.year}",
        "$count": "true"}).json()
    assert 3 <= t["@iot.count"] <= 9
    p = api.platform.city.waterlogging_points[0]
    poly = (f"POLYGON(({p.lon - 0.001} {p.lat - 0.001}, {p.lon + 0.001} {p.lat - 0.001}, "
            f"{p.lon + 0.001} {p.lat + 0.001}, {p.lon - 0.001} {p.lat + 0.001}, {p.lon - 0.001} {p.lat - 0.001}))")
    locs = api.client.get(f"{STA}/Locations", params={"$filter": f"st_within(location, geography'{poly}')"}).json()
    assert len(locs["value"]) >= 1 and all(abs(v["location"]["coordinates"][0] - p.lon) < 0.002 for v in locs["value"])
    gi = api.client.get(f"{STA}/Locations", params={"$filter": f"geo.intersects(location, geography'{poly}')"}).json()
    assert len(gi["value"]) == len(locs["value"])
    s = api.client.get(f"{STA}/Things", params={"$filter": "startswith(description, '模拟') and "
                                                             "substringof('001', description)"}).json()
    assert len(s["value"]) >= 1
    bad = api.client.get(f"{STA}/Things", params={"$filter": "name eq 'x' or"})
    assert bad.status_code == 400 and "$filter" in bad.json()["message"]
    inj = api.client.get(f"{STA}/Things", params={"$filter": "name eq 'x'' OR 1=1 --'"}).json()
    assert inj["value"] == []


def test_filter_parser_uses_parameters() -> None:
    e = Entity({"name": "name", "result": "result"})
    sql = parse_filter("name eq 'a''b' and result gt 2.5 or not (result le -1)", e)
    assert "'" not in sql.text and sql.params == ["a'b", 2.5, 1]
    with pytest.raises(FilterError):
        parse_filter("name; DROP TABLE x", e)
    with pytest.raises(FilterError):
        parse_filter("unknown eq 1", e)


def test_create_entities_and_observations(api: SensingApi) -> None:
    h = api.h("gw1")
    thing = {"name": "雨量站 RG-1 / rain gauge 1", "description": "test", "properties": {"owner": "水务局"},
             "Locations": [{"name": "RG-1", "description": "roof", "encodingType": "application/geo+json",
                            "location": {"type": "Point", "coordinates": [114.30, 30.59]}}],
             "Datastreams": [{"name": "rain RG-1", "description": "5-min rain",
                              "unitOfMeasurement": {"name": "millimetre", "symbol": "mm", "definition": "x"},
                              "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                              "properties": {"kind": "rain"},
                              "Sensor": {"name": "tipping bucket", "description": "", "encodingType": "text/html",
                                         "metadata": "http://example.org"},
                              "ObservedProperty": {"name": "rainfall", "definition": "x", "description": ""}}]}
    r = api.client.post(f"{STA}/Things", json=thing, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"http://testserver{STA}/Things({r.json()['@iot.id']})"
    ds = api.client.get(r.headers["Location"].replace("http://testserver", "") + "/Datastreams").json()["value"][0]
    o = api.client.post(f"{STA}/Datastreams({ds['@iot.id']})/Observations",
                        json={"phenomenonTime": "2026-06-01T08:00:00+08:00", "result": 4.5}, headers=h)
    assert o.status_code == 201 and o.headers["Location"].startswith(f"http://testserver{STA}/Observations(")
    assert api.client.get(o.headers["Location"]).json()["phenomenonTime"] == "2026-06-01T00:00:00.000Z"
    dup = api.client.post(f"{STA}/Observations", json={"Datastream": {"@iot.id": ds["@iot.id"]},
                                                       "phenomenonTime": "2026-06-01T00:00:00Z", "result": 9}, headers=h)
    assert dup.status_code == 409
    arr = api.client.post(f"{STA}/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": ds["@iot.id"]}, "components": ["phenomenonTime", "result"],
        "dataArray": [["2026-06-01T00:05:00Z", 1.0], ["2026-06-01T00:10:00Z", 2.0], ["not a time", 3]]}])
    assert arr.status_code == 201
    links = arr.json()
    assert links[2] == "error" and links[0].startswith(f"http://testserver{STA}/Observations(")
    assert api.client.post(f"{STA}/Things", json=thing).status_code == 401
    assert api.client.post(f"{STA}/Things", json={"description": "no name"}, headers=h).status_code == 400


def test_patch_and_delete_entities(api: SensingApi) -> None:
    """SensorThings 1.1 update (PATCH: the members given change) and delete (a Thing takes its
    Datastreams and their Observations with it)."""
    h = api.h("gw1")
    thing = {"name": "水位站 WL-T / gauge T", "description": "before", "properties": {"a": 1},
             "Locations": [{"name": "WL-T", "description": "kerb", "encodingType": "application/geo+json",
                            "location": {"type": "Point", "coordinates": [114.31, 30.58]}}],
             "Datastreams": [{"name": "depth WL-T", "description": "water depth", "unitOfMeasurement": {"symbol": "cm"}, "observationType": OM,
                              "properties": {"kind": "other"},
                              "Sensor": {"name": "radar T", "description": "", "encodingType": "text/html",
                                         "metadata": ""},
                              "ObservedProperty": {"name": "depth T", "definition": "x", "description": ""}}]}
    tid = api.client.post(f"{STA}/Things", json=thing, headers=h).json()["@iot.id"]
    ds = api.client.get(f"{STA}/Things({tid})/Datastreams").json()["value"][0]["@iot.id"]
    loc = api.client.get(f"{STA}/Things({tid})/Locations").json()["value"][0]["@iot.id"]
    links = api.client.post(f"{STA}/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
        "dataArray": [[f"2026-06-02T00:{m:02d}:00Z", float(m)] for m in (0, 5, 10)]}]).json()
    obs = [link.replace("http://testserver", "") for link in links]

    r = api.client.patch(f"{STA}/Things({tid})", json={"description": "after"}, headers=h)
    assert r.status_code == 200 and r.json()["description"] == "after" and r.json()["name"] == thing["name"]
    assert r.json()["properties"] == {"a": 1}
    moved = api.client.patch(f"{STA}/Locations({loc})", headers=h,
                             json={"location": {"type": "Point", "coordinates": [114.32, 30.57]}}).json()
    assert moved["location"]["coordinates"] == [114.32, 30.57]
    patched = api.client.patch(f"{STA}/Datastreams({ds})", headers=h,
                               json={"properties": {"kind": "water_depth", "yellow": 15, "red": 25}}).json()
    assert patched["properties"]["yellow"] == 15 and patched["properties"]["kind"] == "water_depth"
    assert api.client.patch(obs[1], json={"result": 42.5}, headers=h).json()["result"] == 42.5
    assert api.client.get(obs[1]).json()["result"] == 42.5 and api.client.get(obs[0]).json()["result"] == 0.0
    assert api.client.patch(obs[1], json={"phenomenonTime": "2026-06-02T01:00:00Z"}, headers=h).status_code == 400
    assert api.client.patch(f"{STA}/Things({tid})", json={"@iot.id": 5}, headers=h).status_code == 400
    assert api.client.patch(f"{STA}/Things(99999999)", json={"name": "x"}, headers=h).status_code == 404
    assert api.client.patch(f"{STA}/Things({tid})", json={"name": "x"}).status_code == 401
    assert api.client.patch(f"{STA}/Things({tid})", json={"name": "x"}, headers=api.h("collector")).status_code == 403

    assert api.client.delete(obs[0], headers=h).status_code == 200
    assert api.client.get(obs[0]).status_code == 404 and api.client.delete(obs[0], headers=h).status_code == 404
    left = api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$orderby": "phenomenonTime"}).json()
    assert [o["result"] for o in left["value"]] == [42.5, 10.0]
    assert api.client.delete(f"{STA}/Things({tid})", headers=h).status_code == 200
    assert api.client.get(f"{STA}/Things({tid})").status_code == 404
    assert api.client.get(f"{STA}/Datastreams({ds})").status_code == 404
    assert api.client.get(obs[1]).status_code == 404
    assert api.client.get(f"{STA}/Locations({loc})").status_code == 200  # a Location outlives its Thing
    assert api.client.delete(f"{STA}/Locations({loc})", headers=h).status_code == 200
    assert api.client.delete(f"{STA}/Things", headers=h).status_code == 404


def test_reads_can_require_a_token(api: SensingApi) -> None:
    api.platform.store.write(lambda repo: repo.set_setting("sensing.read_requires_token", "1"))
    try:
        assert api.client.get(f"{STA}/Things").status_code == 401
        assert api.client.get(f"{STA}/Things", headers=api.h("acceptor")).status_code == 200
    finally:
        api.platform.store.write(lambda repo: repo.set_setting("sensing.read_requires_token", "0"))


# .ci/run makes .venv-sta313 (Python 3.13 with aio-sensorthings) where the machine has a Python 3.13.
STA_PYTHON = os.environ.get("CITYOPS_STA_PYTHON", str(Path(__file__).resolve().parents[1] / ".venv-sta313/bin/python"))


def test_aio_sensorthings_client(api: SensingApi) -> None:
    """The PyPI client aio-sensorthings (Python >= 3.13) against a real server; it needs its
    own interpreter: set CITYOPS_STA_PYTHON to one with `aio-sensorthings[all]` installed."""
    if not Path(STA_PYTHON).exists():
        pytest.skip(f"no Python 3.13 with aio-sensorthings at {STA_PYTHON} (set CITYOPS_STA_PYTHON)")
    probe = subprocess.run([STA_PYTHON, "-c", "import aio_sensorthings"], capture_output=True)
    if probe.returncode:
        pytest.skip(f"{STA_PYTHON} cannot import aio_sensorthings")
    import threading

    import uvicorn

    from cityops.api.app import create_app

    port = _free_port()
    app = create_app(api.platform)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        script = Path(__file__).with_name("sta_client_313.py")
        done = subprocess.run([STA_PYTHON, str(script), f"http://127.0.0.1:{port}/sta", api.tokens["gw1"]],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["things"] >= 448 and out["datastreams"] >= 448 and out["expanded"]
    assert out["observations_of_first"] == 12  # the fixture's readings of the first gauge
    assert isinstance(out["posted_thing"], int) and out["read_back"] == 7.5


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Cost bounds, overflowing input (issue 18, items 2 and 7) ------------------------------------

def test_cost_bounds_answer_400_with_a_message(api: SensingApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.sensing import staread

    monkeypatch.setattr(staread, "MAX_TOP", 100)  # the module's 448 Things: pages of 100 show it
    page = api.client.get(f"{STA}/Things", params={"$top": "10000", "$select": "id"}).json()
    assert len(page["value"]) == 100 and "%24top=100&" in page["@iot.nextLink"] + "&"  # a larger $top is paged
    monkeypatch.undo()
    counted = api.client.get(f"{STA}/Things", params={"$top": "0", "$count": "true"}).json()
    assert counted["value"] == [] and counted["@iot.count"] >= 448 and "@iot.nextLink" not in counted
    costly = {
        "$skip": {"$skip": "99999999999999999999"},
        "expand depth": {"$expand": "Thing/Datastreams/Thing/Datastreams"},
        "expand breadth": {"$expand": ",".join(f"{n}($expand=Datastreams($expand=Thing,Sensor,ObservedProperty,Observations))"
                                               for n in ("Thing", "Sensor", "ObservedProperty"))},  # 18 > 16
        "entities": {"$top": "10000", "$select": "id", "$expand": ",".join(["Observations($top=10000)"] * 4)},
        "filter length": {"$filter": "name eq '" + "x" * 5000 + "'"},
        "filter nesting": {"$filter": "(" * 200 + "id eq 1" + ")" * 200},
        "not chain": {"$filter": "not " * 200 + "id eq 1"},
        "minus chain": {"$filter": "-" * 300 + "1 eq id"},
        "nav hops": {"$filter": "Thing/Datastreams/Thing/Datastreams/name eq 'x'"},
    }
    for what, params in costly.items():
        r = api.client.get(f"{STA}/Datastreams", params=params)
        assert r.status_code == 400, (what, r.status_code, r.text[:200])
        assert r.json()["message"] and r.json()["message_zh"], what


def test_overflowing_ids_are_4xx(api: SensingApi) -> None:
    huge = "99999999999999999999"
    for url in (f"{STA}/Things({huge})", f"{STA}/Things({huge})/Datastreams", f"{STA}/Observations({huge})",
                f"{STA}/Datastreams(1)/Observations({huge})"):
        r = api.client.get(url)
        assert r.status_code == 404 and "message" in r.json(), url
    assert api.client.get(f"{STA}/Things", params={"$filter": f"id eq {huge}"}).json()["value"] == []
    assert api.client.get(f"{STA}/Things", params={"$top": huge}).status_code == 200
    h = api.h("gw1")
    assert api.client.patch(f"{STA}/Things({huge})", json={"name": "x"}, headers=h).status_code == 404
    assert api.client.delete(f"{STA}/Things({huge})", headers=h).status_code == 404
    assert api.client.post(f"{STA}/Datastreams({huge})/Observations", json={"result": 1}, headers=h).status_code == 404
    r = api.client.post(f"{STA}/Observations", headers=h,
                        json={"Datastream": {"@iot.id": int(huge)}, "result": 1})
    assert r.status_code == 400
    r = api.client.post(f"{STA}/Datastreams", headers=h, json={
        "name": "x", "Thing": {"@iot.id": int(huge)}, "Sensor": {"@iot.id": 1}, "ObservedProperty": {"@iot.id": 1}})
    assert r.status_code == 400
    arr = api.client.post(f"{STA}/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": int(huge)}, "components": ["result"], "dataArray": [[1.0]]}])
    assert arr.status_code == 201 and arr.json() == ["error"]


def test_heavy_reads_leave_healthz_answering(api: SensingApi) -> None:
    """16 costly reads at once (the issue's probe, and ones just inside the bounds) against a
    real server: /healthz stays under a second throughout."""
    import threading

    import httpx
    import uvicorn

    from cityops.api.app import create_app

    start = utcnow().replace(microsecond=0) - timedelta(days=3)
    rows = [{"datastream": ds, "phenomenonTime": iso(start + timedelta(minutes=5 * k)), "result": k % 5}
            for ds in api.gauges[3:] for k in range(20)]  # enough that a read costs what a city's does
    r = api.client.post("/api/v1/observations", content=ndjson(rows), headers={**api.h("gw1"), "Content-Type": NDJSON})
    assert r.json()["stored"] == len(rows)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api.platform), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    probe = (f"{url}{STA}/Datastreams?$top=10000&$select=id&$expand="
             + ",".join(["Observations($top=10000)"] * 6))
    allowed = (f"{url}{STA}/Datastreams?$top=1000&$expand=Thing($expand=Locations($top=5)),Sensor,ObservedProperty,"
               "Observations($top=50;$count=true;$select=result)&$filter=substringof('积水', name) or id gt 0")
    statuses: list[int] = []
    try:
        while not server.started:
            time.sleep(0.05)

        def heavy(k: int) -> None:
            with httpx.Client(timeout=120) as c:
                r = c.get(probe if k % 4 == 3 else allowed)
                statuses.append(r.status_code)
                # (no JSON parse here: the clients share the server's process and GIL)
                assert r.status_code == 400 or r.content.count(b'"Observations@iot.count"') >= 448, r.text[:300]

        workers = [threading.Thread(target=heavy, args=(k,)) for k in range(16)]
        for w in workers:
            w.start()
        slowest = 0.0
        with httpx.Client(timeout=30) as c:
            while any(w.is_alive() for w in workers):
                t0 = time.perf_counter()
                assert c.get(f"{url}/healthz").status_code == 200
                slowest = max(slowest, time.perf_counter() - t0)
                time.sleep(0.05)
        for w in workers:
            w.join()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert sorted(statuses) == [200] * 12 + [400] * 4
    print(f"slowest healthz {slowest:.3f} s")
    assert slowest < 1.0, f"/healthz took {slowest:.2f} s during the heavy reads"


# Interfaces: navigation-path filters, JSON Patch, ids (issue 18, item 13) --------------------

def _new_thing(api: SensingApi, name: str, lon: float = 114.3, lat: float = 30.6) -> tuple[int, int]:
    body = {"name": name, "description": "t", "Locations": [{"name": name, "description": "", "encodingType":
            "application/geo+json", "location": {"type": "Point", "coordinates": [lon, lat]}}],
            "Datastreams": [{"name": f"ds {name}", "description": "", "unitOfMeasurement": {"symbol": "cm"}, "observationType": OM,
                             "properties": {"kind": "other"},
                             "Sensor": {"name": f"sensor {name}", "description": "", "encodingType": "text/html",
                                        "metadata": ""},
                             "ObservedProperty": {"name": f"prop {name}", "definition": "x", "description": ""}}]}
    r = api.client.post(f"{STA}/Things", json=body, headers=api.h("gw1"))
    assert r.status_code == 201, r.text
    tid = r.json()["@iot.id"]
    return tid, api.client.get(f"{STA}/Things({tid})/Datastreams").json()["value"][0]["@iot.id"]


def test_filter_follows_navigation_paths(api: SensingApi) -> None:
    tid, ds = _new_thing(api, "导航 nav-path", 100.05, 10.05)
    h = api.h("gw1")
    api.client.post(f"{STA}/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
        "dataArray": [["2026-06-03T00:00:00Z", 1001.0], ["2026-06-03T00:05:00Z", 1002.0]]}])

    def ids(url: str, flt: str) -> list[int]:
        r = api.client.get(f"{STA}/{url}", params={"$filter": flt})
        assert r.status_code == 200, (flt, r.text)
        return [v["@iot.id"] for v in r.json()["value"]]

    obs = ids("Observations", f"Datastream/Thing/@iot.id eq {tid}")
    assert len(obs) == 2 and obs == ids(f"Datastreams({ds})/Observations", "true")
    assert ids("Observations", f"Datastream/Thing/id eq {tid} and result gt 1001.5") == obs[1:]
    assert ids("Observations", "Datastream/Thing/name eq '导航 nav-path'") == obs
    assert ids("Datastreams", "Thing/name eq '导航 nav-path'") == [ds]
    assert ids("Datastreams", "Sensor/name eq 'sensor 导航 nav-path'") == [ds]
    assert ids("Datastreams", "ObservedProperty/name eq 'prop 导航 nav-path' and Thing/@iot.id eq " + str(tid)) == [ds]
    assert ids("Things", "st_within(Locations/location, geography'POLYGON((100 10, 100.1 10, 100.1 10.1, 100 10.1,"
                         " 100 10))')") == [tid]
    assert ids("Things", "Datastreams/Observations/result eq 1002") == [tid]
    assert ids("Locations", f"Things/@iot.id eq {tid}") == ids(f"Things({tid})/Locations", "true")
    assert ids("Things", "Datastreams/name eq 'no such'") == []
    assert api.client.get(f"{STA}/Things", params={"$filter": "Nothing/name eq 'x'"}).status_code == 400


def test_patch_accepts_json_patch(api: SensingApi) -> None:
    tid, ds = _new_thing(api, "JSON Patch 测试")
    h = {**api.h("gw1"), "Content-Type": "application/json-patch+json"}

    def patch(url: str, ops: list[dict[str, object]]) -> object:
        return api.client.patch(f"{STA}/{url}", content=json.dumps(ops), headers=h)

    r = patch(f"Things({tid})", [{"op": "replace", "path": "/name", "value": "改名 renamed"},
                                 {"op": "add", "path": "/properties/owner", "value": "水务局"}])
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "改名 renamed" and r.json()["properties"] == {"owner": "水务局"}
    assert r.json()["description"] == "t"
    r = patch(f"Datastreams({ds})", [{"op": "test", "path": "/name", "value": "wrong"},
                                     {"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 409 and "test" in r.json()["message"]
    assert api.client.get(f"{STA}/Datastreams({ds})").json()["name"] == "ds JSON Patch 测试"
    assert patch(f"Things({tid})", [{"op": "remove", "path": "/name"}]).status_code == 400
    assert patch(f"Things({tid})", [{"op": "replace", "path": "/@iot.id", "value": 1}]).status_code == 400
    assert patch(f"Things({tid})", [{"op": "jump", "path": "/name"}]).status_code == 400
    assert api.client.patch(f"{STA}/Things({tid})", content=b'{"op": "x"}', headers=h).status_code == 400


def test_deleted_ids_are_never_reused(api: SensingApi) -> None:
    h = api.h("gw1")
    tid, ds = _new_thing(api, "reuse 1")
    sensor = api.client.get(f"{STA}/Datastreams({ds})/Sensor").json()["@iot.id"]
    loc = api.client.get(f"{STA}/Things({tid})/Locations").json()["value"][0]["@iot.id"]
    for url in (f"Things({tid})", f"Locations({loc})", f"Sensors({sensor})"):
        assert api.client.delete(f"{STA}/{url}", headers=h).status_code == 200
    tid2, ds2 = _new_thing(api, "reuse 2")
    assert tid2 > tid and ds2 > ds
    assert api.client.get(f"{STA}/Datastreams({ds2})/Sensor").json()["@iot.id"] > sensor
    assert api.client.get(f"{STA}/Things({tid2})/Locations").json()["value"][0]["@iot.id"] > loc
    assert api.client.get(f"{STA}/Things({tid})").status_code == 404


# $expand: one query per navigation and level (issue 24) -------------------------------------

def test_expand_is_one_query_per_level(api: SensingApi) -> None:
    from cityops.sensing import staread

    conn = staread.connection(api.platform)
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql.lstrip().upper().startswith("SELECT") else None)
    try:
        body, _ = staread.read(api.platform, "Datastreams", {
            "$top": "100", "$expand": "Observations($top=3;$count=true;$orderby=result desc),"
                                      "Thing($expand=Locations($select=name))"}, "http://testserver/sta/v1.1")
    finally:
        conn.set_trace_callback(None)
    assert len(body["value"]) == 100
    # The Datastreams, their Observations (and those Observations' own members: two), counts, Things, Locations.
    assert len(seen) == 7, seen
    g = api.gauges[0]
    one = next(v for v in body["value"] if v["@iot.id"] == g)
    alone = api.client.get(f"{STA}/Datastreams({g})/Observations",
                           params={"$top": "3", "$orderby": "result desc", "$count": "true"}).json()
    assert one["Observations"] == alone["value"] and one["Observations@iot.count"] == alone["@iot.count"] >= 12
    assert one["Observations@iot.nextLink"].endswith(f"Datastreams({g})/Observations?%24top=3&%24skip=3")
    assert set(one["Thing"]["Locations"][0]) == {"name"}
    empty = next(v for v in body["value"] if v["@iot.id"] not in api.gauges[:3])
    assert empty["Observations"] == [] or empty["Observations@iot.count"] > 0
    many = api.client.get(f"{STA}/Things", params={"$top": "5", "$expand": "Datastreams($expand=Observations($top=1))"})
    assert all(len(t["Datastreams"]) >= 1 for t in many.json()["value"])


# Single Observations gathered into one ingest, answered from what was written (issue 24) ----

def test_single_observations_are_gathered(api: SensingApi, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from cityops.sensing import gather

    calls: list[int] = []
    real = gather.ingest_each

    def counting(repo: object, platform: object, ds: list[int], *rest: object) -> object:
        calls.append(len(ds))
        return real(repo, platform, ds, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(gather, "ingest_each", counting)
    g = api.gauges[2]
    base = utcnow().replace(microsecond=0) - timedelta(days=10)
    t = [int((base + timedelta(minutes=k)).timestamp() * 1000) for k in range(6)]
    published: list[object] = []

    async def post_all() -> list[str]:
        from cityops.store.sqlite import SqliteStore

        gatherer = gather.Gatherer(api.platform, published.extend)
        stored_before = t[0]
        await api.platform.awrite(gather.ingest_each, [g], [stored_before], [1.0], base)
        calls.clear()
        readings = [(g, t[0], 2.0), (g, t[1], 3.0), (g, t[1], 4.0), (999_999, t[2], 1.0)] + \
            [(g, t[k], 5.0 + k) for k in range(3, 6)]
        assert isinstance(api.platform.store, SqliteStore)
        return list(await asyncio.gather(*(gatherer.add(*r) for r in readings)))

    outcomes = asyncio.run(post_all())
    assert calls == [7]  # seven concurrent posts, one ingest
    assert outcomes == ["duplicate", "stored", "duplicate", "unknown_datastream", "stored", "stored", "stored"]
    got = api.client.get(f"{STA}/Datastreams({g})/Observations",
                         params={"$filter": f"phenomenonTime lt {iso(base + timedelta(minutes=10))}"}).json()["value"]
    assert [o["result"] for o in got] == [1.0, 3.0, 8.0, 9.0, 10.0]


def test_a_posted_observation_is_answered_from_what_was_written(api: SensingApi) -> None:
    g = api.gauges[2]
    when = iso(utcnow().replace(microsecond=0) - timedelta(days=11))
    r = api.client.post(f"{STA}/Datastreams({g})/Observations", json={"phenomenonTime": when, "result": 3.25},
                        headers=api.h("gw1"))
    assert r.status_code == 201
    assert r.json() == api.client.get(r.headers["Location"]).json()
    assert r.json()["result"] == 3.25 and r.json()["phenomenonTime"] == when.replace("Z", ".000Z")


def test_frost_python_client(api: SensingApi) -> None:
    """The FROST Python client (frost_sta_client, Fraunhofer IOSB) against a real server: it
    creates a Thing with its Location and Datastream, posts Observations, filters by
    navigation paths as it sends them, patches with JSON Patch and deletes."""
    frost = pytest.importorskip("frost_sta_client")
    import threading

    import geojson
    import uvicorn
    from requests.auth import AuthBase

    from cityops.api.app import create_app

    class Bearer(frost.AuthHandler):  # the client speaks HTTP Basic; the server takes tokens
        def add_auth_header(self) -> AuthBase:
            token = api.tokens["gw1"]

            class Auth(AuthBase):
                def __call__(self, r: object) -> object:
                    r.headers["Authorization"] = f"Bearer {token}"  # type: ignore[attr-defined]
                    return r
            return Auth()

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api.platform), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        service = frost.SensorThingsService(f"http://127.0.0.1:{port}/sta/v1.1", auth_handler=Bearer())
        location = frost.Location(name="FROST 站", description="roof", encoding_type="application/geo+json",
                                  location=geojson.Point((101.05, 11.05)))
        thing = frost.Thing(name="FROST thing", description="made by frost_sta_client", locations=[location])
        service.create(thing)
        sensor = frost.Sensor(name="FROST sensor", description="", encoding_type="text/html", metadata="x")
        prop = frost.ObservedProperty(name="FROST depth", definition="x", description="")
        ds = frost.Datastream(name="FROST ds", description="", observation_type="http://www.opengis.net/def/"
                              "observationType/OGC-OM/2.0/OM_Measurement",
                              unit_of_measurement=frost.UnitOfMeasurement(name="cm", symbol="cm", definition="x"),
                              thing=thing, sensor=sensor, observed_property=prop)
        service.create(ds)
        for k in range(3):
            service.create(frost.Observation(result=20.0 + k, phenomenon_time=f"2026-06-05T00:0{k}:00Z",
                                             datastream=ds))
        by_path = service.observations().query().filter(f"Datastream/Thing/@iot.id eq {thing.id}").list()
        assert sorted(o.result for o in by_path) == [20.0, 21.0, 22.0]
        within = service.things().query().filter(
            "st_within(Locations/location, geography'POLYGON((101 11, 101.1 11, 101.1 11.1, 101 11.1, 101 11))')").list()
        assert [t.id for t in within] == [thing.id]
        named = service.datastreams().query().filter("Sensor/name eq 'FROST sensor'").list()
        assert [d.id for d in named] == [ds.id]
        service.patch(thing, [{"op": "replace", "path": "/name", "value": "FROST 改名"}])
        assert service.things().find(thing.id).name == "FROST 改名"
        service.delete(thing)
        again = frost.Thing(name="FROST thing 2", description="")
        service.create(again)
        assert again.id > thing.id  # the deleted id is not given out again
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# No request holds up the event loop (issue 18, item 2): reads whose cost grows with the data
# (SensorThings queries and expansions, the Open311 search) run in worker threads. Single-row
# lookups by key (a token, a setting) stay on the loop on purpose: a thread hop costs more.

def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _watch(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seen: list[bool]) -> None:
    real: Callable[..., Any] = getattr(module, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(_on_loop())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)


def test_costly_reads_run_off_the_event_loop(api: SensingApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.intake.open311 import service
    from cityops.sensing import staread

    seen: list[bool] = []
    for module, name in ((staread, "query"), (staread, "_children"), (staread, "resolve"), (service, "search")):
        _watch(monkeypatch, module, name, seen)
    c = api.client
    assert c.get("/sta/v1.1/Datastreams", params={"$top": "5", "$expand": "Observations,Thing"}).status_code == 200
    assert c.get(f"/sta/v1.1/Datastreams({api.gauges[0]})/Thing").status_code == 200
    assert c.get("/open311/v2/requests.json").status_code == 200
    assert len(seen) >= 6 and not any(seen), seen


# OGC 18-088 conformance (issue 23) ------------------------------------------------------------

def test_bad_requests_answer_400_on_sensorthings_only(api: SensingApi) -> None:
    """SensorThings says 400 Bad Request for a malformed query or body (cityops' other APIs
    keep 422); an unknown member or a missing required one (a Sensor's encodingType) is a 400,
    never a 201 with the member dropped or a default put in."""
    h = api.h("gw1")
    assert api.client.get(f"{STA}/Things", params={"$filter": "name eq"}).status_code == 400
    assert api.client.get(f"{STA}/Things", params={"$top": "x"}).status_code == 400
    assert api.client.post(f"{STA}/Things", content=b"{not json", headers=h).status_code == 400
    r = api.client.post(f"{STA}/Sensors", json={"name": "s", "description": "d", "metadata": "m"}, headers=h)
    assert r.status_code == 400 and "encodingType" in r.json()["message"]
    r = api.client.post(f"{STA}/Things", json={"name": "t", "description": "d", "colour": "red"}, headers=h)
    assert r.status_code == 400 and "colour" in r.json()["message"]
    r = api.client.post(f"{STA}/Things", json={"name": "t", "Datastreams": [{"name": "d", "bogus": 1}]}, headers=h)
    assert r.status_code == 400 and "bogus" in r.json()["message"]
    r = api.client.post(f"{STA}/Observations", json={"result": 1, "Datastream": {"@iot.id": 1}, "x": 2}, headers=h)
    assert r.status_code == 400
    ok = api.client.post(f"{STA}/Things", json={"name": "t", "@iot.selfLink": "ignored"}, headers=h)
    assert ok.status_code == 201
    # The other APIs keep 422 for invalid input.
    assert api.client.get("/api/v1/cases", params={"limit": "x"}, headers=api.h("admin")).status_code == 422


def _deep_thing(name: str, observations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "description": "deep", "Locations": [
        {"name": f"loc {name}", "description": "", "encodingType": "application/geo+json",
         "location": {"type": "Point", "coordinates": [101.5, 11.5]}}],
        "Datastreams": [{"name": f"ds {name}", "description": "", "unitOfMeasurement": {"symbol": "cm"},
                         "observationType": OM, "properties": {"kind": "other"},
                         "Sensor": {"name": f"s {name}", "encodingType": "text/html", "metadata": "m"},
                         "ObservedProperty": {"name": f"p {name}", "definition": "x"},
                         "Observations": observations}]}


def test_deep_insert_creates_observations_and_features(api: SensingApi) -> None:
    """Deep insert stores inline Observations (through the ingest path); a FeatureOfInterest
    is made from the Thing's Location when none is given, and one given is honoured."""
    h = api.h("gw1")
    now = utcnow().replace(microsecond=0)
    obs = [{"phenomenonTime": iso(now - timedelta(minutes=k)), "result": float(k)} for k in (3, 2, 1)]
    r = api.client.post(f"{STA}/Things", json=_deep_thing("深 deep-1", obs), headers=h)
    assert r.status_code == 201, r.text
    ds = api.client.get(f"{STA}/Things({r.json()['@iot.id']})/Datastreams").json()["value"][0]["@iot.id"]
    got = api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$orderby": "phenomenonTime"}).json()
    assert [o["result"] for o in got["value"]] == [3.0, 2.0, 1.0]
    foi = api.client.get(f"{STA}/Observations({got['value'][0]['@iot.id']})/FeatureOfInterest").json()
    assert foi["feature"]["coordinates"] == [101.5, 11.5] and foi["name"] == "loc 深 deep-1"
    # POST /Datastreams with inline Observations, and an inline FeatureOfInterest honoured.
    thing = r.json()["@iot.id"]
    body = {"name": "ds2", "unitOfMeasurement": {"symbol": "cm"}, "observationType": OM,
            "Thing": {"@iot.id": thing}, "Sensor": {"@iot.id": 1}, "ObservedProperty": {"@iot.id": 1},
            "Observations": [{"phenomenonTime": iso(now - timedelta(minutes=9)), "result": 7.0,
                              "FeatureOfInterest": {"name": "kerb", "encodingType": "application/geo+json",
                                                    "feature": {"type": "Point", "coordinates": [101.6, 11.6]}}}]}
    r2 = api.client.post(f"{STA}/Datastreams", json=body, headers=h)
    assert r2.status_code == 201, r2.text
    ds2 = r2.json()["@iot.id"]
    o2 = api.client.get(f"{STA}/Datastreams({ds2})/Observations", params={"$expand": "FeatureOfInterest"}).json()
    assert [o["result"] for o in o2["value"]] == [7.0] and o2["value"][0]["FeatureOfInterest"]["name"] == "kerb"
    # POST FeaturesOfInterest(id)/Observations: the Observation's FeatureOfInterest is that one.
    fid = foi["@iot.id"]
    r3 = api.client.post(f"{STA}/FeaturesOfInterest({fid})/Observations", headers=h,
                         json={"Datastream": {"@iot.id": ds2}, "phenomenonTime": iso(now - timedelta(minutes=8)),
                               "result": 8.0})
    assert r3.status_code == 201, r3.text
    assert api.client.get(r3.headers["Location"] + "/FeatureOfInterest").json()["@iot.id"] == fid
    # A refused inline Observation refuses the whole deep insert (one transaction): nothing made.
    bad = _deep_thing("深 deep-bad", [{"phenomenonTime": "2099-01-01T00:00:00Z", "result": 1.0}])
    assert api.client.post(f"{STA}/Things", json=bad, headers=h).status_code == 400
    assert api.client.get(f"{STA}/Things", params={"$filter": "name eq '深 deep-bad'"}).json()["value"] == []


def test_post_locations_things_makes_the_link(api: SensingApi) -> None:
    h = api.h("gw1")
    loc = api.client.post(f"{STA}/Locations", headers=h, json={
        "name": "L", "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [102.0, 12.0]}}).json()["@iot.id"]
    r = api.client.post(f"{STA}/Locations({loc})/Things", json={"name": "T at L"}, headers=h)
    assert r.status_code == 201, r.text
    things = api.client.get(f"{STA}/Locations({loc})/Things").json()["value"]
    assert [t["@iot.id"] for t in things] == [r.json()["@iot.id"]]


def test_historical_locations(api: SensingApi) -> None:
    """A Thing's Location change is recorded as a HistoricalLocation: the set is at the root,
    linked from Things and Locations; a new Location replaces the Thing's earlier one."""
    h = api.h("gw1")
    root = [v["name"] for v in api.client.get(STA).json()["value"]]
    assert "HistoricalLocations" in root
    tid, _ = _new_thing(api, "历史 hist-1", 103.0, 13.0)
    thing = api.client.get(f"{STA}/Things({tid})").json()
    first = api.client.get(thing["HistoricalLocations@iot.navigationLink"]).json()["value"]
    assert len(first) == 1 and first[0]["time"].endswith("Z")
    r = api.client.post(f"{STA}/Things({tid})/Locations", headers=h, json={
        "name": "moved", "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [103.1, 13.1]}})
    assert r.status_code == 201, r.text
    assert [x["name"] for x in api.client.get(f"{STA}/Things({tid})/Locations").json()["value"]] == ["moved"]
    hls = api.client.get(f"{STA}/Things({tid})/HistoricalLocations",
                         params={"$orderby": "time desc", "$expand": "Locations"}).json()["value"]
    assert len(hls) == 2 and hls[0]["Locations"][0]["name"] == "moved"
    loc = api.client.get(f"{STA}/Locations({r.json()['@iot.id']})").json()
    assert api.client.get(loc["HistoricalLocations@iot.navigationLink"]).json()["value"][0]["@iot.id"] == hls[0]["@iot.id"]
    assert api.client.get(f"{STA}/HistoricalLocations({hls[0]['@iot.id']})/Thing").json()["@iot.id"] == tid
    made = api.client.post(f"{STA}/HistoricalLocations", headers=h, json={
        "time": "2026-01-01T00:00:00Z", "Thing": {"@iot.id": tid}, "Locations": [{"@iot.id": loc["@iot.id"]}]})
    assert made.status_code == 201, made.text
    assert made.json()["time"] == "2026-01-01T00:00:00.000Z"
    assert api.client.delete(f"{STA}/HistoricalLocations({made.json()['@iot.id']})", headers=h).status_code == 200
    assert api.client.delete(f"{STA}/Things({tid})", headers=h).status_code == 200
    gone = api.client.get(f"{STA}/HistoricalLocations", params={"$filter": f"Thing/id eq {tid}"}).json()["value"]
    assert gone == []
    # POST on navigation links: Sensors(id)/Datastreams links the Sensor; a nonsense one is 404.
    tid2, _ = _new_thing(api, "历史 hist-2")
    r = api.client.post(f"{STA}/Sensors(1)/Datastreams", headers=h, json={
        "name": "under sensor", "unitOfMeasurement": {}, "observationType": OM, "Thing": {"@iot.id": tid2},
        "ObservedProperty": {"@iot.id": 1}})
    assert r.status_code == 201, r.text
    assert api.client.get(f"{STA}/Datastreams({r.json()['@iot.id']})/Sensor").json()["@iot.id"] == 1
    assert api.client.post(f"{STA}/Sensors(1)/Things", headers=h, json={"name": "x"}).status_code == 404
    assert api.client.post(f"{STA}/Sensors(99999999)/Datastreams", headers=h, json={}).status_code in (400, 404)


def test_ref_links_and_put(api: SensingApi) -> None:
    """`$ref`: GET gives selfLinks only; POST/PUT make a link, DELETE removes one. PUT replaces
    an entity: what it leaves out takes its default; a required member missing is a 400."""
    h = api.h("gw1")
    tid, ds = _new_thing(api, "引用 ref-1", 104.0, 14.0)
    refs = api.client.get(f"{STA}/Things({tid})/Datastreams/$ref").json()
    assert refs["value"] == [{"@iot.selfLink": f"http://testserver{STA}/Datastreams({ds})"}]
    assert api.client.get(f"{STA}/Datastreams({ds})/Thing/$ref").json() == {
        "@iot.selfLink": f"http://testserver{STA}/Things({tid})"}
    loc = api.client.post(f"{STA}/Locations", headers=h, json={
        "name": "L2", "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [104.1, 14.1]}}).json()["@iot.id"]
    assert api.client.post(f"{STA}/Things({tid})/Locations/$ref", json={"@iot.id": loc}, headers=h).status_code == 201
    assert [x["@iot.id"] for x in api.client.get(f"{STA}/Things({tid})/Locations").json()["value"]] == [loc]
    assert api.client.delete(f"{STA}/Things({tid})/Locations({loc})/$ref", headers=h).status_code == 200
    assert api.client.get(f"{STA}/Things({tid})/Locations").json()["value"] == []
    tid2, _ = _new_thing(api, "引用 ref-2")
    r = api.client.put(f"{STA}/Datastreams({ds})/Thing/$ref", headers=h,
                       json={"@iot.selfLink": f"http://testserver{STA}/Things({tid2})"})
    assert r.status_code == 200
    assert api.client.get(f"{STA}/Datastreams({ds})/Thing").json()["@iot.id"] == tid2
    assert api.client.delete(f"{STA}/Datastreams({ds})/Thing({tid2})/$ref", headers=h).status_code == 400
    assert api.client.post(f"{STA}/Things({tid})/Locations/$ref", json={"@iot.id": 99999999},
                           headers=h).status_code == 404
    assert api.client.post(f"{STA}/Things({tid})/Locations/$ref", json={"x": 1}, headers=h).status_code == 400
    # PUT: a full replace.
    api.client.patch(f"{STA}/Things({tid})", json={"properties": {"a": 1}, "description": "d"}, headers=h)
    r = api.client.put(f"{STA}/Things({tid})", json={"name": "replaced"}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["description"], r.json()["properties"]) == ("replaced", "", {})
    assert api.client.put(f"{STA}/Things({tid})", json={"description": "no name"}, headers=h).status_code == 400
    assert api.client.put(f"{STA}/Things({tid})", json={"name": "x"}).status_code == 401


def test_every_filter_function(api: SensingApi) -> None:
    """OGC 18-088 Table 14's functions: string, date/time and geometry ones."""
    tid, ds = _new_thing(api, "函数 fn-abc", 105.0, 15.0)
    api.client.patch(f"{STA}/Things({tid})", json={"description": "alpha"}, headers=api.h("gw1"))
    when = "2026-03-04T05:06:07.250Z"
    r = api.client.post(f"{STA}/Datastreams({ds})/Observations", json={"phenomenonTime": when, "result": 2.0},
                        headers=api.h("gw1"))
    assert r.status_code == 201, r.text

    def things(f: str) -> list[int]:
        r = api.client.get(f"{STA}/Things", params={"$filter": f})
        assert r.status_code == 200, (f, r.text)
        return [t["@iot.id"] for t in r.json()["value"]]

    def obs(f: str) -> int:
        r = api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$filter": f})
        assert r.status_code == 200, (f, r.text)
        return len(r.json()["value"])

    assert things("substring(description, 1) eq 'lpha'") == [tid]
    assert things("substring(description, 1, 2) eq 'lp' and name eq '函数 fn-abc'") == [tid]
    assert things("concat(concat(description, '-'), 'x') eq 'alpha-x'") == [tid]
    assert obs("fractionalseconds(phenomenonTime) eq 0.25") == 1
    assert obs("totaloffsetminutes(phenomenonTime) eq 0") == 1
    assert obs("date(phenomenonTime) eq 2026-03-04") == 1
    assert obs("date(phenomenonTime) eq date(2026-03-04T05:00:00Z)") == 1
    assert obs("time(phenomenonTime) eq 05:06:07.25") == 1 and obs("time(phenomenonTime) lt 05:06:07") == 0
    assert obs("phenomenonTime gt mindatetime() and phenomenonTime lt maxdatetime()") == 1
    assert obs("phenomenonTime lt now()") == 1
    assert things("name eq '函数 fn-abc' and geo.length(Locations/location) eq 0") == [tid]
    locs = f"{STA}/Locations"
    poly = "POLYGON((104.9 14.9, 105.1 14.9, 105.1 15.1, 104.9 15.1, 104.9 14.9))"
    edge = "LINESTRING(105 14, 105 16)"

    def located(f: str) -> bool:
        r = api.client.get(locs, params={"$filter": f"name eq '函数 fn-abc' and {f}"})
        assert r.status_code == 200, (f, r.text)
        return len(r.json()["value"]) == 1

    assert located(f"st_touches(location, geography'{edge}')") is False  # a point on a line is within it
    assert located(f"st_within(location, geography'{poly}')")
    assert located(f"st_overlaps(location, geography'{poly}')") is False
    assert located(f"st_crosses(location, geography'{edge}')") is False
    assert located(f"st_relate(location, geography'{poly}', 'T********')")
    assert located(f"geo.length(geography'{edge}') eq 2")
    for f in ("substring(name) eq 'x'", "st_within(location, geography'POLYGON((1 2, 3')",
              f"st_relate(location, geography'{poly}', 'nonsense')", "st_within(location, 'POINT(1 2')",
              "st_within(location, name)", "geo.length(name) gt 1", "geo.distance(location, 'x') lt 1"):
        bad = api.client.get(locs, params={"$filter": f})
        assert bad.status_code == 400, (f, bad.text)


def test_orderby_follows_navigation_paths(api: SensingApi) -> None:
    """`$orderby=Thing/name` sorts Datastreams by their Thing's name (a value, not a filter)."""
    a, da = _new_thing(api, "排序 order-B")
    b, db = _new_thing(api, "排序 order-A")
    f = f"id eq {da} or id eq {db}"
    up = api.client.get(f"{STA}/Datastreams", params={"$filter": f, "$orderby": "Thing/name"}).json()["value"]
    assert [d["@iot.id"] for d in up] == [db, da]
    down = api.client.get(f"{STA}/Datastreams", params={"$filter": f, "$orderby": "Thing/name desc"})
    assert [d["@iot.id"] for d in down.json()["value"]] == [da, db]
    things = api.client.get(f"{STA}/Things", params={"$filter": f"id eq {a} or id eq {b}",
                                                       "$orderby": "Locations/name desc, id"}).json()["value"]
    assert [t["@iot.id"] for t in things] == [a, b]
    assert api.client.get(f"{STA}/Datastreams", params={"$orderby": "Nope/name"}).status_code == 400
    sym = api.client.get(f"{STA}/Datastreams", params={"$filter": f"({f}) and unitOfMeasurement/symbol eq 'cm'"})
    assert len(sym.json()["value"]) == 2


def test_root_conformance_lists_what_is_implemented(api: SensingApi) -> None:
    settings = api.client.get(STA).json()["serverSettings"]
    conf = settings["conformance"]
    req = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
    for c in ("create-update-delete/update-entity-jsonpatch", "create-update-delete/historical-location-auto-creation",
              "create-update-delete/deep-insert", "request-data", "data-array/data-array"):
        assert req + c in conf
    assert not any("batch" in c or "multi-datastream" in c or "receive-updates" in c or "mqtt" in c for c in conf)
    assert not any("resultTime is not stored" in d for d in settings["cityops:deviations"])
    assert any("cityops/gw/" in d for d in settings["cityops:deviations"])


def test_patch_a_things_locations_and_a_historical_locations_time(api: SensingApi) -> None:
    h = api.h("gw1")
    tid, _ = _new_thing(api, "补丁 patch-loc", 106.0, 16.0)
    loc = api.client.post(f"{STA}/Locations", headers=h, json={
        "name": "P2", "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [106.1, 16.1]}}).json()["@iot.id"]
    r = api.client.patch(f"{STA}/Things({tid})", json={"Locations": [{"@iot.id": loc}]}, headers=h)
    assert r.status_code == 200, r.text
    assert [x["@iot.id"] for x in api.client.get(f"{STA}/Things({tid})/Locations").json()["value"]] == [loc]
    hl = api.client.get(f"{STA}/Things({tid})/HistoricalLocations").json()["value"]
    assert len(hl) == 2
    r = api.client.patch(f"{STA}/HistoricalLocations({hl[0]['@iot.id']})", json={"time": "2020-01-01T00:00:00Z"},
                         headers=h)
    assert r.status_code == 200 and r.json()["time"] == "2020-01-01T00:00:00.000Z"
    assert api.client.patch(f"{STA}/HistoricalLocations({hl[0]['@iot.id']})", json={"time": "x"},
                            headers=h).status_code == 400


def test_edge_cases_are_4xx_not_silent(api: SensingApi) -> None:
    h = api.h("gw1")
    tid, ds = _new_thing(api, "边界 edge-1")
    r = api.client.post(f"{STA}/Observations", headers=h, json={
        "Datastream": {"@iot.id": ds}, "result": 1, "phenomenonTime": "2026-01-01T00:00:00Z/2026-01-01T01:00:00Z"})
    assert r.status_code == 400 and "interval" in r.json()["message"]
    assert api.client.put(f"{STA}/Observations(1)", json={"result": 1}, headers=h).status_code == 404
    assert api.client.patch(f"{STA}/Observations(1)", json={"result": 1}, headers=h).status_code == 404
    # What a client read and sends back (its own id, its links) is no change.
    thing = api.client.get(f"{STA}/Things({tid})").json()
    r = api.client.patch(f"{STA}/Things({tid})", json={**thing, "name": "边界 edge-2"}, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "边界 edge-2"
    api.client.patch(f"{STA}/Things({tid})", json={"properties": {"a": [1, True]}}, headers=h)
    assert api.client.get(f"{STA}/Things({tid})/properties/$value").text == '{"a":[1,true]}'
    assert api.client.get(f"{STA}/Things({tid})/name/$value").text == "边界 edge-2"
    assert api.client.get(f"{STA}/Things({tid})/name/nonsense").status_code == 404


def test_deep_insert_of_every_entity(api: SensingApi) -> None:
    """A Sensor or ObservedProperty with inline Datastreams, a FeatureOfInterest with inline
    Observations; a to-many member that is not a list is a 400."""
    h = api.h("gw1")
    tid, ds = _new_thing(api, "深 deep-every")
    now = utcnow().replace(microsecond=0)
    r = api.client.post(f"{STA}/Sensors", headers=h, json={
        "name": "S deep", "encodingType": "text/html", "metadata": "m", "Datastreams": [
            {"name": "under S", "unitOfMeasurement": {}, "observationType": OM, "Thing": {"@iot.id": tid},
             "ObservedProperty": {"name": "OP deep", "definition": "d"},
             "Observations": [{"phenomenonTime": iso(now - timedelta(minutes=1)), "result": 1.5}]}]})
    assert r.status_code == 201, r.text
    under = api.client.get(f"{STA}/Sensors({r.json()['@iot.id']})/Datastreams").json()["value"]
    assert len(under) == 1
    assert api.client.get(f"{STA}/Datastreams({under[0]['@iot.id']})/Observations").json()["value"][0]["result"] == 1.5
    r = api.client.post(f"{STA}/ObservedProperties", headers=h, json={
        "name": "OP2", "definition": "d", "Datastreams": [
            {"name": "under OP", "unitOfMeasurement": {}, "observationType": OM, "Thing": {"@iot.id": tid},
             "Sensor": {"@iot.id": 1}}]})
    assert r.status_code == 201, r.text
    assert len(api.client.get(f"{STA}/ObservedProperties({r.json()['@iot.id']})/Datastreams").json()["value"]) == 1
    r = api.client.post(f"{STA}/FeaturesOfInterest", headers=h, json={
        "name": "F deep", "encodingType": "application/geo+json",
        "feature": {"type": "Point", "coordinates": [1.0, 2.0]},
        "Observations": [{"Datastream": {"@iot.id": ds}, "phenomenonTime": iso(now - timedelta(minutes=2)),
                          "result": 2.5}]})
    assert r.status_code == 201, r.text
    got = api.client.get(f"{STA}/FeaturesOfInterest({r.json()['@iot.id']})/Observations").json()["value"]
    assert [o["result"] for o in got] == [2.5]
    bad = api.client.post(f"{STA}/Things", headers=h, json={"name": "x", "Locations": 5})
    assert bad.status_code == 400


def test_a_feature_of_interest_is_held_to_the_writers_ownership(api: SensingApi) -> None:
    """A gateway cannot change another gateway's Datastream's FeatureOfInterest by posting an
    Observation with one (single or deep insert): refused as its reading would be."""
    from cityops.sensing.store import set_owner

    h = api.h("gw1")
    _, ds = _new_thing(api, "归属 owner-foi")
    api.platform.store.write(lambda repo: set_owner(repo.conn, [ds], "someone-else"))
    foi = {"name": "theirs", "encodingType": "application/geo+json",
           "feature": {"type": "Point", "coordinates": [1.0, 1.0]}}
    before = api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$top": "1"}).json()
    r = api.client.post(f"{STA}/Observations", headers=h, json={
        "Datastream": {"@iot.id": ds}, "result": 1.0, "FeatureOfInterest": foi})
    assert r.status_code == 400 and "not_owner" in r.json()["message"], r.text
    r = api.client.post(f"{STA}/FeaturesOfInterest", headers=h, json={
        **foi, "Observations": [{"Datastream": {"@iot.id": ds}, "result": 1.0}]})
    assert r.status_code == 400 and "not_owner" in r.json()["message"], r.text
    assert api.client.get(f"{STA}/FeaturesOfInterest", params={"$filter": "name eq 'theirs'"}).json()["value"] == []
    assert api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$top": "1"}).json() == before


def _new(api: SensingApi, path: str, body: dict[str, Any]) -> int:
    r = api.client.post(f"{STA}/{path}", json=body, headers=api.h("gw1"))
    assert r.status_code == 201, r.text
    return int(r.json()["@iot.id"])


def _ms(t: str) -> str:
    """A whole-second ISO time as the server writes it back (milliseconds)."""
    return t.removesuffix("Z") + ".000Z"


def _point(x: float, y: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [x, y]}


def test_result_time_is_kept_as_given_and_null_when_not(api: SensingApi) -> None:
    """§8.2.7: a supplied resultTime comes back as given (to the µs); none given reads null;
    PATCH sets or clears it; deep insert and the dataArray extension keep it; a reading deleted
    and made again at the same time does not inherit it."""
    h = api.h("gw1")
    now = utcnow().replace(microsecond=0) - timedelta(seconds=7)  # off the fixture's 5-minute steps
    t1, t2 = iso(now - timedelta(minutes=50)), iso(now - timedelta(minutes=49))
    given = (now - timedelta(minutes=40)).isoformat().replace("+00:00", ".123456Z")
    ds = api.gauges[0]
    a = api.client.post(f"{STA}/Datastreams({ds})/Observations", headers=h,
                        json={"phenomenonTime": t1, "resultTime": given, "result": 1.0})
    assert a.status_code == 201, a.text
    assert a.json()["resultTime"] == given
    assert api.client.get(a.headers["Location"]).json()["resultTime"] == given
    b = api.client.post(f"{STA}/Datastreams({ds})/Observations", headers=h, json={"phenomenonTime": t2, "result": 2.0})
    assert b.json()["resultTime"] is None and api.client.get(b.headers["Location"]).json()["resultTime"] is None
    listed = api.client.get(f"{STA}/Datastreams({ds})/Observations", params={"$filter": "resultTime ne null"}).json()
    assert [o["resultTime"] for o in listed["value"]] == [given]
    assert api.client.patch(b.headers["Location"], json={"resultTime": t2}, headers=h).json()["resultTime"] == _ms(t2)
    assert api.client.patch(b.headers["Location"], json={"resultTime": None}, headers=h).json()["resultTime"] is None
    assert api.client.post(f"{STA}/Datastreams({ds})/Observations", headers=h, json={
        "phenomenonTime": iso(now - timedelta(minutes=48)), "resultTime": "yesterday", "result": 1.0}).status_code == 400
    assert api.client.delete(a.headers["Location"], headers=h).status_code == 200
    again = api.client.post(f"{STA}/Datastreams({ds})/Observations", headers=h, json={"phenomenonTime": t1, "result": 3.0})
    assert again.headers["Location"] == a.headers["Location"]
    assert api.client.get(again.headers["Location"]).json()["resultTime"] is None
    links = api.client.post(f"{STA}/CreateObservations", headers=h, json=[{
        "Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result", "resultTime"],
        "dataArray": [[iso(now - timedelta(minutes=47)), 1.0, t2], [iso(now - timedelta(minutes=46)), 1.0, None]]}]).json()
    assert [api.client.get(x).json()["resultTime"] for x in links] == [_ms(t2), None]


def test_each_observation_has_its_own_feature_of_interest(api: SensingApi) -> None:
    """§8.2.8 as OGC's ets-sta10 checks it: without a FeatureOfInterest and without a Location
    to make one from, 400; one given stays that Observation's; later ones given none get one
    made from the Location (the same one each time); both navigations, $filter and $expand
    follow it; DELETE of a FeatureOfInterest takes exactly its Observations."""
    h = api.h("gw1")
    now = utcnow().replace(microsecond=0)
    thing = _new(api, "Things", {"name": "ets thing"})
    loc = _new(api, "Locations", {"name": "bow river", "encodingType": "application/geo+json",
                                  "location": _point(-114.05, 51.05)})
    station = _new(api, "FeaturesOfInterest", {"name": "weather station", "encodingType": "application/geo+json",
                                               "feature": _point(10, 10)})
    ds = _new(api, "Datastreams", {"name": "ets ds", "unitOfMeasurement": {}, "observationType": OM,
                                   "Thing": {"@iot.id": thing}, "Sensor": {"@iot.id": 1},
                                   "ObservedProperty": {"@iot.id": 1}})
    at = [iso(now - timedelta(minutes=m)) for m in (30, 29, 28)]
    bare = api.client.post(f"{STA}/Observations", headers=h,
                           json={"phenomenonTime": at[0], "result": 1.0, "Datastream": {"@iot.id": ds}})
    assert bare.status_code == 400 and "no_feature_of_interest" in bare.text
    o1 = _new(api, "Observations", {"phenomenonTime": at[0], "result": 8.5, "Datastream": {"@iot.id": ds},
                                    "FeatureOfInterest": {"@iot.id": station}})
    assert api.client.patch(f"{STA}/Things({thing})", json={"Locations": [{"@iot.id": loc}]}, headers=h).status_code == 200
    o2 = _new(api, "Observations", {"phenomenonTime": at[1], "result": 1.0, "Datastream": {"@iot.id": ds}})
    o3 = _new(api, "Observations", {"phenomenonTime": at[2], "result": 2.0, "Datastream": {"@iot.id": ds}})
    f1, f2, f3 = (api.client.get(f"{STA}/Observations({o})/FeatureOfInterest").json() for o in (o1, o2, o3))
    assert f1["@iot.id"] == station and f2["feature"] == _point(-114.05, 51.05) and f3["@iot.id"] == f2["@iot.id"]

    def ids(path: str, **params: str) -> list[int]:
        return sorted(x["@iot.id"] for x in api.client.get(f"{STA}/{path}", params=params).json()["value"])

    assert ids(f"FeaturesOfInterest({station})/Observations") == [o1]
    assert ids(f"FeaturesOfInterest({f2['@iot.id']})/Observations") == sorted([o2, o3])
    assert ids(f"Datastreams({ds})/Observations", **{"$filter": f"FeatureOfInterest/@iot.id eq {station}"}) == [o1]
    assert ids(f"Datastreams({ds})/Observations", **{"$filter": "FeatureOfInterest/name eq 'bow river'"}) == sorted([o2, o3])
    assert ids("FeaturesOfInterest", **{"$filter": "Observations/result eq 8.5"}) == [station]
    expanded = api.client.get(f"{STA}/Datastreams({ds})/Observations",
                              params={"$expand": "FeatureOfInterest($select=id)", "$orderby": "phenomenonTime"}).json()
    assert [o["FeatureOfInterest"]["@iot.id"] for o in expanded["value"]] == [station, f2["@iot.id"], f2["@iot.id"]]
    counted = api.client.get(f"{STA}/FeaturesOfInterest", params={
        "$filter": f"id eq {station}", "$expand": "Observations($count=true)"}).json()["value"][0]
    assert counted["Observations@iot.count"] == 1
    # DELETE the Datastream's (made) one: its readings go, the one with its own stays (result and resultTime kept).
    own = _new(api, "Observations", {"phenomenonTime": iso(now - timedelta(minutes=27)), "result": 4.0,
                                     "resultTime": at[2], "Datastream": {"@iot.id": ds},
                                     "FeatureOfInterest": {"@iot.id": station}})
    assert api.client.delete(f"{STA}/FeaturesOfInterest({f2['@iot.id']})", headers=h).status_code == 200
    assert [api.client.get(f"{STA}/Observations({o})").status_code for o in (o1, o2, o3, own)] == [200, 404, 404, 200]
    kept = api.client.get(f"{STA}/Observations({own})").json()
    assert kept["result"] == 4.0 and kept["resultTime"] == _ms(at[2])
    assert api.client.delete(f"{STA}/FeaturesOfInterest({station})", headers=h).status_code == 200
    assert [api.client.get(f"{STA}/Observations({o})").status_code for o in (o1, own)] == [404, 404]
    assert api.client.get(f"{STA}/Datastreams({ds})").status_code == 200


def test_patch_links_by_reference_only_and_select_is_checked(api: SensingApi) -> None:
    """ets-sta10 invalidPatchEntities: a PATCH with an inline new related entity is a 400;
    `$select` of an unknown property is a 400; an expanded navigation property is listed
    without its link unless selected; st_contains with the geography first."""
    h = api.h("gw1")
    thing = _new(api, "Things", {"name": "patched"})
    inline = {"Locations": [{"name": "West Roof", "encodingType": "application/geo+json", "location": _point(1, 1)}]}
    assert api.client.patch(f"{STA}/Things({thing})", json=inline, headers=h).status_code == 400
    assert api.client.get(f"{STA}/Things({thing})/Locations").json()["value"] == []
    assert api.client.get(f"{STA}/Things", params={"$select": "nonsense"}).status_code == 400
    one = api.client.get(f"{STA}/Things({thing})", params={"$select": "name", "$expand": "Datastreams"}).json()
    assert set(one) == {"name", "Datastreams"}
    loc = _new(api, "Locations", {"name": "inside", "encodingType": "application/geo+json", "location": _point(-117, 51)})
    poly = "POLYGON((-118 50, -116 50, -116 52, -118 52, -118 50))"
    for expr in (f"st_contains(geography'{poly}', location)", f"st_within(location, geography'{poly}')",
                 f"st_relate(geography'{poly}', location, 'T*****FF*')"):
        got = api.client.get(f"{STA}/Locations", params={"$filter": expr}).json()["value"]
        assert loc in [x["@iot.id"] for x in got], expr


def test_single_observation_follows_the_citys_window(api: SensingApi) -> None:
    """A single POST is held to the city's window for readings (sensing.past_days): by default
    back to 2000-01-01 (ets-sta10 posts Observations of 2015), narrower where the city says."""
    h = api.h("gw1")
    body = {"phenomenonTime": "2015-03-01T00:40:00.000Z", "result": 8.0, "Datastream": {"@iot.id": api.gauges[1]}}
    r = api.client.post(f"{STA}/Observations", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert api.client.delete(r.headers["Location"], headers=h).status_code == 200
    api.platform.store.write(lambda repo: repo.set_setting("sensing.past_days", "366"))
    try:
        refused = api.client.post(f"{STA}/Observations", json=body, headers=h)
        assert refused.status_code == 400 and "sensing.past_days" in refused.json()["message"]
        early = {**body, "phenomenonTime": "1999-12-31T23:00:00Z"}
    finally:
        api.platform.store.write(lambda repo: repo.set_setting("sensing.past_days", ""))
    assert api.client.post(f"{STA}/Observations", json=early, headers=h).status_code == 400
