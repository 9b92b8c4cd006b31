"""Draft replies against real official replies (the 120 messages of the Teddy Cup file).

Protocol (`cityops eval replies --data PATH`): for each message (留言主题, 留言详情, 留言时间,
答复意见, 答复时间) a closed case and a simulated handling history are built: reported at the
message's time through the online message board; registered one hour later; dispatched to a
department two hours later; accepted; reported back one day before the official reply with a
fixed action text (`ACTION_TEXT`, the same for every message: the file does not say what was
done, only the official reply does, and that must not leak into the draft); closed by a passing
verification at the reply's time. The department is the message's first-level class
(一级分类) when the file has one, else the class the department model predicts (trained on
`messages_labeled_495.csv` and the category tree beside the file, which share no message with it),
named as that class's bureau (`BUREAUS`) of the district the message names ("A3区") or of "A市".
`summary.draft_reply` writes the draft, restating the subject.

Measured on the zh-CN text of three replies per message, the official one, the draft and, as a
baseline, the project's existing closure notice (`notify/templates.yaml`, kind `closed`):

- completeness and tone features (`FEATURES`, regular expressions, plus `restatement`: the
  reply contains at least 60 % of the subject's characters as a common subsequence): the share
  of replies with each, and the share of official replies with a feature whose draft has it too;
- the length ratio (draft characters / official characters), median;
- character-level ROUGE-L F1 against the official reply (longest common subsequence, computed
  bit-parallel), a rough overlap figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from cityops.cases.models import Case, Change, Status
from cityops.errors import InvalidInput
from cityops.intel.summary import Names, draft_reply

SUBJECT, DETAILS, ASKED, REPLY, REPLIED = "留言主题", "留言详情", "留言时间", "答复意见", "答复时间"
LABEL = "一级分类"
CST = timezone(timedelta(hours=8))
ACTION_TEXT = "已安排工作人员对您反映的情况进行调查核实，并督促相关单位依法依规处理"
CHANNEL = ("网上问政平台", "the online message board")
CITY = ("A市", "City A")
# A first-level class's department (the file's classes are the government's own lines of work).
BUREAUS: dict[str, tuple[str, str]] = {
    "城乡建设": ("住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    "劳动和社会保障": ("人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    "教育文体": ("教育局", "Education Bureau"),
    "卫生计生": ("卫生健康委员会", "Health Commission"),
    "交通运输": ("交通运输局", "Transport Bureau"),
    "商贸旅游": ("商务局", "Commerce Bureau"),
    "环境保护": ("生态环境局", "Ecology and Environment Bureau"),
}
OTHER_BUREAU = ("相关职能部门", "the department in charge")
_DISTRICT = re.compile(r"[A-Z]\d*[区县]")
_TIME = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")

FEATURES: dict[str, re.Pattern[str]] = {
    "greeting": re.compile(r"您好|你好"),
    "thanks": re.compile(r"感谢|谢谢"),
    "department": re.compile(r"[\u4e00-\u9fff]{1,12}(?:局|委员会|办公室|中心|街道|办事处|人民政府|分局|大队|管理处)"),
    "action": re.compile(r"经过?(?:调查|核实|核查|了解|研究|查|处理)|核实|已(?:安排|组织|责成|督促|要求|协调|派|联系)"
                         r"|立即|现场|调查处理|开展|进行了?(?:处理|整改|检查)"),
    "result": re.compile(r"已(?:完成|解决|整改|修复|清理|办结|恢复|处理|落实)|完工|目前|预计|不存在|现已|处理完毕"),
    "closing": re.compile(r"感谢您对|谢谢您|特此(?:回复|答复)|理解和支持|欢迎.{0,6}监督|如(?:您)?(?:还)?有(?:疑问|问题)|望.{0,4}(?:理解|知晓)"),
    "date": re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"),
}
RESTATED = 0.6  # share of the subject's characters the reply must contain, in order


def lcs(a: str, b: str) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö): O(len(b)) big-integer steps."""
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(candidate: str, reference: str) -> float:
    """Character-level ROUGE-L F1."""
    n = lcs(reference, candidate)
    if n == 0:
        return 0.0
    p, r = n / len(candidate), n / len(reference)
    return 2 * p * r / (p + r)


def features(text: str, subject: str) -> dict[str, bool]:
    out = {name: bool(pattern.search(text)) for name, pattern in FEATURES.items()}
    out["restatement"] = bool(subject) and lcs(subject, text) >= RESTATED * len(subject)
    return out


def parse_time(value: str) -> datetime:
    m = _TIME.search(value or "")
    if m is None:
        raise InvalidInput(f"cannot read the time {value[:40]!r}", f"无法读取时间 {value[:40]!r}")
    y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=CST)


def department_of(label: str, subject: str, details: str) -> tuple[str, str]:
    """The bureau of the message's class, of the district it names, else of the city."""
    zh, en = BUREAUS.get(label, OTHER_BUREAU)
    if (zh, en) == OTHER_BUREAU:
        return zh, en
    m = _DISTRICT.search(subject) or _DISTRICT.search(details)
    return (m.group(0) + zh, f"{m.group(0)} {en}") if m else (CITY[0] + zh, f"{CITY[1]} {en}")


