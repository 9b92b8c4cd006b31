"""Photos and short videos on cases: types from the bytes, limits, EXIF (or the container's
place and time) judged then stripped, scope, nothing half-stored, and the after-photo a site
verification needs — with the files in a directory and in an S3-compatible object store."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cityops.field import attachments, images, videos
from cityops.field.samples import jpeg, mp4, webm
from conftest import Api, shared_file
from field_support import blob_store, quick_api, s3_server, walk
from stores import new_db

LON, LAT = 114.3055, 30.5928


@pytest.fixture(scope="module", params=["directory", "s3"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Every test below runs with the files in a directory and in a local S3 server."""
    with blob_store(request.param), quick_api(new_db(tmp_path_factory.mktemp("att"), "t.db")) as a:
        yield a


def upload(api: Api, cid: int, data: bytes, name: str = "p.jpg", ctype: str = "image/jpeg",
           who: str = "collector", stage: str | None = None) -> Any:
    extra = {"data": {"stage": stage}} if stage else {}
    return api.post(who, f"/api/v1/cases/{cid}/attachments", files={"file": (name, data, ctype)}, **extra)


def new_case(api: Api) -> int:
    r = api.report()
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def stored_files(api: Api) -> list[str]:
    """The digests in the server's blob store (directory or bucket)."""
    return sorted(attachments.blobs(api.platform).names())


def rows(api: Api) -> int:
    with api.platform.store.read() as repo:
        return int(repo.conn.execute("SELECT count(*) FROM attachments").fetchone()[0])


