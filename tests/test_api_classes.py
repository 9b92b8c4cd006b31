"""Tests that look for classes of problems, not examples:

- the role × endpoint matrix is generated from the application's routes, so an endpoint is
  covered the day it is added: every route that is not on the public list refuses an
  anonymous caller with 401 (in the JSON error format), and declares so in OpenAPI; a
  department operator never sees another department's case through any case route;
- schemathesis generates requests from the whole OpenAPI document (bounded budget,
  in-process ASGI) and no answer may be a 5xx.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cityops.api.openapi import needs_token
from stores import new_db

# Routes anyone may call. A new route is not public until someone adds it here on purpose.
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/auth/token"), ("GET", "/docs"), ("GET", "/docs/static/{name}"),
    ("GET", "/openapi.json"),
    # Open311 GeoReport v2: public reads; its POSTs authenticate with an api_key instead.
    ("GET", "/open311/v2/discovery.{fmt}"), ("GET", "/open311/v2/services.{fmt}"),
    ("GET", "/open311/v2/services/{code}.{fmt}"), ("GET", "/open311/v2/service/{code}.{fmt}"),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"), ("GET", "/open311/v2/requests.{fmt}"),
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"), ("GET", "/open311/v2/servicerequestupdates.{fmt}"),
    ("POST", "/open311/v2/requests.{fmt}"), ("POST", "/open311/v2/servicerequestupdates.{fmt}"),
    # Open311 extensions (citizens): the api_key is checked in the handler, like the POSTs above.
    ("POST", "/open311/v2/requests/{request_id}/subscriptions.{fmt}"),
    ("GET", "/open311/v2/requests/{request_id}/questionnaire.{fmt}"),
    ("POST", "/open311/v2/requests/{request_id}/questionnaire.{fmt}"),
    # A citizen's own links: the unguessable token in the path is the credential.
    ("GET", "/r/{token}"), ("POST", "/r/{token}"), ("GET", "/n/{token}"),
    ("GET", "/n/{token}/unsubscribe"), ("POST", "/n/{token}/unsubscribe"),
    # Public warnings (CAP feeds) and how far each point's warnings can be trusted.
    ("GET", "/cap/alerts/{identifier}.xml"), ("GET", "/cap/alerts.atom"), ("GET", "/cap/alerts.geojson"),
    ("GET", "/api/v1/warnings/points/{point}/skill"),
    # SensorThings: public sensor data by default (a city setting requires a token for reads);
    # writes check the bearer token in the handler (tests/test_sta.py).
    ("GET", "/sta/v1.1/"), ("GET", "/sta/v1.1"), ("GET", "/sta/v1.1/{path:path}"),
    ("POST", "/sta/v1.1/CreateObservations"), ("POST", "/sta/v1.1/{path:path}"),
    ("PUT", "/sta/v1.1/{path:path}"), ("PATCH", "/sta/v1.1/{path:path}"), ("DELETE", "/sta/v1.1/{path:path}"),
    # The pages themselves (they log in through the API) and the city's public geography.
    ("GET", "/"), ("GET", "/m"), ("GET", "/m/"), ("GET", "/m/catalogue.json"), ("GET", "/m/{name}"),
    ("GET", "/api/v1/dashboard/layers"), ("GET", "/api/v1/dashboard/basemap"),
    # Public sensor data and active warnings, as the map draws them.
    ("GET", "/api/v1/dashboard/gauges"), ("GET", "/api/v1/dashboard/detectors"),
    ("GET", "/api/v1/dashboard/warnings"),
    # The names (zh, en) of the product's own lists of values: no city data in them.
    ("GET", "/api/v1/names"),
    # The same layers pushed as Server-Sent Events (a logged-out wall screen; no case data).
    ("GET", "/api/v1/dashboard/layer-events"),
    # The data catalogue's metadata, as a data portal publishes it: DCAT-AP and CKAN's Action API.
    ("GET", "/dcat/catalog.jsonld"), ("GET", "/dcat/catalog.ttl"), ("GET", "/api/v1/data/products"),
    ("GET", "/api/3/action/{action}"), ("POST", "/api/3/action/{action}"),
    ("GET", "/api/action/{action}"), ("POST", "/api/action/{action}"),
    # Data users: their own key (cdu_…) or a grant's credential (cdg_…) is checked in the handler
    # (tests/test_data_grants.py); the exchange: mutual TLS and signed messages (test_data_exchange.py).
    ("POST", "/api/v1/data/market/applications"), ("GET", "/api/v1/data/market/applications"),
    ("GET", "/api/v1/data/products/{product}/rows"), ("POST", "/api/v1/data/products/{product}/query"),
    ("POST", "/exchange/v1/pull"), ("POST", "/exchange/v1/reports"),
}
SAMPLE = {"case_id": "1", "action": "register", "fmt": "json", "code": "06010", "name": "swagger-ui.css",
          "token": "x", "request_id": "1"}


def concrete(path: str, **given: str) -> str:
    values = {**SAMPLE, **given}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), path)


def routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            out += [(m, route.path, route) for m in sorted(route.methods or ()) if m != "HEAD"]
    return out


def test_every_non_public_route_refuses_anonymous_callers(api: Any) -> None:
    seen = routes(api.client.app)
    assert len(seen) > 20
    doc = api.client.get("/openapi.json").json()
    for method, path, route in seen:
        if (method, path) in PUBLIC:
            continue
        assert needs_token(route.dependant), f"{method} {path} is neither public nor behind a token"
        for headers in ({}, {"Authorization": "Bearer cot_not-a-token"}, {"Authorization": "Basic eDp5"}):
            r = api.client.request(method, concrete(path), headers=headers, json={})
            assert r.status_code == 401, f"{method} {path} with {headers}: {r.status_code}"
            assert set(r.json()) == {"error", "message", "message_zh"}
        if route.include_in_schema:
            op = doc["paths"][route.path_format][method.lower()]
            assert op["security"] == [{"bearerAuth": []}], f"{method} {path} declares its bearer security"


# Case routes that must stay in the scope check below (reads that show a case's content).
CASE_READS = {"/api/v1/cases/{case_id}", "/api/v1/cases/{case_id}/history",
              "/api/v1/cases/{case_id}/summary", "/api/v1/cases/{case_id}/reply-draft"}


def test_department_scope_holds_on_every_case_route(api: Any) -> None:
    served = {path for method, path, _ in routes(api.client.app) if method == "GET"}
    assert not CASE_READS - served, CASE_READS - served
    case = api.report("acceptor").json()
    api.act("acceptor", case["id"], "register")
    owner = api.act("dispatcher", case["id"], "dispatch").json()["department"]
    other = next(code for code in api.tokens if code.startswith("WH-") and code != owner)
    for method, path, _ in routes(api.client.app):
        if "{case_id}" not in path:
            continue
        url = concrete(path, case_id=str(case["id"]), action="accept")
        r = api.client.request(method, url, headers=api.h(other), json={"reason": "x"})
        assert r.status_code in (403, 404), f"{method} {path}: {r.status_code} for another department"
    listed = api.get(other, "/api/v1/cases").json()
    assert case["id"] not in [c["id"] for c in listed["cases"]]
    for admin_only in ("/api/v1/users", "/api/v1/history/verify"):
        assert api.get(other, admin_only).status_code == 403


@pytest.fixture(scope="module")
def whole_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cityops.api.app import create_app
    from cityops.auth.service import issue_token, new_user
    from cityops.core import open_platform, utcnow

    platform = open_platform(new_db(Path(tmp_path_factory.mktemp("st")), "st.db"))

    def setup(repo: Any) -> str:
        repo.add_user(new_user("st-admin", "admin", None, "st-password-1", set()), utcnow())
        return issue_token(repo, "st-admin", utcnow())

    token = platform.store.write(setup)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    schema.token = token  # type: ignore[attr-defined]
    yield schema
    platform.close()


def test_no_request_the_openapi_document_allows_gets_a_5xx(whole_api: Any) -> None:
    """Every operation of the document, a few generated requests each (bounded budget)."""
    from hypothesis import given

    headers = {"Authorization": f"Bearer {whole_api.token}"}
    operations = [result.ok() for result in whole_api.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=4, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        no_5xx()


# --- the role × endpoint matrix: docs/api.md's "Who may call what" table, called as every role ---
DOCS = Path(__file__).resolve().parents[1] / "docs"
TESTED_ROLES = ("collector", "acceptor", "dispatcher", "verifier", "supervisor", "admin", "department", "sensor")


def documented_roles() -> dict[tuple[str, str], frozenset[str]]:
    text = (DOCS / "api.md").read_text("utf-8")
    table = text.split("<!-- roles-table")[1].split("<!-- /roles-table -->")[0]
    out = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue
        said = re.sub(r"\(.*?\)", "", cells[2])  # parenthesised notes are not roles
        roles = frozenset(r.strip() for r in said.split(",") if r.strip())
        assert roles <= set(TESTED_ROLES), f"unknown role in docs/api.md: {roles - set(TESTED_ROLES)}"
        out[(cells[0], cells[1].strip("`"))] = roles
    return out


def _draft_body() -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {"level": "yellow", "districts": ["420102"], "headline_zh": "黄色预警", "headline_en": "Yellow",
            "onset": now.isoformat(), "expires": (now + timedelta(hours=2)).isoformat()}


# A request per documented route that reaches its role check (a valid body where the body is
# read first). A route added to the table needs one here.
REQUESTS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/cases"): {"json": {"matter_code": "06010", "description": "垃圾", "lon": 114.3055, "lat": 30.5928}},
    ("POST", "/api/v1/users"): {"json": {"name": "matrix-user", "role": "collector", "password": "matrix-password-1"}},
    ("POST", "/api/v1/triage/{item}"): {"json": {"matter_code": "06010"}},
    ("POST", "/api/v1/cases/{case_id}/subscriptions"): {"json": {"channel": "email", "address": "m@example.org"}},
    ("POST", "/api/v1/revisits/{revisit_id}"): {"json": {"solved": True, "satisfaction": "satisfied"}},
    ("POST", "/api/v1/warnings"): {"json": _draft_body()},
    ("POST", "/api/v1/warnings/{warning_id}/update"): {"json": _draft_body()},
    ("POST", "/api/v1/warnings/incoming"): {"content": b"<alert/>"},
    ("POST", "/api/v1/warnings/webhooks"): {"json": {"url": "http://169.254.169.254/"}},
    ("POST", "/api/v1/observations"): {"content": b"", "headers": {"Content-Type": "application/x-ndjson"}},
}


def test_the_documented_roles_hold(api: Any) -> None:
    from cityops.auth.service import new_user
    from conftest import add_users

    api.tokens.update(add_users(api.platform, [new_user("gateway", "sensor", None, "sensor-password-1", set())]))
    who = {r: r for r in TESTED_ROLES} | {"department": "dept-0", "sensor": "gateway"}
    case = api.report("acceptor").json()  # not the collector's: a collector may not subscribe to it
    warning = api.post("dispatcher", "/api/v1/warnings", json=_draft_body()).json()["id"]
    served = {(m, p) for m, p, _ in routes(api.client.app)}
    rules = documented_roles()
    assert len(rules) >= 20
    for (method, path), allowed in rules.items():
        assert (method, path) in served, f"docs/api.md names {method} {path}, which is not served"
        url = concrete(path, case_id=str(case["id"]), warning_id=str(warning), item="999999", revisit_id="999999")
        spec = REQUESTS.get((method, path), {})
        for role in TESTED_ROLES:
            headers = {**api.h(who[role]), **spec.get("headers", {})}
            kw = {k: v for k, v in spec.items() if k != "headers"}
            r = api.client.request(method, url, headers=headers, **kw)
            if role in allowed:
                assert r.status_code != 403, f"{role} {method} {path}: 403, but docs/api.md allows it: {r.text}"
            else:
                assert r.status_code == 403, f"{role} {method} {path}: {r.status_code}, docs/api.md refuses it"


def test_the_workflow_table_is_the_workflow(api: Any) -> None:
    """docs/workflow.md's roles column equals the rules the workflow enforces."""
    from cityops.cases.models import Action, Role
    from cityops.cases.workflow import RULES

    words = {"the platform": Role.SYSTEM, **{r.value: r for r in Role}}
    text = (DOCS / "workflow.md").read_text("utf-8")
    seen = set()
    for line in text.split("## Actions")[1].split("\n\n## ")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[0].startswith("`"):
            continue
        names = [a.strip().strip("`") for a in cells[0].split("/")]
        said = re.sub(r"\(.*?\)", "", cells[4])
        if "anyone" in said:
            continue
        roles = frozenset(words[w.strip()] for w in said.split(",") if w.strip())
        for name in names:
            seen.add(name)
            assert RULES[Action(name)].roles == roles, f"{name}: docs say {sorted(roles)}, code {sorted(RULES[Action(name)].roles)}"
    assert len(seen) >= 12


