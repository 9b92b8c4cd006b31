"""Authorised operation (授权运营): a company applies, is granted, reads, is revoked and refused;
every step in the hash-chained access log; 可用不可见 grants run aggregates only, with small
cells suppressed and differential privacy (OpenDP) as the grant's budget says."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from click.testing import CliRunner

JIANGHAN = (114.2705, 30.5866)  # 江汉区 420103


def _cases(platform: Any, n: int, matter: str) -> None:
    from cityops.cases import service
    from cityops.cases.models import Actor, Role
    from cityops.core import utcnow

    report = service.NewReport(matter_code=matter, description="楼下垃圾堆放 / rubbish", lon=JIANGHAN[0],
                               lat=JIANGHAN[1], source="citizen_app", reporter="张三",
                               attributes={"contact": {"phone": "13800000000"}})
    actor = Actor("acceptor", Role.ACCEPTOR)
    platform.store.write(lambda repo: [service.intake(repo, platform, report, actor, utcnow()) for _ in range(n)])


def _company(api: Any) -> dict[str, str]:
    made = api.post("admin", "/api/v1/data/users", json={"name": "acme", "org_name": "某某科技有限公司",
                                                          "org_code": "91420100MA4K000000"})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


def _apply(api: Any, company: dict[str, str], product: str = "cases") -> int:
    r = api.client.post("/api/v1/data/market/applications", headers=company,
                        json={"product": product, "domain": "transport", "purpose": "物流配送路线避开施工与积水点",
                              "user_product": "城配路径规划"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _actions(api: Any) -> list[str]:
    return [e["action"] for e in api.get("admin", "/api/v1/data/log").json()["entries"]]


def test_apply_grant_read_revoke_refused_all_in_the_log(api: Any, tmp_path: Any) -> None:
    _cases(api.platform, 12, "01001")
    company = _company(api)
    app_id = _apply(api, company)
    assert api.client.post("/api/v1/data/market/applications", json={}, headers={}).status_code in (401, 422)
    assert api.client.get("/api/v1/data/products/cases/rows").status_code == 401  # no credential
    assert api.post("collector", f"/api/v1/data/applications/{app_id}/grant", json={"fields": ["status"]}) \
        .status_code == 403
    bad = api.post("admin", f"/api/v1/data/applications/{app_id}/grant", json={"fields": ["description"]})
    assert bad.status_code == 422 and "授权字段" in bad.json()["message_zh"]  # never a citizen's words
    granted = api.post("admin", f"/api/v1/data/applications/{app_id}/grant",
                       json={"fields": ["case_id", "matter_code", "district", "reported_at"], "districts": ["420103"],
                             "days": 30, "mode": "rows"})
    assert granted.status_code == 201, granted.text
    credential = {"Authorization": f"Bearer {granted.json()['credential']}"}
    read = api.client.get("/api/v1/data/products/cases/rows", headers=credential)
    assert read.status_code == 200, read.text
    rows = read.json()["rows"]
    assert len(rows) == 12 and set(rows[0]) == {"case_id", "matter_code", "district", "reported_at"}
    assert all(isinstance(r["case_id"], str) and len(r["case_id"]) == 16 for r in rows)  # pseudonyms
    assert rows[0]["reported_at"].endswith(":00Z") and "13800000000" not in read.text and "张三" not in read.text
    assert api.client.get("/api/v1/data/products/sensors/rows", headers=credential).status_code == 403
    assert api.post("admin", f"/api/v1/data/grants/{granted.json()['grant_id']}/revoke",
                    json={"reason": "合同终止"}).status_code == 200
    refused = api.client.get("/api/v1/data/products/cases/rows", headers=credential)
    assert refused.status_code == 403 and "已撤销" in refused.json()["message_zh"]
    assert _actions(api) == ["user.create", "apply", "grant", "read", "refused", "revoke", "refused"]
    log = api.get("admin", "/api/v1/data/log", params={"verify": "true"}).json()
    assert log["verified"] is True
    read_entry = next(e for e in log["entries"] if e["action"] == "read")
    assert read_entry["rows"] == 12 and read_entry["actor"] == "acme" and read_entry["product"] == "cases"
    assert read_entry["reason"] == "物流配送路线避开施工与积水点"

    # The owner checks the chain from the command line; an edited entry breaks it.
    from cityops.cli import main

    db = api.platform.store.path
    ok = CliRunner().invoke(main, ["data", "log", "--verify", "--db", str(db)])
    assert ok.exit_code == 0 and "verified" in ok.output, ok.output
    api.platform.store.write(lambda repo: repo.conn.execute(
        "UPDATE data_access_log SET data = replace(data, '12', '1') WHERE action = 'read'"))
    broken = CliRunner().invoke(main, ["data", "log", "--verify", "--db", str(db)])
    assert broken.exit_code == 1 and "edited" in broken.output


def test_a_disabled_data_user_is_refused_on_every_grant(api: Any) -> None:
    company = _company(api)
    cred = api.post("admin", f"/api/v1/data/applications/{_apply(api, company)}/grant",
                    json={"fields": ["status"]}).json()["credential"]
    read = {"Authorization": f"Bearer {cred}"}
    assert api.client.get("/api/v1/data/products/cases/rows", headers=read).status_code == 200
    assert api.post("admin", "/api/v1/data/users/acme/disable").status_code == 200
    refused = api.client.get("/api/v1/data/products/cases/rows", headers=read)
    assert refused.status_code == 403 and "停用" in refused.json()["message_zh"]
    assert api.client.get("/api/v1/data/market/applications", headers=company).status_code == 401
    from cityops.cli import main

    back = CliRunner().invoke(main, ["data", "user", "disable", "acme", "--enable", "--db",
                                     str(api.platform.store.path)])
    assert back.exit_code == 0, back.output
    assert api.client.get("/api/v1/data/products/cases/rows", headers=read).status_code == 200
    assert api.post("admin", "/api/v1/data/users/nobody/disable").status_code == 404


def test_the_credential_dies_with_the_grant_at_expiry(api: Any) -> None:
    from cityops.core import utcnow
    from cityops.data import grants

    company = _company(api)
    app_id = _apply(api, company)
    cred = api.post("admin", f"/api/v1/data/applications/{app_id}/grant",
                    json={"fields": ["status"], "days": 1}).json()["credential"]
    with api.platform.store.read() as repo:
        assert isinstance(grants.live_grant(repo.conn, cred, "cases", utcnow()), grants.Grant)
        late = grants.live_grant(repo.conn, cred, "cases", utcnow() + timedelta(days=1, seconds=1))
    assert isinstance(late, grants.Refused) and "已到期" in late.message_zh


def test_usable_not_visible_grant_releases_only_noisy_large_cells(api: Any) -> None:
    _cases(api.platform, 60, "01001")
    _cases(api.platform, 3, "01002")  # a small cell: never published
    company = _company(api)
    app_id = _apply(api, company)
    granted = api.post("admin", f"/api/v1/data/applications/{app_id}/grant",
                       json={"fields": ["matter_code", "district"], "mode": "inside", "min_cell": 10,
                             "epsilon": 0.5, "budget": 10.0})
    assert granted.status_code == 201, granted.text
    cred = {"Authorization": f"Bearer {granted.json()['credential']}"}
    rows = api.client.get("/api/v1/data/products/cases/rows", headers=cred)
    assert rows.status_code == 403 and "可用不可见" in rows.json()["message_zh"]
    assert api.client.post("/api/v1/data/products/cases/query", headers=cred,
                           json={"group_by": ["grid"]}).status_code == 422  # not granted
    noisy: list[int] = []
    for _ in range(20):  # 20 × ε 0.5 = the budget of 10
        r = api.client.post("/api/v1/data/products/cases/query", headers=cred, json={"group_by": ["matter_code"]})
        assert r.status_code == 200, r.text
        out = r.json()
        assert all(c["count"] >= 10 for c in out["cells"]) and out["epsilon"] == 0.5
        assert all(c["matter_code"] != "01002" for c in out["cells"])
        noisy.extend(c["count"] for c in out["cells"] if c["matter_code"] == "01001")
    # Laplace of scale 1/ε = 2: mean |noise| about 2; never the raw count every time.
    deviation = statistics.mean(abs(v - 60) for v in noisy)
    assert len(noisy) >= 18 and any(v != 60 for v in noisy) and 0.4 < deviation < 6, noisy
    spent = api.client.post("/api/v1/data/products/cases/query", headers=cred, json={"group_by": ["matter_code"]})
    assert spent.status_code == 403 and "预算" in spent.json()["message_zh"]
    assert api.get("admin", "/api/v1/data/log", params={"verify": "true"}).json()["verified"]


def test_aggregates_without_noise_still_suppress_small_cells(api: Any) -> None:
    _cases(api.platform, 11, "01001")
    _cases(api.platform, 4, "01002")
    company = _company(api)
    app_id = _apply(api, company)
    cred = api.post("admin", f"/api/v1/data/applications/{app_id}/grant",
                    json={"fields": ["matter_code"], "mode": "inside"}).json()["credential"]
    out = api.client.post("/api/v1/data/products/cases/query", headers={"Authorization": f"Bearer {cred}"},
                          json={"group_by": ["matter_code"]}).json()
    assert out["cells"] == [{"matter_code": "01001", "count": 11}] and out["suppressed"] == 1


def test_owner_decisions_are_checked(api: Any) -> None:
    company = _company(api)
    app_id = _apply(api, company)
    bad = api.client.post("/api/v1/data/market/applications", headers=company,
                          json={"product": "cases", "domain": "gambling", "purpose": "whatever", "user_product": "x"})
    assert bad.status_code == 422 and "领域" in bad.json()["message_zh"]
    dp_half = api.post("admin", f"/api/v1/data/applications/{app_id}/grant",
                       json={"fields": ["status"], "epsilon": 1.0})
    assert dp_half.status_code == 422
    assert api.post("admin", f"/api/v1/data/applications/{app_id}/reject", json={"reason": "用途不明"}).status_code == 200
    again = api.post("admin", f"/api/v1/data/applications/{app_id}/grant", json={"fields": ["status"]})
    assert again.status_code == 409
    assert api.client.get("/api/v1/data/market/applications", headers=company).json()[0]["status"] == "rejected"
    assert api.client.get("/api/v1/data/market/applications",
                          headers={"Authorization": "Bearer cdu_wrong"}).status_code == 401


def test_a_revocation_between_computing_and_releasing_wins(api: Any) -> None:
    """Rows are computed on a read snapshot, then released in a write that checks the grant
    again: a grant revoked in between releases nothing."""
    from cityops.core import utcnow
    from cityops.data import grants

    _cases(api.platform, 3, "01001")
    app_id = _apply(api, _company(api))
    made = api.post("admin", f"/api/v1/data/applications/{app_id}/grant", json={"fields": ["status"]}).json()
    with api.platform.store.read() as repo:
        prepared = grants.prepare_rows(repo, api.platform, made["credential"], "cases", 10, 0, utcnow())
    assert isinstance(prepared, grants.Prepared) and len(prepared.payload["rows"]) == 3
    api.post("admin", f"/api/v1/data/grants/{made['grant_id']}/revoke", json={})
    out = api.platform.store.write(lambda repo: grants.record(repo, api.platform, made["credential"], "cases",
                                                             prepared, "acme", utcnow()))
    assert isinstance(out, grants.Refused) and "已撤销" in out.message_zh
    assert _actions(api)[-2:] == ["revoke", "refused"]



def _race(platform: Any, work: Any) -> list[Any]:
    """`work(repo)` on two stores over one database (two servers) at once; each outcome, or
    the exception it raised. On PostgreSQL both transactions are open before either works."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import stores
    from cityops.store.sqlite import SqliteStore

    other = SqliteStore(str(platform.store.path))
    # SQLite runs one write transaction at a time: there is nothing to line up.
    both_open = threading.Barrier(2, timeout=20) if stores.POSTGRES else None

    def run(store: Any, who: str) -> Any:
        def fn(repo: Any) -> Any:
            if both_open is not None:
                repo.conn.execute("SELECT 1 FROM settings LIMIT 1")  # the transaction has begun
                both_open.wait()
            return work(repo, who)
        try:
            return store.write(fn)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            return exc

    try:
        with ThreadPoolExecutor(2) as pool:
            return [f.result() for f in [pool.submit(run, platform.store, "a"), pool.submit(run, other, "b")]]
    finally:
        other.close()


