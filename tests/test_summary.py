"""Summaries for operators and draft replies to citizens (intel.summary), their API routes and
CLI, and the evaluation against the 120 real official replies."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.cases import service
from cityops.cases.models import Action, Actor, Case, Change, Role, Status
from cityops.cases.workflow import Command
from cityops.core import utcnow
from cityops.intel.replies import features, lcs, rouge_l
from cityops.intel.summary import Names, draft_reply, key_facts, scrub, sentences, summarise
from conftest import Api, shared_file
from field_support import site_photo

SECRET = "SECRET-内部"
ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
NAMES = Names(city=("武汉市", "Wuhan"), zone=ZONE,
              matters={"06010": ("暴露垃圾", "Exposed rubbish")},
              districts={"420102": ("江岸区", "Jiang'an")},
              departments={"WH-JA-CG": ("江岸区城管局", "Jiang'an Urban Management Bureau"),
                           "WH-WATER": ("市水务局", "Water Authority")})
TEXTS = ["中山大道与黄石路交叉口垃圾堆了好几天没人清理。味道很大，苍蝇很多。请尽快处理！",
         "中山大道黄石路口垃圾成堆，好几天没人清理了，臭气熏天。",
         "Rubbish piled at the corner of Zhongshan Avenue for days. It smells."]


def case_value(case_id: int = 1, text: str = TEXTS[0], **kw: Any) -> Case:
    base = dict(id=case_id, status=Status.REPORTED, source="hotline_12345", matter_code="06010", description=text,
                lon=114.3, lat=30.59, district="420102", grid="g1", area_class="A", reported_at=T0,
                address="中山大道88号", reporter="citizen-li")
    return Case(**{**base, **kw})  # type: ignore[arg-type]


def step(action: str, hours: float, to: str, reason: str = "", actor: str = "worker-zhang",
         **data: Any) -> Change:
    return Change(1, T0 + timedelta(hours=hours), actor, "department", action, None, to, reason, data)


def closed_life(secret: str = SECRET, done: str = "已安排环卫工人清运垃圾3车，现场已清理干净") -> tuple[Case, list[Change]]:
    """A whole life with every kind of internal step carrying `secret` in its reason."""
    history = [
        step("report", 0, "reported", actor="citizen-li"),
        step("comment", 0.5, "reported", f"{secret} 备注"),
        step("register", 1, "registered"),
        step("dispatch", 2, "dispatched", f"{secret} 派遣说明", department="WH-WATER"),
        step("return", 3, "registered", f"{secret} 不归我们管"),
        step("dispatch", 4, "dispatched", department="WH-JA-CG"),
        step("accept", 5, "disposing"),
        step("request_extension", 6, "disposing", f"{secret} 人手不够"),
        step("approve_extension", 7, "disposing", f"{secret} 同意"),
        step("suspend", 8, "suspended", f"{secret} 等待"),
        step("resume", 9, "disposing"),
        step("escalate", 10, "disposing", f"{secret} 督办"),
        step("report_back", 11, "reported_back", f"{secret} 第一次反馈"),
        step("verify", 12, "disposing", f"{secret} 未清理干净"),
        step("report_back", 13, "reported_back", done),
        step("verify", 14, "closed", "现场核查已清理"),  # the verifier's note: internal too
    ]
    case = case_value(status=Status.CLOSED, department="WH-JA-CG", closed_at=T0 + timedelta(hours=14),
                      due_at=T0 + timedelta(days=2))
    return case, history


# ---- the summary -----------------------------------------------------------------------------

def test_summary_is_bilingual_and_every_fact_is_quoted_from_a_report() -> None:
    case = case_value(1, TEXTS[0], report_count=3)
    merged = [case_value(2, TEXTS[1], source="citizen_app", reported_at=T0 + timedelta(hours=1), address=""),
              case_value(3, TEXTS[2], source="inspector", reported_at=T0 + timedelta(hours=3))]
    history = [step("report", 0, "reported"), step("merged_in", 1, "reported", source_case=2),
               step("merged_in", 3, "reported", source_case=3)]
    s = summarise(case, merged, history, names=NAMES)
    zh, en = s.text("zh"), s.text("en")
    assert zh.startswith("事项：06010 暴露垃圾") and en.startswith("Matter: 06010 Exposed rubbish")
    assert "江岸区" in zh and "中山大道88号" in zh and "Jiang'an" in en
    assert "共 3 件" in zh and "热线 1 件" in zh and "市民APP 1 件" in zh and "巡查员 1 件" in zh
    assert s.sources == {"hotline": 1, "app": 1, "inspector": 1}
    assert s.first_reported == T0 and s.last_reported == T0 + timedelta(hours=3)
    assert "2026-11-20 09:00" in zh  # the city's local time (+08:00)
    by_id = {c.id: c.description for c in [case, *merged]}
    assert 1 <= len(s.facts) <= 3
    for fact in s.facts:  # traceable: each fact is a prefix-quote of the report it names
        assert fact.text.rstrip("…") in by_id[fact.case_id]
        assert len(fact.text) <= 80
    for line in s.lines:
        assert re.fullmatch(r"case:\d+|cases:[\d,]+|history:[\d,]+|names", line.source), line
        assert line.zh and line.en
    assert "合并案卷 #2" in zh and "merged in #3" in en
    assert s.as_json()["text_zh"] == zh


def test_key_facts_are_deduplicated_and_capped() -> None:
    same = "小区门口垃圾堆了好几天没人清理"
    facts = key_facts([(1, same + "。"), (2, same + "！"), (3, same + "了。"), (4, "路灯也坏了。" + "很" * 200 + "黑")])
    texts = [f.text for f in facts]
    assert sum(t.startswith("小区门口垃圾") for t in texts) == 1
    assert all(len(t) <= 80 for t in texts) and any(t.endswith("…") for t in texts)
    assert key_facts([]) == [] and key_facts([(1, "好")]) == []
    assert sentences("一句话。Second one. 第三句！") == ["一句话。", "Second one.", "第三句！"]


def test_summary_status_says_when_the_deadline_has_passed() -> None:
    case = case_value(status=Status.DISPOSING, department="WH-JA-CG", due_at=T0 + timedelta(hours=4))
    line = summarise(case, [], [], names=NAMES, now=T0 + timedelta(hours=5)).lines[-1]
    assert "处置中" in line.zh and "江岸区城管局" in line.zh and "已超期" in line.zh and "overdue" in line.en
    assert "已超期" not in summarise(case, [], [], names=NAMES, now=T0).lines[-1].zh


def test_summary_reads_places_against_the_city_pack(demo_city: Any) -> None:
    case = case_value(text="江岸区中山大道与黄石路交叉口垃圾成堆")
    place = summarise(case, [], [], names=NAMES, city=demo_city).place
    assert place["intersections"] == ["中山大道与黄石路"]


# ---- the draft reply -------------------------------------------------------------------------

def test_closed_draft_has_every_part_in_both_languages() -> None:
    case, history = closed_life()
    draft = draft_reply(case, history, names=NAMES, channel=("12345热线", "the 12345 hotline"))
    assert not draft.provisional
    keys = [line.key for line in draft.lines]
    assert keys == ["greeting", "thanks", "restatement", "department", "action", "result", "closing", "signature"]
    zh, en = draft.text("zh"), draft.text("en")
    assert zh.startswith("您好！") and "感谢" in zh and "12345热线" in zh
    assert "中山大道与黄石路交叉口垃圾堆了好几天没人清理" in zh and "暴露垃圾" in zh
    assert "江岸区城管局" in zh and "市水务局" not in zh  # the department that handled it, not the one that returned it
    assert "已安排环卫工人清运垃圾3车" in zh and "2026年11月20日" in zh
    assert "现场核查已清理" not in zh  # the verifier's note is for the back office
    assert zh.endswith("江岸区城管局\n2026年11月20日")
    assert en.startswith("Hello,") and "Jiang'an Urban Management Bureau" in en and "20 November 2026" in en
    assert draft.part("action") is not None and draft.part("action").source == "history:15"  # type: ignore[union-attr]
    feats = features(zh, "中山大道与黄石路交叉口垃圾堆了好几天没人清理")
    assert all(feats.values()), feats


def test_draft_before_closure_is_provisional() -> None:
    case, history = closed_life()
    open_case = replace(case, status=Status.REPORTED_BACK, closed_at=None)
    draft = draft_reply(open_case, history[:-1], names=NAMES)
    assert draft.provisional
    zh = draft.text("zh")
    assert "正在办理中" in zh and "已反馈待核查" in zh and "办结" not in zh.split("正在办理中")[0]
    assert "已安排环卫工人" not in zh  # nothing of the report-back until a verification accepted it
    rejected = draft_reply(replace(case, status=Status.REJECTED, department=None),
                           [step("report", 0, "reported"), step("reject", 1, "rejected", f"{SECRET} 重复")],
                           names=NAMES)
    assert not rejected.provisional and "未予立案" in rejected.text("zh") and SECRET not in rejected.text("zh")
    merged = draft_reply(replace(case, status=Status.MERGED, merged_into=7), history[:1], names=NAMES)
    assert "#7" in merged.text("zh") and "#7" in merged.text("en")


def test_personal_data_is_scrubbed_from_what_reaches_the_citizen() -> None:
    case, history = closed_life(done="worker-zhang 带队清理，联系人13900001111，身份证420102199001011234，邮箱a.b@x.cn，车辆鄂A12345已挪走")
    case = replace(case, description="我是李四，电话13812345678，中山大道垃圾没人清理", reporter="李四",
                   attributes={"contact": {"phone": "13812345678", "name": "李四"}})
    zh = draft_reply(case, history, names=NAMES).text("zh")
    for secret in ("worker-zhang", "13900001111", "420102199001011234", "a.b@x.cn", "鄂A12345", "13812345678", "李四"):
        assert secret not in zh, secret
    assert scrub("call 027-85551234 or +86 139 0000 1111") == "call *** or ***"


_internal = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(noise=_internal, done=st.text(max_size=60))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_internal_reason_ever_leaks_into_a_draft(noise: str, done: str) -> None:
    """Whatever the internal reasons say, the marker in them never reaches the draft (either
    language, closed or not), while the accepted report-back's own words may."""
    secret = f"{SECRET}{noise}"
    case, history = closed_life(secret, done=done.replace(SECRET, ""))
    history[-1] = replace(history[-1], reason=f"{secret} 核查意见")  # the passing verification's note
    for c, h in ((case, history), (replace(case, status=Status.DISPOSING, closed_at=None), history[:-2])):
        draft = draft_reply(c, h, names=NAMES)
        for text in (draft.text("zh"), draft.text("en")):
            assert SECRET not in text


