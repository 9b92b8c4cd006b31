"""Notifications: the outbox of public steps, a real SMTP server (aiosmtpd), the SMS gateway and
webhooks over HTTP, leases and restarts (each step sent exactly once), privacy, unsubscribing."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cityops.cases import service
from cityops.cases.models import Action, Actor, Case, Role
from cityops.cases.workflow import Command
from cityops.core import utcnow
from cityops.notify import sender
from cityops.notify.outbox import on_case_changed, subscribe
from conftest import add_users
from field_support import site_photo

SRC = str(Path(__file__).resolve().parents[1] / "src")
SECRET = "SECRET-内部"
WUHAN = (114.3055, 30.5928)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """aiosmtpd handler: every message the server accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def configure(platform: Any, **values: Any) -> None:
    platform.store.write(lambda repo: [repo.set_setting(f"notify.{k}", str(v)) for k, v in values.items()])


def report(platform: Any, contact: dict[str, str] | None = None, source: str = "citizen_app") -> Case:
    rep = service.NewReport(matter_code="06010", description="暴露垃圾 / rubbish", lon=WUHAN[0], lat=WUHAN[1],
                            source=source, attributes={"contact": contact} if contact else {})
    return platform.store.write(lambda r: service.intake(r, platform, rep, Actor("acc", Role.ACCEPTOR), utcnow()))  # type: ignore[no-any-return]


def stepper(platform: Any, case_id: int) -> Callable[..., Case]:
    def act(action: Action, role: Role, **kw: Any) -> Case:
        def op(repo: Any) -> Case:
            dept = repo.get_case(case_id).department
            actor = Actor(role.value, role, dept if role is Role.DEPARTMENT else None)
            return service.act(repo, platform, case_id, Command(action, actor, utcnow(), **kw))
        return platform.store.write(op)  # type: ignore[no-any-return]
    return act


def full_life(platform: Any, case_id: int) -> None:
    """Every kind of step, internal ones with a secret in their reasons."""
    act = stepper(platform, case_id)
    act(Action.COMMENT, Role.ACCEPTOR, reason=f"{SECRET} note")
    act(Action.REGISTER, Role.ACCEPTOR)
    act(Action.DISPATCH, Role.DISPATCHER, reason=f"{SECRET} dispatch")
    act(Action.RETURN, Role.DEPARTMENT, reason=f"{SECRET} not ours")
    act(Action.DISPATCH, Role.DISPATCHER)
    act(Action.ACCEPT, Role.DEPARTMENT)
    act(Action.REQUEST_EXTENSION, Role.DEPARTMENT, amount=2.0, unit="working_hours", reason=f"{SECRET} ext")
    act(Action.APPROVE_EXTENSION, Role.SUPERVISOR)
    act(Action.SUSPEND, Role.SUPERVISOR, reason=f"{SECRET} suspend")
    act(Action.RESUME, Role.SUPERVISOR)
    act(Action.REPORT_BACK, Role.DEPARTMENT, reason=f"{SECRET} done")
    act(Action.VERIFY, Role.VERIFIER, passed=False, reason=f"{SECRET} not fixed")
    act(Action.REPORT_BACK, Role.DEPARTMENT, reason=f"{SECRET} done again")
    site_photo(platform, case_id)
    act(Action.VERIFY, Role.VERIFIER, passed=True, reason=f"{SECRET} ok")


def outbox(platform: Any) -> list[dict[str, Any]]:
    with platform.store.read() as repo:
        return [dict(r) for r in repo.conn.execute("SELECT * FROM notify_outbox ORDER BY id")]


