"""Classification for the API and for intake; model versions; the triage queue.

Models: version 0 is the one shipped in the package (trained by `tools/build_intel_model.py`
from `corpus.py` alone). `cityops intel retrain` trains a new version from the shipped text
plus every correction, writes it to `<database>.intel/models/vNNNN.model` and makes it active;
`cityops intel rollback N` makes an older one active again. Servers notice the change on their
next request (one indexed read).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityops.cases import service as cases
from cityops.cases.models import Actor, Case, Change
from cityops.cases.routing import candidates
from cityops.errors import Forbidden, InvalidInput, NotFound, StorageUnavailable
from cityops.field import attachments
from cityops.field.attachments import Stored
from cityops.intel import llm, photos, places, store
from cityops.intel.model import TextModel
from cityops.intel.summary import Draft, Names, Summary, draft_reply, source_kind, summarise
from cityops.intel.text import check, readable_share
from cityops.store.base import CaseQuery

if TYPE_CHECKING:
    from cityops.core import Platform
    from cityops.store.base import Repo
    from cityops.store.sqlite import SqliteRepo

TOP_K = 5
_lock = threading.Lock()
_cache: dict[tuple[str, int], TextModel] = {}


BLOB = "blob:"  # `intel_models.file` of a model kept in the server's blob store


def data_dir(platform: Platform) -> Path:
    """On SQLite, model files live beside the database: `<db>.intel/models/`."""
    db = Path(platform.store.path)
    return db.with_name(db.name + ".intel")


def artifacts_at(platform: Platform) -> str:
    """Where retrained models are written, as told to the operator."""
    if platform.store.dialect.postgres:
        return "the server's blob store / 服务器文件存储"
    return str(data_dir(platform) / "models")


def _model_bytes(platform: Platform, file: str) -> bytes:
    if file.startswith(BLOB):
        data = attachments.blobs(platform).get(file[len(BLOB):])
        if data is None:
            raise StorageUnavailable(f"model artifact {file} is missing from the blob store",
                                     f"模型文件 {file} 在文件存储中缺失")
        return data
    return (data_dir(platform) / file).read_bytes()


def shipped_model() -> TextModel:
    with _lock:
        if ("", 0) not in _cache:
            data = (resources.files("cityops.intel") / "data" / "matters.model").read_bytes()
            _cache[("", 0)] = TextModel.loads(data)
        return _cache[("", 0)]


def current_model(platform: Platform) -> tuple[TextModel, int]:
    """The active model and its version (0: the shipped one)."""
    row = store.active(platform.store.reader().conn)
    if row is None:
        return shipped_model(), 0
    key = (platform.store.path, row.version)
    with _lock:
        if key not in _cache:
            _cache[key] = TextModel.loads(_model_bytes(platform, row.file))
        return _cache[key], row.version


def warm(platform: Platform) -> None:
    """Load the active model and run one text through it (the encoder's first text is slow)."""
    try:
        current_model(platform)[0].top_k(["路灯不亮"])
    except Exception:  # a broken model file shows on the first real request, with its message
        logging.getLogger("cityops").exception("warming the classifier failed")


def department_for(platform: Platform, matter_code: str, district: str | None) -> str | None:
    """The dispatch rule's first choice (部件先属主后属地，事件先属地后属主)."""
    entry = platform.catalogue.find("matter", matter_code)
    if entry is None:
        return None
    ranked = candidates(entry.department, entry.is_component_matter, district or "", platform.city.departments)
    return ranked[0] if ranked else None


def classify(platform: Platform, text: str, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:
    """Matter code top-k with calibrated confidence, department and location for one text."""
    cleaned = check(text)
    if (lon is None) != (lat is None):
        raise InvalidInput("give both lon and lat, or neither", "经纬度须同时提供")
    where = places.locate(platform.city, cleaned, lon, lat)
    model, version = current_model(platform)
    ranked = model.top_k([cleaned], TOP_K)[0]
    share = readable_share(cleaned)
    if share < 0.3:  # emoji, other scripts: whatever the model says, it has not read it
        ranked = [(code, p * share) for code, p in ranked]
    district = where["district"]["code"] if where["district"] else None
    top: list[dict[str, Any]] = []
    for code, p in ranked:
        entry = platform.catalogue.matter(code)
        top.append({"matter_code": code, "name": entry.name, "name_en": entry.name_en,
                    "confidence": round(p, 4)})
    best, second_opinion = _second_opinion(cleaned, top, share)
    return {
        "matter_code": best["matter_code"], "matter_name": best["name"],
        "department": department_for(platform, best["matter_code"], district),
        "confidence": best["confidence"], "top_k": top, "location": where,
        "model_version": version, "readable_share": round(share, 3), "llm": second_opinion,
    }


def _second_opinion(text: str, top: list[dict[str, Any]], share: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """With an LLM back end configured (`intel.llm`), it picks among the local top-k. Its pick
    becomes the answer, with the local model's confidence for that code: agreement changes
    nothing, a disagreement lowers the confidence, so it never dispatches what the local
    model was unsure of. Off, failed or unreadable text: the local answer."""
    cfg = llm.config()
    if cfg is None:
        return top[0], None
    picked = llm.choose(cfg, text, [(k["matter_code"], k["name"]) for k in top]) if share >= 0.3 else None
    opinion = {"model": cfg.model, "matter_code": picked, "fallback": picked is None,
               "agreed": picked == top[0]["matter_code"]}
    return next((k for k in top if k["matter_code"] == picked), top[0]), opinion


def classify_many(platform: Platform, texts: list[str]) -> list[dict[str, Any]]:
    """Matter code, confidence and top-k for many texts at once (the model's batch path), as
    `classify` gives them less the place and department: for imports."""
    model, version = current_model(platform)
    return [{"matter_code": ranked[0][0], "confidence": round(ranked[0][1], 4), "model_version": version,
             "top_k": [{"matter_code": k, "confidence": round(p, 4)} for k, p in ranked]}
            for ranked in model.top_k(texts, TOP_K)]


def threshold(platform: Platform) -> float:
    return store.threshold(platform.store.reader().conn)


def _epoch(now: datetime) -> int:
    return int(now.timestamp())


def accept_text(repo: SqliteRepo, platform: Platform, text: str, lon: float | None, lat: float | None,
                source: str, address: str, result: dict[str, Any], actor: Actor,
                now: datetime, *, reporter: str | None = None, attributes: dict[str, Any] | None = None,
                idempotency_key: str | None = None, photo: Stored | None = None) -> dict[str, Any]:
    """Write op for a report that came without a matter code (hotline free text, an Open311
    catch-all service), classified as `result`: a case with the predicted code when the answer
    reaches the city's threshold and the place is known, otherwise an item in the triage queue
    that keeps the source's `attributes` for the case a person's pick will create. A `photo`
    already stored (Open311 `media`) is recorded on the case, or held with the item
    (`intel.photos`) until the pick moves it onto the case."""
    if actor.role not in cases.INTAKE_ROLES:
        raise Forbidden(f"role '{actor.role}' may not report cases", f"角色 {actor.role} 无权上报")
    if idempotency_key and (first := _first_answer(repo, idempotency_key)) is not None:
        # A retried request (its answer was lost) gets its first case or item back, and its
        # photo is not recorded twice, even if the threshold changed in between.
        return first
    loc = result["location"]
    point = (lon, lat) if lon is not None and lat is not None else None
    if point is None and loc["source"] == "text" and loc["confidence"] >= 0.8:
        point = (loc["lon"], loc["lat"])
    sure = result["confidence"] >= store.threshold(repo.conn)
    if not sure or point is None:
        reason = "low_confidence" if not sure else "no_location"
        kept = {**(attributes or {}), **({"idempotency_key": idempotency_key} if idempotency_key else {})}
        item = store.add_triage(repo.conn, _epoch(now), text, lon, lat, source, address, reporter or actor.name,
                                result, reason, kept)
        if photo is not None:
            photos.hold(repo, item, photo)
        return {"triage": item, "reason": reason, "attributes": kept}
    report = cases.NewReport(
        matter_code=result["matter_code"], description=text, lon=point[0], lat=point[1], source=source,
        address=address, reporter=reporter or actor.name,
        attributes={**(attributes or {}), "intel": intel_attributes(result)}, idempotency_key=idempotency_key,
    )
    case = cases.intake(repo, platform, report, actor, now)
    if photo is not None:
        attachments.record(repo, platform, replace(photo, case_id=case.id), actor)
    return {"case": case}


def _first_answer(repo: SqliteRepo, idempotency_key: str) -> dict[str, Any] | None:
    """What the first request with this key gave: its case, or its triage item."""
    case_id = repo.idempotent_case(idempotency_key)
    if case_id is not None and (case := repo.get_case(case_id)) is not None:
        return {"case": case}
    first = store.triage_by_key(repo.conn, idempotency_key)
    if first is None:
        return None
    return {"triage": first["id"], "reason": first["reason"], "attributes": first["attributes"]}


def intel_attributes(result: dict[str, Any]) -> dict[str, Any]:
    """What a case keeps of the classification that gave it its code (`attributes.intel`)."""
    return {"confidence": result["confidence"], "model_version": result["model_version"],
            "top_k": [[k["matter_code"], k["confidence"]] for k in result["top_k"]]}


def resolve_triage(repo: SqliteRepo, platform: Platform, item: int, matter_code: str,
                   lon: float | None, lat: float | None, actor: Actor, now: datetime) -> Case:
    """Write op: a person picked the code. The pick is kept as training data; the report
    becomes a case through the ordinary intake, and a photo held with the item becomes the
    case's attachment."""
    row = store.triage(repo.conn, item)
    if row is None:
        raise NotFound(f"no triage item {item}", f"待分拣 {item} 不存在")
    if row["status"] != "open":
        raise InvalidInput(f"triage item {item} was already decided (case {row['case_id']})",
                           f"待分拣 {item} 已处理")
    cases.check_matter(platform, matter_code)
    lon = lon if lon is not None else row["lon"]
    lat = lat if lat is not None else row["lat"]
    if lon is None or lat is None:
        raise InvalidInput("this report has no coordinates: give lon and lat", "该上报缺少坐标，请提供经纬度")
    report = cases.NewReport(
        matter_code=matter_code, description=row["text"], lon=lon, lat=lat, source=row["source"],
        address=row["address"], reporter=row["reporter"],
        attributes={**row["attributes"],
                    "intel": {"triage": item, "suggested": row["suggested"], "confidence": row["confidence"]}},
        # the key of the request or imported record it came from: a retry or re-import finds the case
        idempotency_key=row["attributes"].get("idempotency_key"),
    )
    case = cases.intake(repo, platform, report, replace(actor), now)
    photos.to_case(repo, platform, item, case, actor)  # the request's photo, if it sent one
    at = _epoch(now)
    store.close_triage(repo.conn, item, matter_code, case.id, actor.name, at)
    store.add_correction(repo.conn, at, row["text"], matter_code, row["suggested"], row["confidence"],
                         actor.name, "triage")
    return case


def fit_matters(texts: Sequence[str], codes: Sequence[str], embedding: bool = True) -> TextModel:
    """The matter model's configuration, for the shipped model and every retrained version:
    characters and words, and the sentence encoder (which carries a report's meaning past the
    corpus's wording: on the authored reports it lifts top-1 from 0.684 to 0.737). Without it
    (`embedding=False`) a report costs 0.3 ms instead of 16."""
    return TextModel.fit(texts, codes, embedding=embedding)


def retrain(platform: Platform, note: str = "", per_matter: int | None = None, embedding: bool = True,
            say: Callable[[str], None] | None = None) -> int:
    """Train a new version from the shipped text plus every correction; make it active.
    `say(stage)` is told each stage as it starts (the CLI's progress)."""
    from cityops.intel.corpus import matter_corpus

    say = say or (lambda _: None)
    say("训练文本 building the training text")
    texts, labels = matter_corpus(platform.catalogue) if per_matter is None else \
        matter_corpus(platform.catalogue, per_matter=per_matter)
    fixes = store.corrections(platform.store.reader().conn)
    # A correction is worth more than one synthetic sentence: count each three times.
    for text, code in fixes:
        texts += [text] * 3
        labels += [code] * 3
    say(f"训练 training on {len(texts):,} texts ({len(fixes)} corrections)")
    model = fit_matters(texts, labels, embedding)
    say("校准 calibrating the confidence")
    with contextlib.suppress(ValueError):  # too little real text of these matters: keep the held-out fold's T
        model, _ = model.calibrated(*calibration_set(platform))
    if model.info.get("embedding") is None:  # asked for, or the encoder could not load: `intel models` shows it
        note = f"{note} [n-grams only]".strip()
    return _save(platform, model, len(texts), len(fixes), note)


def calibration_set(platform: Platform) -> tuple[list[str], list[str]]:
    """Real text to fit the temperature on: the corrections people made (triage picks, codes
    changed at registration) once there are at least 30, else the project's authored
    evaluation reports (`intel/data/matter_eval.csv`). The synthetic training sentences are
    too easy for it: a temperature fitted on them makes every answer look sure."""
    from cityops.intel.evaluation import matter_set

    fixes = store.corrections(platform.store.reader().conn)
    if len(fixes) >= 30:
        return [t for t, _ in fixes], [c for _, c in fixes]
    return matter_set()


def calibrate(platform: Platform, texts: list[str], codes: list[str], note: str = "") -> tuple[int, dict[str, float]]:
    """A new version: the active model's weights with the temperature refitted on `texts`."""
    model, version = current_model(platform)
    fitted, stats = model.calibrated(texts, codes)
    n_train = int(model.info.get("n_train", 0))
    return _save(platform, fitted, n_train, 0, note or f"v{version} recalibrated on {len(texts)} texts"), stats


def _save(platform: Platform, model: TextModel, n_train: int, n_corrections: int, note: str) -> int:
    """Write the artifact and record it as the active version. On PostgreSQL it goes to the
    blob store every server shares (the database by default), not to one host's disk; on
    SQLite beside the database file."""
    if platform.store.dialect.postgres:
        file = BLOB + attachments.blobs(platform).put(model.dumps())  # an orphan if the write fails: swept
        return platform.store.write(
            lambda repo: store.add_model(repo.conn, int(time.time()), file, n_train, n_corrections, note))
    folder = data_dir(platform) / "models"
    folder.mkdir(parents=True, exist_ok=True)

    def record(repo: SqliteRepo) -> int:
        version = store.next_version(repo.conn)
        name = f"models/v{version:04d}.model"
        tmp = data_dir(platform) / (name + ".tmp")
        tmp.write_bytes(model.dumps())
        tmp.replace(data_dir(platform) / name)
        return store.add_model(repo.conn, int(time.time()), name, n_train, n_corrections, note)

    return platform.store.write(record)


def rollback(platform: Platform, version: int) -> None:
    def op(repo: SqliteRepo) -> bool:
        if version == 0:  # back to the shipped model
            repo.conn.execute("UPDATE intel_models SET active = 0")
            return True
        return store.activate(repo.conn, version)

    if not platform.store.write(op):
        raise NotFound(f"no model version {version}; see `cityops intel models`", f"模型版本 {version} 不存在")


# ---- summaries for operators and draft replies (pure functions in `intel.summary`) ----------

MAX_MERGED = 500  # reports read for one summary (a storm can merge hundreds into one case)
_CHANNELS = {"hotline": ("12345热线", "the 12345 hotline"), "app": ("网上平台", "the online platform")}


def summary_names(platform: Platform) -> Names:
    """The names the summary and the reply read (zh, en), from the catalogue and the city pack."""
    city = platform.city
    return Names(
        city=(city.name, city.name_en), zone=platform.calendar.zone,
        matters={e.code: (e.name, e.name_en) for e in platform.catalogue.matters()},
        districts={d.code: (d.name, d.name_en) for d in city.districts},
        departments={d.code: (d.name, d.name_en) for d in city.departments},
    )


def merged_reports(repo: Repo, history: list[Change]) -> list[Case]:
    """The cases merged into a case (its `merged_in` entries), and those merged into them."""
    out: list[Case] = []
    queue = [int(ch.data["source_case"]) for ch in history if ch.action == "merged_in" and "source_case" in ch.data]
    seen = set(queue)
    while queue and len(out) < MAX_MERGED:
        batch = queue[:MAX_MERGED]
        found = repo.histories(batch)
        cases_, _ = repo.search_cases(CaseQuery(ids=batch, limit=len(batch)))
        by_id = {c.id: c for c in cases_}
        nxt: list[int] = []
        for case_id in batch:
            if case_id in by_id:
                out.append(by_id[case_id])
            for entry in found.get(case_id, []):
                src = entry.change.data.get("source_case") if entry.change.action == "merged_in" else None
                if src is not None and int(src) not in seen:
                    seen.add(int(src))
                    nxt.append(int(src))
        queue = nxt
    return out[:MAX_MERGED]


def case_summary(repo: Repo, platform: Platform, case_id: int, actor: Actor, now: datetime) -> Summary:
    """The operator's summary of a case the actor may see (`cases.service.get_visible`)."""
    case = cases.get_visible(repo, case_id, actor)
    history = [e.change for e in repo.history(case_id)]
    return summarise(case, merged_reports(repo, history), history, names=summary_names(platform),
                     city=platform.city, now=now)


def reply_draft(repo: Repo, platform: Platform, case_id: int, actor: Actor) -> Draft:
    """A draft reply to the citizen of a case the actor may see; provisional before closure."""
    case = cases.get_visible(repo, case_id, actor)
    history = [e.change for e in repo.history(case_id)]
    return draft_reply(case, history, names=summary_names(platform),
                       channel=_CHANNELS.get(source_kind(case.source)[0]))
