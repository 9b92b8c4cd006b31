"""The dashboard and the workbench in a real browser (Debian's Chromium, driven by Playwright)
against a real `cityops serve` over a small demo database.

Skips, saying why, where Chromium or Playwright is missing. Every page counts the requests it
tries to send anywhere but this machine; each test ends by asserting there were none.
Screenshots go to $CITYOPS_SCREENSHOTS when set (e.g. /tmp), else to the test's tmp folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from open311_server import REPO, free_port
from stores import new_db

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
PASSWORD = "cityops-demo"  # the demo users' password
STATIC = REPO / "src" / "cityops" / "web" / "static"

pytestmark = pytest.mark.timeout(180)

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); browser tests skipped",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the PyPI package playwright is not installed")


class Site:
    def __init__(self, root: str) -> None:
        self.root = root
        self.tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = httpx.post(self.root + "/api/v1/auth/token", json={"username": user, "password": PASSWORD}, timeout=30)
            r.raise_for_status()
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    def department_user(self, code: str) -> str:
        """The login of a department's operator, created (through the API) on first use."""
        name = f"dept-{code.lower()}"
        if name not in self.tokens:
            r = httpx.post(self.root + "/api/v1/users", timeout=30, headers={"Authorization": f"Bearer {self.token('admin')}"},
                           json={"name": name, "role": "department", "department": code, "password": PASSWORD})
            assert r.status_code in (201, 409), r.text
            self.token(name)
        return name

    def api(self, user: str, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, self.root + path, headers={"Authorization": f"Bearer {self.token(user)}"},
                          timeout=30, **kw)
        r.raise_for_status()
        return r.json()


STAFF = ("admin", "supervisor", "acceptor", "dispatcher", "verifier", "collector")


def _demo_db(db: str) -> None:
    """A short demo day (the sim API, as `cityops demo` plays it), with logins only for the
    staff the tests use: each password hash costs a tenth of a second on purpose, and the demo
    would make one for every department. Department logins are made when a test needs them."""
    from cityops.auth.service import new_user
    from cityops.cases import service
    from cityops.cases.models import Actor, Role
    from cityops.core import open_platform, utcnow
    from cityops.sim.demo import DayPlayer, demo_day

    platform = open_platform(db)
    try:
        actors = {name: Actor(name, Role(name)) for name in STAFF}
        actors |= {f"dept-{d.code.lower()}": Actor(f"dept-{d.code.lower()}", Role.DEPARTMENT, d.code)
                   for d in platform.city.departments}
        now = utcnow()
        player = DayPlayer(platform, actors, demo_day(platform, now), now, 20261127)
        player.report(20)
        player.play()
        platform.store.write(lambda repo: _overdue_cases(repo, platform, demo_day(platform, now, back=3), actors))
        platform.store.write(lambda repo: service.sweep_overdue(repo, platform, player.end))
        users = [new_user(name, name, None, PASSWORD, set()) for name in STAFF]
        platform.store.write(lambda repo: [repo.add_user(u, now) for u in users])
    finally:
        platform.close()