def test_a_photo_near_the_case_is_stored_clean_and_served(api: Api) -> None:
    cid = new_case(api)
    now = datetime.now(UTC) + timedelta(hours=8)
    r = upload(api, cid, jpeg(lon=LON + 0.001, lat=LAT, taken=now.replace(tzinfo=None), offset="+08:00"))
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["flags"] == [] and att["media_type"] == "image/jpeg" and att["distance_m"] < 200
    got = api.get("collector", att["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(got.content)) as img:
        assert not img.getexif() and "exif" not in img.info and "xmp" not in img.info
    thumb = api.get("collector", att["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    listed = api.get("admin", f"/api/v1/cases/{cid}/attachments").json()["attachments"]
    assert [a["id"] for a in listed] == [att["id"]]
    # The same picture again (a retried upload) is the same attachment.
    again = upload(api, cid, jpeg(lon=LON + 0.001, lat=LAT, taken=now.replace(tzinfo=None), offset="+08:00"))
    assert again.status_code == 200 and again.json()["id"] == att["id"]


def test_real_phone_photo_far_away_and_old_is_flagged_and_stripped(api: Api) -> None:
    path = shared_file("photos/IMG_20180725_163423-tiny.jpg")
    cid = new_case(api)
    r = upload(api, cid, path.read_bytes())
    assert r.status_code == 201, r.text
    codes = {f["code"]: f for f in r.json()["flags"]}
    assert {"far_away", "too_old"} <= set(codes)
    assert "公里" in codes["far_away"]["message_zh"] and "km" in codes["far_away"]["message"]
    body = api.get("admin", r.json()["url"]).content
    assert b"GPS" not in body[:4096] and b"Exif" not in body[:4096]
    with Image.open(io.BytesIO(body)) as img:
        assert not img.getexif()


def test_exif_times_of_the_real_photos() -> None:
    zone = images.ZoneInfo("Asia/Shanghai")
    nokia = images.process(shared_file("photos/HMD_Nokia_8.3_5G.jpg").read_bytes(), zone).meta
    assert nokia.time_source == "offset" and nokia.taken_at == datetime(2022, 8, 14, 11, 12, 31, tzinfo=UTC)
    nikon = images.process(shared_file("photos/DSCN0021.jpg").read_bytes(), zone).meta
    assert nikon.time_source == "gps" and nikon.camera_clock_skew_s is not None
    flags, _ = images.judge(nikon, "before", nikon.lon, nikon.lat, datetime(2008, 10, 23, 15, tzinfo=UTC),
                            datetime(2008, 10, 23, 15, tzinfo=UTC))
    assert [f.code for f in flags] == ["clock_skew"]
    samsung = images.process(shared_file("photos/67-0_length_string.jpg").read_bytes(), zone).meta
    # No DateTimeOriginal: the file's DateTime, read in the city's zone.
    assert samsung.time_source == "local" and samsung.taken_at == datetime(2016, 9, 12, 2, 5, 31, tzinfo=UTC)
    assert samsung.lat == pytest.approx(51.025)


@pytest.mark.parametrize(("data", "name", "ctype", "status", "word"), [
    (b"hello, this is text", "photo.jpg", "image/jpeg", 422, "not a JPEG"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "photo.jpg", "image/jpeg", 422, "decoded"),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100, "clip.mp4", "video/mp4", 422, "no 'moov'"),
    (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100, "p.heic", "image/heic", 422, "HEIC"),
    (b"\x1a\x45\xdf\xa3" + b"\x00" * 100, "clip.webm", "video/webm", 422, "video cannot be read"),
    (b"GIF89a" + b"\x00" * 100, "anim.gif", "image/gif", 422, "not a JPEG"),
    (b"%PDF-1.4 fake", "scan.png", "image/png", 422, "not a JPEG"),
])
def test_refused_uploads_leave_nothing(api: Api, data: bytes, name: str, ctype: str, status: int, word: str) -> None:
    cid = new_case(api)
    before_files, before_rows = stored_files(api), rows(api)
    r = upload(api, cid, data, name, ctype)
    assert r.status_code == status, r.text
    assert word in r.json()["message"] and r.json()["message_zh"]
    assert stored_files(api) == before_files and rows(api) == before_rows


def test_type_comes_from_the_bytes_not_the_name(api: Api) -> None:
    cid = new_case(api)
    png = jpeg(fmt="PNG")
    r = upload(api, cid, png, "photo.jpg", "image/jpeg")
    assert r.status_code == 201 and r.json()["media_type"] == "image/png"


def test_too_large(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_case(api)
    before = stored_files(api)
    monkeypatch.setattr(images, "MAX_BYTES", 2000)
    r = upload(api, cid, jpeg(400, 300))
    assert r.status_code == 413 and "上限" in r.json()["message_zh"]
    monkeypatch.undo()
    r = upload(api, cid, b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024))
    assert r.status_code == 413 and "10485760" in r.json()["message"]
    # Over the HTTP body limit for uploads (a short video's): refused before the application reads it.
    r = upload(api, cid, b"\xff\xd8\xff" + b"\x00" * (53 * 1024 * 1024))
    assert r.status_code == 413
    assert stored_files(api) == before


def test_bad_stage_and_not_multipart(api: Api) -> None:
    cid = new_case(api)
    assert upload(api, cid, jpeg(), stage="sideways").status_code == 422
    r = api.post("collector", f"/api/v1/cases/{cid}/attachments", json={"file": "x"})
    assert r.status_code == 422 and "multipart" in r.json()["message"]
    assert upload(api, 999_999, jpeg()).status_code == 404


def test_scope_another_department_cannot_see_the_picture(api: Api) -> None:
    cid = new_case(api)
    case = walk(api, cid, "disposing")
    mine = case["department"]
    other = next(code for code in (d.code for d in api.platform.city.departments) if code != mine)
    r = upload(api, cid, jpeg(lon=LON, lat=LAT), who=mine, stage="after")
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert api.get(mine, url).status_code == 200
    assert api.get(other, url).status_code in (403, 404)
    assert api.get(other, url + "/thumbnail").status_code in (403, 404)
    assert api.get(other, f"/api/v1/cases/{cid}/attachments").status_code in (403, 404)
    assert upload(api, cid, jpeg(30, 30), who=other).status_code in (403, 404)
    assert api.get(mine, "/api/v1/attachments/" + "0" * 32).status_code == 404
    assert api.client.get(url).status_code == 401


def test_verification_on_site_needs_an_after_photo(api: Api) -> None:
    cid = new_case(api)
    assert api.platform.catalogue.matter("06010").verify_on_site
    walk(api, cid, "reported_back")
    r = api.act("verifier", cid, "verify", passed=True)
    assert r.status_code == 409 and "stage=after" in r.json()["message"] and "处置后照片" in r.json()["message_zh"]
    # A before-photo is not an after-photo; failing verification needs none.
    assert upload(api, cid, jpeg(20, 20), stage="before").status_code == 201
    assert api.act("verifier", cid, "verify", passed=True).status_code == 409
    assert upload(api, cid, jpeg(22, 22), who="verifier", stage="verify").status_code == 201
    assert api.act("verifier", cid, "verify", passed=True).json()["status"] == "closed"


def test_rework_needs_a_new_after_photo(api: Api) -> None:
    cid = new_case(api)
    case = walk(api, cid, "reported_back")
    assert upload(api, cid, jpeg(24, 24), who=case["department"], stage="after").status_code == 201
    assert api.act("verifier", cid, "verify", passed=False, reason="未整改").json()["status"] == "disposing"
    assert api.act(case["department"], cid, "report_back").status_code == 200
    assert api.act("verifier", cid, "verify", passed=True).status_code == 409
    assert upload(api, cid, jpeg(26, 26), who=case["department"], stage="after").status_code == 201
    assert api.act("verifier", cid, "verify", passed=True).json()["status"] == "closed"


def test_orphans_are_cleaned_up(api: Api) -> None:
    store = attachments.blobs(api.platform)
    digest = store.put(b"left behind by a crash between file and row")
    assert store.get(digest) == b"left behind by a crash between file and row"
    removed = api.platform.store.write(lambda repo: attachments.cleanup_orphans(repo, api.platform, 0))
    assert digest in removed and not store.exists(digest) and store.get(digest) is None
    # Files rows point at are kept.
    kept = stored_files(api)
    assert kept and all(store.exists(name) for name in kept)


def test_open311_multipart_media_is_attached_and_rendered(api: Api) -> None:
    from cityops.core import utcnow
    from cityops.intake.open311.keys import new_key

    plain, key = new_key("fixmystreet", "report", utcnow())
    api.platform.store.write(lambda repo: repo.add_api_key(key))
    form = {"api_key": plain, "service_code": "06010", "lat": str(LAT), "long": str(LON),
            "description": "路边暴露垃圾 / rubbish by the road"}
    photo = jpeg(lon=LON, lat=LAT)
    r = api.client.post("/open311/v2/requests.json", data=form, files={"media": ("m.jpg", photo, "image/jpeg")},
                        headers={"Idempotency-Key": "fms-1"})
    assert r.status_code == 200, r.text
    answer = r.json()[0]
    rid, media_url = answer["service_request_id"], answer["media_url"]
    assert "/api/v1/attachments/" in media_url
    shown = api.client.get(f"/open311/v2/requests/{rid}.json").json()[0]
    assert shown["media_url"] == media_url
    path = media_url.split("testserver", 1)[-1]
    assert api.get("acceptor", path).status_code == 200
    # The same POST again (a retry): one case, one photo.
    again = api.client.post("/open311/v2/requests.json", data=form, files={"media": ("m.jpg", photo, "image/jpeg")},
                            headers={"Idempotency-Key": "fms-1"})
    assert again.json()[0]["service_request_id"] == rid
    assert len(api.get("admin", f"/api/v1/cases/{rid}/attachments").json()["attachments"]) == 1
    # A media part that is not a picture: 400 in Open311's error shape, nothing stored.
    before_files, before_rows = stored_files(api), rows(api)
    bad = api.client.post("/open311/v2/requests.json", data=form, files={"media": ("m.jpg", b"<html>", "image/jpeg")})
    assert bad.status_code == 400 and "图片" in bad.json()[0]["description"]
    assert stored_files(api) == before_files and rows(api) == before_rows


@pytest.mark.parametrize("kind", ["directory", "s3"])
def test_upload_through_the_write_process(tmp_path: Path, kind: str) -> None:
    """As `cityops serve` runs: the row is written by the write process, the files by the server."""
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import hash_password, issue_token
    from cityops.core import open_platform, utcnow
    from cityops.store.base import User

    store = blob_store(kind)
    store.__enter__()
    platform = open_platform(new_db(tmp_path, "wp.db"))
    digest = hash_password("test-password-1")

    def setup(repo: Any) -> str:
        repo.add_user(User("c1", "collector", None, digest), utcnow())
        repo.add_user(User("v1", "verifier", None, digest), utcnow())
        return issue_token(repo, "c1", utcnow())

    token = platform.store.write(setup)
    h = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(create_app(platform, write_process=True)) as client:
            cid = client.post("/api/v1/cases", headers=h, json={"matter_code": "06010", "description": "x",
                                                                "lon": LON, "lat": LAT}).json()["id"]
            r = client.post(f"/api/v1/cases/{cid}/attachments", headers=h, files={"file": ("a.jpg", jpeg(), "image/jpeg")})
            assert r.status_code == 201, r.text
            assert r.json()["url"].startswith("http://testserver/api/v1/attachments/")
            assert client.get(r.json()["url"], headers=h).status_code == 200
            bad = client.post("/api/v1/cases/999/attachments", headers=h, files={"file": ("a.jpg", jpeg(), "image/jpeg")})
            assert bad.status_code == 404
            clip = client.post(f"/api/v1/cases/{cid}/attachments", headers=h,
                               files={"file": ("v.mp4", mp4(lon=LON, lat=LAT), "video/mp4")})
            assert clip.status_code == 201 and clip.json()["kind"] == "video", clip.text
    finally:
        platform.close()
        store.__exit__(None, None, None)


# ---- short videos ----------------------------------------------------------------------------


def test_a_phone_video_is_flagged_far_away_blanked_and_served_with_a_poster(api: Api) -> None:
    cid = new_case(api)
    taken = datetime.now(UTC) - timedelta(minutes=5)
    clip = mp4(duration_s=12.5, lon=16.6, lat=49.2, taken=taken, width=1920, height=1080)  # Brno
    r = upload(api, cid, clip, "whatever.bin", "application/octet-stream")
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["kind"] == "video" and att["media_type"] == "video/mp4"
    assert (att["width"], att["height"], att["duration_s"]) == (1920, 1080, 12.5)
    assert [f["code"] for f in att["flags"]] == ["far_away"] and att["distance_m"] > 8_000_000
    # The container's time, as every answer's time: ISO 8601 in the city's offset.
    assert att["taken_at"].endswith("+08:00") and abs(datetime.fromisoformat(att["taken_at"]) - taken) < timedelta(seconds=1)
    served = api.get("collector", att["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"
    # The same file, same length, minus its place and maker: nothing else moved.
    body = served.content
    assert len(body) == len(clip) and b"+49.2000+016.6000" in clip and b"+49.2000" not in body
    assert b"cityops-phone" not in body and body[:32] == clip[:32]
    poster = api.get("collector", att["thumbnail_url"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(poster.content)) as img:
        assert img.size == (320, 180)


def test_iphone_location_and_drone_gps_tracks_are_blanked(api: Api) -> None:
    cid = new_case(api)
    for clip in (mp4(lon=LON, lat=LAT, apple=True, brand=b"qt  "), mp4(lon=LON, lat=LAT, gps_track=True)):
        r = upload(api, cid, clip)
        assert r.status_code == 201, r.text
        assert r.json()["flags"] == [] and r.json()["distance_m"] < 50
        body = api.get("admin", r.json()["url"]).content
        assert f"{LAT:+08.4f}".encode() in clip and f"{LAT:+08.4f}".encode() not in body


def test_webm_videos_from_a_browser(api: Api) -> None:
    cid = new_case(api)
    r = upload(api, cid, webm(duration_s=None, live=True), "rec.webm", "video/webm")
    assert r.status_code == 201, r.text
    # A live recording writes no duration: the last cluster's time is the lower bound.
    assert r.json()["media_type"] == "video/webm" and r.json()["duration_s"] == 4.0
    tagged = webm(duration_s=8, tag="+30.5928+114.3055/")
    r = upload(api, cid, tagged, "rec.webm", "video/webm")
    assert r.status_code == 201 and r.json()["duration_s"] == 8.0
    assert b"114.3055" not in api.get("admin", r.json()["url"]).content


def test_video_limits_are_the_citys(api: Api) -> None:
    cid = new_case(api)
    before_files, before_rows = stored_files(api), rows(api)
    r = upload(api, cid, mp4(duration_s=75))
    assert r.status_code == 422 and "75.0 s" in r.json()["message"] and "秒" in r.json()["message_zh"]
    assert upload(api, cid, mp4(audio_only=True)).json()["message"].endswith("no video track (audio only?)")
    assert upload(api, cid, webm(doctype=b"matroska")).status_code == 422
    api.platform.store.write(lambda repo: attachments.set_video_limits(repo, 0.0001, 90))
    try:
        r = upload(api, cid, mp4(duration_s=75))
        assert r.status_code == 413 and "视频过大" in r.json()["message_zh"]
        api.platform.store.write(lambda repo: attachments.set_video_limits(repo, 30, 90))
        assert upload(api, cid, mp4(duration_s=75)).status_code == 201
        api.platform.store.write(lambda repo: attachments.set_video_limits(repo, 0, 90))
        r = upload(api, cid, mp4(duration_s=76))
        assert r.status_code == 422 and "takes no videos" in r.json()["message"]
    finally:
        api.platform.store.write(lambda repo: attachments.set_video_limits(repo, 30, 60))
    # Of all these uploads only one clip was stored, with the poster every video shares.
    poster = hashlib.sha256(videos.poster()).hexdigest()
    assert rows(api) == before_rows + 1 and len(set(stored_files(api)) - set(before_files) - {poster}) == 1


def test_open311_media_takes_photos_only(api: Api) -> None:
    from cityops.core import utcnow
    from cityops.intake.open311.keys import new_key

    plain, key = new_key("fms-video", "report", utcnow())
    api.platform.store.write(lambda repo: repo.add_api_key(key))
    form = {"api_key": plain, "service_code": "06010", "lat": str(LAT), "long": str(LON), "description": "x"}
    bad = api.client.post("/open311/v2/requests.json", data=form, files={"media": ("m.mp4", mp4(), "video/mp4")})
    assert bad.status_code == 400 and "视频" in bad.json()[0]["description"]


# ---- the S3-compatible store ------------------------------------------------------------------


def test_the_object_store_down_is_a_503_and_nothing_is_stored(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = new_case(api)
    before_rows = rows(api)
    monkeypatch.setenv("CITYOPS_BLOB_STORE", "s3")
    monkeypatch.setenv("CITYOPS_S3_BUCKET", "no-such-bucket")
    monkeypatch.setenv("CITYOPS_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    for endpoint in ("http://127.0.0.1:9", None):
        if endpoint is None:  # a server that answers, without the bucket
            with s3_server() as env:
                monkeypatch.setenv("CITYOPS_S3_ENDPOINT_URL", env["CITYOPS_S3_ENDPOINT_URL"])
                r = upload(api, cid, jpeg(31, 31))
        else:
            r = upload(api, cid, jpeg(31, 31))
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "storage_unavailable" and "对象存储" in r.json()["message_zh"]
        assert r.headers["Retry-After"]
    assert rows(api) == before_rows


def test_migrate_files_to_s3_and_serve_from_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cityops.cli import main
    from cityops.field.blobs import DatabaseBlobs, S3Blobs, S3Config, directory_for
    from cityops.store.dialect import is_postgres

    db = new_db(tmp_path, "m.db")

    def local() -> Any:  # the store a server uses without configuration: a directory; the database on PostgreSQL
        return DatabaseBlobs(db) if is_postgres(db) else directory_for(db)

    monkeypatch.delenv("CITYOPS_BLOB_STORE", raising=False)
    with quick_api(db) as a, s3_server() as env:
        cid = new_case(a)
        url = upload(a, cid, jpeg(lon=LON, lat=LAT)).json()["url"]
        clip = upload(a, cid, mp4(lon=LON, lat=LAT)).json()["url"]
        assert len(list(local().names())) == 4  # photo, thumbnail, video, poster
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        runner = CliRunner()
        out = runner.invoke(main, ["field", "migrate-files", "--to", "s3", "--db", str(db)])
        assert out.exit_code == 0 and "copied 4" in out.output, out.output
        again = runner.invoke(main, ["field", "migrate-files", "--to", "s3", "--db", str(db)])
        assert "copied 0, 已存在 already there 4" in again.output
        bucket = S3Blobs(S3Config.from_env())
        assert sorted(bucket.names()) == sorted(local().names())
        # The server switched to the bucket (the store is chosen per request from the environment).
        monkeypatch.setenv("CITYOPS_BLOB_STORE", "s3")
        monkeypatch.setenv("CITYOPS_FILES_DIR", str(tmp_path / "gone"))  # the directory is no longer read
        assert a.get("admin", url).status_code == 200
        assert a.get("admin", clip).headers["content-type"] == "video/mp4"


def test_video_limits_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cityops.cli import main

    db = new_db(tmp_path, "v.db")
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--db", db]).exit_code == 0
    assert "30 MB, 60 s" in runner.invoke(main, ["field", "video-limits", "--db", db]).output
    assert "20 MB, 30 s" in runner.invoke(main, ["field", "video-limits", "--max-mb", "20", "--max-seconds", "30",
                                                 "--db", db]).output
    assert "not accepted" in runner.invoke(main, ["field", "video-limits", "--max-mb", "0", "--db", db]).output
    bad = runner.invoke(main, ["field", "video-limits", "--max-mb", "80", "--db", db])
    assert bad.exit_code != 0 and "50" in bad.output


@settings(max_examples=60, deadline=None)
@given(head=st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBP", b""]),
       body=st.binary(max_size=400))
def test_any_bytes_are_cleaned_or_refused_never_crash(head: bytes, body: bytes) -> None:
    try:
        out = images.process(head + body, images.ZoneInfo("Asia/Shanghai"))
    except images.RefusedUpload as exc:
        assert exc.message_zh and exc.status in (413, 422)
    else:
        assert out.data[:3] in (b"\xff\xd8\xff", b"\x89PN")


@settings(max_examples=25, deadline=None)
@given(w=st.integers(1, 80), h=st.integers(1, 80), fmt=st.sampled_from(["JPEG", "PNG", "WEBP"]),
       lon=st.floats(-179, 179), lat=st.floats(-89, 89))
def test_generated_photos_lose_every_exif_field(w: int, h: int, fmt: str, lon: float, lat: float) -> None:
    data = jpeg(w, h, lon=lon, lat=lat, taken=datetime(2026, 11, 30, 9), offset="+08:00", fmt=fmt)
    out = images.process(data, images.ZoneInfo("Asia/Shanghai"))
    assert out.meta.taken_at == datetime(2026, 11, 30, 1, tzinfo=UTC)
    with Image.open(io.BytesIO(out.data)) as img:
        assert not img.getexif() and not (set(img.info) & {"exif", "xmp", "icc_profile", "comment"})
