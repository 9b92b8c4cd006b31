"""The big screen tells the truth (issue 18, items 9-11), in Debian's Chromium against a real
`cityops serve` over a short demo day (tests/test_web.py's site and pages fixtures).

Every figure the screen shows is read off the page (tiles, legend, the 超期督办 queue, the
district and department bars) and compared with the API's answer for the same scope and
moment; warnings are looked for at their point in their colour; layouts are measured at
1366×768 and 3840×2160 in both languages. Screenshots go to $CITYOPS_SCREENSHOTS (else /tmp).
"""
# ruff: noqa: F811  (test parameters named after the fixtures imported from test_web)

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

# The browser, the served demo and the pages come from test_web's fixtures (a server of this module's own).
from test_web import Pages, Site, browser, pages, shots, site  # noqa: F401, F811

pytestmark = pytest.mark.timeout(240)

OPEN = ("reported", "registered", "dispatched", "disposing", "reported_back", "suspended")


def total(site: Site, user: str, query: str) -> int:
    return int(site.api(user, "GET", "/api/v1/cases?limit=1&" + query)["total"])


def wait_figures(page: Any) -> None:
    page.wait_for_function("document.querySelector('#k-overdue_pending').textContent !== '–'"
                           " && window.cityops.state.districtRows && window.cityops.state.live", timeout=30_000)
    page.wait_for_function("window.cityops.chart('bars-district')", timeout=30_000)
    page.wait_for_timeout(300)


def legend(page: Any) -> dict[str, int]:
    return {k: int(v) for k, v in page.evaluate(
        "[...document.querySelectorAll('#legend [data-k]')].map(e => [e.dataset.k, e.querySelector('b').textContent])")}


def bars(page: Any, chart: str) -> list[dict[str, Any]]:
    """What a bar chart shows: each row's label, bar values and the text written beside it."""
    return list(page.evaluate("""async (id) => {
        const o = await window.cityops.chart(id), a = o.series[0], b = o.series[1];
        return o.yAxis[0].data.map((label, i) => ({ label, a: a.data[i], b: b.data[i], text: a.label.formatter({ dataIndex: i }) }));
    }""", chart))


def test_every_figure_on_the_big_screen_equals_the_api(pages: Pages, site: Site) -> None:
    page = pages.new("supervisor", 1600, 900)
    wait_figures(page)
    at = page.evaluate("window.cityops.state.indicatorsAt")
    q = f"from={quote(at['from'])}&to={quote(at['to'])}"
    city = site.api("supervisor", "GET", f"/api/v1/indicators?by=city&{q}")["rows"][0]
    tile = {k: page.inner_text(f"#k-{k}") for k in ("accepted", "registered", "closed", "close_rate",
                                                     "on_time_close_rate", "rework_rate", "overdue_pending", "open")}
    for k in ("accepted", "registered", "closed"):
        assert int(tile[k]) == city[k], k
    for k in ("close_rate", "on_time_close_rate", "rework_rate"):
        assert tile[k] == ("—" if city[k] is None else f"{city[k] * 100:.1f}%"), k

    # Overdue: the tile, the case API (the 超期督办 queue's query), the indicators now, the
    # legend and the district bars all count the same cases.
    overdue = total(site, "supervisor", "overdue=true")
    assert overdue > 0, "the demo day should leave overdue cases"
    now_rows = site.api("supervisor", "GET", "/api/v1/indicators?by=district")["rows"]
    assert int(tile["overdue_pending"]) == overdue == sum(r["overdue_pending"] for r in now_rows)
    shown, layer = legend(page), site.api("supervisor", "GET", "/api/v1/dashboard/cases")
    assert layer["unplaced"] == 0  # the demo's cases all have a place: each legend row is exact
    assert shown["overdue"] == overdue
    # Every other legend row: the open cases of that status that are not overdue.
    for s in OPEN:
        assert shown[s] == total(site, "supervisor", f"status={s}") - total(site, "supervisor", f"status={s}&overdue=true"), s
    open_now = total(site, "supervisor", "status=" + ",".join(OPEN))
    assert int(tile["open"]) == open_now == sum(shown[s] for s in OPEN) + shown["overdue"] + shown.get("unplaced", 0)

    # District bars: every district, its close rate over the period ("—" with nothing due), overdue now.
    districts = site.api("supervisor", "GET", "/api/v1/city/districts")
    by_name = {d["name"]: d["code"] for d in districts}
    period = {r["district"]: r for r in site.api("supervisor", "GET", f"/api/v1/indicators?by=district&{q}")["rows"]}
    now_by = {r["district"]: r["overdue_pending"] for r in now_rows}
    rows = bars(page, "bars-district")
    assert {r["label"] for r in rows} >= set(by_name)
    assert sum(r["b"] for r in rows) == overdue
    for r in rows:
        code = by_name.get(r["label"], r["label"])
        rate = period.get(code, {}).get("close_rate")
        assert r["b"] == now_by.get(code, 0), r
        assert r["text"].split("  ·  ")[0] == ("—" if rate is None else f"{rate * 100:.1f}%"), r
        assert r["a"] == (rate or 0), r

    # Department bars: open and overdue per department, as the case API counts them.
    departments = {d["name"].removeprefix("武汉市"): d["code"] for d in site.api("supervisor", "GET", "/api/v1/city/departments")}
    for r in bars(page, "bars-department"):
        code = departments[r["label"]]
        assert r["a"] == total(site, "supervisor", f"department={code}&status=" + ",".join(OPEN)), r
        assert r["b"] == total(site, "supervisor", f"department={code}&overdue=true"), r

    # The 超期督办 queue in the workbench says the same number.
    page.click("#tab-work")
    page.wait_for_selector("#queues button[data-queue='overdue'][aria-selected='true']")
    page.wait_for_function("/共 \\d+ 条/.test(document.querySelector('#pageinfo').textContent)", timeout=20_000)
    assert int(re.search(r"共 (\d+) 条", page.inner_text("#pageinfo")).group(1)) == overdue  # type: ignore[union-attr]
    page.click("#tab-dash")
    page.screenshot(path=str(shots() / "cityops-screen-figures.png"))