# ---- evaluation helpers ----------------------------------------------------------------------

@given(a=st.text(alphabet="abc中文", max_size=12), b=st.text(alphabet="abc中文", max_size=12))
@settings(max_examples=80, deadline=None)
def test_bit_parallel_lcs_equals_dynamic_programming(a: str, b: str) -> None:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    assert lcs(a, b) == table[-1][-1]


def test_rouge_l() -> None:
    assert rouge_l("您好感谢", "您好感谢") == 1.0
    assert rouge_l("", "x") == 0.0
    assert 0 < rouge_l("您好，已处理", "您好！问题已处理完毕") < 1


def test_eval_replies_on_the_real_official_replies() -> None:
    from cityops.cli import main

    path = shared_file("zh_gov_messages/messages_with_replies_120.csv")
    r = CliRunner().invoke(main, ["eval", "replies", "--data", str(path)])
    assert r.exit_code == 0, r.output
    assert "120 messages with official replies" in r.output
    rates = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in r.output.splitlines()
             if line.split() and line.split()[0] in ("greeting", "thanks", "department", "restatement", "closing")}
    assert len(rates) == 5
    assert all(v[1] == 1.0 for v in rates.values())  # the draft has every part
    assert rates["greeting"][0] > 0.7  # the official replies greet too: the features read real text
    figure = re.search(r"draft (\d\.\d+), closure notice (\d\.\d+)", r.output)
    assert figure and float(figure.group(1)) > float(figure.group(2))


