"""Nothing a citizen or an operator writes runs in a page (issue 18, item 1).

Hostile strings go everywhere text can come from: an Open311 report's description, address,
attribute value, reporter's name, media URL and file name; a staff report's description and
address; a comment and a report-back reason; a photo's file name; a triage item; and,
standing for a city pack or catalogue someone edited carelessly, the names of districts,
departments, patrols, waterlogging points and matters. Then every page and view renders them in Chromium under the server's own policy:
the big screen (map tooltips, point panel, bar tooltips, ticker, legend and layer switches),
the workbench (rows, filters, detail pane, history, photos, triage queue, an action dialog),
the phone page (patrol, report and 核查 tabs), the return-visit page /r/<token>, the notice
page /n/<token> and /docs. It fails if any script of theirs runs (a global flag, a dialog),
if the page reports a Content-Security-Policy violation (a sink that let markup through is
caught by the policy before it runs: the violation is the evidence), or if the text is not
shown as text where the page shows it.

One server and one browser for the file; the pages share them.
"""

from __future__ import annotations

import copy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from conftest import PASSWORD
from field_support import site_photo
from stores import new_db

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
LON, LAT = 114.3055, 30.5928  # 江岸区

# Markup in text, out of a quoted and an unquoted attribute, out of a JS string, a URL scheme.
HOSTILE = ("<img src=x onerror=window.__pwned=1>\"><svg onload=window.__pwned=2>'><script>window.__pwned=3</script>"
           "'};window.__pwned=4;// javascript:window.__pwned=5")