def simulate(number: int, subject: str, details: str, asked: datetime, replied: datetime,
             department: tuple[str, str]) -> tuple[Case, list[Change], Names]:
    """A closed case of the message and its simulated handling history (see the module note)."""
    replied = max(replied, asked + timedelta(hours=4))
    back = max(asked + timedelta(hours=3), replied - timedelta(days=1))
    steps = [("report", None, "reported", asked, "", {}),
             ("register", "reported", "registered", asked + timedelta(hours=1), "", {}),
             ("dispatch", "registered", "dispatched", asked + timedelta(hours=2), "", {"department": "D"}),
             ("accept", "dispatched", "disposing", asked + timedelta(hours=2, minutes=30), "", {}),
             ("report_back", "disposing", "reported_back", back, ACTION_TEXT, {}),
             ("verify", "reported_back", "closed", replied, "", {})]
    history = [Change(number, at, "staff", "system", action, old, new, reason, data)
               for action, old, new, at, reason, data in steps]
    case = Case(id=number, status=Status.CLOSED, source="web", matter_code="", description=f"{subject}。{details}",
                lon=None, lat=None, district="", grid="", area_class="C", reported_at=asked, department="D",
                registered_at=asked + timedelta(hours=1), dispatched_at=asked + timedelta(hours=2),
                closed_at=replied)
    names = Names(city=CITY, zone=CST, departments={"D": department})
    return case, history, names


@dataclass
class Result:
    n: int
    department_source: str
    rates: dict[str, dict[str, float]] = field(default_factory=dict)  # feature -> {official, draft, baseline, kept}
    length_official: float = 0.0
    length_draft: float = 0.0
    length_ratio: float = 0.0
    rouge_draft: float = 0.0
    rouge_baseline: float = 0.0
    example: tuple[str, str] = ("", "")


def read(path: Path) -> Any:
    """The messages that have a reply, as a polars frame of strings."""
    from cityops.intel.evaluation import _csv

    return _csv(path, (SUBJECT, DETAILS, ASKED, REPLY, REPLIED), required=REPLY)


def classes_for(df: Any, path: Path) -> tuple[list[str], str]:
    """The messages' first-level classes: the file's own, else predicted by the department model
    trained on the labelled file beside it (and the category tree), else none."""
    if LABEL in df.columns:
        return [str(x) for x in df[LABEL]], f"the file's {LABEL}"
    labelled = path.parent / "messages_labeled_495.csv"
    if not labelled.is_file():
        return [""] * len(df), "none (no labelled file beside --data): 相关职能部门"
    from cityops.intel.evaluation import NO_PRIOR, TAXONOMY, department_model, taxonomy
    from cityops.intel.evaluation import read as read_labelled
    from cityops.intel.model import join_fields

    texts, labels = read_labelled(labelled)
    tree = path.parent / TAXONOMY
    model = department_model(texts, labels, (taxonomy(tree) if tree.is_file() else NO_PRIOR).of(set(labels)))
    p = model.proba([join_fields(s, d) for s, d in zip(df[SUBJECT], df[DETAILS], strict=True)])
    return [model.labels[j] for j in p.argmax(axis=1)], f"predicted by the department model trained on {labelled.name}"


def baseline(subject: str, replied: datetime, number: int) -> str:
    """The project's closure notice as a citizen receives it today (zh-CN paragraph)."""
    from cityops.notify.config import default_templates_text, parse_templates

    body: Template = parse_templates(default_templates_text())["closed"]["body"]
    text = body.safe_substitute(case_id=number, matter=subject, at=replied.strftime("%Y-%m-%d %H:%M"),
                                revisit_link="", unsubscribe="", city=CITY[0], city_en=CITY[1])
    return text.split("\n\n")[0]


def evaluate(path: Path) -> Result:
    df = read(path)
    if len(df) == 0:
        raise InvalidInput(f"{path} has no message with a reply", f"{path} 没有带答复的留言")
    classes, source = classes_for(df, path)
    names = ["official", "draft", "baseline"]
    have: dict[str, list[dict[str, bool]]] = {k: [] for k in names}
    lengths: dict[str, list[int]] = {k: [] for k in names}
    rouge: dict[str, list[float]] = {"draft": [], "baseline": []}
    example = ("", "")
    rows = zip(df["留言编号"] if "留言编号" in df.columns else range(1, len(df) + 1),
               df[SUBJECT], df[DETAILS], df[ASKED], df[REPLY], df[REPLIED], classes, strict=True)
    for k, (number, subject, details, asked, official, replied, label) in enumerate(rows):
        asked_at, replied_at = parse_time(asked), parse_time(replied)
        case, history, nm = simulate(int(number), subject, details, asked_at, replied_at,
                                     department_of(label, subject, details))
        draft = draft_reply(case, history, names=nm, restate=subject, channel=CHANNEL).text("zh")
        base = baseline(subject, replied_at, int(number))
        for kind, text in (("official", official), ("draft", draft), ("baseline", base)):
            have[kind].append(features(text, subject))
            lengths[kind].append(len(text))
        rouge["draft"].append(rouge_l(draft, official))
        rouge["baseline"].append(rouge_l(base, official))
        if k == 0:
            example = (official, draft)
    result = Result(len(df), source, example=example)
    for feat in [*FEATURES, "restatement"]:
        col = {kind: np.array([h[feat] for h in have[kind]]) for kind in names}
        both = col["official"]
        result.rates[feat] = {kind: float(col[kind].mean()) for kind in names}
        result.rates[feat]["kept"] = float(col["draft"][both].mean()) if both.any() else float("nan")
    off, dr = np.array(lengths["official"]), np.array(lengths["draft"])
    result.length_official, result.length_draft = float(np.median(off)), float(np.median(dr))
    result.length_ratio = float(np.median(dr / np.maximum(off, 1)))
    result.rouge_draft, result.rouge_baseline = float(np.mean(rouge["draft"])), float(np.mean(rouge["baseline"]))
    return result