# ---- API and CLI -----------------------------------------------------------------------------

def _act(platform: Any, case_id: int, action: Action, role: Role, **kw: Any) -> Case:
    def op(repo: Any) -> Case:
        dept = repo.get_case(case_id).department
        actor = Actor(f"{role.value}-wang", role, dept if role is Role.DEPARTMENT else None)
        return service.act(repo, platform, case_id, Command(action, actor, utcnow(), **kw))
    return platform.store.write(op)  # type: ignore[no-any-return]


def _closed_case(api: Api) -> tuple[int, int, str]:
    first = api.report("acceptor", description=TEXTS[0], source="hotline_12345").json()
    second = api.report("acceptor", description=TEXTS[1], source="citizen_app").json()
    assert api.act("acceptor", second["id"], "merge", target=first["id"], reason="dup").status_code == 200
    p = api.platform
    _act(p, first["id"], Action.REGISTER, Role.ACCEPTOR)
    _act(p, first["id"], Action.DISPATCH, Role.DISPATCHER, reason=f"{SECRET} dispatch")
    _act(p, first["id"], Action.ACCEPT, Role.DEPARTMENT)
    owner: str = _act(p, first["id"], Action.REPORT_BACK, Role.DEPARTMENT, reason="垃圾已清运，department-wang 负责").department  # type: ignore[assignment]
    site_photo(p, first["id"])
    _act(p, first["id"], Action.VERIFY, Role.VERIFIER, passed=True)
    return first["id"], second["id"], owner