SHORT = "<img src=x onerror=window.__pwned=6>'\"><b>"  # where names must stay short

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]
sync_api = pytest.importorskip("playwright.sync_api", reason="the PyPI package playwright is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    root: str
    platform: Any
    tokens: dict[str, str]
    key: str = ""
    ids: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def call(self, who: str, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, self.root + path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=60, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()


def _hostile_city(platform: Any) -> None:
    """Names as a careless city pack or catalogue edit could hold them."""
    from cityops.catalog.service import Catalogue

    # A copy: the loaded pack is shared in the process (and keys the base map's cache).
    city = platform.city = copy.copy(platform.city)
    city.districts = tuple(replace(d, name=d.name + SHORT, name_en=d.name_en + SHORT) for d in city.districts)
    city.departments = tuple(replace(d, name=d.name + SHORT, name_en=d.name_en + SHORT) for d in city.departments)
    city.patrol_grids = tuple(replace(p, name=p.name + SHORT, name_en=p.name_en + SHORT) for p in city.patrol_grids)
    city.waterlogging_points = tuple(replace(w, name=w.name + SHORT) for w in city.waterlogging_points)
    cat = platform.catalogue
    platform.catalogue = Catalogue(tuple(replace(e, name=e.name + SHORT, name_en=e.name_en + SHORT)
                                         if e.code in ("06010", "06012") else e for e in cat.entries), cat.sources)


def _seed(site: Site) -> None:
    from cityops.cases import service
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.workflow import Command
    from cityops.core import utcnow
    from cityops.field.samples import jpeg
    from cityops.intel import store as intel_store

    platform = site.platform

    def open311(**form: Any) -> Any:
        data = {"api_key": site.key, "lat": LAT, "long": LON, "description": HOSTILE, "address_string": HOSTILE,
                "first_name": SHORT, "last_name": SHORT, "email": "citizen@example.org",
                "media_url": "https://example.org/\"><svg/onload=window.__pwned=7>", **form}
        r = httpx.post(site.root + "/open311/v2/requests.json", data=data, timeout=60,
                       files={"media": (HOSTILE + ".jpg", jpeg(64, 48, lon=LON, lat=LAT), "image/jpeg")})
        assert r.status_code == 200, r.text
        return r.json()[0]

    def act(cid: int, action: Action, role: Role, **kw: Any) -> None:
        def op(repo: Any) -> None:
            dept = repo.get_case(cid).department
            service.act(repo, platform, cid, Command(action, Actor(role.value, role, dept if role is Role.DEPARTMENT else None),
                                                     utcnow(), **kw))
        platform.store.write(op)

    # A: an Open311 report with its photo, waiting for verification on site (the 核查 tab).
    a = int(open311(service_code="06010", **{"attribute[landmark]": HOSTILE})["service_request_id"])
    site.call("supervisor", "POST", f"/api/v1/cases/{a}/actions/comment", json={"reason": HOSTILE})
    site.call("collector", "POST", f"/api/v1/cases/{a}/attachments", data={"stage": "evidence"},
              files={"file": (HOSTILE + ".jpg", jpeg(80, 60, lon=LON, lat=LAT), "image/jpeg")})
    for action, role in ((Action.REGISTER, Role.ACCEPTOR), (Action.DISPATCH, Role.DISPATCHER),
                         (Action.ACCEPT, Role.DEPARTMENT), (Action.REPORT_BACK, Role.DEPARTMENT)):
        act(a, action, role, **({"reason": HOSTILE} if action is Action.REPORT_BACK else {}))
    # B: an Open311 report closed, so its reporter has a return-visit link; the app subscribed (/n/).
    b = int(open311(service_code="06012", **{"attribute[landmark]": HOSTILE})["service_request_id"])
    sub = httpx.post(site.root + f"/open311/v2/requests/{b}/subscriptions.json", timeout=30,
                     data={"api_key": site.key, "email": "fan@example.org"})
    assert sub.status_code == 201, sub.text
    site.links["n"] = f"/n/{sub.json()[0]['subscription_token']}"
    for action, role in ((Action.REGISTER, Role.ACCEPTOR), (Action.DISPATCH, Role.DISPATCHER),
                         (Action.ACCEPT, Role.DEPARTMENT), (Action.REPORT_BACK, Role.DEPARTMENT)):
        act(b, action, role)
    site_photo(platform, b)
    act(b, Action.VERIFY, Role.VERIFIER, passed=True)
    with platform.store.read() as repo:
        bodies = [r[0] for r in repo.conn.execute(
            "SELECT body FROM notify_outbox WHERE case_id = ? AND address = 'citizen@example.org' ORDER BY id", (b,))]
    found = re.search(r"/r/[\w-]+", " ".join(bodies))
    assert found, bodies
    site.links["r"] = found.group(0)
    # C: a staff report, registered: the dispatch dialog lists the departments.
    c = site.call("collector", "POST", "/api/v1/cases", json={"matter_code": "06012", "description": HOSTILE,
                                                               "address": HOSTILE, "lon": LON + 0.01, "lat": LAT})["id"]
    site.call("acceptor", "POST", f"/api/v1/cases/{c}/actions/register", json={})
    # D: a free-text report the classifier was unsure of (as an Open311 `other` request leaves
    # it, without loading the classifier here): the triage queue.
    unsure = {"matter_code": "06010", "confidence": 0.3, "model_version": 0,
              "top_k": [{"matter_code": "06010", "confidence": 0.3}, {"matter_code": "06012", "confidence": 0.2}]}
    platform.store.write(lambda repo: intel_store.add_triage(
        repo.conn, int(time.time()), HOSTILE, LON, LAT, "open311", HOSTILE, "open311:citizen-app", unsure, "unsure",
        {"contact": {"first_name": SHORT}}))
    site.ids.update(a=a, b=b, c=c)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    from cityops.api.app import create_app
    from cityops.auth.service import hash_password, issue_token
    from cityops.core import open_platform, utcnow
    from cityops.intake.open311.keys import new_key
    from cityops.store.base import User

    platform = open_platform(new_db(tmp_path_factory.mktemp("xss"), "xss.db"))
    _hostile_city(platform)
    digest = hash_password(PASSWORD)
    staff = ("collector", "acceptor", "dispatcher", "verifier", "supervisor")
    plain, record = new_key("citizen-app", "report", utcnow())

    def setup(repo: Any) -> dict[str, str]:
        repo.add_api_key(record)
        for role in staff:
            repo.add_user(User(role, role, None, digest), utcnow())
        for d in platform.city.departments:
            repo.add_user(User(f"op-{d.code.lower()}", "department", d.code, digest), utcnow())
        return {role: issue_token(repo, role, utcnow()) for role in staff}

    tokens = platform.store.write(setup)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    s = Site(f"http://127.0.0.1:{port}", platform, tokens, plain)
    try:
        _seed(s)
        yield s
    finally:
        server.should_exit = True
        thread.join(10)
        platform.close()


# Every page: a flag the payloads would set, dialogs, policy violations, page errors.
WATCH = """
window.__pwned = 0; window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
"""


class Browser:
    def __init__(self, browser: Any, site: Site) -> None:
        self.browser, self.site = browser, site
        self.problems: list[str] = []
        self.pages: list[Any] = []

    def page(self, path: str, **context: Any) -> Any:
        ctx = self.browser.new_context(**{"viewport": {"width": 1600, "height": 900}, **context})
        ctx.add_init_script(WATCH)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        def dialog(d: Any) -> None:
            self.problems.append(f"{path}: dialog {d.message!r}")
            d.dismiss()

        page.on("dialog", dialog)
        page.on("pageerror", lambda e: self.problems.append(f"{path}: page error {e}"))
        page.on("console", lambda m: self.problems.append(f"{path}: {m.text}")
                if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
        page.goto(self.site.root + path)
        self.pages.append((path, page))
        return page

    def check(self) -> None:
        """Nothing ran and nothing was blocked on any page opened since the last check."""
        pages, problems = self.pages, self.problems
        self.pages, self.problems = [], []
        states = {path: page.evaluate("[window.__pwned, window.__csp]") for path, page in pages}
        for _, page in pages:
            page.context.close()
        assert all(v == [0, []] for v in states.values()), f"script ran or markup was blocked: {states}"
        assert problems == [], problems


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        watcher = Browser(b, site)
        yield watcher
        b.close()


def until(page: Any, js: str, arg: Any = None, seconds: float = 30) -> Any:
    """page.wait_for_function without it: Playwright's evaluates the predicate with eval, which
    the pages' policy forbids (no 'unsafe-eval'); page.evaluate goes through the debugger."""
    end = time.monotonic() + seconds
    while True:
        value = page.evaluate(js, arg)
        if value:
            return value
        if time.monotonic() > end:
            ran = page.evaluate("[window.__pwned, window.__csp]")
            raise AssertionError(f"timed out waiting for {js} {arg or ''}; script flag and policy violations: {ran}")
        time.sleep(0.1)


def shows(page: Any, selector: str, text: str = "<img src=x onerror=") -> None:
    """The hostile text is on screen as text (so it was rendered, and rendered harmless)."""
    until(page, "([s, t]) => { const e = document.querySelector(s); return !!e && e.textContent.includes(t); }",
          [selector, text])


def login(page: Any, user: str) -> None:
    page.click("#login-open")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    until(page, "window.cityops.state.ready === true")


def test_big_screen_and_workbench(browser: Browser, site: Site) -> None:
    page = browser.page("/?map=canvas")
    until(page, "!!window.cityops?.map?.bm")
    login(page, "supervisor")
    until(page, "!!window.cityops.map.cases && window.cityops.map.cases.n > 0")
    # Bar tooltips (district and department names).
    until(page, "!!(document.querySelector('#bars-district canvas') && document.querySelector('#bars-department canvas'))")
    for el in ("#bars-district", "#bars-department"):
        page.evaluate("""async (sel) => { const e = await import('/static/vendor/echarts.js');
            e.getInstanceByDom(document.querySelector(sel)).dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0}); }""", el)
        shows(page, el, "<img src=x onerror=")
    # A case's tooltip on the map (matter, district, department names) and a waterlogging point's panel.
    box = page.locator("#map").bounding_box()
    for kind in ("cases", "water"):
        cols = "window.cityops.map.cases.lonA, window.cityops.map.cases.latA" if kind == "cases" else \
            "window.cityops.map.water.lon, window.cityops.map.water.lat"
        i = 0 if kind == "water" else page.evaluate(f"window.cityops.map.cases.id.indexOf({site.ids['c']})")
        page.evaluate(f"(() => {{ const [lon, lat] = [{cols}]; window.cityops.map.centreOn(lon[{i}], lat[{i}], 60000); }})()")
        x, y = page.evaluate(f"(() => {{ const [lon, lat] = [{cols}]; const m = window.cityops.map;"
                             f" return m.xy(lon[{i}], lat[{i}]).map(v => v / m.dpr); }})()")
        page.evaluate("document.querySelector('#tip').textContent = ''")
        page.mouse.click(box["x"] + x, box["y"] + y)
        shows(page, "#tip")
    # The ticker: a change pushed over the event stream names the matter.
    site.call("supervisor", "POST", f"/api/v1/cases/{site.ids['c']}/actions/comment", json={"reason": HOSTILE})
    shows(page, "#ticker")
    page.click("#lang")  # everything drawn again in English
    shows(page, "#ticker")
    page.click("#lang")
    # The workbench: rows, filters, the detail pane with history and photos, a dialog, triage.
    page.click("#tab-work")
    page.click("#queues button[data-queue='all']")
    page.wait_for_selector(f"#cases tbody tr[data-id='{site.ids['a']}']")
    shows(page, "#cases tbody")
    shows(page, "#filters [name=district]")
    shows(page, "#filters [name=department]")
    page.click(f"#cases tbody tr[data-id='{site.ids['a']}']")
    page.wait_for_selector("#detail .hist li")
    shows(page, "#detail dl", "\"><svg onload=window.__pwned=2>")
    shows(page, "#detail .hist", "'};window.__pwned=4;//")
    page.wait_for_selector("#thumbs figure")
    page.click("#thumbs .thumb-open")
    page.wait_for_selector("#photo-dialog[open] img")
    page.keyboard.press("Escape")
    page.click(f"#cases tbody tr[data-id='{site.ids['c']}']")
    page.click("#detail button[data-action='dispatch']")
    shows(page, "#act-form select[name=department]")
    page.click("#act-cancel")
    page.click("#queues button[data-queue='triage']")
    page.wait_for_selector("#triage form.triage-item")
    shows(page, "#triage")
    page.click("#lang")
    shows(page, "#triage")
    browser.check()


def test_webgl_map_under_the_policy(browser: Browser, site: Site) -> None:
    """MapLibre's path (its worker, its styles) runs under the policy; district names as text."""
    page = browser.page("/?map=webgl")
    until(page, "!!window.cityops?.map && window.cityops.map.kind === 'webgl' && !!window.cityops.firstPaintMs", seconds=90)
    shows(page, "#map .maplabel")
    browser.check()


def test_phone_page_tabs(browser: Browser, site: Site) -> None:
    page = browser.page("/m/", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                        geolocation={"latitude": LAT, "longitude": LON, "accuracy": 8}, permissions=["geolocation"])
    page.fill("#username", "collector")
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    page.wait_for_selector("#main:not([hidden])")
    until(page, "document.querySelector('#patrol-info').textContent.includes('waypoints')")
    shows(page, "#patrol-title")
    page.click("nav button[data-tab=report]")
    page.fill("#matter-q", "0601")
    page.wait_for_selector("#matter-list li[data-code='06010']")
    shows(page, "#matter-list")
    page.click("#matter-list li[data-code='06010']")
    shows(page, "#matter-chosen")
    page.click("nav button[data-tab=verify]")
    item = f"#verify-list li[data-case='{site.ids['a']}']"
    page.wait_for_selector(item)
    shows(page, item, HOSTILE)
    assert page.locator(f"{item} input.after").count() == 1 and page.locator(f"{item} button.pass").count() == 1
    browser.check()


def test_citizen_pages_and_docs(browser: Browser, site: Site) -> None:
    notice = browser.page(site.links["n"])
    assert notice.locator("h1").inner_text().startswith(f"#{site.ids['b']}")
    revisit = browser.page(site.links["r"])
    shows(revisit, "body", SHORT)  # the matter's name
    revisit.check("input[name=solved][value=yes]")
    revisit.check("input[name=satisfaction][value=satisfied]")
    revisit.fill("textarea[name=comment]", HOSTILE)
    revisit.click("button[type=submit]")
    revisit.wait_for_selector("text=Thank you")
    docs = browser.page("/docs")
    docs.wait_for_selector(".swagger-ui .info .title")
    docs.wait_for_selector(".opblock")  # the operations listed: the document loaded and rendered
    browser.check()
