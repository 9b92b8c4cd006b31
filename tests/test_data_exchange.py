"""Exchange (汉数通, 三级联网): two instances with their own databases and their own certificate
authorities, mutual TLS; one pulls a product from the other under a grant, signed and
time-stamped, logged on both sides; a third without a trusted certificate is refused; a city
reports its day to a provincial instance."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from data_support import serving
from stores import new_db
from test_data_grants import _cases


def _ca(folder: Path, name: str) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (folder / f"{name}-ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _city(folder: Path, name: str, ca: tuple[Any, Any]) -> tuple[Path, Path]:
    """A certificate for the city `name` (its code as CN), for 127.0.0.1, server and client."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _gateway(platform: Any, pair: tuple[Path, Path], trusted: Path) -> Any:
    from cityops.data import exchange

    cert, key = pair
    platform.store.write(lambda repo: exchange.configure(repo, cert, key, trusted))
    return serving(platform, ssl_certfile=str(cert), ssl_keyfile=str(key), ssl_ca_certs=str(trusted),
                   ssl_cert_reqs=ssl.CERT_REQUIRED)


def _configure(repo: Any, pair: tuple[Path, Path], trusted: Path) -> None:
    from cityops.data import exchange

    exchange.configure(repo, pair[0], pair[1], trusted)


@pytest.fixture
def cities(tmp_path: Path) -> Any:
    from cityops.core import open_platform

    pki = tmp_path / "pki"
    pki.mkdir()
    wuhan_ca, yichang_ca, rogue_ca = _ca(pki, "wuhan"), _ca(pki, "yichang"), _ca(pki, "rogue")
    wuhan = _city(pki, "420100", wuhan_ca)
    yichang = _city(pki, "420500", yichang_ca)
    rogue = _city(pki, "999999", rogue_ca)
    a, b = open_platform(new_db(tmp_path, "wuhan.db")), open_platform(new_db(tmp_path, "yichang.db"))
    yield {"pki": pki, "wuhan": wuhan, "yichang": yichang, "rogue": rogue, "a": a, "b": b, "yichang_ca": yichang_ca}
    a.close()
    b.close()


def _entries(platform: Any) -> list[dict[str, Any]]:
    from cityops.data import accesslog

    with platform.store.read() as repo:
        assert accesslog.check(repo.conn) == []
        return [accesslog.entry_dict(e) for e in accesslog.entries(repo.conn)]


def test_one_city_pulls_a_product_from_another_and_both_logs_show_it(cities: Any) -> None:
    from cityops.core import utcnow
    from cityops.data import exchange, grants
    from cityops.errors import CityopsError

    pki, a, b = cities["pki"], cities["a"], cities["b"]
    _cases(a, 12, "01001")
    # Wuhan (a) trusts Yichang's authority; Yichang (b) trusts Wuhan's.
    with _gateway(a, cities["wuhan"], pki / "yichang-ca.pem") as url_a:
        b.store.write(lambda repo: _configure(repo, cities["yichang"], pki / "wuhan-ca.pem"))
        key = a.store.write(lambda repo: grants.create_user(repo.conn, "yichang", "宜昌市城市运行管理中心", "420500",
                                                            "city", utcnow(), "owner"))
        # Yichang finds Wuhan's catalogue and applies, over the same mutual TLS, from its command line.
        from click.testing import CliRunner

        from cityops.cli import main

        found = CliRunner().invoke(main, ["data", "peer-search", url_a, "案卷", "--db", str(b.store.path)])
        assert found.exit_code == 0 and "CITYOPS-CASES" in found.output, found.output
        applied = CliRunner().invoke(main, ["data", "peer-apply", url_a, "--key", key, "--product", "cases",
                                            "--domain", "governance", "--purpose", "跨市案件对比分析",
                                            "--for", "城市治理对标", "--db", str(b.store.path)])
        assert applied.exit_code == 0, applied.output
        application = int(applied.output.strip())
        terms = grants.Terms(fields=("case_id", "matter_code", "district", "reported_at"), days=7)
        _, credential, _ = a.store.write(lambda repo: grants.grant(repo.conn, application, terms, "owner",
                                                                   {"420103"}, utcnow()))
        rows = exchange.pull(b.store, url_a, "cases", credential, utcnow())
        assert len(rows["rows"]) == 12 and set(rows["rows"][0]) == {"case_id", "matter_code", "district",
                                                                      "reported_at"}

        # Both sides hold the other's signature over the exchange.
        served = next(e for e in _entries(a) if e["action"] == "exchange.serve")
        pulled = next(e for e in _entries(b) if e["action"] == "exchange.pull")
        assert served["actor"] == "420500" and pulled["peer"] == "420100" and served["ok"] and pulled["ok"]
        assert served["request_digest"] == pulled["request_digest"] and served["answer_digest"] == pulled["answer_digest"]
        assert served["request_sig"] and pulled["answer_sig"]
        assert any(e["action"] == "read" and e["actor"] == "yichang" and e["rows"] == 12 for e in _entries(a))

        # The aggregate form, from the command line.
        out = CliRunner().invoke(main, ["data", "pull", url_a, "--product", "cases", "--credential", credential,
                                        "--group-by", "district", "--db", str(b.store.path)])
        assert out.exit_code == 0 and '"count": 12' in out.output, out.output

        # Another city Wuhan trusts cannot use Yichang's credential: the grant is bound to 420500.
        other = _city(pki, "420600", cities["yichang_ca"])
        b.store.write(lambda repo: _configure(repo, other, pki / "wuhan-ca.pem"))
        with pytest.raises(CityopsError) as stolen:
            exchange.pull(b.store, url_a, "cases", credential, utcnow())
        assert "不属于" in stolen.value.message_zh
        b.store.write(lambda repo: _configure(repo, cities["yichang"], pki / "wuhan-ca.pem"))

        # Revoked: the next pull is refused, and the refusal is logged on both sides.
        a.store.write(lambda repo: grants.revoke(repo.conn, 1, "owner", "到期不续", utcnow()))
        with pytest.raises(CityopsError) as refused:
            exchange.pull(b.store, url_a, "cases", credential, utcnow())
        assert "已撤销" in refused.value.message_zh
        assert [e["ok"] for e in _entries(b) if e["action"] == "exchange.pull"] == [True, True, False, False]

        # A third party whose certificate comes from an authority Wuhan does not trust: the TLS
        # handshake itself fails, nothing reaches the application.
        rogue_cert, rogue_key = cities["rogue"]
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)), \
                exchange.client(str(rogue_cert), str(rogue_key), str(pki / "wuhan-ca.pem")) as http:
            http.post(f"{url_a}/exchange/v1/pull", json={}).raise_for_status()
        b.store.write(lambda repo: _configure(repo, cities["rogue"], pki / "wuhan-ca.pem"))
        said = CliRunner().invoke(main, ["data", "pull", url_a, "--product", "cases", "--credential", credential,
                                         "--db", str(b.store.path)])
        assert said.exit_code == 2 and "无法与对方交换" in said.output, said.output
        # Without any client certificate: refused the same way.
        context = ssl.create_default_context(cafile=str(pki / "wuhan-ca.pem"))
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)), \
                httpx.Client(verify=context) as bare:
            bare.get(f"{url_a}/healthz").raise_for_status()
    assert not any(e["actor"] == "999999" for e in _entries(a))