def test_a_rate_with_nothing_to_divide_reads_a_dash(pages: Pages, site: Site) -> None:
    """A department with no cases: every rate tile and bar reads "—", never 0.0 %."""
    used = {c["department"] for c in site.api("supervisor", "GET", "/api/v1/cases?limit=1000")["cases"]}
    empty = next(d["code"] for d in site.api("supervisor", "GET", "/api/v1/city/departments") if d["code"] not in used)
    page = pages.new(site.department_user(empty), 1366, 768)
    wait_figures(page)
    for k in ("close_rate", "on_time_close_rate", "rework_rate"):
        assert page.inner_text(f"#k-{k}") == "—"
    rows = bars(page, "bars-district")
    assert rows and all(r["text"] == "—" and r["a"] == 0 for r in rows)


def test_the_trend_never_plots_an_hour_that_has_not_begun(pages: Pages, site: Site) -> None:
    page = pages.new("supervisor", 1366, 768)
    wait_figures(page)
    page.fill("#replay-date", page.evaluate("window.cityops.state && new Date().toLocaleDateString('en-CA', { timeZone: window.cityops.state.tz })"))
    page.dispatch_event("#replay-date", "change")
    hour = int(page.evaluate("new Date().toLocaleString('en-GB', { timeZone: window.cityops.state.tz, hour: '2-digit', hour12: false })")) % 24
    page.wait_for_function("window.cityops.chart('trend')")
    page.wait_for_timeout(500)
    series = page.evaluate("window.cityops.chart('trend').then(o => o.series.map(s => s.data))")
    for data in series:
        assert len(data) == 24
        assert all(v is None for v in data[hour + 1:]), data  # hours not begun: nothing plotted
        assert all(isinstance(v, int) for v in data[:hour + 1]), data


