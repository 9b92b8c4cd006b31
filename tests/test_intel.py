"""City intelligence: the classify API, bad input, location, triage, retrain/rollback, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cityops.intel import store
from conftest import PASSWORD, Api, add_users
from stores import new_db

JIANGAN = (114.3055, 30.5928)  # a point in 江岸区 (420102)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One platform and app for the module, with three users: password hashing is slow on a
    shared machine, and these tests need no more."""
    from fastapi.testclient import TestClient

    from cityops.api.app import create_app
    from cityops.auth.service import new_user
    from cityops.core import open_platform

    platform = open_platform(new_db(tmp_path_factory.mktemp("intel"), "intel.db"))
    known = {d.code for d in platform.city.departments}
    users = [new_user("collector", "collector", None, PASSWORD, known),
             new_user("acceptor", "acceptor", None, PASSWORD, known),
             new_user("dept-0", "department", sorted(known)[0], PASSWORD, known)]

    tokens = add_users(platform, users)
    with TestClient(create_app(platform)) as client:
        yield Api(client, tokens, platform)
    platform.close()


def classify(api: Api, who: str = "collector", **body: Any) -> Any:
    return api.post(who, "/api/v1/classify", json=body)


@pytest.mark.parametrize(("text", "code"), [
    ("江岸区中山大道路灯不亮了，晚上很黑", "01037"),
    ("小区门口垃圾堆了好几天没人清理", "06011"),
    ("夜间施工噪音太大睡不着", "08001"),
    ("下雨后路面积水很深车过不去", "01004"),
    ("路边有人乱停车堵住了消防通道", "09012"),
])
def test_classify_names_matter_department_and_place(api: Api, text: str, code: str) -> None:
    r = classify(api, text=text)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["matter_code"] == code
    assert 0 <= out["confidence"] <= 1
    assert [k["confidence"] for k in out["top_k"]] == sorted((k["confidence"] for k in out["top_k"]), reverse=True)
    assert len(out["top_k"]) == 5
    assert out["department"] in {d.code for d in api.platform.city.departments}


def test_classify_location_from_text_and_coordinates(api: Api) -> None:
    out = classify(api, text="江岸区中山大道与黄石路交叉口井盖丢了").json()
    loc = out["location"]
    assert loc["district"] == {"code": "420102", "name": "江岸区"}
    assert loc["intersections"] == [["中山大道", "黄石路"]]
    assert loc["source"] == "text" and loc["lon"] is not None
    # a district's own area department serves its event matters first
    out = classify(api, text="洪山区路边暴露垃圾很臭").json()
    assert out["location"]["district"]["code"] == "420111"
    # coordinates are kept; a text naming another district is flagged
    out = classify(api, text="洪山区路边暴露垃圾很臭", lon=JIANGAN[0], lat=JIANGAN[1]).json()
    loc = out["location"]
    assert (loc["lon"], loc["lat"], loc["source"]) == (*JIANGAN, "coordinates")
    assert loc["district"]["code"] == "420102" and loc["conflict"] is True
    assert loc["text_district"]["code"] == "420111"


def test_english_text(api: Api) -> None:
    out = classify(api, text="The street light is broken").json()
    assert out["matter_code"] in {"01037", "01006"}


@pytest.mark.parametrize("body", [
    {"text": ""}, {"text": "   \n\t "}, {"text": "垃圾" * 50_000}, {"text": "路灯坏了", "lon": 114.3},
    {"text": 5}, {}, {"text": "路灯坏了", "lat": 95},
])
def test_bad_input_is_4xx(api: Api, body: dict[str, Any]) -> None:
    r = classify(api, **body)
    assert 400 <= r.status_code < 500, r.text
    assert "message" in r.json()


@pytest.mark.parametrize("text", ["😀😀😀🚧🚧", "Привет, на улице яма", "مرحبا", "\u0000\u0001", "12345", "!!!???"])
def test_unreadable_text_is_a_low_confidence_answer(api: Api, text: str) -> None:
    r = classify(api, text=text)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.json()["confidence"] < 0.35


def test_classify_needs_a_token(api: Api) -> None:
    assert api.client.post("/api/v1/classify", json={"text": "路灯坏了"}).status_code == 401


def test_sure_text_report_becomes_a_case(api: Api) -> None:
    api.platform.store.write(lambda repo: store.set_threshold(repo.conn, 0.0))
    r = api.post("collector", "/api/v1/reports/text",
                 json={"text": "路灯不亮了", "lon": JIANGAN[0], "lat": JIANGAN[1]})
    assert r.status_code == 201, r.text
    case = r.json()["case"]
    assert case["matter_code"] == "01037" and case["source"] == "hotline"
    assert case["attributes"]["intel"]["model_version"] == 0