def test_public_steps_only_once_each_and_nothing_internal(platform: Any) -> None:
    case = report(platform, {"email": "ren@example.org", "phone": "13800138000"})
    full_life(platform, case.id)
    rows = outbox(platform)
    with platform.store.read() as repo:
        history = {e.seq: e.change.action for e in repo.history(case.id)}
    told = sorted({(history[r["seq"]]) for r in rows})
    # report, register, dispatch (twice), report_back (twice), verify(passed): nothing else.
    assert told == ["dispatch", "register", "report", "report_back", "verify"]
    assert len(rows) == 2 * 7 and Counter(r["channel"] for r in rows) == {"email": 7, "sms": 7}
    text = " ".join(r["subject"] + r["body"] for r in rows)
    assert SECRET not in text
    depts = [d for d in platform.city.departments if d.code in text or d.name in text]
    assert not depts, "a department's name is internal to the back office"
    assert "/r/" in rows[-1]["body"]  # the closure asks the return-visit question
    # The listener run again for a step already queued queues nothing more (the outbox key).
    with platform.store.read() as repo:
        after = repo.get_case(case.id)
        last = repo.history(case.id)[-1].change
    platform.store.write(lambda repo: on_case_changed(repo, platform, after, after, last))
    assert len(outbox(platform)) == len(rows)


def test_an_unconfigured_channel_waits_without_using_up_attempts(platform: Any) -> None:
    report(platform, {"email": "ren@example.org", "phone": "13800138000"})
    assert sender.run_once(platform) == 2
    rows = outbox(platform)
    assert all(r["status"] == "pending" and r["attempts"] == 0 and r["last_error"].startswith("unconfigured")
               for r in rows)
    assert sender.run_once(platform) == 0  # looked at again in five minutes, not in a busy loop


def test_mails_reach_a_real_smtp_server(platform: Any, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    configure(platform, smtp_host="127.0.0.1", smtp_port=port, smtp_from="12345@city.example",
              public_url="https://city.example")
    case = report(platform, {"email": "ren@example.org"})
    act = stepper(platform, case.id)
    act(Action.REGISTER, Role.ACCEPTOR)
    assert sender.run_once(platform) == 2
    assert sender.run_once(platform) == 0
    assert len(inbox.messages) == 2
    first = inbox.messages[0]
    assert first["To"] == "ren@example.org" and first["From"] == "12345@city.example"
    assert first["Message-ID"] == f"<cityops.{case.id}.1.1.email@cityops>"
    body = first.get_content()
    assert "已受理" in body and "received" in body and "https://city.example/n/" in body
    assert "已立案" in str(inbox.messages[1]["Subject"])
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in outbox(platform))