def _overdue_cases(repo: Any, platform: Any, start: Any, actors: dict[str, Any]) -> None:
    """Three cases dispatched three working days back and never handled: overdue whatever the
    weekday and hour the suite runs at (a short demo day ending now may leave none)."""
    from datetime import timedelta

    from cityops.cases import service
    from cityops.cases.models import Action
    from cityops.cases.workflow import Command

    for k, (lon, lat) in enumerate([(114.3055, 30.5928), (114.2712, 30.5861), (114.3162, 30.5541)]):
        at = start + timedelta(hours=1, minutes=10 * k)
        report = service.NewReport(matter_code="06010", description="暴露垃圾（模拟超期）/ Exposed rubbish (simulated, overdue)",
                                   lon=lon, lat=lat, source="inspector")
        case = service.intake(repo, platform, report, actors["collector"], at)
        service.act(repo, platform, case.id, Command(Action.REGISTER, actors["acceptor"], at + timedelta(minutes=2)))
        service.act(repo, platform, case.id, Command(Action.DISPATCH, actors["dispatcher"], at + timedelta(minutes=4)))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = new_db(tmp_path_factory.mktemp("web"), "web.db")
    _demo_db(db)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "serve", "--db", str(db), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(root + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("cityops serve did not start")
            time.sleep(0.3)
        s = Site(root)
        _seed(s)
        yield s
    finally:
        proc.terminate()
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()


def _seed(site: Site) -> None:
    """A few open cases at every stage, whatever the short demo day left open."""
    spots = [(114.2905, 30.5882), (114.3162, 30.5567), (114.2661, 30.5753), (114.3405, 30.5391), (114.2527, 30.5521), (114.3801, 30.6102)]
    ids = [site.api("collector", "POST", "/api/v1/cases", json={"matter_code": code, "description": "巡查发现（测试）", "lon": lon, "lat": lat})["id"]
           for code, (lon, lat) in zip(("06010", "06012", "09006", "06042", "09009", "06036"), spots, strict=True)]
    for i in ids[:4]:
        site.api("acceptor", "POST", f"/api/v1/cases/{i}/actions/register", json={})
    for i in ids[:2]:
        site.api("dispatcher", "POST", f"/api/v1/cases/{i}/actions/dispatch", json={})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Pages:
    """New browser contexts (one per user, like separate machines), counting every request
    that would leave localhost (and refusing it)."""

    def __init__(self, browser: Any, site: Site) -> None:
        self.browser, self.site = browser, site
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.contexts: list[Any] = []

    def new(self, user: str | None = None, width: int = 1600, height: int = 900, query: str = "") -> Any:
        # bypass_csp: wait_for_function evaluates with eval, which the pages' policy forbids;
        # tests/test_xss_browser.py runs the pages under the policy.
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True, bypass_csp=True)
        self.contexts.append(ctx)

        def route(r: Any) -> None:
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                self.outside.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(self.site.root + "/" + query)
        page.wait_for_function("window.cityops?.map?.bm")
        if user:
            login(page, user)
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


def login(page: Any, user: str) -> None:
    page.click("#login-open")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#logout:not([hidden])", timeout=30_000)
    page.wait_for_function("window.cityops.state.ready === true", timeout=30_000)


@pytest.fixture
def pages(browser: Any, site: Site) -> Iterator[Pages]:
    p = Pages(browser, site)
    yield p
    p.close()
    assert p.outside == [], f"requests left localhost: {p.outside}"
    assert p.errors == [], f"errors in the page: {p.errors}"


def shots() -> Path:
    return Path(os.environ.get("CITYOPS_SCREENSHOTS", "/tmp"))


def painted(page: Any) -> int:
    """Pixels of the map's canvas that are not transparent (WebGL or 2D)."""
    return int(page.evaluate("window.cityops.map.painted()"))


def test_big_screen_renders_in_chinese_then_english(pages: Pages) -> None:
    page = pages.new()
    page.wait_for_function("window.cityops.firstPaintMs")
    first = page.evaluate("window.cityops.firstPaintMs")
    renderer = page.evaluate("window.cityops.map.kind")
    print(f"\nfirst meaningful paint (the city map drawn, {renderer}): {first:.0f} ms from navigation start")
    # Headless Chromium here has WebGL 2 only in software (SwiftShader), where the 2D canvas is
    # faster: the page chooses it. test_webgl_map_* take the MapLibre GL path with ?map=webgl.
    assert renderer in ("webgl", "canvas")
    assert first < 15_000  # 1.5 s is the goal on an idle machine; this one is shared
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert "城市运行驾驶舱" in page.inner_text("header")
    page.wait_for_timeout(300)
    assert painted(page) > 50_000  # districts, grids, patrols drawn before login
    # The sensor layers came over the public event stream (pushed, not polled).
    page.wait_for_function("['gauges', 'detectors', 'warnings'].every(k => window.cityops.layerEvents.includes(k))")
    page.wait_for_function("window.cityops.state.sensorData && 'warnings' in window.cityops.state.sensorData")
    login(page, "supervisor")
    page.wait_for_function("document.querySelector('#k-accepted').textContent !== '–'")
    page.wait_for_selector("#live:not(.off)")
    assert int(page.inner_text("#k-accepted")) > 0
    assert page.evaluate("window.cityops.map.cases.n") > 0
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots() / "cityops-dashboard-zh.png"))
    page.click("#lang")
    assert "City Operations Dashboard" in page.inner_text("header")
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots() / "cityops-dashboard-en.png"))
    page.click("#lang")
    # History replay: the open cases as they stood at 11:00 yesterday (an hour that has begun:
    # today's later hours are not offered).
    page.fill("#replay-date", page.evaluate("new Date(Date.now() - 86400000).toLocaleDateString('en-CA', { timeZone: window.cityops.state.tz })"))
    page.dispatch_event("#replay-date", "change")
    page.fill("#replay-hour", "11")
    page.dispatch_event("#replay-hour", "input")
    page.wait_for_function("window.cityops.state.replay && window.cityops.state.replay.endsWith('11:59')")
    page.click("#replay-live")


