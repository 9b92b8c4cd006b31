"""`cityops demo --storm`: warnings go out ahead of the water, gauge cases open and close, and
the served database lists the storm's warnings in the CAP feeds."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as ET

from stores import new_db
from test_cap import validate_atom, validate_everywhere

ATOM = "http://www.w3.org/2005/Atom"


def test_storm_day_warns_ahead_and_closes_its_cases(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.cases.service import verify_all
    from cityops.core import open_platform, utcnow
    from cityops.sim.demo import run_demo
    from cityops.store.codec import to_us

    db = new_db(tmp_path, "storm.db")
    run_demo(str(db), reports=20, seed=7, serve=False, host="127.0.0.1", port=0, storm=True)
    platform = open_platform(db)
    try:
        with platform.store.read() as repo:
            conn = repo.conn
            issued = conn.execute("SELECT cap_xml FROM warnings WHERE status = 'issued'").fetchall()
            acknowledged = conn.execute("SELECT count(*) FROM warning_dispatch WHERE acknowledged_at IS NOT NULL"
                                        ).fetchone()[0]
            sensor_cases = conn.execute("SELECT status, count(*) FROM cases WHERE source = 'sensor'"
                                        " AND matter_code = '01004' GROUP BY status").fetchall()
            assert not verify_all(repo)
            # Nothing is written ahead of the clock: history, photos, warnings, signatures.
            done = to_us(utcnow())
            for sql in ("SELECT max(at) FROM case_history", "SELECT max(uploaded_at) FROM attachments",
                        "SELECT max(created_at) FROM warnings", "SELECT max(approved_at) FROM warnings",
                        "SELECT max(sent) FROM warnings",
                        "SELECT max(acknowledged_at) FROM warning_dispatch", "SELECT max(reported_at) FROM cases"):
                latest = conn.execute(sql).fetchone()[0]
                assert latest is None or latest <= done, (sql, latest - done)
        # Served afterwards: the storm's warnings are still in force, listed in the feeds,
        # each entry linking to valid CAP.
        with TestClient(create_app(platform), base_url="http://testserver") as client:
            atom = client.get("/cap/alerts.atom")
            geojson = client.get("/cap/alerts.geojson").json()
            validate_atom(atom.content)
            links = [e.get("href") for e in ET.fromstring(atom.content).iterfind(f"{{{ATOM}}}entry/{{{ATOM}}}link")]
            assert links and len(geojson["features"]) == len(links)
            for link in links[:3]:
                xml = client.get(link)
                assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/cap+xml")
                validate_everywhere(xml.content)
    finally:
        platform.close()
    assert len(issued) >= 5
    assert acknowledged >= len(issued)
    root = ET.fromstring(issued[0][0])
    assert root.tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"
    statuses = dict(sensor_cases)
    assert statuses.get("closed", 0) >= 5, statuses