def _worker(db: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-m", "cityops", "notify", "run", "--db", str(db), "--every", "0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_worker_killed_while_queued_then_each_sent_exactly_once(platform: Any) -> None:
    port = free_port()  # nothing listens yet: the mail server is down
    configure(platform, smtp_host="127.0.0.1", smtp_port=port, backoff_s=0.2, lease_s=30)
    for i in range(4):
        case = report(platform, {"email": f"p{i}@example.org"})
        act = stepper(platform, case.id)
        act(Action.REGISTER, Role.ACCEPTOR)
        act(Action.DISPATCH, Role.DISPATCHER)
    queued = outbox(platform)
    assert len(queued) == 12
    db = platform.store.path  # the platform's own database (a file, or a PostgreSQL URL)
    proc = _worker(db)
    try:
        _wait(lambda: any(r["attempts"] > 0 for r in outbox(platform)), 30, "the worker to try")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert all(r["status"] == "pending" for r in outbox(platform))
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    proc = _worker(db)
    try:
        _wait(lambda: all(r["status"] == "sent" for r in outbox(platform)), 60, "every row sent")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        controller.stop()
    expected = {f"<cityops.{r['case_id']}.{r['seq']}.{r['subscription_id']}.email@cityops>" for r in queued}
    assert inbox.ids() == Counter(expected)  # every step, each exactly once


def test_a_worker_dying_with_a_lease_leaves_the_row_to_the_next(platform: Any, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    configure(platform, smtp_host="127.0.0.1", smtp_port=port, lease_s=0.5)
    report(platform, {"email": "ren@example.org"})
    taken = platform.store.write(lambda repo: sender.claim(repo, platform, "dead-worker", utcnow()))
    assert len(taken) == 1
    assert sender.run_once(platform) == 0  # leased to the dead worker
    time.sleep(0.6)
    assert sender.run_once(platform) == 1 and sender.run_once(platform) == 0
    assert inbox.ids() == Counter({taken[0].message_id: 1})


class Client:
    """A TestClient with three users (acceptor, a department operator, a collector): the
    conftest `api` fixture makes one per department, which costs half a minute of hashing."""

    def __init__(self, client: Any, tokens: dict[str, str], platform: Any) -> None:
        self.client, self.tokens, self.platform = client, tokens, platform

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw)

    def post(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw)


@pytest.fixture
def api(platform: Any) -> Iterator[Client]:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user

    known = {d.code for d in platform.city.departments}
    users = [new_user("acceptor", "acceptor", None, "test-password-1", known),
             new_user("dept-0", "department", sorted(known)[0], "test-password-1", known),
             new_user("collector", "collector", None, "test-password-1", known)]

    tokens = add_users(platform, users)
    with TestClient(create_app(platform)) as client:
        yield Client(client, tokens, platform)


class Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, dict[str, str], Any]] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Recorder.fail_first > 0:
            Recorder.fail_first -= 1
            self.send_response(503)
        else:
            Recorder.calls.append((self.path, dict(self.headers), body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_sink() -> Iterator[str]:
    Recorder.calls, Recorder.fail_first = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_sms_gateway_and_webhooks_with_backoff(platform: Any, http_sink: str) -> None:
    configure(platform, sms_url=f"{http_sink}/sms", backoff_s=0.2)
    # The sink is on loopback: the city allows it (tests/test_egress.py: refused otherwise).
    platform.store.write(lambda repo: repo.set_setting("security.egress_allow", "127.0.0.1/32"))
    case = report(platform, {"phone": "+86 138 0013 8000"})
    platform.store.write(lambda repo: subscribe(repo.conn, case.id, "webhook", f"{http_sink}/hook", "subscriber", utcnow()))
    Recorder.fail_first = 1  # the SMS platform is busy once: the row waits and is retried
    stepper(platform, case.id)(Action.REGISTER, Role.ACCEPTOR)
    sender.run_once(platform)
    failed = [r for r in outbox(platform) if r["status"] == "pending"]
    assert len(failed) == 1 and failed[0]["attempts"] == 1 and "503" in failed[0]["last_error"]
    time.sleep(0.25)
    assert sender.run_once(platform) == 1
    assert all(r["status"] == "sent" for r in outbox(platform))
    sms = [c for c in Recorder.calls if c[0] == "/sms"]
    hooks = [c for c in Recorder.calls if c[0] == "/hook"]
    # The first (已受理) failed once and went after the second (已立案): each once, none lost.
    assert len(sms) == 2 and {c[2]["to"] for c in sms} == {"+86 138 0013 8000"}
    assert "已立案" in sms[0][2]["text"] and "已受理" in sms[1][2]["text"]
    assert all(c[1]["Idempotency-Key"] == c[2]["id"] for c in sms)
    assert {h[2]["status"] for h in hooks} == {"investigating"}
    assert hooks[0][2]["service_request_id"] == str(case.id) and hooks[0][2]["update_id"] == f"{case.id}_2"


def test_unsubscribe_cancels_what_is_queued(api: Any) -> None:
    platform = api.platform
    case = report(platform, {"email": "ren@example.org"})
    token = outbox_token(platform, case.id)
    page = api.client.get(f"/n/{token}")
    assert page.status_code == 200 and "已受理" in page.text and "ren@example.org" not in page.text
    assert "退订" in api.client.get(f"/n/{token}/unsubscribe").text
    assert api.client.get(f"/n/{token}/unsubscribe").text.count("<form") == 1  # GET changes nothing
    assert api.client.post(f"/n/{token}/unsubscribe").status_code == 200
    assert {r["status"] for r in outbox(platform)} == {"cancelled"}
    stepper(platform, case.id)(Action.REGISTER, Role.ACCEPTOR)
    assert len(outbox(platform)) == 1
    assert api.client.get("/n/not-a-token").status_code == 404


def outbox_token(platform: Any, case_id: int) -> str:
    with platform.store.read() as repo:
        return str(repo.conn.execute("SELECT token FROM notify_subscriptions WHERE case_id = ?", (case_id,)).fetchone()[0])


def test_contacts_stay_private(api: Any) -> None:
    from cityops.intake.open311.keys import new_key

    plain, record = new_key("app", "report", utcnow())
    api.platform.store.write(lambda repo: repo.add_api_key(record))
    r = api.client.post("/open311/v2/requests.json", data={
        "api_key": plain, "service_code": "06010", "lat": WUHAN[1], "long": WUHAN[0],
        "description": "垃圾", "email": "private@example.org", "phone": "13800138000"})
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    for url in (f"/open311/v2/requests/{rid}.json?extensions=true", f"/open311/v2/requests/{rid}.xml",
                "/open311/v2/requests.json", "/open311/v2/servicerequestupdates.json"):
        assert "private@example.org" not in api.client.get(url).text and "13800138000" not in api.client.get(url).text
    assert api.get("dept-0", f"/api/v1/cases/{rid}/subscriptions").status_code == 403
    subs = api.get("acceptor", f"/api/v1/cases/{rid}/subscriptions").json()["subscriptions"]
    assert {(s["channel"], s["address"]) for s in subs} == {("email", "private@example.org"), ("sms", "13800138000")}
    assert api.get("dept-0", "/api/v1/revisits").status_code == 403
    # The native case API shows the contact to the acceptor, not to a department operator.
    assert api.get("acceptor", f"/api/v1/cases/{rid}").json()["attributes"]["contact"]["email"] == "private@example.org"
    api.platform.store.write(lambda repo: (service.act(repo, api.platform, int(rid), Command(
        Action.REGISTER, Actor("a", Role.ACCEPTOR), utcnow())), service.act(repo, api.platform, int(rid), Command(
            Action.DISPATCH, Actor("d", Role.DISPATCHER), utcnow(), department=sorted(
                d.code for d in api.platform.city.departments)[0]))))
    seen = api.get("dept-0", f"/api/v1/cases/{rid}")
    assert seen.status_code == 200 and "private@example.org" not in seen.text and "13800138000" not in seen.text
    assert "private@example.org" not in api.get("dept-0", "/api/v1/cases").text
    # Anyone a clerk subscribes hears of the case too; a bad address is a clear 422.
    ok = api.post("acceptor", f"/api/v1/cases/{rid}/subscriptions", json={"channel": "email", "address": "n@example.org"})
    assert ok.status_code == 201 and ok.json()["token"]
    bad = api.post("acceptor", f"/api/v1/cases/{rid}/subscriptions", json={"channel": "email", "address": "nope"})
    assert bad.status_code == 422 and bad.json()["message_zh"]


def test_the_server_sends_while_serving(platform: Any, smtp: tuple[Inbox, int]) -> None:
    """The sender runs in the server's lifespan; a case action returns before any mail goes."""
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import issue_token, new_user

    inbox, port = smtp
    configure(platform, smtp_host="127.0.0.1", smtp_port=port)
    user = new_user("acc", "acceptor", None, "test-password-1", set())
    token = platform.store.write(lambda repo: (repo.add_user(user, utcnow()), issue_token(repo, "acc", utcnow()))[1])
    with TestClient(create_app(platform, sweep_every=3600)) as client:
        r = client.post("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}, json={
            "matter_code": "06010", "description": "垃圾", "lon": WUHAN[0], "lat": WUHAN[1],
            "attributes": {"contact": {"email": "ren@example.org"}}})
        assert r.status_code == 201
        _wait(lambda: len(inbox.messages) == 1, 15, "the server's sender")
    assert inbox.messages[0]["To"] == "ren@example.org"
