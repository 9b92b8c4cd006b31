"""The phone page in a real browser (Debian's Chromium under Playwright): an inspector logs
in, reports with a photo while offline, comes back online and the case exists once with its
photo; then verifies a case on site with an after-photo."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORD
from stores import new_db

CHROMIUM = Path("/usr/bin/chromium")
LON, LAT = 114.3055, 30.5928
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from cityops.api.app import create_app
    from cityops.auth.service import hash_password
    from cityops.core import open_platform, utcnow
    from cityops.store.base import User

    platform = open_platform(new_db(tmp_path_factory.mktemp("web"), "web.db"))
    digest = hash_password(PASSWORD)
    depts = sorted(d.code for d in platform.city.departments)

    def setup(repo: Any) -> None:
        repo.add_user(User("inspector1", "collector", None, digest), utcnow())
        for code in depts:
            repo.add_user(User(f"op-{code.lower()}", "department", code, digest), utcnow())

    platform.store.write(setup)
    port = free_port()
    config = uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}", platform
    srv.should_exit = True
    thread.join(10)
    platform.close()


def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def cases_with(platform: Any, text: str) -> list[int]:
    with platform.store.read() as repo:
        return [int(r[0]) for r in repo.conn.execute("SELECT id FROM cases WHERE description = ?", (text,))]


def photos(platform: Any, case_id: int) -> list[str]:
    with platform.store.read() as repo:
        return [str(r[0]) for r in repo.conn.execute("SELECT stage FROM attachments WHERE case_id = ?", (case_id,))]


def test_offline_report_then_verification_with_after_photo(server: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from cityops.cases import service
    from cityops.cases.models import Action, Actor, Role
    from cityops.cases.workflow import Command
    from cityops.core import utcnow
    from cityops.field.samples import jpeg, mp4

    base, platform = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
        )
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN",
            geolocation={"latitude": LAT, "longitude": LON, "accuracy": 8}, permissions=["geolocation"],
            bypass_csp=True,  # wait_for_function uses eval, which the page's policy forbids (test_xss_browser.py)
        )
        page = context.new_page()
        page.add_init_script("localStorage.setItem('trackEveryMs', '1500')")  # track chunks every 1.5 s
        page.set_default_timeout(30_000)
        page.goto(base + "/m/")
        page.fill("#username", "inspector1")
        page.fill("#password", PASSWORD)
        page.click("#login-btn")
        page.wait_for_selector("#main:not([hidden])")
        page.wait_for_function("document.querySelector('#gps').textContent.includes('30.59')")
        page.wait_for_function("document.querySelector('#patrol-info').textContent.includes('waypoints')")

        # Offline: the report and its photo wait in the outbox.
        context.set_offline(True)
        page.click("nav button[data-tab=report]")
        page.fill("#matter-q", "bllj")  # 暴露垃圾 by its pinyin initials
        page.click("#matter-list li[data-code='06010']")
        text = "离线上报测试 / offline report test"
        page.fill("#desc", text)
        page.set_input_files("#photo", files=[{"name": "p.jpg", "mimeType": "image/jpeg",
                                                "buffer": jpeg(320, 240, lon=LON, lat=LAT)}])
        page.click("#report-btn")
        page.wait_for_function("document.querySelector('#outbox-count').textContent === '1'")
        assert "已保存" in page.text_content("#report-msg")
        time.sleep(1)
        assert cases_with(platform, text) == []

        # Back online: sent once, with its photo.
        context.set_offline(False)
        page.wait_for_function("document.querySelector('#outbox-count').textContent === '0'", timeout=40_000)
        found = cases_with(platform, text)
        assert len(found) == 1
        cid = found[0]
        assert photos(platform, cid) == ["before"]
        time.sleep(6)  # a later flush round sends nothing again
        assert cases_with(platform, text) == [cid] and photos(platform, cid) == ["before"]

        # The back office takes the case to 'reported back'.
        now = utcnow()

        def advance(repo: Any) -> None:
            for action, actor in ((Action.REGISTER, Actor("a", Role.ACCEPTOR)),
                                  (Action.DISPATCH, Actor("d", Role.DISPATCHER))):
                service.act(repo, platform, cid, Command(action, actor, now))
            dept = repo.get_case(cid).department
            for action in (Action.ACCEPT, Action.REPORT_BACK):
                service.act(repo, platform, cid, Command(action, Actor("op", Role.DEPARTMENT, dept), now))

        platform.store.write(advance)

        # Verification on site: the before-photo beside the camera, an after-photo, pass.
        page.click("nav button[data-tab=verify]")
        item = f"#verify-list li[data-case='{cid}']"
        page.wait_for_selector(item)
        page.wait_for_function(f"document.querySelector(\"{item} img.before\").src.startsWith('blob:')")
        page.set_input_files(f"{item} input.after", files=[{"name": "a.jpg", "mimeType": "image/jpeg",
                                                            "buffer": jpeg(300, 200, color=(20, 120, 200))}])
        page.click(f"{item} button.pass")

        def closed() -> bool:
            with platform.store.read() as repo:
                case = repo.get_case(cid)
                return case is not None and case.status == "closed"

        wait_for(closed, 40)
        assert sorted(photos(platform, cid)) == ["before", "verify"]
        # Walking on: the phone's GPS track reaches the server (queued like reports).
        for step in range(1, 4):
            context.set_geolocation({"latitude": LAT + step * 0.0005, "longitude": LON, "accuracy": 8})
            time.sleep(0.8)

        def tracked() -> bool:
            with platform.store.read() as repo:
                row = repo.conn.execute("SELECT sum(length_m) FROM patrol_tracks WHERE inspector = 'inspector1'").fetchone()
                return row[0] is not None and row[0] > 50

        wait_for(tracked, 30)
        # A short video instead of a photo: the camera input takes both.
        page.click("nav button[data-tab=report]")
        assert page.get_attribute("#photo", "accept") == "image/*,video/*"
        page.fill("#matter-q", "bllj")
        page.click("#matter-list li[data-code='06010']")
        page.fill("#desc", "视频上报 / video report")
        page.set_input_files("#photo", files=[{"name": "v.mp4", "mimeType": "video/mp4",
                                                "buffer": mp4(lon=LON, lat=LAT, taken=utcnow())}])
        page.click("#report-btn")

        def video_sent() -> bool:
            with platform.store.read() as repo:
                row = repo.conn.execute(
                    "SELECT a.media_type FROM attachments a JOIN cases c ON c.id = a.case_id "
                    "WHERE c.description = '视频上报 / video report'").fetchone()
                return row is not None and row[0] == "video/mp4"

        wait_for(video_sent, 30)
        manifest = page.evaluate("fetch('/m/manifest.webmanifest').then(r => r.json())")
        assert manifest["start_url"] == "/m/"
        browser.close()