def _act(page: Any, case_id: int, action: str, fill: dict[str, str] | None = None) -> None:
    page.click("#tab-work")
    page.wait_for_selector(f"#cases tbody tr[data-id='{case_id}']", timeout=20_000)
    page.click(f"#cases tbody tr[data-id='{case_id}']")
    page.click(f"#detail button[data-action='{action}']", timeout=20_000)
    if page.is_visible("#act-dialog[open]"):
        for name, value in (fill or {}).items():
            page.fill(f"#act-form [name={name}]", value)
        page.click("#act-submit")
        page.wait_for_selector("#act-dialog[open]", state="detached")


def _status(site: Site, case_id: int) -> str:
    return str(site.api("supervisor", "GET", f"/api/v1/cases/{case_id}")["status"])


def _wait_status(site: Site, case_id: int, status: str) -> None:
    deadline = time.monotonic() + 20
    while _status(site, case_id) != status:
        assert time.monotonic() < deadline, f"case {case_id} never became {status}"
        time.sleep(0.2)


def test_each_role_works_its_queue_through_the_page(pages: Pages, site: Site) -> None:
    wall = pages.new("supervisor", 1280, 720)  # the big screen, watching the live feed
    # Acceptor: reports a case from the page, then registers it.
    acc = pages.new("acceptor")
    acc.click("#tab-work")
    acc.click("#new-case")
    for name, value in {"matter_code": "06010", "description": "路边暴露垃圾（浏览器测试）", "lon": "114.3055", "lat": "30.5928"}.items():
        acc.fill(f"#act-form [name={name}]", value)
    acc.click("#act-submit")
    acc.wait_for_selector("#detail h3")
    case_id = int(re.search(r"#(\d+)", acc.inner_text("#detail h3")).group(1))  # type: ignore[union-attr]
    acc.click("#detail button[data-action='register']")
    acc.click("#act-submit")
    _wait_status(site, case_id, "registered")
    # Dispatcher: the queue shows the case with the suggested department; dispatch to it.
    dis = pages.new("dispatcher")
    _act(dis, case_id, "dispatch")
    _wait_status(site, case_id, "dispatched")
    department = site.api("supervisor", "GET", f"/api/v1/cases/{case_id}")["department"]
    # Department: accept, then report back.
    dep = pages.new(site.department_user(department))
    _act(dep, case_id, "accept")
    _wait_status(site, case_id, "disposing")
    _act(dep, case_id, "report_back", {"reason": "已清理"})
    _wait_status(site, case_id, "reported_back")
    # Verifier: attaches the site's after-photo in the workbench's case detail (the stage
    # defaults to 处置后 for a reported-back case), sees its thumbnail, then verifies; the case closes.
    from cityops.field.samples import jpeg

    ver = pages.new("verifier")
    ver.click("#tab-work")
    ver.wait_for_selector(f"#cases tbody tr[data-id='{case_id}']", timeout=20_000)
    ver.click(f"#cases tbody tr[data-id='{case_id}']")
    assert ver.input_value("#photo-form [name=stage]") == "after"
    ver.set_input_files("#photo-file", files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    ver.wait_for_function("document.querySelector('#thumbs img')?.src.startsWith('blob:')"
                          " && document.querySelector('#thumbs img').complete", timeout=20_000)
    assert site.api("verifier", "GET", f"/api/v1/cases/{case_id}/attachments")["attachments"][0]["stage"] == "after"
    ver.screenshot(path=str(shots() / "cityops-workbench-photo.png"))
    _act(ver, case_id, "verify")
    _wait_status(site, case_id, "closed")
    ver.wait_for_selector("#chain.ok")
    # The detail shows the case's summary and, now closed, the draft reply to the citizen.
    ver.wait_for_function("document.querySelectorAll('#detail .summary').length === 2", timeout=20_000)
    detail = ver.inner_text("#detail")
    assert "案情摘要" in detail and "答复草稿" in detail and "经现场处理，已清理" in detail
    # The wall screen heard every step over Server-Sent Events, without polling.
    wall.wait_for_function(
        f"window.cityops.events.some(e => e.cases.some(c => c.id === {case_id} && c.status === 'reported_back'))",
        timeout=20_000)
    # CSV export of what is on screen.
    with ver.expect_download() as dl:
        ver.click("#csv")
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith('"编号"')


def test_department_sees_only_its_own_cases_in_every_view(pages: Pages, site: Site) -> None:
    everything = site.api("supervisor", "GET", "/api/v1/cases?limit=1000")["cases"]
    departments = sorted({c["department"] for c in everything if c["department"]})
    mine, other = departments[0], departments[1]
    theirs = next(c["id"] for c in everything if c["department"] == other)
    page = pages.new(site.department_user(mine))
    assert set(page.evaluate("window.cityops.map.cases.department")) <= {mine}
    page.click("#tab-work")
    page.click("#queues button[data-queue='all']")
    page.wait_for_timeout(800)
    ids = [int(x) for x in page.eval_on_selector_all("#cases tbody tr", "rs => rs.map(r => r.dataset.id)")]
    assert theirs not in ids
    mine_ids = {c["id"] for c in everything if c["department"] == mine}
    assert set(ids) <= mine_ids
    # The department filter offers only its own department; asking the API for the other's
    # cases from the page still answers its own.
    options = page.eval_on_selector_all("#filters [name=department] option", "os => os.map(o => o.value)")
    assert set(options) <= {"", mine}
    # The page's own requests for the other's case are refused by the API.
    status = page.evaluate(
        f"""async () => {{ const h = {{authorization: 'Bearer ' + sessionStorage.getItem('cityops.token')}};
            return [(await fetch('/api/v1/cases/{theirs}', {{headers: h}})).status,
                    (await fetch('/api/v1/cases/{theirs}/history', {{headers: h}})).status,
                    (await (await fetch('/api/v1/cases?department={other}', {{headers: h}})).json()).cases
                        .filter(c => c.department !== '{mine}').length]; }}""")
    assert status == [403, 403, 0]
    snap = page.evaluate(
        """async () => { const h = {authorization: 'Bearer ' + sessionStorage.getItem('cityops.token')};
           return (await (await fetch('/api/v1/dashboard/snapshot?at=' + encodeURIComponent(new Date().toISOString()), {headers: h})).json()).department; }""")
    assert set(snap) <= {mine}
    # A change to the other department's case never reaches this page's live feed.
    site.api("supervisor", "POST", f"/api/v1/cases/{theirs}/actions/comment", json={"reason": "巡查备注"})
    page.wait_for_timeout(1500)
    assert not page.evaluate(f"window.cityops.events.some(e => e.cases.some(c => c.id === {theirs}))")


def test_webgl_map_draws_the_city_live_cases_and_answers_clicks(pages: Pages, site: Site) -> None:
    """The MapLibre GL path (WebGL 2; SwiftShader here, so forced with ?map=webgl): the city
    pack's layers, district names as HTML (no glyph server), the live cases as a GL layer,
    a click on a case, a change pushed over SSE redrawn, both languages."""
    page = pages.new("supervisor", query="?map=webgl")
    assert page.evaluate("window.cityops.map.kind") == "webgl"
    assert page.evaluate("document.querySelector('#map canvas.maplibregl-canvas') !== null")
    page.wait_for_function("window.cityops.firstPaintMs", timeout=60_000)
    print(f"\nfirst meaningful paint (webgl): {page.evaluate('window.cityops.firstPaintMs'):.0f} ms, "
          f"phases {page.evaluate('window.cityops.marks')}")
    assert painted(page) > 50_000
    labels = page.eval_on_selector_all("#map .maplabel", "ls => ls.map(l => l.textContent)")
    assert labels and all(re.search(r"[\u4e00-\u9fff]", x) for x in labels)
    layers = page.evaluate("window.cityops.map.map.getStyle().layers.map(l => [l.id, l.type])")
    assert {"districts-fill", "grids", "patrols", "waterlogging", "cases", "overdue", "gauges", "warnings-fill"} <= {i for i, _ in layers}
    # No glyphs or sprites to fetch: no text in a symbol layer (warned points are icons drawn in the page).
    style = page.evaluate("window.cityops.map.map.getStyle()")
    assert "glyphs" not in style and "sprite" not in style
    assert not [x["id"] for x in style["layers"] if x["type"] == "symbol" and "text-field" in x.get("layout", {})]
    page.wait_for_function("window.cityops.map.map.querySourceFeatures('cases').length > 0", timeout=30_000)
    # A click on a case shows its panel.
    i = page.evaluate("window.cityops.map.cases.id.length - 1")
    page.evaluate(f"window.cityops.map.map.jumpTo({{center: [window.cityops.map.cases.lon[{i}], window.cityops.map.cases.lat[{i}]], zoom: 15}})")
    page.wait_for_timeout(500)
    x, y = page.evaluate(f"window.cityops.map.xy(window.cityops.map.cases.lon[{i}], window.cityops.map.cases.lat[{i}])")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#tip:not([hidden])")
    assert f"#{page.evaluate(f'window.cityops.map.cases.id[{i}]')}" in page.inner_text("#tip")
    # A new case reaches the GL layer over the event stream.
    new = site.api("collector", "POST", "/api/v1/cases", json={"matter_code": "06010", "description": "WebGL 图层测试",
                                                               "lon": 114.301, "lat": 30.581})["id"]
    page.wait_for_function(f"window.cityops.map.cases.id.includes({new})", timeout=20_000)
    page.evaluate("window.cityops.map.home()")
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots() / "cityops-dashboard-webgl-zh.png"))
    page.click("#lang")
    assert page.evaluate("document.querySelector('#map .maplabel').textContent").isascii()
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots() / "cityops-dashboard-webgl-en.png"))