def test_replay_refuses_a_future_hour_and_says_what_it_replays(pages: Pages, site: Site) -> None:
    r = httpx.get(site.root + "/api/v1/dashboard/snapshot", params={"at": "2099-01-01T00:00:00+08:00"},
                  headers={"Authorization": f"Bearer {site.token('supervisor')}"})
    assert r.status_code == 400 and "after now" in r.json()["message"]
    page = pages.new("supervisor", 1366, 768)
    wait_figures(page)
    tz = page.evaluate("window.cityops.state.tz")
    today = page.evaluate(f"new Date().toLocaleDateString('en-CA', {{ timeZone: '{tz}' }})")
    hour = int(page.evaluate(f"new Date().toLocaleString('en-GB', {{ timeZone: '{tz}', hour: '2-digit', hour12: false }})")) % 24
    assert page.get_attribute("#replay-date", "max") == today
    page.fill("#replay-date", today)
    page.dispatch_event("#replay-date", "change")
    page.wait_for_function(f"document.querySelector('#replay-hour').max === '{hour}'")
    # Dragged past the current hour, the slider stops at it.
    page.fill("#replay-hour", "23")
    page.dispatch_event("#replay-hour", "input")
    page.wait_for_function("window.cityops.state.replay")
    assert int(page.input_value("#replay-hour")) == hour
    # 10:00 yesterday (the demo day is further back, its cases still open then): the map, legend
    # and department bars replay; the dot says "回放中", and the panels that stay live say so.
    day = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    page.fill("#replay-date", day)
    page.dispatch_event("#replay-date", "change")
    page.fill("#replay-hour", "10")
    page.dispatch_event("#replay-hour", "input")
    page.wait_for_function("window.cityops.state.replay && window.cityops.state.replay.endsWith('10:59')")
    page.wait_for_timeout(500)
    assert page.inner_text("#live b") == "回放中"
    assert page.is_visible("#replay-note") and page.locator(".livetag:visible").count() == 4
    snap = site.api("supervisor", "GET", "/api/v1/dashboard/snapshot?at=" + quote(f"{day}T10:59:59+08:00"))
    counts: dict[str, int] = {}
    for d in snap["department"]:
        if d:
            counts[d] = counts.get(d, 0) + 1
    names = {d["code"]: d["name"].removeprefix("武汉市") for d in site.api("supervisor", "GET", "/api/v1/city/departments")}
    shown = {r["label"]: r["a"] for r in bars(page, "bars-department")}
    top = {names[c]: n for c, n in counts.items()}
    assert shown and all(top[label] == n for label, n in shown.items())
    page.screenshot(path=str(shots() / "cityops-screen-replay.png"))
    page.click("#replay-live")
    page.wait_for_function("!window.cityops.state.replay")
    assert page.inner_text("#live b") == "实时推送" and not page.is_visible("#replay-note")


WARNINGS = """(args) => {
    const [kind, lv] = args, m = window.cityops.map, W = m.water, pick = [3, 7, 11, 15, 19, 23];
    const cols = { type: 'polygons', identifier: [], level: [], point: [], lon: [], lat: [], rings: [], areas: [] };
    for (const k of pick) { cols.identifier.push('w' + k); cols.level.push(lv); cols.point.push(W.code[k]); cols.lon.push(W.lon[k]); cols.lat.push(W.lat[k]); cols.rings.push([]); }
    window.cityops.state.sensorData.warnings = cols; m.setAreas('warnings', cols);
    return pick.map((k) => m.xy(W.lon[k], W.lat[k]));
}"""
PIXEL = """([x, y]) => {
    const src = window.cityops.map.surface(), c = document.createElement('canvas'); c.width = src.width; c.height = src.height;
    const g = c.getContext('2d'); g.drawImage(src, 0, 0); return [...g.getImageData(Math.round(x), Math.round(y), 1, 1).data];
}"""


@pytest.mark.parametrize("renderer", ["canvas", "webgl"])
def test_point_warnings_are_marked_at_their_point_in_their_colour(pages: Pages, renderer: str) -> None:
    page = pages.new(None, 1366, 768, query=f"?map={renderer}")
    assert page.evaluate("window.cityops.map.kind") == renderer
    page.wait_for_function("window.cityops.state.sensorData && 'warnings' in window.cityops.state.sensorData")
    page.evaluate("window.cityops.map.visible.waterlogging = false; window.cityops.map.visible.gauges = false; window.cityops.map.draw()")
    page.wait_for_timeout(200)
    dpr = page.evaluate("window.cityops.map.dpr")
    before = page.evaluate("window.cityops.map.xy(window.cityops.map.water.lon[3], window.cityops.map.water.lat[3])")
    aside = [before[0] + 25 * dpr, before[1] + 25 * dpr]
    district_before = page.evaluate(PIXEL, aside)
    spots = page.evaluate(WARNINGS, ["point", "red"])
    page.wait_for_timeout(300 if renderer == "canvas" else 1500)
    for x, y in spots:
        r, g, b, _ = page.evaluate(PIXEL, [x, y + 2 * dpr])
        assert r >= 220 and g <= 40 and b <= 40, (r, g, b)  # red looks red
    # Six point warnings fill no district: the ground beside a warned point is as it was.
    assert page.evaluate(PIXEL, aside) == district_before
    page.evaluate("window.cityops.map.visible.waterlogging = true; window.cityops.map.draw()")
    page.screenshot(path=str(shots() / f"cityops-screen-warnings-{renderer}.png"))


