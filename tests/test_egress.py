"""Outbound requests go only where the city allows (SSRF): a canary HTTP server on 127.0.0.1
must never be called unless the city allow-listed it, whatever path the URL came in by
(a case subscription, an Open311 app, a warning webhook), whatever DNS answers later, and
whatever a redirect points at."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from cityops.core import utcnow
from cityops.notify import sender
from cityops.notify.outbox import subscribe
from cityops.security import egress
from conftest import Api
from stores import new_db


class Canary(BaseHTTPRequestHandler):
    calls: list[tuple[str, str]] = []  # (path, Host header)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Canary.calls.append((self.path, self.headers.get("Host", "")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/internal-admin")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[int]:
    Canary.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def allow(api_or_platform: Any, value: str) -> None:
    platform = getattr(api_or_platform, "platform", api_or_platform)
    platform.store.write(lambda repo: repo.set_setting("security.egress_allow", value))


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fc00::1", "fd12::1",
    "169.254.169.254", "169.254.0.1", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "240.0.0.1",
    "100.64.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "2002:7f00:1::1",
    "64:ff9b::a9fe:a9fe",
])
def test_every_non_public_address_is_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert egress.refusal(ip) is not None
    net = ipaddress.ip_network("::/0" if ip.version == 6 else "0.0.0.0/0")
    assert egress.refusal(ip, [net]) is None  # unless the city allows it


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is None


def test_a_mapped_address_is_allowed_by_its_ipv4_network() -> None:
    assert egress.refusal(ipaddress.ip_address("::ffff:10.0.0.5"), [ipaddress.ip_network("10.0.0.0/8")]) is None


def test_subscriptions_to_internal_addresses_are_refused_and_never_called(api: Api, canary: int) -> None:
    case = api.report("acceptor").json()
    targets = [f"http://127.0.0.1:{canary}/internal-admin", f"http://localhost:{canary}/internal-admin",
               f"http://[::ffff:127.0.0.1]:{canary}/x", f"http://0.0.0.0:{canary}/x", f"http://2130706433:{canary}/x",
               "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "http://[fe80::1]/x",
               "ftp://example.org/x", "http://no-such-host.invalid/x"]
    for url in targets:
        r = api.post("acceptor", f"/api/v1/cases/{case['id']}/subscriptions",
                     json={"channel": "webhook", "address": url})
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert r.json()["message"] and r.json()["message_zh"]
    loop = api.post("acceptor", f"/api/v1/cases/{case['id']}/subscriptions",
                    json={"channel": "webhook", "address": targets[0]}).json()
    assert "loopback" in loop["message"] and "egress_allow" in loop["message"]
    api.act("acceptor", case["id"], "register")
    sender.run_once(api.platform)
    assert Canary.calls == []


def test_an_open311_app_cannot_make_the_server_call_inside(api: Api, canary: int) -> None:
    from cityops.intake.open311.keys import new_key

    plain, record = new_key("hook-app", "report", utcnow())
    api.platform.store.write(lambda repo: repo.add_api_key(record))
    rid = api.client.post("/open311/v2/requests.json", data={
        "api_key": plain, "service_code": "06010", "lat": 30.5928, "long": 114.3055,
        "description": "垃圾"}).json()[0]["service_request_id"]
    r = api.client.post(f"/open311/v2/requests/{rid}/subscriptions.json",
                        data={"api_key": plain, "webhook_url": f"http://127.0.0.1:{canary}/internal-admin"})
    assert r.status_code == 400 and "loopback" in r.json()[0]["description"]
    allow(api, "127.0.0.1/32")
    r = api.client.post(f"/open311/v2/requests/{rid}/subscriptions.json",
                        data={"api_key": plain, "webhook_url": f"http://127.0.0.1:{canary}/hook"})
    assert r.status_code == 201, r.text
    api.act("acceptor", int(rid), "register")
    sender.run_once(api.platform)
    assert [c[0] for c in Canary.calls] == ["/hook"]  # allowed, so called


def test_send_time_checks_again(platform: Any, canary: int) -> None:
    """A webhook that passed when given (or was stored some other way) is vetted again when
    called: an address that is internal by then is refused, the canary is not called."""
    from cityops.cases import service
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.workflow import Command

    acceptor = Actor("acc", Role.ACCEPTOR)
    rep = service.NewReport(matter_code="06010", description="垃圾", lon=114.3055, lat=30.5928, source="citizen_app")
    case = platform.store.write(lambda r: service.intake(r, platform, rep, acceptor, utcnow()))
    platform.store.write(lambda repo: subscribe(repo.conn, case.id, "webhook",
                                                f"http://127.0.0.1:{canary}/internal-admin", "subscriber", utcnow()))
    platform.store.write(lambda repo: service.act(repo, platform, case.id, Command(Action.REGISTER, acceptor, utcnow())))
    sender.run_once(platform)
    with platform.store.read() as repo:
        errors = [r[0] for r in repo.conn.execute("SELECT last_error FROM notify_outbox WHERE channel = 'webhook'")]
    assert errors and all(e.startswith("refused:") and "loopback" in e for e in errors)
    assert Canary.calls == []


def test_the_connection_goes_to_the_vetted_address(monkeypatch: pytest.MonkeyPatch, canary: int) -> None:
    """DNS is asked once per call: the connection goes to the address that was checked (a
    second, different answer cannot slip in), with the URL's own host in the Host header."""
    answers = iter(["127.0.0.1", "203.0.113.9"])  # a rebinding resolver: internal, then public
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "hook.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    error = egress.post(f"http://hook.example:{canary}/internal-admin", b"{}", {}, [])
    assert error is not None and "loopback" in error and Canary.calls == []
    answers = iter(["127.0.0.1"])
    allowed = [ipaddress.ip_network("127.0.0.1/32")]
    assert egress.post(f"http://hook.example:{canary}/hook", b"{}", {}, allowed) is None
    assert Canary.calls == [("/hook", f"hook.example:{canary}")]


def test_redirects_are_never_followed(canary: int) -> None:
    allowed = [ipaddress.ip_network("127.0.0.1/32")]
    error = egress.post(f"http://127.0.0.1:{canary}/redirect", b"{}", {}, allowed)
    assert error is not None and "redirect" in error
    assert [c[0] for c in Canary.calls] == ["/redirect"]  # /internal-admin never


def test_warning_webhooks_are_vetted(api: Api) -> None:
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1/x", "http://[::1]/x"):
        r = api.post("admin", "/api/v1/warnings/webhooks", json={"url": url})
        assert r.status_code == 422, (url, r.text)


def test_the_allow_list_is_set_and_checked_by_the_cli(tmp_path: Any) -> None:
    from cityops.cli import main
    from cityops.core import open_platform

    db = new_db(tmp_path, "city.db")
    open_platform(db).close()
    runner = CliRunner()
    out = runner.invoke(main, ["security", "set", "egress_allow", "10.20.0.0/16,127.0.0.1", "--db", db])
    assert out.exit_code == 0, out.output
    bad = runner.invoke(main, ["security", "set", "egress_allow", "10.20.0.0/99", "--db", db])
    assert bad.exit_code == 2 and "CIDR" in bad.output
    shown = runner.invoke(main, ["security", "show", "--db", db]).output
    assert "security.egress_allow = 10.20.0.0/16,127.0.0.1/32" in shown
    assert "security.two_person = on" in shown and "security.trusted_proxies = \n" in shown
