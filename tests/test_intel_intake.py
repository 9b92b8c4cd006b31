"""Classification on intake: reports that arrive without a matter code (an Open311 request to
the catch-all service, an imported record whose category is not mapped) are classified; sure
answers are dispatched with the predicted code, the rest wait in the triage queue."""

from __future__ import annotations

from typing import Any

import pytest

from cityops.intel import store
from conftest import PASSWORD, Api, add_users
from stores import new_db

JIANGAN = (114.3055, 30.5928)  # a point in 江岸区 (420102)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform, utcnow
    from cityops.intake.open311.keys import new_key

    platform = open_platform(new_db(tmp_path_factory.mktemp("intake"), "intake.db"))
    known = {d.code for d in platform.city.departments}
    tokens = add_users(platform, [new_user("acceptor", "acceptor", None, PASSWORD, known),
                                  new_user("roads", "department", sorted(known)[0], PASSWORD, known)])
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
    assert len(listed) == 252  # 250 standard matters, cityops's 10950 道路交通拥堵, and "other"
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


# ---- a photo (Open311 `media`) sent with an unsure catch-all request ---------------------------


def post311_photo(api: Api, photo: bytes, key: str, description: str, **form: Any) -> Any:
    """A FixMyStreet-style multipart request to `other`, with its photo and an Idempotency-Key."""
    data = {"api_key": api.open311_key, "service_code": "other", "lat": str(JIANGAN[1]),  # type: ignore[attr-defined]
            "long": str(JIANGAN[0]), "description": description, **form}
    return api.client.post("/open311/v2/requests.json", data=data, headers={"Idempotency-Key": key},
                           files={"media": ("photo.jpg", photo, "image/jpeg")})


def phone_photo(color: tuple[int, int, int]) -> bytes:
    """A phone's JPEG taken now, 100 m from the request's point, with GPS and time in EXIF."""
    from datetime import UTC, datetime, timedelta

    from cityops.field.samples import jpeg

    local = (datetime.now(UTC) + timedelta(hours=8)).replace(tzinfo=None)
    return jpeg(lon=JIANGAN[0] + 0.001, lat=JIANGAN[1], taken=local, offset="+08:00", color=color)


def held_rows(api: Api) -> int:
    with api.platform.store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM intel_triage_photos").fetchone()[0])


def attachment_rows(api: Api) -> int:
    with api.platform.store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM attachments").fetchone()[0])


def triage_item(api: Api, text: str) -> dict[str, Any]:
    items = api.get("acceptor", "/api/v1/triage", params={"limit": 1000}).json()["items"]
    found = [i for i in items if i["text"] == text]
    assert len(found) == 1, found
    return found[0]


