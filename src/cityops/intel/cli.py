"""CLI: `cityops intel …` (models, retrain, rollback, threshold, classify) and `cityops eval classify`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from cityops.clitools import data_file, db_option
from cityops.core import open_platform
from cityops.intel import service, store

DB = db_option  # --db, an existing database (cityops.clitools)


@click.group()
def intel() -> None:
    """智能分类模型 / city intelligence: classifier versions, threshold, triage."""


@intel.command("models")
@DB
def models_cmd(db: str) -> None:
    """列出模型版本 / list model versions (* = active; version 0 is the shipped model)."""
    p = open_platform(db)
    rows = store.models(p.store.reader().conn)
    active = any(r.active for r in rows)
    click.echo(f"{'*' if not active else ' '} v0  shipped  (package data)")
    for r in rows:
        click.echo(f"{'*' if r.active else ' '} v{r.version}  {r.file}  trained on {r.n_train} texts "
                   f"({r.n_corrections} corrections)  {r.note}")
    p.close()


@intel.command("retrain")
@DB
@click.option("--note", default="", help="a note kept with the version")
@click.option("--no-embedding", is_flag=True,
              help="n-grams only, without the sentence encoder: 0.3 ms a report instead of 16, less accurate")
def retrain_cmd(db: str, note: str, no_embedding: bool) -> None:
    """重新训练 / train a new version from the shipped text plus every correction, make it active."""
    from cityops.intel.progress import shown

    p = open_platform(db)
    with shown("重新训练 retraining", total=3) as steps:
        version = service.retrain(p, note, embedding=not no_embedding,
                                  say=lambda stage: steps.stage(f"重新训练 retraining: {stage}"))
        steps.step("重新训练 retraining: 已保存 saved")
    click.echo(f"模型 v{version} 已启用 / model v{version} is active ({service.artifacts_at(p)})")
    p.close()


@intel.command("calibrate")
@DB
@click.option("--data", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with text, matter_code [default: the corrections once there are 30, "
                   "else the authored evaluation set]")
@click.option("--note", default="", help="a note kept with the version")
def calibrate_cmd(db: str, path: Path | None, note: str) -> None:
    """置信度校准 / refit the active model's temperature on real labelled text (a new version)."""
    import csv

    p = open_platform(db)
    if path is None:
        texts, codes = service.calibration_set(p)
    else:
        with path.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        texts, codes = [r.get("text", "") for r in rows], [r.get("matter_code", "") for r in rows]
    try:
        version, st = service.calibrate(p, texts, codes, note)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        p.close()
    click.echo(f"model v{version} is active: T {st['temperature_before']:.3f} -> {st['temperature']:.3f} "
               f"on {st['n']:.0f} texts (top-1 {st['accuracy']:.3f})")
    click.echo(f"mean confidence {st['mean_confidence_before']:.3f} -> {st['mean_confidence']:.3f}, "
               f"log loss {st['log_loss_before']:.3f} -> {st['log_loss']:.3f}")


@intel.command("rollback")
@click.argument("version", type=int)
@DB
def rollback_cmd(version: int, db: str) -> None:
    """回滚 / make an earlier model version active again."""
    p = open_platform(db)
    service.rollback(p, version)
    click.echo(f"模型 v{version} 已启用 / model v{version} is active")
    p.close()


@intel.command("threshold")
@click.argument("value", type=click.FloatRange(0, 1), required=False)
@DB
def threshold_cmd(value: float | None, db: str) -> None:
    """自动派遣置信度阈值 / show or set the confidence below which reports go to triage."""
    p = open_platform(db)
    if value is not None:
        p.store.write(lambda repo: store.set_threshold(repo.conn, value))
    click.echo(f"{store.threshold(p.store.reader().conn):.2f}")
    p.close()


@intel.command("triage")
@DB
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="the items as GET /api/v1/triage answers them")
def triage_cmd(db: str, limit: int, as_json: bool) -> None:
    """待分拣 / the open triage queue: each report, the model's suggestion and the photo it sent
    (fetch it at GET /api/v1/attachments/ID with a triaging user's token)."""
    from cityops.intel import photos

    p = open_platform(db)
    try:
        with p.store.read() as repo:
            items = store.open_triage(repo.conn, limit, 0)[0]
            held = photos.of_items(repo, [i["id"] for i in items])
        for item in items:
            item["photo"] = photos.public_json(held[item["id"]], p) if item["id"] in held else None
    finally:
        p.close()
    if as_json:
        click.echo(orjson.dumps(items, option=orjson.OPT_INDENT_2).decode())
        return
    if not items:
        click.echo("待分拣为空 / nothing waits in triage")
    for item in items:
        click.echo(f"#{item['id']}  {item['reason']}  suggested {item['suggested']} ({item['confidence']:.2f})  "
                   f"{item['source']}  {item['text']}")
        if (photo := item["photo"]) is not None:
            flags = ", ".join(f["code"] for f in photo["flags"]) or "no flags"
            click.echo(f"    照片 photo {photo['media_type']} {photo['width']}x{photo['height']} ({flags}): "
                       f"GET {photo['url']}")


