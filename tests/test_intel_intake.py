"""Classification on intake: reports that arrive without a matter code (an Open311 request to
the catch-all service, an imported record whose category is not mapped) are classified; sure
answers are dispatched with the predicted code, the rest wait in the triage queue."""

from __future__ import annotations

from typing import Any

import pytest

from cityops.intel import store
from conftest import PASSWORD, Api, add_users

JIANGAN = (114.3055, 30.5928)  # a point in 江岸区 (420102)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform, utcnow
    from cityops.intake.open311.keys import new_key

    platform = open_platform(tmp_path_factory.mktemp("intake") / "intake.db")
    known = {d.code for d in platform.city.departments}
    tokens = add_users(platform, [new_user("acceptor", "acceptor", None, PASSWORD, known)])
    plain, record = new_key("citizen-app", "report", utcnow())
    platform.store.write(lambda repo: repo.add_api_key(record))
    with TestClient(create_app(platform)) as client:
        api = Api(client, tokens, platform)
        api.open311_key = plain  # type: ignore[attr-defined]
        yield api
    platform.close()


def threshold(api: Api, value: float) -> None:
    api.platform.store.write(lambda repo: store.set_threshold(repo.conn, value))


def post311(api: Api, **form: Any) -> Any:
    data = {"api_key": api.open311_key, "service_code": "other", "lat": JIANGAN[1],  # type: ignore[attr-defined]
            "long": JIANGAN[0], **form}
    return api.client.post("/open311/v2/requests.json", data=data)


def test_the_catch_all_service_is_listed_without_attributes(api: Api) -> None:
    listed = api.client.get("/open311/v2/services.json").json()
    assert listed[-1]["service_code"] == "other" and "Other" in listed[-1]["service_name"]
    assert len(listed) == 251
    assert api.client.get("/open311/v2/services/other.json").json() == {"service_code": "other", "attributes": []}


def test_a_sure_catch_all_request_is_dispatched_with_the_predicted_code(api: Api) -> None:
    threshold(api, 0.0)
    r = post311(api, description="江岸区中山大道路灯不亮了，晚上很黑")
    assert r.status_code == 200, r.text
    answer = r.json()[0]
    case = api.platform.store.reader().get_case(int(answer["service_request_id"]))
    assert case.matter_code == "01037" and case.source == "open311"
    assert case.attributes["intel"]["confidence"] > 0 and case.attributes["open311"]["api_key"] == "citizen-app"
    assert api.client.get(f"/open311/v2/tokens/{answer['token']}.json").json()[0]["service_request_id"] == str(case.id)


def test_an_unsure_catch_all_request_waits_for_a_person_and_keeps_its_token(api: Api) -> None:
    threshold(api, 1.0)  # nothing is sure enough
    r = post311(api, description="小区门口垃圾堆了好几天没人清理", email="a@example.org")
    assert r.status_code == 200, r.text
    answer = r.json()[0]
    assert "service_request_id" not in answer and answer["token"] and "人工分拣" in answer["service_notice"]
    assert api.client.get(f"/open311/v2/tokens/{answer['token']}.json").status_code == 404  # not decided yet
    items = api.get("acceptor", "/api/v1/triage").json()["items"]
    item = next(i for i in items if i["text"] == "小区门口垃圾堆了好几天没人清理")
    assert item["source"] == "open311" and item["reporter"] == "open311:citizen-app"
    assert item["attributes"]["open311"]["token"] == answer["token"] and item["attributes"]["contact"]["email"]
    r = api.post("acceptor", f"/api/v1/triage/{item['id']}", json={"matter_code": "06011"})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    case = api.platform.store.reader().get_case(case_id)
    assert case.matter_code == "06011" and case.attributes["open311"]["token"] == answer["token"]
    found = api.client.get(f"/open311/v2/tokens/{answer['token']}.json").json()
    assert found[0]["service_request_id"] == str(case_id)



