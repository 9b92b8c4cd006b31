"""Exchange between cities (汉数通) and upward to the province (三级联网).

Transport: mutual TLS, each city with a certificate from its own authority, each trusting the
authorities of the cities it deals with (`cityops data exchange-gateway` serves with
CERT_REQUIRED). Messages: signed and time-stamped envelopes (`envelope`). Access: the same
grants as companies (the other city is a data user of kind `city`). Logs: the serving side
keeps the requester's signed request, the pulling side the server's signed answer, each in
its own hash-chained access log.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cityops.data import accesslog, envelope, grants
from cityops.errors import CityopsError, InvalidInput

CERT_KEY, KEY_KEY, CA_KEY = "exchange_cert", "exchange_key", "exchange_ca"


def configure(repo: Any, cert: Path, key: Path, trusted: Path) -> None:
    """Remember this instance's certificate, key and trusted authorities (file paths)."""
    for path in (cert, key, trusted):
        if not path.is_file():
            raise InvalidInput(f"no such file: {path}", f"文件不存在：{path}")
    repo.set_setting(CERT_KEY, str(cert.resolve()))
    repo.set_setting(KEY_KEY, str(key.resolve()))
    repo.set_setting(CA_KEY, str(trusted.resolve()))


def identity(repo: Any) -> envelope.Identity:
    paths = [repo.get_setting(k) for k in (CERT_KEY, KEY_KEY, CA_KEY)]
    if not all(paths):
        raise InvalidInput("exchange is not configured: run `cityops data exchange-setup --cert --key --ca`",
                           "尚未配置数据交换证书：请运行 cityops data exchange-setup")
    cert, key, trusted = (Path(p).read_bytes() for p in paths if p)
    return envelope.Identity(cert, key, trusted)


def paths(repo: Any) -> tuple[str, str, str]:
    got = tuple(repo.get_setting(k) or "" for k in (CERT_KEY, KEY_KEY, CA_KEY))
    return got[0], got[1], got[2]


# the serving side --------------------------------------------------------------------------
def check_pull(repo: Any, platform: Any, message: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any],
                                                                                         grants.Prepared | grants.Refused]:
    """The read half of serving a pull: check the signed message, compute the answer under the
    grant (bound to the signing city) on a read snapshot."""
    me = identity(repo)
    peer, body = envelope.open_sealed(me.trusted_pem, message, now, "pull")
    product, credential = str(body.get("product", "")), str(body.get("credential", ""))
    prepared: grants.Prepared | grants.Refused
    if body.get("group_by"):
        prepared = grants.prepare_query(repo, platform, credential, product, list(body["group_by"]), now, peer)
    else:
        prepared = grants.prepare_rows(repo, platform, credential, product, int(body.get("limit", 1000)),
                                       int(body.get("offset", 0)), now, peer)
    return peer, body, prepared


def finish_pull(repo: Any, platform: Any, message: dict[str, Any], checked: tuple[str, dict[str, Any], Any],
                now: datetime) -> dict[str, Any]:
    """The write half: record the access under the grant, sign the answer, log the exchange
    with the requester's signature."""
    peer, body, prepared = checked
    product, credential = str(body.get("product", "")), str(body.get("credential", ""))
    result = grants.record(repo, platform, credential, product, prepared, peer, now, peer)
    answer: dict[str, Any]
    if isinstance(result, grants.Refused):
        answer = {"ok": False, "status": result.status, "message": result.message_en, "message_zh": result.message_zh}
    else:
        answer = {"ok": True, "result": result}
    answer["request"] = envelope.digest(message)
    sealed = envelope.seal(identity(repo), answer, now, "answer")
    grant_id = result.grant_id if isinstance(result, grants.Refused) else result["grant"]
    accesslog.append(repo.conn, now, peer, "peer_city", "exchange.serve", grant_id, "", product=product,
                     ok=answer["ok"], request_digest=answer["request"], request_sig=message["sig"],
                     request_at=message["at"], answer_digest=envelope.digest(sealed))
    return sealed