def test_api_summary_and_reply_draft_in_the_case_scope(api: Api) -> None:
    case_id, merged_id, owner = _closed_case(api)
    r = api.get(owner, f"/api/v1/cases/{case_id}/summary")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["report_count"] == 2 and body["sources"] == {"hotline": 1, "app": 1}
    assert {f["case_id"] for f in body["facts"]} <= {case_id, merged_id}
    assert "事项：06010" in body["text_zh"] and "Matter: 06010" in body["text_en"]
    r = api.get("supervisor", f"/api/v1/cases/{case_id}/reply-draft")
    assert r.status_code == 200, r.text
    draft = r.json()
    assert draft["provisional"] is False and "垃圾已清运" in draft["text_zh"]
    assert SECRET not in draft["text_zh"] + draft["text_en"] and "department-wang" not in draft["text_zh"]
    other = next(code for code in api.tokens if code.startswith("WH-") and code != owner)
    for url in (f"/api/v1/cases/{case_id}/summary", f"/api/v1/cases/{case_id}/reply-draft"):
        assert api.get(other, url).status_code in (403, 404)
        assert api.client.get(url).status_code == 401
    assert api.get("supervisor", "/api/v1/cases/99999/summary").status_code == 404
    assert api.get("supervisor", "/api/v1/cases/99999/reply-draft").status_code == 404


def test_cli_summary_and_reply(api: Api, tmp_path: Path) -> None:
    from cityops.cli import main

    case_id, _, _ = _closed_case(api)
    db = str(api.platform.store.path)
    r = CliRunner().invoke(main, ["intel", "summary", str(case_id), "--db", db])
    assert r.exit_code == 0, r.output
    assert "事项：06010" in r.output and "Matter: 06010" in r.output and "共 2 件" in r.output
    r = CliRunner().invoke(main, ["intel", "reply", str(case_id), "--db", db, "--lang", "zh"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("您好！") and "垃圾已清运" in r.output and "Hello" not in r.output
    fresh = api.report("acceptor").json()["id"]
    r = CliRunner().invoke(main, ["intel", "reply", str(fresh), "--db", db])
    assert r.exit_code == 0 and "provisional" in r.output
    r = CliRunner().invoke(main, ["intel", "summary", "99999", "--db", db])
    assert r.exit_code != 0 and "99999" in r.output


def test_a_chinese_reply_never_quotes_an_english_text(api: Api) -> None:
    """Bilingual texts ("中文 / English", as the demo writes them) give each reply its own half;
    an English-only report is not quoted in Chinese (the matter's name stands in)."""
    latin = re.compile(r"[A-Za-z]{3,}")
    for description, back in (("路灯不亮 / streetlight out", "灯已修复 / lamp repaired"),
                              ("Streetlight out at the corner", "lamp repaired")):
        case = api.report("acceptor", description=description, matter_code="01037").json()
        p = api.platform
        _act(p, case["id"], Action.REGISTER, Role.ACCEPTOR)
        _act(p, case["id"], Action.DISPATCH, Role.DISPATCHER)
        _act(p, case["id"], Action.ACCEPT, Role.DEPARTMENT)
        _act(p, case["id"], Action.REPORT_BACK, Role.DEPARTMENT, reason=back)
        site_photo(p, case["id"])
        _act(p, case["id"], Action.VERIFY, Role.VERIFIER, passed=True)
        draft = api.get("supervisor", f"/api/v1/cases/{case['id']}/reply-draft").json()
        assert not latin.search(draft["text_zh"]), draft["text_zh"]
        assert "lamp repaired" in draft["text_en"] and "treetlight out" in draft["text_en"], draft["text_en"]
        assert "路灯" in draft["text_zh"]  # the text's Chinese half, or the matter's name
        if "灯已修复" in back:
            assert "灯已修复" in draft["text_zh"] and "灯已修复" not in draft["text_en"]
