"""Drone patrols: flight plans cover their grid, detections open cases once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.core import utcnow
from cityops.field import drone, plan
from conftest import Api, shared_file
from field_support import quick_api
from stores import new_db

LON, LAT = 114.3055, 30.5928


def hours_ago(h: float) -> datetime:
    """Detections are dated within the city's window (30 days back, 5 minutes ahead)."""
    return (utcnow() - timedelta(hours=h)).replace(microsecond=0)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with quick_api(new_db(tmp_path_factory.mktemp("drone"), "t.db")) as a:
        yield a


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grid=st.integers(0, 185), altitude=st.floats(40, 300), side=st.floats(0.05, 0.8), front=st.floats(0.05, 0.8))
def test_flight_plans_cover_their_grid(demo_city: object, grid: int, altitude: float, side: float, front: float) -> None:
    code = demo_city.patrol_grids[grid].code  # type: ignore[attr-defined]
    fp = plan.flight_plan(demo_city, code, altitude, plan.Camera(side_overlap=side, front_overlap=front))  # type: ignore[arg-type]
    assert fp.coverage >= 0.95
    assert fp.sorties >= fp.minutes / 30 and len(fp.photos) >= 2


def test_plan_over_http(api: Api) -> None:
    code = api.platform.city.patrol_grids[0].code
    r = api.get("supervisor", f"/api/v1/drone/plan/{code}?altitude_m=100&side_overlap=0.2")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["coverage"] >= 0.95 and body["path"] and body["lane_spacing_m"] < body["footprint_m"][0]
    assert api.get("supervisor", "/api/v1/drone/plan/nowhere").status_code == 422
    assert api.get("supervisor", f"/api/v1/drone/plan/{code}?altitude_m=5").status_code == 422


def test_uavdt_detections_replayed_open_each_case_once(api: Api) -> None:
    text = shared_file("drone/uavdt_M0101_gt_whole.txt").read_text()
    doc = drone.uavdt_detections(text, "M0101-demo", LON, LAT, hours_ago(5), frames=40)
    tracks = {d["track_id"] for d in doc["detections"] if d["label"] in ("1", "2")}
    first = api.post("supervisor", "/api/v1/drone/detections", json=doc)
    assert first.status_code == 200, first.text
    one = first.json()
    assert one["opened"] + one["joined"] == len(tracks) and one["opened"] >= 1
    again = api.post("supervisor", "/api/v1/drone/detections", json=doc).json()
    assert again["opened"] == 0 and again["joined"] == 0 and again["case_ids"] == one["case_ids"]
    case = api.get("admin", f"/api/v1/cases/{one['case_ids'][0]}").json()
    # The case names who posted the detections; the drone is a device label beside it.
    assert case["source"] == "drone" and case["matter_code"] == "09009" and case["reporter"] == "supervisor"
    assert case["attributes"]["drone"]["device"] == "UAV-01"
    hist = api.get("admin", f"/api/v1/cases/{case['id']}/history").json()["entries"]
    assert (hist[0]["actor"], hist[0]["role"]) == ("supervisor", "supervisor")


def test_near_an_open_case_joins_it_and_the_table_is_editable(api: Api) -> None:
    existing = api.report(matter_code="06010").json()
    when = hours_ago(4).isoformat()
    doc = {"flight": "F2", "drone": "UAV-02", "box_geo": True, "detections": [
        {"frame": 1, "track_id": 1, "label": "garbage", "confidence": 0.9, "box": [0, 0, 10, 10],
         "lon": existing["lon"] + 0.00003, "lat": existing["lat"], "time": when},
        {"frame": 1, "track_id": 2, "label": "garbage", "confidence": 0.2, "box": [0, 0, 10, 10],
         "lon": LON + 0.01, "lat": LAT, "time": when},
        {"frame": 1, "track_id": 3, "label": "kite", "confidence": 0.99, "box": [0, 0, 10, 10],
         "lon": LON + 0.02, "lat": LAT, "time": when},
    ]}
    out = api.post("supervisor", "/api/v1/drone/detections", json=doc).json()
    assert out["joined"] == 1 and out["opened"] == 0 and out["ignored"] == 2 and out["case_ids"] == [existing["id"]]
    # The city maps a new class; a collector may not edit the table.
    assert api.client.put("/api/v1/drone/classes", json={"kite": "07001"}, headers=api.h("collector")).status_code == 403
    assert api.client.put("/api/v1/drone/classes", json={"kite": "99999"}, headers=api.h("supervisor")).status_code == 422
    table = api.client.put("/api/v1/drone/classes", json={"kite": "07001"}, headers=api.h("supervisor")).json()
    assert table["kite"] == "07001"
    doc["flight"] = "F3"
    assert api.post("supervisor", "/api/v1/drone/detections", json=doc).json()["opened"] == 1