def test_a_retried_unsure_request_gets_its_first_token_not_a_second_item(api: Api) -> None:
    threshold(api, 1.0)
    text = "楼下有一股怪味好几天了，不知道找谁"
    sent = [api.client.post("/open311/v2/requests.json", headers={"Idempotency-Key": "retry-7"},
                            data={"api_key": api.open311_key, "service_code": "other",  # type: ignore[attr-defined]
                                  "lat": JIANGAN[1], "long": JIANGAN[0], "description": text})
            for _ in range(2)]
    assert [r.status_code for r in sent] == [200, 200]
    assert sent[0].json()[0]["token"] == sent[1].json()[0]["token"]
    items = api.get("acceptor", "/api/v1/triage", params={"limit": 500}).json()["items"]
    assert [i["text"] for i in items].count(text) == 1

def test_the_catch_all_service_needs_a_description_and_takes_no_attributes(api: Api) -> None:
    assert post311(api).status_code == 400
    assert post311(api, description="   ").status_code == 400
    assert post311(api, description="路灯不亮", **{"attribute[x]": "1"}).status_code == 400
    assert post311(api, description="x" * 25_000).status_code in (400, 422)


IMPORT_CSV = """id,opened,state,type,note,lat,lon
1,2024-03-01 10:00,Pending,Pothole,路面坑洞,30.5928,114.3055
2,2024-03-01 11:00,Pending,热线,江岸区中山大道路灯不亮了，晚上很黑,30.5928,114.3055
3,2024-03-01 12:00,Pending,热线,有个情况想反映一下,30.5928,114.3055
"""


def test_imported_records_without_a_mapped_matter_are_classified(api: Api, tmp_path: Any) -> None:
    from cityops.core import utcnow
    from cityops.intake.importer import import_file
    from cityops.intake.mapping import parse_mapping

    mapping = parse_mapping({
        "source": "hotline", "format": "csv", "timezone": "Asia/Shanghai", "date_format": "%Y-%m-%d %H:%M",
        "columns": {"external_id": "id", "created": "opened", "status": "state", "category": "type",
                    "description": "note", "lat": "lat", "lon": "lon"},
        "categories": {"Pothole": "06013"}, "default_matter": "classify",
        "statuses": {"Pending": "registered"},
    }, "m.yaml", {e.code for e in api.platform.catalogue.matters()})
    path = tmp_path / "hotline.csv"
    path.write_text(IMPORT_CSV, encoding="utf-8")
    def confidence(text: str) -> float:
        return float(api.post("acceptor", "/api/v1/classify", json={"text": text}).json()["confidence"])

    street_light = confidence("江岸区中山大道路灯不亮了，晚上很黑")
    assert confidence("有个情况想反映一下") < street_light
    threshold(api, street_light)  # the street light is sure enough, the vague note is not
    dry = import_file(api.platform, path, mapping, utcnow(), dry_run=True)
    assert dry.imported == 2 and dry.skipped["reason"].to_list() == ["triaged"]
    result = import_file(api.platform, path, mapping, utcnow())
    assert result.imported == 2 and result.skipped["reason"].to_list() == ["triaged"]
    reader = api.platform.store.reader()
    cases = {reader.get_case(i).matter_code: reader.get_case(i) for i in result.case_ids}
    assert set(cases) == {"06013", "01037"}
    assert "intel" not in cases["06013"].attributes  # mapped, not classified
    assert cases["01037"].attributes["intel"]["confidence"] == street_light
    waiting = [i for i in store.open_triage(reader.conn, 100, 0)[0] if i["source"] == "import:hotline"]
    assert len(waiting) == 1 and waiting[0]["attributes"]["import"]["external_id"] == "3"
    again = import_file(api.platform, path, mapping, utcnow())  # nothing twice, in cases or in triage
    assert again.imported == 0
    assert len([i for i in store.open_triage(reader.conn, 100, 0)[0] if i["source"] == "import:hotline"]) == 1
