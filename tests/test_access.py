"""Who may do what, beyond "has a token": subscriptions belong to someone, contacts only for
the roles that call back, outside CAP for supervisors, a second person approves a warning,
and the login throttle keys on the real client address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityops.core import utcnow
from conftest import Api, add_users
from stores import new_db

WUHAN = (114.3055, 30.5928)


# --- subscriptions belong to someone ---------------------------------------------------------


def keys(api: Api, *names: str, scope: str = "report") -> list[str]:
    from cityops.intake.open311.keys import new_key

    made = [new_key(n, scope, utcnow()) for n in names]
    api.platform.store.write(lambda repo: [repo.add_api_key(record) for _, record in made])
    return [plain for plain, _ in made]


def post_request(api: Api, key: str, **extra: str) -> dict[str, Any]:
    r = api.client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "06010", "lat": WUHAN[1], "long": WUHAN[0], "description": "垃圾", **extra})
    assert r.status_code == 200, r.text
    return r.json()[0]  # type: ignore[no-any-return]


def sub311(api: Api, rid: str, **data: str) -> Any:
    return api.client.post(f"/open311/v2/requests/{rid}/subscriptions.json", data=data)


def test_only_the_poster_or_the_token_holder_subscribes_through_open311(api: Api) -> None:
    poster, stranger = keys(api, "poster-app", "stranger-app")
    (office,) = keys(api, "office", scope="backoffice")
    answer = post_request(api, poster)
    rid = answer["service_request_id"]
    r = sub311(api, rid, api_key=stranger, email="spy@example.org")
    assert r.status_code == 403 and "token" in r.json()[0]["description"]
    assert sub311(api, rid, api_key=stranger, token="not-the-token", email="spy@example.org").status_code == 403
    assert sub311(api, rid, api_key=stranger, token=answer["token"], email="friend@example.org").status_code == 201
    assert sub311(api, rid, api_key=poster, email="me@example.org").status_code == 201
    assert sub311(api, rid, api_key=office, email="office@example.org").status_code == 201


def test_nobody_gets_the_reporters_token_to_unsubscribe_them(api: Api) -> None:
    (poster,) = keys(api, "poster-app")
    rid = post_request(api, poster, email="reporter@example.org")["service_request_id"]
    # The same address again, by the very app that may subscribe: a 409, and no token.
    r = sub311(api, rid, api_key=poster, email="reporter@example.org")
    assert r.status_code == 409 and "subscription_token" not in r.text
    r = api.post("acceptor", f"/api/v1/cases/{rid}/subscriptions",
                 json={"channel": "email", "address": "reporter@example.org"})
    assert r.status_code == 409 and "token" not in r.json()
    with api.platform.store.read() as repo:
        row = repo.conn.execute("SELECT origin, unsubscribed_at FROM notify_subscriptions WHERE address = ?",
                                ("reporter@example.org",)).fetchone()
    assert tuple(row) == ("reporter", None)  # still subscribed, and the return-visit link goes to them


def test_an_unsubscribed_address_comes_back_under_a_new_token(api: Api) -> None:
    case = api.report("acceptor").json()
    url = f"/api/v1/cases/{case['id']}/subscriptions"
    first = api.post("acceptor", url, json={"channel": "email", "address": "x@example.org"}).json()["token"]
    assert api.client.post(f"/n/{first}/unsubscribe").status_code == 200
    again = api.post("supervisor", url, json={"channel": "email", "address": "x@example.org"})
    assert again.status_code == 201 and again.json()["token"] != first
    assert api.client.get(f"/n/{first}").status_code == 404  # the old link is nobody's now


def test_a_collector_subscribes_only_to_cases_they_reported(api: Api) -> None:
    theirs = api.report("collector").json()
    other = api.report("acceptor").json()
    body = {"channel": "email", "address": "c@example.org"}
    assert api.post("collector", f"/api/v1/cases/{theirs['id']}/subscriptions", json=body).status_code == 201
    r = api.post("collector", f"/api/v1/cases/{other['id']}/subscriptions", json=body)
    assert r.status_code == 403 and r.json()["message_zh"]
    for who in ("acceptor", "supervisor", "admin"):
        ok = api.post(who, f"/api/v1/cases/{other['id']}/subscriptions",
                      json={"channel": "email", "address": f"{who}@example.org"})
        assert ok.status_code == 201, (who, ok.text)
    for who in ("dispatcher", "verifier", "dept-0"):
        assert api.post(who, f"/api/v1/cases/{other['id']}/subscriptions", json=body).status_code == 403


def test_a_case_hidden_from_the_public_feed_shows_an_app_nothing(api: Api) -> None:
    (poster,) = keys(api, "poster-app")
    # The city lists only citizen_app cases publicly: Open311 requests are not in the feed.
    api.platform.store.write(lambda repo: repo.set_setting("open311_public", orjson.dumps({"channels": ["citizen_app"]}).decode()))
    rid = post_request(api, poster, email="reporter@example.org")["service_request_id"]
    app = sub311(api, rid, api_key=poster, email="app@example.org")
    assert app.status_code == 201, app.text
    token = app.json()[0]["subscription_token"]
    api.act("acceptor", int(rid), "register")
    page = api.client.get(f"/n/{token}").text
    assert "不公开" in page and "not public" in page
    assert "已立案" not in page and "registered" not in page and f"#{rid}" not in page
    assert "/unsubscribe" in page
    with api.platform.store.read() as repo:
        rows = repo.conn.execute("SELECT s.origin FROM notify_outbox o JOIN notify_subscriptions s"
                                 " ON s.id = o.subscription_id WHERE o.case_id = ?", (int(rid),)).fetchall()
        reporter = repo.conn.execute("SELECT token FROM notify_subscriptions WHERE origin = 'reporter'"
                                     " AND case_id = ?", (int(rid),)).fetchone()[0]
    assert {r[0] for r in rows} == {"reporter"}  # the app hears nothing of a case the feed hides
    mine = api.client.get(f"/n/{reporter}").text
    assert "已立案" in mine  # the reporter sees their own case's public steps


# --- least privilege ------------------------------------------------------------------------


def test_triage_shows_contacts_only_to_those_who_call_back(api: Api) -> None:
    from cityops.intel import store

    result = {"matter_code": "06010", "confidence": 0.2, "top_k": [{"matter_code": "06010", "confidence": 0.2}],
              "model_version": 0}
    api.platform.store.write(lambda repo: store.add_triage(
        repo.conn, 0, "门口有垃圾", None, None, "open311", "", "open311:app", result, "low_confidence",
        {"contact": {"email": "secret@example.org", "phone": "13800138000"}, "open311": {"api_key": "app"}}))
    for who in ("acceptor", "supervisor", "admin"):
        item = api.get(who, "/api/v1/triage").json()["items"][0]
        assert item["attributes"]["contact"]["email"] == "secret@example.org", who
    r = api.get("collector", "/api/v1/triage")
    assert r.status_code == 200 and "secret@example.org" not in r.text and "13800138000" not in r.text
    assert r.json()["items"][0]["attributes"]["open311"] == {"api_key": "app"}


def test_outside_cap_only_from_supervisors(api: Api) -> None:
    for who in ("collector", "acceptor", "dispatcher", "verifier", "dept-0"):
        r = api.post(who, "/api/v1/warnings/incoming", content=b"<alert/>")
        assert r.status_code == 403, (who, r.status_code)
    for who in ("supervisor", "admin"):
        assert api.post(who, "/api/v1/warnings/incoming", content=b"<alert/>").status_code != 403


def _draft(api: Api, who: str) -> int:
    now = datetime.now(UTC)
    r = api.post(who, "/api/v1/warnings", json={
        "level": "yellow", "districts": ["420102"], "headline_zh": "黄色预警", "headline_en": "Yellow warning",
        "onset": now.isoformat(), "expires": (now + timedelta(hours=2)).isoformat()})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture
def two_supervisors(api: Api) -> Api:
    from cityops.auth.service import new_user

    api.tokens.update(add_users(api.platform, [new_user("supervisor2", "supervisor", None, "test-password-1", set())]))
    return api


def test_a_second_person_approves_a_warning(two_supervisors: Api) -> None:
    api = two_supervisors
    wid = _draft(api, "supervisor")
    r = api.post("supervisor", f"/api/v1/warnings/{wid}/approve")
    assert r.status_code == 403 and "two-person" in r.json()["message"] and "双人" in r.json()["message_zh"]
    assert api.post("supervisor2", f"/api/v1/warnings/{wid}/approve").status_code == 200
    issued = api.post("supervisor", f"/api/v1/warnings/{wid}/issue")  # the drafter may issue once approved
    assert issued.status_code == 200 and issued.json()["status"] == "issued"
    row = api.get("admin", f"/api/v1/warnings/{wid}").json()
    assert (row["created_by"], row["approved_by"], row["issued_by"]) == ("supervisor", "supervisor2", "supervisor")


def test_a_city_may_turn_the_two_person_rule_off(api: Api, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from cityops.cli import main

    db = str(api.platform.store.path)
    out = CliRunner().invoke(main, ["security", "set", "two_person", "off", "--db", db])
    assert out.exit_code == 0, out.output
    wid = _draft(api, "supervisor")
    assert api.post("supervisor", f"/api/v1/warnings/{wid}/approve").status_code == 200
    assert CliRunner().invoke(main, ["security", "set", "two_person", "maybe", "--db", db]).exit_code == 2


# --- the login throttle keys on the real client ---------------------------------------------


def test_forwarded_headers_are_believed_only_from_trusted_proxies() -> None:
    from cityops.security.proxies import client_address
    from cityops.security.settings import networks

    proxy = networks("10.0.0.0/24")
    assert client_address("203.0.113.5", ["1.2.3.4"], "5.6.7.8", ()) == "203.0.113.5"
    assert client_address("203.0.113.5", ["1.2.3.4"], None, proxy) == "203.0.113.5"  # not our proxy
    assert client_address("10.0.0.2", ["1.2.3.4"], None, proxy) == "1.2.3.4"
    # A client's own header stays to the left of what our proxies appended.
    assert client_address("10.0.0.2", ["9.9.9.9, 1.2.3.4, 10.0.0.7"], None, proxy) == "1.2.3.4"
    assert client_address("10.0.0.2", [], "1.2.3.4", proxy) == "1.2.3.4"
    assert client_address("::ffff:10.0.0.2", ["1.2.3.4"], None, proxy) == "1.2.3.4"
    assert client_address(None, ["1.2.3.4"], None, proxy) == "-"


def _logins(client: TestClient, n: int, forwarded: bool) -> list[int]:
    codes = []
    for i in range(n):
        headers = {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"} if forwarded else {}
        r = client.post("/api/v1/auth/token", json={"username": f"nobody{i}", "password": "wrong-password"},
                        headers=headers)
        codes.append(r.status_code)
    return codes


def test_a_changing_forwarded_header_does_not_get_round_the_lock(platform: Any) -> None:
    from cityops.api.app import create_app

    with TestClient(create_app(platform), client=("127.0.0.1", 40000)) as client:
        codes = _logins(client, 31, forwarded=True)
    assert codes[:30] == [401] * 30 and codes[30] == 429  # one address: locked after 30


def test_behind_a_named_proxy_each_client_counts_for_itself(platform: Any) -> None:
    from cityops.api.app import create_app

    platform.store.write(lambda repo: repo.set_setting("security.trusted_proxies", "127.0.0.1"))
    with TestClient(create_app(platform), client=("127.0.0.1", 40000)) as client:
        assert _logins(client, 31, forwarded=True) == [401] * 31


def test_cityops_serve_does_not_let_uvicorn_trust_forwarded_headers(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real uvicorn with the settings `cityops serve` gives it: a client on 127.0.0.1 (which
    uvicorn trusts by default) changing X-Forwarded-For on every try is still one address."""
    import threading
    import time

    import httpx
    import uvicorn

    from cityops.api import app
    from open311_server import free_port

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(app.signal, "signal", lambda *a: None)
    app.serve(platform, "127.0.0.1", 0)
    assert seen["proxy_headers"] is False
    options = {k: v for k, v in seen.items() if k not in ("host", "port")}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app.create_app(platform), host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        codes = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for i in range(31):
                r = client.post("/api/v1/auth/token", json={"username": f"nobody{i}", "password": "wrong-password"},
                                headers={"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"})
                codes.append(r.status_code)
        assert codes[:30] == [401] * 30 and codes[30] == 429
    finally:
        server.should_exit = True
        thread.join(10)


def test_trusted_proxies_are_set_by_the_cli(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.core import open_platform

    db = new_db(tmp_path, "c.db")
    open_platform(db).close()
    assert CliRunner().invoke(main, ["security", "set", "trusted_proxies", "10.0.0.0/24, 192.0.2.1", "--db", db]).exit_code == 0
    assert "security.trusted_proxies = 10.0.0.0/24,192.0.2.1/32" in CliRunner().invoke(main, ["security", "show", "--db", db]).output