def test_detection_times_are_bounded_and_the_poster_is_the_actor(api: Api) -> None:
    """A collector's detection dated 2099 (or a year back) is refused with the field and the
    allowed range named; an accepted one names the collector, not the drone label they chose."""
    def doc(when: datetime, flight: str) -> dict[str, object]:
        return {"flight": flight, "drone": "UAV-spoofed", "box_geo": True, "detections": [
            {"frame": 1, "track_id": 1, "label": "garbage", "confidence": 0.9, "box": [0, 0, 9, 9],
             "lon": LON + 0.04, "lat": LAT, "time": hours_ago(1).isoformat()},
            {"frame": 2, "track_id": 1, "label": "garbage", "confidence": 0.9, "box": [0, 0, 9, 9],
             "lon": LON + 0.04, "lat": LAT, "time": when.isoformat()}]}
    for when in (datetime(2099, 1, 1, tzinfo=UTC), utcnow() + timedelta(minutes=30), utcnow() - timedelta(days=400)):
        r = api.post("collector", "/api/v1/drone/detections", json=doc(when, "FX"))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "time_out_of_range" and "detections[1].time" in body["message"]
        assert "allowed range" in body["message"] and "允许范围" in body["message_zh"]
    out = api.post("collector", "/api/v1/drone/detections", json=doc(utcnow() + timedelta(minutes=2), "FY")).json()
    assert out["opened"] == 1
    case = api.get("admin", f"/api/v1/cases/{out['case_ids'][0]}").json()
    assert case["reporter"] == "collector" and case["attributes"]["drone"]["device"] == "UAV-spoofed"
    assert datetime.fromisoformat(case["reported_at"]) <= utcnow()
    hist = api.get("admin", f"/api/v1/cases/{case['id']}/history").json()["entries"]
    assert hist[0]["actor"] == "collector" and "drone:" not in str(hist)


@pytest.mark.parametrize("body", [{}, {"flight": "x"}, {"flight": "x", "detections": [{"label": "car"}]},
                                  {"flight": "x", "detections": [{"label": "car", "box": [1, 2, 3, 4], "lon": 1,
                                                                  "lat": 2, "time": "2026-11-30T10:00:00"}]}])
def test_bad_detections(api: Api, body: dict[str, object]) -> None:
    r = api.post("supervisor", "/api/v1/drone/detections", json=body)
    assert r.status_code == 422 and r.json()["message_zh"]


def test_detection_image_becomes_the_cases_evidence(api: Api) -> None:
    import base64

    frame = shared_file("drone/dji_flir_issue-exifr-3.jpg").read_bytes()
    when = hours_ago(3).isoformat()
    doc = {"flight": "F9", "drone": "UAV-09", "box_geo": True, "detections": [
        {"frame": 1, "track_id": 7, "label": "overflowing_bin", "confidence": 0.8, "box": [0, 0, 9, 9],
         "lon": LON + 0.03, "lat": LAT, "time": when, "image": base64.b64encode(frame).decode()}]}
    out = api.post("supervisor", "/api/v1/drone/detections", json=doc).json()
    assert out["opened"] == 1
    cid = out["case_ids"][0]
    photos = api.get("admin", f"/api/v1/cases/{cid}/attachments").json()["attachments"]
    assert [p["stage"] for p in photos] == ["evidence"]
    # The DJI frame's EXIF says New Jersey: flagged, and stripped from what is served.
    assert "far_away" in {f["code"] for f in photos[0]["flags"]}
    assert b"drone-dji" not in api.get("admin", photos[0]["url"]).content
    api.post("supervisor", "/api/v1/drone/detections", json=doc)
    assert len(api.get("admin", f"/api/v1/cases/{cid}/attachments").json()["attachments"]) == 1
    doc["detections"][0]["image"] = "not base64!"
    assert api.post("supervisor", "/api/v1/drone/detections", json=doc).status_code == 422


def test_demo_flights_open_cases_once(api: Api) -> None:
    code = api.platform.city.patrol_grids[10].code
    start = hours_ago(6)
    day = start.date().isoformat()
    doc = drone.demo_flight(api.platform, code, day, start, finds=4)
    assert len(doc["detections"]) == 4
    first = api.platform.store.write(lambda repo: drone.ingest(repo, api.platform, drone.sightings(doc)))
    again = api.platform.store.write(
        lambda repo: drone.ingest(repo, api.platform, drone.sightings(drone.demo_flight(api.platform, code, day, start, 4))))
    assert first["opened"] + first["joined"] == 4 and again["replayed"] == 4 and again["opened"] == 0