def test_every_legend_row_has_its_own_colour(pages: Pages, site: Site) -> None:
    page = pages.new("supervisor", 1600, 900)
    wait_figures(page)
    page.wait_for_function("window.cityops.state.sensorData && window.cityops.state.sensorData.gauges")
    page.evaluate(WARNINGS, ["point", "red"])
    # Every level of every layer present (the demo day has no gauge readings of its own).
    page.evaluate("""() => { const S = window.cityops.state.sensorData; S.warnings.level = ['red', 'orange', 'yellow', 'blue', 'red', 'red'];
        S.gauges = { level: [0, 1, 2, 3] }; S.detectors = { level: [1, 2, 3] }; }""")
    page.click("#lang")
    page.click("#lang")  # redraws the legend with the warnings
    colours = page.evaluate("""[...document.querySelectorAll('#legend [data-k]')].filter(e => e.dataset.k !== 'unplaced')
        .map(e => [e.dataset.k, getComputedStyle(e.querySelector('i')).backgroundColor])""")
    keys = [k for k, _ in colours]
    assert {"overdue", "g_red", "w_red"} <= set(keys), keys
    seen: dict[str, str] = {}
    for k, c in colours:
        assert c not in seen, f"{k} shares {c} with {seen.get(c)}"
        seen[c] = k


LINES = """(sel) => [...document.querySelectorAll(sel)].filter((e) => e.offsetParent && e.textContent.trim()).map((e) => {
    const r = document.createRange(); r.selectNodeContents(e); const box = r.getBoundingClientRect(), fs = parseFloat(getComputedStyle(e).fontSize);
    return { text: e.textContent.trim(), lines: box.height / fs, right: e.getBoundingClientRect().right, box: box.right };
})"""


def one_line(page: Any, selector: str) -> None:
    for e in page.evaluate(LINES, selector):
        assert e["lines"] < 2.0, f"{selector} wraps: {e}"
        assert e["box"] <= e["right"] + 1, f"{selector} overflows: {e}"


def no_overflow(page: Any) -> None:
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("document.querySelector('header.top').scrollWidth <= document.querySelector('header.top').clientWidth + 1")


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", [(1366, 768), (3840, 2160)], ids=["1366x768", "3840x2160"])
def test_layouts_hold_in_both_languages(pages: Pages, site: Site, size: tuple[int, int], lang: str) -> None:
    page = pages.new("supervisor", *size)
    if lang == "en":
        page.click("#lang")
    wait_figures(page)
    page.wait_for_function("window.cityops.chart('trend')")
    page.wait_for_timeout(300)
    no_overflow(page)
    one_line(page, ".panel h2")
    one_line(page, ".seg button")
    # Chart and map labels grow with the screen: 11-13 px on a laptop, twice that and more on 4K.
    fonts = page.evaluate("""async () => { const t = await window.cityops.chart('trend'), d = await window.cityops.chart('bars-district');
        const m = window.cityops.map; return [t.xAxis[0].axisLabel.fontSize, d.yAxis[0].axisLabel.fontSize,
        m.kind === 'canvas' ? m.labelFont : parseFloat(getComputedStyle(document.querySelector('.maplabel')).fontSize)]; }""")
    if size[0] >= 3840:
        assert min(fonts) >= 24, fonts
    else:
        assert min(fonts) >= 11 and max(fonts) <= 14, fonts
    page.screenshot(path=str(shots() / f"cityops-screen-{size[0]}-{lang}.png"))
    # The workbench: the table scrolls in its own pane; the detail pane stays on screen.
    page.click("#tab-work")
    page.click("#queues button[data-queue='all']")
    page.wait_for_selector("#cases tbody tr", timeout=20_000)
    page.click("#cases tbody tr")
    page.wait_for_selector("#detail .hist li", timeout=20_000)
    no_overflow(page)
    detail = page.evaluate("(() => { const r = document.querySelector('#detail').getBoundingClientRect(); return [r.left, r.right]; })()")
    assert detail[1] <= size[0] and detail[1] - detail[0] >= 300, detail
    one_line(page, "#cases th")
    one_line(page, ".queue-tabs button")
    one_line(page, "#detail dt")
    page.screenshot(path=str(shots() / f"cityops-workbench-{size[0]}-{lang}.png"))