@intel.command("classify")
@click.argument("text")
@DB
def classify_cmd(text: str, db: str) -> None:
    """分类一段文本 / classify one text (JSON)."""
    p = open_platform(db)
    click.echo(orjson.dumps(service.classify(p, text), option=orjson.OPT_INDENT_2).decode())
    p.close()


@click.group("eval")
def eval_group() -> None:
    """评测 / evaluation protocols."""


@eval_group.command("classify")
@click.option("--data", "path", required=True, type=data_file(path_type=Path),
              help="CSV with 留言主题, 留言详情, 一级分类 (the Teddy Cup message file's columns)")
@click.option("--taxonomy", "tree", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="category tree CSV (一级分类, 二级分类, 三级分类) added to every training fold "
                   "[default: taxonomy_3level.csv beside --data, if there]")
@click.option("--no-taxonomy", is_flag=True, help="train on the messages alone")
@click.option("--no-embedding", is_flag=True, help="n-grams only, without the sentence encoder (faster)")
@click.option("--folds", default=5, show_default=True)
@click.option("--seed", default=0, show_default=True)
def eval_classify(path: Path, tree: Path | None, no_taxonomy: bool, no_embedding: bool, folds: int, seed: int) -> None:
    """分类评测 / stratified k-fold accuracy and macro-F1 of the product's model family."""
    from cityops.intel.evaluation import NO_PRIOR, TAXONOMY, cross_validate, read, taxonomy

    texts, labels = read(path)
    if tree is None and not no_taxonomy and (path.parent / TAXONOMY).is_file():
        tree = path.parent / TAXONOMY
    prior = taxonomy(tree) if tree is not None and not no_taxonomy else NO_PRIOR
    from cityops.intel.progress import shown

    with shown(f"{folds} 折交叉验证 {folds}-fold cross-validation", total=folds) as steps:
        r = cross_validate(texts, labels, folds, seed, prior, embedding=not no_embedding,
                           on_fold=lambda k: steps.step(f"{folds} 折交叉验证 {folds}-fold cross-validation: fold {k} done"))
    click.echo(f"data: {path} ({r.n} messages, {len(r.per_class)} classes), {folds}-fold stratified, seed {seed}")
    click.echo(f"category tree: {tree} ({r.n_prior} paths of these classes in every training fold)"
               if r.n_prior else "category tree: none")
    click.echo(f"sentence encoder: {r.embedding or 'none'}")
    click.echo(f"accuracy {r.accuracy:.4f}")
    click.echo(f"macro-F1 {r.macro_f1:.4f}")
    click.echo("class  support  precision  recall  f1")
    for label, (n, prec, rec, f1) in sorted(r.per_class.items(), key=lambda kv: -kv[1][0]):
        click.echo(f"{label}  {n}  {prec:.3f}  {rec:.3f}  {f1:.3f}")
    click.echo("triage trade-off: threshold  share dispatched automatically  accuracy of those")
    for t, share, acc in r.tradeoff:
        click.echo(f"  {t:.1f}  {share:.3f}  {acc:.4f}")


@intel.command("dedupe")
@DB
@click.option("--hours", default=24.0, show_default=True, help="look at reports of the last N hours")
@click.option("--apply", is_flag=True, help="merge links scoring at least --auto (MERGE action)")
@click.option("--auto", "auto_score", default=0.7, show_default=True, help="auto-merge score")
@click.option("--radius", default=150.0, show_default=True, help="metres")
def dedupe_cmd(db: str, hours: float, apply: bool, auto_score: float, radius: float) -> None:
    """重复上报合并 / link duplicate reports; list candidates, merge the sure ones with --apply."""
    from cityops.cases.models import Actor, Role
    from cityops.core import utcnow
    from cityops.intel.dedupe import dedupe, since_hours
    from cityops.intel.merge import Params

    # merging is an acceptor's step (受理); the automatic one is named so in the history
    AUTO_ACCEPTOR = Actor("intel-dedupe", Role.ACCEPTOR)  # noqa: N806
    p = open_platform(db)
    now = utcnow()
    links = p.store.write(lambda repo: dedupe(repo, p, since_hours(now, hours), auto_score, apply,
                                              AUTO_ACCEPTOR, now, Params(radius_m=radius)))
    for link in links:
        click.echo(f"{'merged' if link.merged else 'candidate'}  case {link.case} -> {link.into}  "
                   f"score {link.score:.2f}  {link.metres:.0f} m  {link.minutes:.0f} min")
    click.echo(f"{len(links)} links, {sum(link.merged for link in links)} merged")
    p.close()