# JSON documents that are not objects, or nested past any sane depth. SensorThings routes are
# checked by tests/test_sta.py (their ids and $skip have their own bounds).
ODD_BODIES = (b"null", b"5", b"[]", b'"text"', b"true", b"[" * 5000 + b"]" * 5000,
              b'{"a":' * 5000 + b"1" + b"}" * 5000)


def test_no_json_body_of_the_wrong_shape_gets_a_5xx(api: Any) -> None:
    """Every route that takes a body, as admin (past the token check, to the body's parsing),
    given `null`, `5` and the like: a 4xx in the JSON error format, a message a person can act on."""
    seen = [(m, p) for m, p, _ in routes(api.client.app) if m in ("POST", "PUT", "PATCH")
            and not p.startswith("/sta/")]
    assert len(seen) > 20
    for method, path in seen:
        for body in ODD_BODIES:
            r = api.client.request(method, concrete(path), content=body, headers={
                **api.h("admin"), "content-type": "application/json"})
            assert r.status_code < 500, f"{method} {path} with {body[:20]!r}: {r.status_code} {r.text[:300]}"
            if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
                answer = r.json()  # the project's error format, or Open311's [{code, description}]
                if isinstance(answer, dict) and isinstance(answer.get("error"), dict):  # CKAN's envelope
                    answer = answer["error"]
                said = answer.get("message") if isinstance(answer, dict) else answer[0].get("description")
                assert said, f"{method} {path}: {r.text[:300]}"


def test_uploads_declare_their_multipart_body(api: Any) -> None:
    """/docs can only send a file the OpenAPI document declares: the attachment upload names
    its multipart fields (file, stage with the stages the server takes)."""
    from cityops.field.attachments import STAGES

    op = api.client.get("/openapi.json").json()["paths"]["/api/v1/cases/{case_id}/attachments"]["post"]
    schema = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"] and schema["properties"]["file"]["format"] == "binary"
    assert schema["properties"]["stage"]["enum"] == list(STAGES)