def test_every_value_list_has_names_in_both_languages() -> None:
    """One table (GET /api/v1/names) names every code of every list the product owns."""
    from cityops.cases import names
    from cityops.cases.models import Action, Role, Status
    from cityops.intake.open311.public import KNOWN_CHANNELS

    table = names.vocabularies()
    assert set(table["status"]) == {s.value for s in Status}
    assert set(table["action"]) == {a.value for a in Action} | {"report"}
    assert set(table["role"]) == {r.value for r in Role}
    assert set(table["source"]) >= KNOWN_CHANNELS
    for kind, entries in table.items():
        for code, (zh, en) in entries.items():
            assert zh and en and re.search(r"[\u4e00-\u9fff]", zh), (kind, code, zh)
            assert en != code or code in ("api",), (kind, code, en)
    assert names.source_names("drone:UAV-3") == ("无人机 UAV-3", "Drone UAV-3")


def test_sources_history_and_times_read_as_names(pages: Pages, site: Site) -> None:
    everything = site.api("supervisor", "GET", "/api/v1/cases?limit=1000")
    channels = {c["code"]: c["count"] for c in site.api("supervisor", "GET", "/api/v1/channels")["channels"]}
    used: dict[str, int] = {}
    for c in everything["cases"]:
        used[c["source"].split(":")[0]] = used.get(c["source"].split(":")[0], 0) + 1
    assert channels == used and "hotline_12345" in channels  # exactly the channels the data uses
    assert total(site, "supervisor", "source=hotline_12345") == channels["hotline_12345"] > 0

    page = pages.new("supervisor", 1600, 900)
    page.click("#tab-work")
    page.click("#queues button[data-queue='all']")
    page.wait_for_selector("#cases tbody tr", timeout=20_000)
    page.wait_for_function("document.querySelectorAll('#filters [name=source] option').length > 1")
    options = page.evaluate("[...document.querySelectorAll('#filters [name=source] option')].map(o => [o.value, o.textContent])")
    assert {v for v, _ in options if v} == set(channels)
    assert all(not re.search(r"[a-z]+_[a-z0-9]+", text) for _, text in options), options
    page.select_option("#filters [name=source]", "hotline_12345")
    page.click("#filters button[type=submit]")
    page.wait_for_function(f"/共 {channels['hotline_12345']} 条/.test(document.querySelector('#pageinfo').textContent)", timeout=20_000)
    cells = page.evaluate("[...document.querySelectorAll('#cases tbody td:nth-child(8)')].map(td => td.textContent)")
    assert cells and set(cells) == {"12345热线"}
    # History in Chinese: action, role and statuses by name (the login stays as it is).
    case = max((c for c in everything["cases"] if c["status"] != "reported"), key=lambda c: c["id"])
    page.select_option("#filters [name=source]", "")
    page.fill("#filters [name=q]", "")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#cases tbody tr")
    page.click(f"#cases tbody tr[data-id='{case['id']}']")
    page.wait_for_selector("#detail .hist li", timeout=20_000)
    history = page.inner_text("#detail .hist")
    codes = r"\b(report|register|dispatch|reported|registered|dispatched|disposing|collector|acceptor|dispatcher)\)|\((collector|acceptor|dispatcher|system)\)|(reported|registered|dispatched|disposing|closed) →|→ (reported|registered|dispatched|disposing|closed)"
    assert not re.search(codes, history), history
    assert re.search(r"上报|立案", history) and "→" in history
    assert re.search(r"\d{4}/\d{2}/\d{1,2} \d{2}:\d{2}", history)
    # English: names in English and times in an English date format (7 Dec 2026, 09:30).
    page.click("#lang")
    page.wait_for_timeout(300)
    page.wait_for_selector("#detail .hist li", timeout=20_000)
    history = page.inner_text("#detail .hist")
    assert re.search(r"Report|Register", history) and not re.search(r"上报|立案|待受理|已立案", history), history
    assert re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d{2}:\d{2}", history), history
    assert not re.search(r"\d{4}/\d{2}/\d{1,2}", page.inner_text("#cases tbody")), "English times in the Chinese format"