def test_unsure_report_goes_to_triage_and_the_pick_is_kept(api: Api) -> None:
    api.platform.store.write(lambda repo: store.set_threshold(repo.conn, 0.999))
    r = api.post("collector", "/api/v1/reports/text", json={"text": "这里有点问题，麻烦看看"})
    assert r.status_code == 202, r.text
    item = r.json()["triage"]
    listed = api.get("acceptor", "/api/v1/triage").json()
    assert item in [i["id"] for i in listed["items"]] and listed["threshold"] == 0.999
    before = listed["total"]
    # no coordinates on the report: the person must give them
    r = api.post("acceptor", f"/api/v1/triage/{item}", json={"matter_code": "06010"})
    assert r.status_code == 422
    r = api.post("acceptor", f"/api/v1/triage/{item}", json={"matter_code": "99999", "lon": JIANGAN[0], "lat": JIANGAN[1]})
    assert r.status_code == 422
    r = api.post("acceptor", f"/api/v1/triage/{item}", json={"matter_code": "06010", "lon": JIANGAN[0], "lat": JIANGAN[1]})
    assert r.status_code == 201, r.text
    assert r.json()["matter_code"] == "06010" and r.json()["district"] == "420102"
    assert api.post("acceptor", f"/api/v1/triage/{item}", json={"matter_code": "06010"}).status_code == 422
    assert api.get("acceptor", "/api/v1/triage").json()["total"] == before - 1
    assert store.corrections(api.platform.store.reader().conn) == [("这里有点问题，麻烦看看", "06010")]
    assert api.post("acceptor", "/api/v1/triage/999", json={"matter_code": "06010"}).status_code == 404
    assert api.get("dept-0", "/api/v1/triage").status_code == 403


def tiny_corpus(catalogue: Any, per_matter: int = 0) -> tuple[list[str], list[str]]:
    texts = ["路灯不亮", "路灯坏了", "垃圾没人清", "暴露垃圾", "路面积水", "积水很深"]
    return texts, ["01037", "01037", "06010", "06010", "01004", "01004"]