def test_canvas_fallback_draws_the_map_without_webgl(pages: Pages) -> None:
    """Where a browser has no WebGL 2 (old PCs) the page draws on a 2D canvas; `?map=canvas`
    takes that path here. The live layers and clicks work the same."""
    page = pages.new("supervisor", query="?map=canvas")
    assert page.evaluate("window.cityops.map.kind") == "canvas"
    assert page.evaluate("window.cityops.state.ready")
    assert page.evaluate("document.querySelector('#map canvas.maplibregl-canvas') === null")
    page.wait_for_function("window.cityops.firstPaintMs")
    page.wait_for_timeout(300)
    assert painted(page) > 50_000
    assert page.evaluate("window.cityops.map.cases.n") > 0
    page.screenshot(path=str(shots() / "cityops-dashboard-canvas.png"))


@pytest.mark.parametrize("renderer", ["webgl", "canvas"])
def test_hundred_thousand_objects_pan_smoothly(pages: Pages, renderer: str) -> None:
    page = pages.new(None, 1600, 900, query=f"?map={renderer}")
    page.wait_for_function("window.cityops.firstPaintMs")
    assert page.evaluate("window.cityops.map.kind") == renderer
    page.wait_for_timeout(300)
    # Software WebGL (SwiftShader) draws a frame in about half a second here: fewer frames.
    frames = 120 if renderer == "canvas" else 8
    base = page.evaluate(f"window.cityops.panTest({frames // 2})")  # the baseline: the same pan, no objects
    assert page.evaluate("window.cityops.stress(100000)") == 100_000
    if renderer == "webgl":  # MapLibre clusters the points in its worker; pan once it has
        page.wait_for_function("window.cityops.map.map.isSourceLoaded('stress')", timeout=60_000)
    page.wait_for_timeout(300)
    result = page.evaluate(f"window.cityops.panTest({frames})")
    line = (f"{renderer}: 100,000 objects, {frames} pan frames at 1600x900: frame interval median {result['median_ms']:.1f} ms, "
            f"mean {result['mean_ms']:.1f}, p95 {result['p95_ms']:.1f}, max {result['max_ms']:.1f}; "
            f"render mean {result['render_mean_ms']:.1f} ms, p95 {result['render_p95_ms']:.1f} "
            f"(baseline without objects: interval median {base['median_ms']:.1f} ms, render mean "
            f"{base['render_mean_ms']:.1f} ms)")
    print("\n" + line)
    (shots() / f"cityops-pan-100k-{renderer}.txt").write_text(line + "\n", encoding="utf-8")
    assert result["frames"] == frames
    if renderer == "webgl":
        # SwiftShader draws MapLibre's frames on the CPU here, a few a second whatever the
        # objects (see the baseline); on a graphics card it keeps up with the display. The
        # figures are printed; what this asserts is that the clusters are drawn.
        assert page.evaluate("window.cityops.map.map.queryRenderedFeatures({layers: ['stress-clusters']}).length") > 0
        return
    # Interactive even on a shared, overloaded 2-core machine with software rendering:
    # the typical frame well above 10 a second, the drawing itself well inside a frame.
    assert result["median_ms"] < 100, result
    assert result["render_mean_ms"] < 50, result


def test_static_files_name_no_outside_host() -> None:
    """Our own files; the npm libraries in vendor/ carry licence links and SVG namespaces in
    their text, are checked against their sources (tests/test_web_vendor.py), and every page
    above refuses and counts any request they would send elsewhere."""
    for f in STATIC.rglob("*"):
        if f.suffix in (".html", ".js", ".css") and "vendor" not in f.relative_to(STATIC).parts:
            text = f.read_text(encoding="utf-8")
            assert not re.search(r"(https?:)?//(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}", text), f