@eval_group.command("matters")
@DB
def eval_matters(db: str) -> None:
    """事项分类评测 / the active matter model on the project's own evaluation set, per major."""
    from cityops.intel.evaluation import by_major, matter_set

    p = open_platform(db)
    model, version = service.current_model(p)
    texts, codes = matter_set()
    top1, top5, per = by_major(model, texts, codes)
    click.echo(f"model v{version} on {len(texts)} authored reports: top-1 {top1:.3f}, top-5 {top5:.3f}")
    click.echo("major  n  top-1  top-5")
    for major, (n, a1, a5) in per.items():
        click.echo(f"{major}  {n}  {a1:.3f}  {a5:.3f}")
    p.close()


LANG = click.option("--lang", type=click.Choice(["zh", "en", "both", "json"]), default="both", show_default=True)


@intel.command("summary")
@click.argument("case_id", type=int)
@DB
@LANG
def summary_cmd(case_id: int, db: str, lang: str) -> None:
    """案情摘要 / a case's summary for operators (its merged reports, where, when, key facts, status)."""
    from cityops.core import utcnow

    _print_text(_read_case(db, lambda repo, p, actor: service.case_summary(repo, p, case_id, actor, utcnow())), lang)


@intel.command("reply")
@click.argument("case_id", type=int)
@DB
@LANG
def reply_cmd(case_id: int, db: str, lang: str) -> None:
    """答复草稿 / a draft reply to the citizen from the case history (provisional before closure)."""
    out = _read_case(db, lambda repo, p, actor: service.reply_draft(repo, p, case_id, actor))
    if out["provisional"] and lang != "json":
        click.echo("（草稿：案卷尚未办结 / provisional: the case is not closed yet）")
    _print_text(out, lang)


def _read_case(db: str, build: Any) -> dict[str, Any]:
    """`build(repo, platform, actor)`'s answer as JSON, read as the system (the CLI is the operator)."""
    from cityops.cases.models import SYSTEM_ACTOR

    p = open_platform(db)
    try:
        with p.store.read() as repo:
            return build(repo, p, SYSTEM_ACTOR).as_json()  # type: ignore[no-any-return]
    finally:
        p.close()


def _print_text(out: dict[str, object], lang: str) -> None:
    if lang == "json":
        click.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        return
    parts = [out["text_zh"]] if lang == "zh" else [out["text_en"]] if lang == "en" else [out["text_zh"], out["text_en"]]
    click.echo("\n\n".join(str(x) for x in parts))


@eval_group.command("replies")
@click.option("--data", "path", required=True, type=data_file(path_type=Path),
              help="CSV with 留言主题, 留言详情, 留言时间, 答复意见, 答复时间 (the Teddy Cup reply file's columns)")
@click.option("--example", is_flag=True, help="also print the first message's official reply and draft")
def eval_replies(path: Path, example: bool) -> None:
    """答复草稿评测 / draft replies against official replies: features, length, ROUGE-L."""
    from cityops.intel.replies import evaluate

    r = evaluate(path)
    click.echo(f"data: {path} ({r.n} messages with official replies); departments: {r.department_source}")
    click.echo("feature  official  draft  closure-notice  draft-has-it-where-official-has")
    for feat, v in r.rates.items():
        click.echo(f"{feat}  {v['official']:.3f}  {v['draft']:.3f}  {v['baseline']:.3f}  {v['kept']:.3f}")
    click.echo(f"length (characters, median): official {r.length_official:.0f}, draft {r.length_draft:.0f}, "
               f"ratio draft/official {r.length_ratio:.2f}")
    click.echo(f"ROUGE-L F1 (characters) against the official reply: draft {r.rouge_draft:.3f}, "
               f"closure notice {r.rouge_baseline:.3f}")
    if example:
        click.echo(f"\nofficial:\n{r.example[0]}\n\ndraft:\n{r.example[1]}")
