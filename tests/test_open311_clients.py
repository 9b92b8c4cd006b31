"""Real, independent Open311 clients against a running `cityops serve`.

- `georeport` (PyPI, Python 3): all four GETs in JSON and XML modes, single and multi-item.
- `three` and `open311` (PyPI, Python 2.7), installed at test time into a cache folder:
  three for POST, tokens, discovery and page_size; open311 for XML mode and the legacy paths.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from open311_server import WUHAN, Server, running

PY27 = os.environ.get("CITYOPS_PY27", "/root/.pyenv/versions/2.7.18/bin/python2.7")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cityops-test-py27"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("clients")) as server:
        yield server


def seed(srv: Server, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = httpx.post(f"{srv.url}/requests.json", data={
            "api_key": srv.key, "service_code": "06010" if i % 2 else "01004",
            "lat": WUHAN[1], "long": WUHAN[0], "description": f"测试上报 {i} / test report {i}"})
        assert r.status_code == 200, r.text
        ids.append(r.json()[0]["service_request_id"])
    return ids


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_all_four_gets(srv: Server, fmt: str) -> None:
    from georeport import GeoReport

    ids = seed(srv, 3)
    client = GeoReport(srv.url, jurisdiction="420100", output_format=fmt)
    services = client.get_service_list()
    assert len(services) == 252 and all(isinstance(s["service_name"], str) for s in services)
    definition = client.get_service_definition("01004")
    attributes = definition["attributes"]
    if fmt == "xml":  # xmltodict: one <attribute> is a dict, several a list
        attributes = attributes["attribute"]
    assert {a["code"] for a in attributes} >= {"depth", "impact"}
    many = client.get_service_requests(service_request_id=",".join(ids))
    assert sorted(r["service_request_id"] for r in many) == sorted(ids)
    single = client.get_service_requests(service_request_id=ids[0])
    single = single if isinstance(single, list) else [single]  # xmltodict: a lone item is a dict
    assert [r["service_request_id"] for r in single] == [ids[0]]
    coded = client.get_service_requests(service_code="01004", status="open")
    coded = coded if isinstance(coded, list) else [coded]
    assert coded and {r["service_code"] for r in coded} == {"01004"}
    one = client.get_service_request(ids[1])
    assert one["service_request_id"] == ids[1] and one["status"] == "open"
    assert one["service_name"] == "暴露垃圾 / Exposed rubbish"


@pytest.fixture(scope="module")
def py27() -> dict[str, str]:
    if not Path(PY27).exists() and not shutil.which(PY27):
        pytest.skip(f"python2.7 not found at {PY27} (set CITYOPS_PY27)")
    target = CACHE / "site"
    if not (target / "three").exists() or not (target / "open311").exists():
        out = subprocess.run([PY27, "-m", "pip", "install", "-q", "--target", str(target), "three", "open311"],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            pytest.skip(f"cannot install the Python 2.7 clients three and open311 from PyPI: {out.stderr[-500:]}")
    return {**os.environ, "PYTHONPATH": str(target), "PYTHONIOENCODING": "utf-8"}


def run_py27(env: dict[str, str], script: str, **values: Any) -> dict[str, Any]:
    prelude = "# -*- coding: utf-8 -*-\nimport json, sys\nV = json.loads(sys.argv[1])\n"
    out = subprocess.run([PY27, "-c", prelude + script, json.dumps(values)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


THREE = """
from three import Three
t = Three(V['url'], api_key=V['key'], jurisdiction='420100')
out = {}
out['discovery'] = t.discovery()['endpoints'][0]['url']
out['services'] = len(t.services())
out['definition'] = [a['code'] for a in t.services('01004')['attributes']]
posted = t.post('06010', lat=V['lat'], long=V['lon'], description='井盖旁有暴露垃圾 / rubbish by a cover',
                email='citizen@example.org', name='Li Lei')
out['posted'] = posted[0]
out['token'] = t.token(posted[0]['token'])[0]
out['paged'] = len(t.requests(count=2))
out['request'] = t.request(posted[0]['service_request_id'])[0]['service_request_id']
x = Three(V['url'], api_key=V['key'], format='xml')
out['xml_services'] = len(x.services()['service'])
print(json.dumps(out))
"""


def test_three_client_post_tokens_discovery_page_size(srv: Server, py27: dict[str, str]) -> None:
    seed(srv, 3)
    got = run_py27(py27, THREE, url=srv.url, key=srv.key, lat=WUHAN[1], lon=WUHAN[0])
    assert got["discovery"].endswith("/open311/v2")
    assert got["services"] == 252 and got["xml_services"] == 252
    assert {"depth", "impact"} <= set(got["definition"])
    rid = got["posted"]["service_request_id"]
    assert got["token"] == {"service_request_id": rid, "token": got["posted"]["token"]}
    assert got["paged"] == 2 and got["request"] == rid
    case = srv.core("GET", f"/api/v1/cases/{rid}").json()
    assert case["status"] == "reported" and case["attributes"]["contact"]["first_name"] == "Li"


OPEN311 = """
from open311 import Open311
o = Open311(endpoint=V['url'], api_key=V['key'])
out = {}
out['services'] = len(o.service_list())
d = o.service_definition('01004')['service_definition']
out['definition'] = [a['code'] for a in d['attributes']['attribute']]
posted = o.post_service_request(service_code='01004', lat=V['lat'], long=V['lon'],
                                description='下穿通道积水 / water in the underpass')
out['posted'] = posted['service_requests']['request']
out['token'] = o.request_id_from_token(out['posted']['token'])
reqs = o.service_requests()
out['requests'] = len(reqs) if isinstance(reqs, list) else 1
out['one'] = o.get_service_request(out['posted']['service_request_id'])['service_requests']['request']['service_name']
print(json.dumps(out))
"""


def test_open311_client_xml_and_legacy_paths(srv: Server, py27: dict[str, str]) -> None:
    seed(srv, 2)
    got = run_py27(py27, OPEN311, url=srv.url, key=srv.key, lat=WUHAN[1], lon=WUHAN[0])
    assert got["services"] == 252
    assert {"depth", "impact"} <= set(got["definition"])
    rid = got["posted"]["service_request_id"]
    assert got["token"]["service_request_id"] == rid
    assert got["requests"] >= 3
    assert got["one"] == "雨水箅子异常 / Storm drain grate problem"