def test_a_message_must_be_signed_recently_by_a_trusted_city(cities: Any, tmp_path: Path) -> None:
    from cityops.core import utcnow
    from cityops.data import envelope
    from cityops.errors import Unauthorized

    pki = cities["pki"]
    trusted = (pki / "yichang-ca.pem").read_bytes()
    me = envelope.Identity(cities["yichang"][0].read_bytes(), cities["yichang"][1].read_bytes(), trusted)
    sealed = envelope.seal(me, {"product": "cases"}, utcnow(), "pull")
    assert envelope.open_sealed(trusted, sealed, utcnow(), "pull") == ("420500", {"product": "cases"})
    with pytest.raises(Unauthorized, match="signature"):
        envelope.open_sealed(trusted, {**sealed, "body": {"product": "sensors"}}, utcnow(), "pull")
    with pytest.raises(Unauthorized, match="time stamp"):
        envelope.open_sealed(trusted, sealed, utcnow() + timedelta(minutes=6), "pull")
    with pytest.raises(Unauthorized, match="trusted authority"):
        envelope.open_sealed((pki / "rogue-ca.pem").read_bytes(), sealed, utcnow(), "pull")
    rogue = envelope.Identity(cities["rogue"][0].read_bytes(), cities["rogue"][1].read_bytes(), trusted)
    with pytest.raises(Unauthorized, match="trusted authority"):
        envelope.open_sealed(trusted, envelope.seal(rogue, {}, utcnow(), "pull"), utcnow(), "pull")


def test_a_city_reports_its_day_to_the_province(cities: Any) -> None:
    from cityops.core import utcnow
    from cityops.data import report

    pki, city, province = cities["pki"], cities["a"], cities["b"]  # b plays the provincial instance
    _cases(city, 5, "01001")
    city.store.write(lambda repo: _configure(repo, cities["wuhan"], pki / "yichang-ca.pem"))
    today = utcnow().astimezone(city.calendar.zone).date()
    from click.testing import CliRunner

    from cityops.cli import main

    with _gateway(province, cities["yichang"], pki / "wuhan-ca.pem") as url_p:
        sent = report.send(city.store, city, url_p, today, utcnow())
        again = CliRunner().invoke(main, ["data", "report", "--to", url_p, "--day", today.isoformat(),
                                          "--db", str(city.store.path)])  # on demand, as cron runs it daily
        assert again.exit_code == 0 and "420500" in again.output, again.output
    assert sent["cases"] == 5 and sent["peer"] == "420500"
    with province.store.read() as repo:
        sender, day, mapping, body = repo.conn.execute("SELECT sender, day, mapping, body FROM data_report_in").fetchone()
        assert repo.conn.execute("SELECT count(*) FROM data_report_in").fetchone()[0] == 2
    assert (sender, day, mapping) == ("420100", today.isoformat(), report.MAPPING)
    import orjson

    doc = orjson.loads(body)
    assert doc["standard"] == "CJ/T 545-2021" and len(doc["管理数据"]["城市管理案件"]) == 5
    assert "案件编号" in doc["管理数据"]["城市管理案件"][0] and doc["综合评价数据"]["评价指标"]
    assert doc["管理数据"]["城市管理案件"][0]["上报时间"].endswith("+08:00")  # the city's local time
    assert "问题描述" not in body and "13800000000" not in body  # no citizen's words or contact upward
    assert any(e["action"] == "report.received" and e["actor"] == "420100" for e in _entries(province))
    assert any(e["action"] == "report.sent" and e["peer"] == "420500" for e in _entries(city))
