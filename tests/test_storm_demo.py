"""`cityops demo --storm`: warnings go out ahead of the water, gauge cases open and close."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as ET


def test_storm_day_warns_ahead_and_closes_its_cases(tmp_path: Path) -> None:
    from cityops.cases.service import verify_all
    from cityops.core import open_platform
    from cityops.sim.demo import run_demo

    db = tmp_path / "storm.db"
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
    finally:
        platform.close()
    assert len(issued) >= 5
    assert acknowledged >= len(issued)
    root = ET.fromstring(issued[0][0])
    assert root.tag == "{urn:oasis:names:tc:emergency:cap:1.2}alert"
    statuses = dict(sensor_cases)
    assert statuses.get("closed", 0) >= 5, statuses