def test_two_servers_append_to_one_access_log_without_forking_it(platform: Any) -> None:
    """Both servers log at once: every entry chained once, in order, the chain intact."""
    from cityops.core import utcnow
    from cityops.data import accesslog

    def log(repo: Any, who: str) -> None:
        for i in range(20):
            accesslog.append(repo.conn, utcnow(), who, "owner", "user.create", None, "", n=i)

    for _ in range(2):
        assert _race(platform, log) == [None, None]
    with platform.store.read() as repo:
        assert accesslog.check(repo.conn) == []
        entries = accesslog.entries(repo.conn)
    assert [e.seq for e in entries] == list(range(1, 81))
    assert sorted((e.change.actor, e.change.data["n"]) for e in entries) == \
        sorted((who, i) for who in "ab" for i in range(20) for _ in range(2))


def test_two_servers_granting_one_application_make_one_grant(platform: Any) -> None:
    from cityops.core import utcnow
    from cityops.data import accesslog, grants
    from cityops.errors import Conflict

    platform.store.write(lambda repo: grants.create_user(repo.conn, "acme", "某某科技有限公司", "91420100MA4K000000",
                                                         "company", utcnow(), "owner"))
    app_id = platform.store.write(lambda repo: grants.apply(repo.conn, "acme", "cases", "transport",
                                                            "物流配送路线避开施工与积水点", "城配路径规划", utcnow()))
    terms = grants.Terms(fields=("case_id", "matter_code", "district", "reported_at"), days=7)
    outcomes = _race(platform, lambda repo, who: grants.grant(repo.conn, app_id, terms, who, set(), utcnow()))
    assert sorted(type(o).__name__ for o in outcomes) == sorted([Conflict.__name__, "tuple"]), outcomes
    with platform.store.read() as repo:
        assert repo.conn.execute("SELECT count(*) FROM data_grant").fetchone()[0] == 1
        assert accesslog.check(repo.conn) == []


def test_two_servers_never_spend_one_privacy_budget_twice(platform: Any) -> None:
    from cityops.core import utcnow
    from cityops.data import grants

    _cases(platform, 12, "01001")
    platform.store.write(lambda repo: grants.create_user(repo.conn, "acme", "某某科技有限公司", "91420100MA4K000000",
                                                         "company", utcnow(), "owner"))
    app_id = platform.store.write(lambda repo: grants.apply(repo.conn, "acme", "cases", "transport",
                                                            "物流配送路线避开施工与积水点", "城配路径规划", utcnow()))
    terms = grants.Terms(fields=("matter_code", "district"), mode="inside", min_cell=10, epsilon=0.5, budget=0.5)
    _, credential, _ = platform.store.write(lambda repo: grants.grant(repo.conn, app_id, terms, "owner", set(),
                                                                      utcnow()))
    outcomes = _race(platform, lambda repo, who: grants.run_query(repo, platform, credential, "cases",
                                                                  ["matter_code"], who, utcnow()))
    assert sorted(type(o).__name__ for o in outcomes) == ["Refused", "dict"], outcomes  # the budget holds one query
    with platform.store.read() as repo:
        assert repo.conn.execute("SELECT spent FROM data_grant").fetchone()[0] == 0.5
