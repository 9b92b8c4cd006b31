"""Summaries for operators and draft replies to citizens: pure functions, values in, values out.

`summarise(case, merged_reports, history, names=…)`: a short factual summary of a case and the
reports merged into it, zh-CN first with English beside: what (the matter), where (district,
addresses, and the roads, intersections and named places `places.locate` finds in the texts),
when (first and last report, how many, from which sources), the key facts (sentences *quoted*
from the reports, the most central by TF-IDF over all of them, de-duplicated, length-capped),
the handling so far (from the history) and the current status and deadline. Every line names
what it comes from (`case:ID` or `history:SEQ`), so each sentence can be traced.

`draft_reply(case, history, names=…)`: a reply to the citizen in the register of Chinese
government replies (称呼, 感谢, what was reported, the department that handled it, what it did
and when, the result, closing courtesy, signature). Before closure it is flagged provisional.
What it may say is an allow-list (`PUBLIC_TEXT`): the public steps of `notify.outbox` (their
times), the department's name, and the free text of exactly one entry: the report-back that the
closing verification accepted (the department's account of what it did), with personal data
removed (`scrub`). Every other reason (comments, dispatch notes, returns, extensions,
suspensions, a failed verification, an earlier report-back that did not pass, a rejection's
reason, and the verifier's own note, which is written for the back office) is internal and
never read; of the verification only its time and its result are used. It is a *draft*: an
operator reviews it before anything is sent.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np

from cityops.cases.models import STATUS_LABELS, WITH_DEPARTMENT, Case, Change, Status
from cityops.intake.open311.public import text as plain
from cityops.notify.outbox import public_step

if TYPE_CHECKING:
    from cityops.geo.models import CityPack

MAX_FACTS = 3
FACT_CHARS = 80  # a quoted sentence longer than this is cut, with "…"
MIN_SENTENCE = 4  # characters; shorter pieces ("好的") carry nothing
SAME_FACT = 0.6  # cosine similarity above which two sentences say the same thing
ACTION_CHARS = 300  # the department's account of what it did, at most
RESTATE_CHARS = 40  # what the citizen reported, restated in the reply

# Report sources (cases.source) by kind, for "from where" (unknown sources count as "other").
SOURCE_KINDS: dict[str, tuple[str, str, str]] = {
    "hotline": ("hotline", "热线", "hotline"), "hotline_12345": ("hotline", "热线", "hotline"),
    "citizen_app": ("app", "市民APP", "app"), "app": ("app", "市民APP", "app"),
    "open311": ("app", "市民APP", "app"), "wechat": ("app", "市民APP", "app"),
    "web": ("app", "市民APP", "app"),
    "inspector": ("inspector", "巡查员", "inspector"), "collector": ("inspector", "巡查员", "inspector"),
    "sensor": ("sensor", "传感器", "sensor"), "drone": ("drone", "无人机", "drone"),
}
_OTHER_SOURCE = ("other", "其他", "other")
# The only history entry whose free text may reach a citizen (see the module note): the
# report-back the closing verification accepted.
PUBLIC_TEXT = frozenset({"report_back"})

_SPLIT = re.compile(r"(?<=[。！？!?；;\n])|(?<=\.)\s+")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PLATE = re.compile(r"[\u4e00-\u9fff][A-Z][·\s]?[A-Z0-9]{5,6}")
REDACTED = "***"


@dataclass(frozen=True)
class Names:
    """What a person reads for the codes (zh, en), resolved by the caller: values, not lookups."""

    city: tuple[str, str]
    zone: tzinfo
    matters: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    districts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    departments: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def matter(self, code: str) -> tuple[str, str]:
        return self.matters.get(code, (code, code))

    def district(self, code: str) -> tuple[str, str]:
        return self.districts.get(code, (code, code))

    def department(self, code: str | None) -> tuple[str, str] | None:
        return None if not code else self.departments.get(code, (code, code))


@dataclass(frozen=True)
class Line:
    """One sentence of a summary or a reply, in both languages, and what it comes from."""

    key: str
    zh: str
    en: str
    source: str  # "case:ID", "cases:ID,ID", "history:SEQ[,SEQ]" or "names" (fixed wording)


@dataclass(frozen=True)
class Fact:
    """A sentence quoted from a report (cut to FACT_CHARS), its report and its score."""

    text: str
    case_id: int
    score: float


@dataclass(frozen=True)
class Summary:
    case_id: int
    lines: tuple[Line, ...]
    facts: tuple[Fact, ...]
    report_count: int
    sources: dict[str, int]
    first_reported: datetime
    last_reported: datetime
    place: dict[str, Any]

    def text(self, lang: str = "zh") -> str:
        return "\n".join(line.zh if lang == "zh" else line.en for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "text_zh": self.text("zh"), "text_en": self.text("en"),
            "lines": [line.__dict__ for line in self.lines],
            "facts": [f.__dict__ for f in self.facts], "report_count": self.report_count,
            "sources": self.sources, "first_reported": self.first_reported.isoformat(),
            "last_reported": self.last_reported.isoformat(), "place": self.place,
        }


@dataclass(frozen=True)
class Draft:
    case_id: int
    provisional: bool  # the case is not closed: a progress reply, not the final one
    lines: tuple[Line, ...]

    def text(self, lang: str = "zh") -> str:
        return "\n".join(line.zh if lang == "zh" else line.en for line in self.lines if (line.zh if lang == "zh" else line.en))

    def part(self, key: str) -> Line | None:
        return next((line for line in self.lines if line.key == key), None)

    def as_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "provisional": self.provisional, "text_zh": self.text("zh"),
                "text_en": self.text("en"), "parts": [line.__dict__ for line in self.lines]}


# ---- small helpers ---------------------------------------------------------------------------

def _local(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _day_zh(at: datetime, zone: tzinfo) -> str:
    d = at.astimezone(zone)
    return f"{d.year}年{d.month}月{d.day}日"


def _day_en(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%d %B %Y").lstrip("0")


def source_kind(source: str) -> tuple[str, str, str]:
    """(kind, zh, en) of a report source: hotline, app, inspector, sensor, drone or other."""
    return SOURCE_KINDS.get(source.lower(), _OTHER_SOURCE)


def sentences(text: str) -> list[str]:
    """A text cut into sentences (Chinese and Latin punctuation), trimmed, short pieces dropped."""
    parts = (p.strip(" ，,、") for p in _SPLIT.split(text.replace("\r", "\n")))
    return [p for p in parts if len(p) >= MIN_SENTENCE]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


_HALVES = re.compile(r"\s+/\s+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def in_language(text: str, lang: str) -> str | None:
    """What of `text` a reply in `lang` may quote: the half of a bilingual "中文 / English" text
    (as the demo and many operators write them) in that language, or the text itself; None for
    zh when the text has no Chinese at all: a Chinese reply never quotes an English text."""
    halves = [h.strip() for h in _HALVES.split(text) if h.strip()]
    chinese = [h for h in halves if _CJK.search(h)]
    if lang == "zh":
        return " / ".join(chinese) if chinese else None
    other = [h for h in halves if not _CJK.search(h)]
    return " / ".join(other) if other and chinese else text


def scrub(text: str, names: Sequence[str] = ()) -> str:
    """Personal data out of a text that may reach a citizen: phone numbers, ID card numbers,
    e-mail addresses, number plates and the given names (staff, the reporter) become ***;
    control characters go (the public feed's own rule)."""
    out = plain(text)
    for pattern in (_EMAIL, _ID_NUMBER, _PHONE, _PLATE):
        out = pattern.sub(REDACTED, out)
    for name in sorted({n for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        out = re.sub(re.escape(name.strip()), REDACTED, out, flags=re.IGNORECASE)
    return out


# ---- key facts -------------------------------------------------------------------------------

def key_facts(texts: Sequence[tuple[int, str]], k: int = MAX_FACTS) -> list[Fact]:
    """The k most informative sentences of the reports: TF-IDF over character 1–2-grams of every
    sentence, each scored by its centrality (mean cosine similarity to the others: what several
    reports say) times a length prior (a sentence under 12 characters says little), picked
    greedily, skipping one too similar (≥ SAME_FACT) to one already picked. In report order."""
    pieces = [(case_id, s) for case_id, text in texts for s in sentences(text)]
    pieces = list({s: (case_id, s) for case_id, s in reversed(pieces)}.values())[::-1]  # exact repeats once
    if not pieces:
        return []
    if len(pieces) == 1:
        return [Fact(_cut(pieces[0][1], FACT_CHARS), pieces[0][0], 1.0)]
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True).fit_transform([s for _, s in pieces])
    n = len(pieces)
    # each row's similarities summed as one product with the column sums: no n × n matrix
    centrality = (np.asarray(x @ x.sum(axis=0).T).ravel() - 1.0) / (n - 1)
    length = np.array([min(1.0, len(s) / 12) for _, s in pieces])
    score = centrality * length
    picked: list[int] = []
    for i in np.argsort(-score, kind="stable").tolist():
        if len(picked) == k:
            break
        if not picked or (x[i] @ x[picked].T).max() < SAME_FACT:
            picked.append(i)
    return [Fact(_cut(pieces[i][1], FACT_CHARS), pieces[i][0], round(float(score[i]), 4)) for i in sorted(picked)]


# ---- the summary -----------------------------------------------------------------------------

def summarise(case: Case, merged_reports: Sequence[Case], history: Sequence[Change], *,
              names: Names, city: CityPack | None = None, now: datetime | None = None) -> Summary:
    """A short factual summary of `case` and the reports merged into it (see the module note).
    `history`: the case's entries in order (entry i is seq i + 1); `city`: the pack the place names are read
    against (`places.locate`); `now`: to say whether the deadline has passed."""
    zone = names.zone
    reports = [case, *merged_reports]
    ids = ",".join(str(c.id) for c in reports)
    first = min(c.reported_at for c in reports)
    last = max(c.reported_at for c in reports)
    kinds = Counter(source_kind(c.source) for c in reports)
    sources = {kind: n for (kind, _, _), n in kinds.items()}
    lines: list[Line] = []

    zh, en = names.matter(case.matter_code)
    lines.append(Line("what", f"事项：{case.matter_code} {zh}", f"Matter: {case.matter_code} {en}", f"case:{case.id}"))

    place = _place(case, reports, names, city)
    where_zh = "，".join(x for x in (place["district_name"], "；".join(place["addresses"])) if x)
    where_en = ", ".join(x for x in (place["district_name_en"], "; ".join(place["addresses"])) if x)
    extra = place["intersections"] or place["roads"] or place["places"]
    if extra:
        where_zh += f"（文中提到：{'、'.join(extra)}）"
        where_en += f" (named in the text: {', '.join(extra)})"
    lines.append(Line("where", f"地点：{where_zh or '未知'}", f"Where: {where_en or 'unknown'}", f"cases:{ids}"))

    by_source_zh = "、".join(f"{z} {n} 件" for (_, z, _), n in kinds.most_common())
    by_source_en = ", ".join(f"{e} {n}" for (_, _, e), n in kinds.most_common())
    count = len(reports)
    when_zh = (f"上报：共 {count} 件（{by_source_zh}），首次 {_local(first, zone)}"
               + (f"，最近 {_local(last, zone)}" if count > 1 else ""))
    when_en = (f"Reports: {count} ({by_source_en}), first {_local(first, zone)}"
               + (f", latest {_local(last, zone)}" if count > 1 else ""))
    lines.append(Line("when", when_zh, when_en, f"cases:{ids}"))

    facts = key_facts([(c.id, c.description) for c in reports])
    for i, f in enumerate(facts, 1):
        lines.append(Line(f"fact{i}", f"要点{i}：“{f.text}”（案卷 #{f.case_id}）",
                          f"Key fact {i} (quoted from report #{f.case_id}): \"{f.text}\"", f"case:{f.case_id}"))

    handled = _handling(history, names)
    if handled:
        seqs = ",".join(str(s) for s, _, _ in handled)
        lines.append(Line("handling", "处置经过：" + "；".join(z for _, z, _ in handled),
                          "Handling: " + "; ".join(e for _, _, e in handled), f"history:{seqs}"))

    lines.append(_status_line(case, names, now))
    # in the city's offset, as every answer gives its times (timefmt)
    return Summary(case.id, tuple(lines), tuple(facts), count, sources, first.astimezone(zone), last.astimezone(zone), place)


def _place(case: Case, reports: Sequence[Case], names: Names, city: CityPack | None) -> dict[str, Any]:
    district_zh, district_en = names.district(case.district) if case.district else ("", "")
    addresses = list(dict.fromkeys(c.address.strip() for c in reports if c.address.strip()))[:3]
    found: dict[str, Any] = {"roads": [], "intersections": [], "places": []}
    if city is not None:
        from cityops.intel import places

        joined = "。".join(c.description for c in reports)
        found = places.locate(city, joined)
    district_names = {names.district(d)[0] for d in names.districts} | {district_zh}
    return {
        "district": case.district, "district_name": district_zh, "district_name_en": district_en,
        "addresses": addresses, "roads": found["roads"][:3],
        "intersections": ["与".join(pair) for pair in found["intersections"][:2]],
        "places": [p for p in found["places"] if p not in district_names][:3],
    }


def _handling(history: Sequence[Change], names: Names) -> list[tuple[int, str, str]]:
    """The steps an operator wants at a glance: dispatches, report-backs, verifications,
    merges in, with their times (no reasons: the history has them)."""
    out: list[tuple[int, str, str]] = []
    for seq, ch in enumerate(history, 1):
        at = _local(ch.at, names.zone)
        if ch.action == "dispatch":
            dept = names.department(str(ch.data.get("department") or "")) or ("", "")
            out.append((seq, f"{at} 派遣{('至' + dept[0]) if dept[0] else ''}", f"{at} dispatched" + (f" to {dept[1]}" if dept[1] else "")))
        elif ch.action == "report_back":
            out.append((seq, f"{at} 处置反馈", f"{at} reported back"))
        elif ch.action == "verify":
            ok = ch.to_status == Status.CLOSED.value
            out.append((seq, f"{at} 核查{'通过，结案' if ok else '未通过，返工'}",
                        f"{at} verified: {'passed, closed' if ok else 'failed, rework'}"))
        elif ch.action == "merged_in":
            out.append((seq, f"{at} 合并案卷 #{ch.data.get('source_case')}", f"{at} merged in #{ch.data.get('source_case')}"))
    return out


def _status_line(case: Case, names: Names, now: datetime | None) -> Line:
    zh, en = STATUS_LABELS[case.status]
    dept = names.department(case.department)
    parts_zh, parts_en = [f"状态：{zh}"], [f"Status: {en}"]
    if dept:
        parts_zh.append(f"处置单位 {dept[0]}")
        parts_en.append(f"department {dept[1]}")
    if case.closed_at is not None and case.status is Status.CLOSED:
        parts_zh.append(f"结案 {_local(case.closed_at, names.zone)}")
        parts_en.append(f"closed {_local(case.closed_at, names.zone)}")
    elif case.due_at is not None and case.status in WITH_DEPARTMENT:
        late = now is not None and case.is_overdue(now)
        parts_zh.append(f"处置时限 {_local(case.due_at, names.zone)}" + ("（已超期）" if late else ""))
        parts_en.append(f"due {_local(case.due_at, names.zone)}" + (" (overdue)" if late else ""))
    return Line("status", "，".join(parts_zh), ", ".join(parts_en), f"case:{case.id}")


# ---- the draft reply -------------------------------------------------------------------------

def _accepted_steps(history: Sequence[Change]) -> tuple[Change | None, Change | None]:
    """The report-back the closing verification accepted, and that verification (or None)."""
    last_back: Change | None = None
    closing: Change | None = None
    accepted: Change | None = None
    for ch in history:
        if ch.action == "report_back":
            last_back = ch
        elif ch.action == "verify" and ch.to_status == Status.CLOSED.value:
            closing, accepted = ch, last_back
        elif ch.action == "reopen":
            closing = accepted = None
    return accepted, closing


def draft_reply(case: Case, history: Sequence[Change], *, names: Names, restate: str | None = None,
                channel: tuple[str, str] | None = None) -> Draft:
    """A reply to the citizen from the case and its history (see the module note for what it may
    say). `restate`: the citizen's words to restate (default: the report's first sentence);
    `channel`: how the citizen reached the city, (zh, en), e.g. ("12345热线", "the 12345 hotline")."""
    zone = names.zone
    staff = sorted({ch.actor for ch in history} | {case.reporter} | _contact_values(case.attributes))
    dept = names.department(case.department) or _last_dispatch(history, names)
    signer = dept or names.city
    closed = case.status is Status.CLOSED
    accepted, closing = _accepted_steps(history) if closed else (None, None)
    provisional = not case.is_final
    lines: list[Line] = []
    src = f"case:{case.id}"

    anonymous = case.source.lower() in {"web", "app", "citizen_app", "open311", "wechat"}
    lines.append(Line("greeting", "网友您好！" if anonymous else "您好！", "Hello,", "names"))
    via_zh, via_en = channel or ("", "")
    lines.append(Line("thanks", f"感谢您{('通过' + via_zh) if via_zh else ''}反映问题，感谢您对城市管理工作的关心和支持。",
                      f"Thank you for your report{(' through ' + via_en) if via_en else ''} and for caring about the city.",
                      "names"))
    words = restate if restate is not None else case.description
    said_zh, said_en = (_restated(words, lang, staff) for lang in ("zh", "en"))
    said_en = said_en or words
    matter_zh, matter_en = names.matter(case.matter_code) if case.matter_code else ("", "")
    what_zh = f"（{matter_zh}）" if matter_zh and said_zh and matter_zh not in said_zh else ""
    what_en = f" ({matter_en})" if matter_en else ""
    # Words with no Chinese in them are not quoted in Chinese: the matter's name stands in.
    quoted_zh = f"“{said_zh}”问题{what_zh}" if said_zh else f"{matter_zh or ''}问题"
    lines.append(Line("restatement",
                      f"您于{_day_zh(case.reported_at, zone)}反映的{quoted_zh}已收悉（编号 #{case.id}）。",
                      f"We received your report of {_day_en(case.reported_at, zone)}, \"{said_en}\"{what_en} (no. {case.id}).",
                      src))

    public = [(ch, step) for ch in history if (step := public_step(ch)) is not None]
    if case.status is Status.REJECTED:
        lines.append(Line("result", "经审核，您反映的问题不属于本平台受理范围，未予立案，建议您向相关主管部门反映。",
                          "After review the matter is not one this platform takes up; please contact the authority in charge.",
                          _seqs_source(history, ("reject",))))
    elif case.status is Status.MERGED:
        lines.append(Line("result", f"您反映的问题已与反映同一问题的案卷 #{case.merged_into} 合并办理。",
                          f"Your report was merged with case #{case.merged_into}, about the same problem, and is handled there.",
                          src))
    else:
        if dept:
            sent = next((ch for ch, _ in reversed(public) if ch.action == "dispatch"
                         and ch.data.get("department") in (case.department, None)), None)
            when_zh = f"于{_day_zh(sent.at, zone)}" if sent else ""
            when_en = f" on {_day_en(sent.at, zone)}" if sent else ""
            lines.append(Line("department", f"该问题已{when_zh}交由{dept[0]}办理，{dept[0]}高度重视。",
                              f"It was passed{when_en} to {dept[1]}, who took it up.",
                              _seqs_source(history, ("dispatch",)) if sent else src))
        if accepted is not None and accepted.action in PUBLIC_TEXT:
            did_zh, did_en = (in_language(scrub(accepted.reason.strip(), staff), lang) for lang in ("zh", "en"))
            did_zh = _cut(did_zh.rstrip("。."), ACTION_CHARS) if did_zh else None
            did_en = _cut((did_en or "").rstrip("。."), ACTION_CHARS)
            if did_en:
                done_zh = f"经现场处理，{did_zh}" if did_zh else f"{signer[0]}已完成现场处理并反馈"
                lines.append(Line("action", f"{done_zh}（{_day_zh(accepted.at, zone)}）。",
                                  f"What was done ({_day_en(accepted.at, zone)}): {did_en}.", _history_source(history, accepted)))
        if closed and closing is not None:
            lines.append(Line("result", f"经核查，问题已处理完毕，于{_day_zh(closing.at, zone)}办结。",
                              f"It was checked on site and closed on {_day_en(closing.at, zone)}.",
                              _history_source(history, closing)))
        else:
            zh, en = STATUS_LABELS[case.status]
            lines.append(Line("result", f"目前该问题正在办理中（当前状态：{zh}），办结后将及时答复您。",
                              f"It is being handled (status: {en}); we will reply again once it is closed.", src))
    lines.append(Line("closing", "如您还有疑问，欢迎继续反映。感谢您对我们工作的理解和支持！",
                      "If you have further questions, please let us know. Thank you for your understanding and support.",
                      "names"))
    signed_at = case.closed_at if closed and case.closed_at else (history[-1].at if history else case.reported_at)
    lines.append(Line("signature", f"{signer[0]}\n{_day_zh(signed_at, zone)}", f"{signer[1]}\n{_day_en(signed_at, zone)}", "names"))
    return Draft(case.id, provisional, tuple(lines))


def _restated(words: str, lang: str, staff: Sequence[str]) -> str | None:
    """The citizen's words as the reply in `lang` restates them: that language's part, its
    first sentence, personal data removed, cut to RESTATE_CHARS."""
    part = in_language(words, lang)
    if part is None:
        return None
    said = scrub((sentences(part) or [part])[0], staff)
    return _cut(said.rstrip("。.!！?？"), RESTATE_CHARS) or None


def _contact_values(attributes: Mapping[str, Any]) -> set[str]:
    contact = attributes.get("contact") if isinstance(attributes, Mapping) else None
    if not isinstance(contact, Mapping):
        return set()
    return {str(v) for v in contact.values() if isinstance(v, str | int)}


def _last_dispatch(history: Sequence[Change], names: Names) -> tuple[str, str] | None:
    for ch in reversed(history):
        if ch.action == "dispatch" and ch.data.get("department"):
            return names.department(str(ch.data["department"]))
    return None


def _history_source(history: Sequence[Change], change: Change) -> str:
    return f"history:{next(i for i, ch in enumerate(history, 1) if ch is change)}"


def _seqs_source(history: Sequence[Change], actions: tuple[str, ...]) -> str:
    seqs = [str(i) for i, ch in enumerate(history, 1) if ch.action in actions]
    return "history:" + ",".join(seqs) if seqs else "names"