def test_an_unsure_request_keeps_its_photo_in_triage_and_gives_it_to_its_case(api: Api, tmp_path: Any) -> None:
    import hashlib
    import io

    from PIL import Image

    from cityops.field import attachments
    from cityops.intel import photos

    threshold(api, 1.0)
    text = "路口有个东西挡着，拍了照片，不知道归谁管"
    photo = phone_photo((10, 120, 200))
    before = attachment_rows(api)
    r = post311_photo(api, photo, "photo-1", text)
    assert r.status_code == 200, r.text
    answer = r.json()[0]
    assert "service_request_id" not in answer and answer["token"]
    photo_id = answer["media_url"].rsplit("/", 1)[-1]
    assert answer["media_url"] == f"http://testserver/api/v1/attachments/{photo_id}"

    # The person triaging sees the photo with the item and fetches it, cleaned, with their token.
    item = triage_item(api, text)
    shown = item["photo"]
    assert shown["id"] == photo_id and shown["url"] == answer["media_url"] and shown["triage_id"] == item["id"]
    assert shown["case_id"] is None and shown["stage"] == "before" and shown["flags"] == []
    assert 50 < shown["distance_m"] < 150 and "photo_lon" not in shown
    got = api.get("acceptor", shown["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(got.content)) as img:
        assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
    digest = hashlib.sha256(got.content).hexdigest()
    assert api.get("acceptor", shown["thumbnail_url"]).content[:3] == b"\xff\xd8\xff"
    assert api.client.get(shown["url"]).status_code == 401  # no token
    assert api.get("roads", shown["url"]).status_code == 403  # a department does not triage
    assert attachment_rows(api) == before and held_rows(api) >= 1

    # The CLI's view of the queue names it too.
    from click.testing import CliRunner

    from cityops.intel.cli import intel

    out = CliRunner().invoke(intel, ["triage", "--db", str(api.platform.store.path)])
    assert out.exit_code == 0, out.output
    assert f"GET /api/v1/attachments/{photo_id}" in out.output and text in out.output

    # A retry (same Idempotency-Key) stores no second item and no second photo row.
    held = held_rows(api)
    again = post311_photo(api, photo, "photo-1", text)
    assert again.status_code == 200, again.text
    assert again.json()[0]["token"] == answer["token"] and again.json()[0]["media_url"] == answer["media_url"]
    assert triage_item(api, text)["id"] == item["id"] and held_rows(api) == held
    threshold(api, 0.0)  # ... nor a case, where the classifier would be sure of it now
    late = post311_photo(api, photo, "photo-1", text)
    assert late.status_code == 200 and late.json() == again.json()
    assert held_rows(api) == held and attachment_rows(api) == before
    threshold(api, 1.0)

    # Orphan cleanup leaves the files (photo and thumbnail) of a photo whose item is open.
    with api.platform.store.read() as repo:
        files = {photos.of_items(repo, [item["id"]])[item["id"]][k] for k in ("sha256", "thumb_sha256")}
    assert digest in files
    store_ = attachments.blobs(api.platform)
    removed = api.platform.store.write(lambda repo: attachments.cleanup_orphans(repo, api.platform, 0))
    assert not files & set(removed) and all(store_.exists(d) for d in files)
    # ... and moving the city's files to another store (`cityops field migrate-files`) takes them.
    from cityops.field.blobs import DirectoryBlobs

    with api.platform.store.read() as repo:
        attachments.copy_files(repo, store_, DirectoryBlobs(tmp_path / "moved"))
    assert all(DirectoryBlobs(tmp_path / "moved").exists(d) for d in files)

    # The pick makes the case, and the photo its attachment at the report stage, in that write.
    r = api.post("acceptor", f"/api/v1/triage/{item['id']}", json={"matter_code": "06011"})
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    listed = api.get("acceptor", f"/api/v1/cases/{case_id}/attachments").json()["attachments"]
    assert [a["id"] for a in listed] == [photo_id]
    att = listed[0]
    assert att["case_id"] == case_id and att["stage"] == "before" and att["uploaded_by"] == "open311:citizen-app"
    assert att["flags"] == [] and att["distance_m"] == shown["distance_m"]
    with api.platform.store.read() as repo:
        row = attachments.for_case(repo, case_id)[0]
    assert row["sha256"] == digest and row["photo_lon"] == pytest.approx(JIANGAN[0] + 0.001)
    fetched = api.get("acceptor", answer["media_url"])  # the request's media_url, unchanged
    assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == digest
    assert held_rows(api) == held - 1 and attachment_rows(api) == before + 1
    public = api.client.get(f"/open311/v2/requests/{case_id}.json").json()[0]
    assert public["media_url"] == answer["media_url"]
    assert api.client.get(f"/open311/v2/tokens/{answer['token']}.json").json()[0]["service_request_id"] == str(case_id)
    removed = api.platform.store.write(lambda repo: attachments.cleanup_orphans(repo, api.platform, 0))
    assert not files & set(removed) and all(store_.exists(d) for d in files)

    # The same row a sure request's photo gets.
    threshold(api, 0.0)
    sure = post311_photo(api, phone_photo((200, 30, 90)), "photo-2", "江岸区中山大道路灯不亮了，晚上很黑")
    assert sure.status_code == 200, sure.text
    sure_id = int(sure.json()[0]["service_request_id"])
    with api.platform.store.read() as repo:
        other = attachments.for_case(repo, sure_id)[0]
    assert set(other) == set(row) and (other["stage"], other["uploaded_by"]) == (row["stage"], row["uploaded_by"])
    assert sure.json()[0]["media_url"].endswith(other["id"])


def test_a_pick_that_moves_the_place_judges_the_distance_again(api: Api) -> None:
    threshold(api, 1.0)
    text = "这里情况比较复杂，说不清楚，附照片"
    r = post311_photo(api, phone_photo((30, 30, 30)), "photo-3", text)
    assert r.status_code == 200, r.text
    item = triage_item(api, text)
    assert item["photo"]["flags"] == []
    moved = {"matter_code": "06011", "lon": JIANGAN[0] + 0.1, "lat": JIANGAN[1]}  # about 10 km east
    r = api.post("acceptor", f"/api/v1/triage/{item['id']}", json=moved)
    assert r.status_code == 201, r.text
    att = api.get("acceptor", f"/api/v1/cases/{r.json()['id']}/attachments").json()["attachments"][0]
    assert [f["code"] for f in att["flags"]] == ["far_away"] and att["distance_m"] > 9000


def test_a_bad_photo_with_an_unsure_request_stores_nothing(api: Api) -> None:
    threshold(api, 1.0)
    text = "照片坏了的一条上报"
    held, rows = held_rows(api), attachment_rows(api)
    bad = post311_photo(api, b"<html>not a photo</html>", "photo-4", text)
    assert bad.status_code == 400 and "图片" in bad.json()[0]["description"]
    items = api.get("acceptor", "/api/v1/triage", params={"limit": 1000}).json()["items"]
    assert text not in [i["text"] for i in items]
    assert (held_rows(api), attachment_rows(api)) == (held, rows)


IMPORT_CSV = """id,opened,state,type,note,lat,lon
1,2024-03-01 10:00,Pending,Pothole,路面坑洞,30.5928,114.3055
2,2024-03-01 11:00,Pending,热线,江岸区中山大道路灯不亮了，晚上很黑,30.5928,114.3055
3,2024-03-01 12:00,Pending,热线,有个情况想反映一下,30.5928,114.3055
"""


def hotline_mapping(api: Api, source: str) -> Any:
    """An import mapping whose records without a mapped category are classified."""
    from cityops.intake.mapping import parse_mapping

    return parse_mapping({
        "source": source, "format": "csv", "timezone": "Asia/Shanghai", "date_format": "%Y-%m-%d %H:%M",
        "columns": {"external_id": "id", "created": "opened", "status": "state", "category": "type",
                    "description": "note", "lat": "lat", "lon": "lon"},
        "categories": {"Pothole": "06013"}, "default_matter": "classify",
        "statuses": {"Pending": "registered"},
    }, "m.yaml", {e.code for e in api.platform.catalogue.matters()})


def test_imported_records_without_a_mapped_matter_are_classified(api: Api, tmp_path: Any) -> None:
    from cityops.core import utcnow
    from cityops.intake.importer import import_file

    mapping = hotline_mapping(api, "hotline")
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


def test_a_picked_import_record_is_not_imported_again(api: Api, tmp_path: Any) -> None:
    """Once a person picks the code of an imported record waiting in triage, a later import of
    the file (even by a model now sure of the record) skips it, as it skips imported cases."""
    from cityops.core import utcnow
    from cityops.intake.importer import import_file

    mapping = hotline_mapping(api, "hotline2")
    path = tmp_path / "hotline2.csv"
    path.write_text(IMPORT_CSV, encoding="utf-8")
    threshold(api, 0.999999)  # everything classified waits for a person
    first = import_file(api.platform, path, mapping, utcnow())
    reader = api.platform.store.reader()
    waiting = [i for i in store.open_triage(reader.conn, 100, 0)[0] if i["source"] == "import:hotline2"]
    assert waiting and first.imported == 1  # the mapped pothole is a case; the rest wait
    for item in waiting:
        r = api.post("acceptor", f"/api/v1/triage/{item['id']}", json={"matter_code": "06011"})
        assert r.status_code == 201, r.text
    threshold(api, 0.0)  # the model is now "sure" of every record
    again = import_file(api.platform, path, mapping, utcnow())
    assert again.imported == 0
    assert not [i for i in store.open_triage(reader.conn, 100, 0)[0] if i["source"] == "import:hotline2"]