def test_retrain_models_rollback(platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityops.cli import main
    from cityops.field import attachments
    from cityops.intel import corpus, service

    monkeypatch.setattr(corpus, "matter_corpus", tiny_corpus)
    db = platform.store.path
    platform.store.write(lambda repo: store.add_correction(repo.conn, 0, "井盖不见了", "01001", None, None, "t", "triage"))
    runner = CliRunner()
    out = runner.invoke(main, ["intel", "models", "--db", db])
    assert out.exit_code == 0 and out.output.startswith("* v0")
    out = runner.invoke(main, ["intel", "retrain", "--db", db, "--note", "first"])
    assert out.exit_code == 0, out.output
    if platform.store.dialect.postgres:  # in the blob store every server shares, not on one host's disk
        file = store.models(platform.store.reader().conn)[0].file
        assert file.startswith(service.BLOB) and attachments.blobs(platform).exists(file[len(service.BLOB):])
        assert not (service.data_dir(platform) / "models").exists()
        platform.store.write(lambda repo: attachments.cleanup_orphans(repo, platform, 0))
        assert attachments.blobs(platform).exists(file[len(service.BLOB):])  # an active model is no orphan
    else:
        assert (service.data_dir(platform) / "models" / "v0001.model").exists()
    model, version = service.current_model(platform)
    assert version == 1 and set(model.labels) == {"01037", "06010", "01004", "01001"}
    assert service.classify(platform, "井盖不见了")["matter_code"] == "01001"  # the correction was learnt
    assert model.info["embedding"] is not None  # the encoder, as the shipped model
    assert runner.invoke(main, ["intel", "retrain", "--db", db, "--no-embedding"]).exit_code == 0
    assert service.current_model(platform)[0].info["embedding"] is None
    assert service.classify(platform, "井盖不见了")["matter_code"] == "01001"
    out = runner.invoke(main, ["intel", "models", "--db", db])
    assert "* v2" in out.output and "  v1" in out.output and "(1 corrections)  first" in out.output
    assert "(1 corrections)  [n-grams only]" in out.output
    assert runner.invoke(main, ["intel", "rollback", "1", "--db", db]).exit_code == 0
    assert service.current_model(platform)[1] == 1
    assert runner.invoke(main, ["intel", "rollback", "0", "--db", db]).exit_code == 0
    assert service.current_model(platform)[1] == 0
    assert runner.invoke(main, ["intel", "rollback", "7", "--db", db]).exit_code != 0
    out = runner.invoke(main, ["intel", "threshold", "0.75", "--db", db])
    assert out.exit_code == 0 and out.output.strip() == "0.75"


def test_eval_classify_command(tmp_path: Path) -> None:
    from cityops.cli import main

    rows = ["留言编号,留言用户,留言主题,留言时间,留言详情,一级分类"]
    topics = {"交通运输": ("公交线路太少", "出租车拒载"), "环境保护": ("工厂排放废气", "河水发黑发臭"),
              "教育文体": ("学校乱收费", "幼儿园学位紧张")}
    n = 0
    for label, (a, b) in topics.items():
        for i in range(10):
            n += 1
            rows.append(f"{n},u{n},{a if i % 2 else b}{i},2020/1/1,{a}{b}第{i}次反映,{label}")
    path = tmp_path / "m.csv"
    path.write_text("\n".join(rows), encoding="utf-8")
    out = CliRunner().invoke(main, ["eval", "classify", "--data", str(path)])
    assert out.exit_code == 0, out.output
    acc = float(next(line for line in out.output.splitlines() if line.startswith("accuracy")).split()[1])
    assert acc > 0.9
    assert "macro-F1" in out.output and "triage trade-off" in out.output


def test_eval_matters_command(platform: Any) -> None:
    from cityops.cli import main

    out = CliRunner().invoke(main, ["eval", "matters", "--db", platform.store.path])
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert first.startswith("model v0 on 95 authored reports")
    assert float(first.split("top-1 ")[1].split(",")[0]) >= 0.7 and float(first.split("top-5 ")[1]) >= 0.9


def test_a_corrected_matter_code_at_registration_is_kept(api: Api) -> None:
    api.platform.store.write(lambda repo: store.set_threshold(repo.conn, 0.0))
    r = api.post("collector", "/api/v1/reports/text", json={"text": "路灯不亮了", "lon": JIANGAN[0], "lat": JIANGAN[1]})
    case_id = r.json()["case"]["id"]
    r = api.post("acceptor", f"/api/v1/cases/{case_id}/actions/register", json={"matter_code": "02014"})
    assert r.status_code == 200, r.text
    assert ("路灯不亮了", "02014") in store.corrections(api.platform.store.reader().conn)


def test_calibrate_refits_the_temperature_on_real_text_as_a_new_version(platform: Any, tmp_path: Path) -> None:
    from cityops.cli import main
    from cityops.intel import service

    shipped = service.shipped_model()
    assert shipped.info["calibrated_on"] == 95  # the authored set, not the synthetic hold-out
    runner = CliRunner()
    out = runner.invoke(main, ["intel", "calibrate", "--db", platform.store.path])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("model v1 is active: T 0.187 -> 0.187 on 95 texts")
    mine = tmp_path / "mine.csv"  # a city's own labelled reports
    mine.write_text("text,matter_code\n" + "\n".join(
        f"{t},{c}" for t, c in [("路灯不亮了", "01037"), ("垃圾没人清理", "06011"), ("夜间施工噪音太大", "08001"),
                                ("路面积水很深", "01004"), ("乱停车堵住消防通道", "09012")] * 2), encoding="utf-8")
    out = runner.invoke(main, ["intel", "calibrate", "--db", platform.store.path, "--data", str(mine)])
    assert out.exit_code == 0, out.output
    model, version = service.current_model(platform)
    assert version == 2 and model.temperature != shipped.temperature and model.info["calibrated_on"] == 10
    np.testing.assert_array_equal(model.coef, shipped.coef)  # the weights are the same
    bad = tmp_path / "bad.csv"
    bad.write_text("text,matter_code\n路灯不亮了,99999\n", encoding="utf-8")
    out = runner.invoke(main, ["intel", "calibrate", "--db", platform.store.path, "--data", str(bad)])
    assert out.exit_code == 1 and "at least 5" in out.output


def test_long_work_shows_progress_on_stderr(platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`intel retrain` and `eval classify` say on standard error what they are doing, and the
    embedding (the slow part with a cold cache) gets a bar of its own; stdout stays the result."""
    import uuid

    from cityops.cli import main
    from cityops.intel import corpus, embed

    fresh = uuid.uuid4().hex[:8]  # texts no cache holds, so the encoder has work to show

    def corpus_of_new_texts(catalogue: Any, per_matter: int = 0) -> tuple[list[str], list[str]]:
        texts, codes = tiny_corpus(catalogue)
        return [f"{t} {fresh}{i}" for i, t in enumerate(texts)], codes

    monkeypatch.setattr(corpus, "matter_corpus", corpus_of_new_texts)
    out = CliRunner().invoke(main, ["intel", "retrain", "--db", platform.store.path])
    assert out.exit_code == 0, out.output
    assert "retraining" in out.stderr and "saved" in out.stderr
    if embed.available():
        assert "embedding texts with the sentence encoder (the slow part" in out.stderr, out.stderr
    assert "model v1 is active" in out.stdout and "retraining" not in out.stdout
    data = tmp_path / "m.csv"
    rows = [("路灯不亮", "晚上很黑", "城乡建设"), ("路灯坏了", "没人修", "城乡建设"), ("路灯不亮了", "好几天", "城乡建设"),
            ("噪音太大", "夜里施工", "环境保护"), ("工地噪音", "扰民", "环境保护"), ("施工噪音", "半夜", "环境保护")]
    data.write_text("留言主题,留言详情,一级分类\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    out = CliRunner().invoke(main, ["eval", "classify", "--data", str(data), "--folds", "2", "--no-embedding"])
    assert out.exit_code == 0, out.output
    assert "2-fold cross-validation: fold 2 done" in out.stderr and "accuracy" in out.stdout