def receive_report(repo: Any, platform: Any, message: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Store a city's report (this instance acting as the province) and sign a receipt."""
    me = identity(repo)
    sender, body = envelope.open_sealed(me.trusted_pem, message, now, "report")
    if not isinstance(body.get("period"), str) or "mapping" not in body:
        raise InvalidInput("a report needs period and mapping", "报送数据缺少 period 或 mapping")
    import orjson

    cur = repo.conn.execute("INSERT INTO data_report_in (sender, day, mapping, body, received_at) VALUES (?,?,?,?,?)",
                            (sender, body["period"], str(body["mapping"]), orjson.dumps(body).decode(),
                             int(now.timestamp() * 1_000_000)))
    receipt = {"received": int(cur.lastrowid or 0), "request": envelope.digest(message)}
    accesslog.append(repo.conn, now, sender, "peer_city", "report.received", None, "", period=body["period"],
                     mapping=body["mapping"], request_digest=receipt["request"], request_sig=message["sig"])
    return envelope.seal(me, receipt, now, "receipt")


# the requesting side -----------------------------------------------------------------------
def client(cert: str, key: str, trusted: str, timeout: float = 30.0) -> httpx.Client:
    """An HTTPS client that shows this city's certificate and trusts only the given authorities."""
    context = ssl.create_default_context(cafile=trusted)
    context.load_cert_chain(cert, key)
    return httpx.Client(verify=context, timeout=timeout)


def post_sealed(http: httpx.Client, url: str, message: dict[str, Any], trusted: bytes, now: datetime,
                kind: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """POST a sealed message; (peer, body, sealed answer) once the answer's seal checks out."""
    response = http.post(url, json=message)
    if response.status_code != 200:
        try:
            said = response.json()
        except ValueError:
            said = {"message": response.text[:200]}
        raise CityopsError(f"the peer answered {response.status_code}: {said.get('message')}",
                           f"对方拒绝：{said.get('message_zh', said.get('message'))}")
    answer = response.json()
    peer, body = envelope.open_sealed(trusted, answer, now, kind)
    if body.get("request") != envelope.digest(message):
        raise CityopsError("the answer is not for this request", "应答与请求不对应")
    return peer, body, answer


def pull(store: Any, base_url: str, product: str, credential: str, now: datetime, *, limit: int = 1000,
         group_by: list[str] | None = None) -> dict[str, Any]:
    """Pull a product from another city under a grant it gave this one; logged here with the
    other side's signed answer. `store` is this instance's SqliteStore."""
    with store.read() as repo:
        me = identity(repo)
        cert, key, trusted = paths(repo)
    body: dict[str, Any] = {"product": product, "credential": credential, "limit": limit}
    if group_by:
        body["group_by"] = group_by
    message = envelope.seal(me, body, now, "pull")
    with client(cert, key, trusted) as http:
        peer, answer, sealed = post_sealed(http, base_url.rstrip("/") + "/exchange/v1/pull", message, me.trusted_pem,
                                           now, "answer")
    result = answer.get("result") or {}
    grant_id = result.get("grant")  # the other city's grant: its number there
    store.write(lambda repo: accesslog.append(
        repo.conn, now, me.name, "system", "exchange.pull", None, "", peer=peer, product=product, ok=answer["ok"],
        peer_grant=grant_id,
        rows=len(result.get("rows", result.get("cells", []))), request_digest=envelope.digest(message),
        answer_sig=sealed["sig"], answer_at=sealed["at"], answer_digest=envelope.digest(sealed)))
    if not answer["ok"]:
        err = CityopsError(str(answer["message"]), str(answer.get("message_zh", "")))
        err.status = int(answer.get("status", 403))
        raise err
    return dict(result)


def remote(store: Any, base_url: str, method: str, path: str, *, key: str | None = None,
           params: dict[str, Any] | None = None, json: dict[str, Any] | None = None) -> Any:
    """Call another city's gateway over mutual TLS with this city's certificate: its catalogue
    (CKAN API) or its market (applications, with the data-user key it gave this city)."""
    with store.read() as repo:
        cert, key_path, trusted = paths(repo)
        identity(repo)  # configured, or a clear error
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with client(cert, key_path, trusted) as http:
        response = http.request(method, base_url.rstrip("/") + path, params=params, json=json, headers=headers)
    body = response.json()
    if response.status_code >= 400:
        said = body.get("error", body) if isinstance(body, dict) else {}
        raise CityopsError(f"the peer answered {response.status_code}: {said.get('message')}",
                           f"对方拒绝：{said.get('message_zh', said.get('message'))}")
    return body
