"""The closed loop in a real browser (issue 13 §5): a community dispatcher signs in, takes a new appeal
from report to close through the workbench's controls and sees each step's result; a department officer
checks in on the order that dispatcher issued.

The store holds only this appeal (a store with appeals is not seeded with history; its reference data
still is), so the dispatcher's queue has one row and the department one order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from data import sample
from services.i18n import label, t
from services.store import create_store
from services.wall import TZ
from tests.browser import TEST_PASSWORD, add_account, sign_in, streamlit_server

pytestmark = pytest.mark.browser
SHOT = "/tmp/browser-workbench-{}.png"


@pytest.fixture(scope="module")
def case(layers, tmp_path_factory):
    """A store with one new appeal in a community, its dispatcher and a department's officer."""
    url = f"sqlite:///{tmp_path_factory.mktemp('workbench_browser') / 'gm.sqlite3'}"
    grid = layers["grid"].iloc[40]
    community = grid.parent_code
    subdistrict = layers["community"].set_index("code").loc[community].parent_code
    point = grid.geometry.representative_point()
    store = create_store(url)
    try:
        aid = int(store.insert_appeals(pd.DataFrame([{
            "source": "browser", "external_id": "loop-1", "channel": "walk_in", "service_type": "dispute",
            "category": "wage_arrears", "description": "工资拖欠三个月", "lon": point.x, "lat": point.y,
            "source_crs": "wgs84", "people_involved": 2, "urgency": 1, "amount_involved": 8000.0,
            "subdistrict_code": subdistrict, "community_code": community, "grid_code": grid.code,
            "reporter_name": "欧阳明华", "reporter_phone": "13900001111",
            "reported_at": datetime.now(TZ) - timedelta(minutes=1)}])).ids[0])
    finally:
        store.close()
    department = str(sample.load_departments()["code"].iloc[0])
    add_account(url, "disp", "community_dispatcher", area_code=community)
    add_account(url, "dept", "department_officer", area_code=department)
    return {"url": url, "id": aid, "department": department}


def _status(url: str, aid: int) -> str:
    store = create_store(url)
    try:
        return store.get_appeal(aid)["status"]
    finally:
        store.close()


def _orders(url: str, aid: int) -> pd.DataFrame:
    store = create_store(url)
    try:
        return store.orders(appeal_id=aid)
    finally:
        store.close()


def _wait_text(page, text: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout_ms)


def _open_first_row(page, marker: str) -> None:
    """Select the queue's first row (the grid is a canvas: by position, its row checkbox), until the
    appeal's panel shows ``marker``; the queue redraws every few seconds, so a click may fall between."""
    for _ in range(4):
        page.wait_for_timeout(2000)
        box = page.locator("[data-testid=stDataFrame]").first.bounding_box()
        page.mouse.click(box["x"] + 15, box["y"] + 55)
        try:
            _wait_text(page, marker, 15_000)
            return
        except Exception:  # noqa: BLE001 - not selected yet: once more
            page.screenshot(path=SHOT.format("select-retry"))
    _wait_text(page, marker, 15_000)


def _settle(page) -> None:
    """Until the script run is over (Streamlit's running indicator gone): a click lands on the page drawn."""
    page.wait_for_timeout(800)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)


def _step(page, aid: int, action: str) -> None:
    """Click the step's button and wait for the workbench to say it is done."""
    _settle(page)
    button = page.get_by_role("button", name=t("workbench.go", "zh", action=label("action", action, "zh")))
    try:
        button.click(timeout=90_000)        # enabled once the page shows the state that allows the step
        _wait_text(page, t("workbench.done", "zh", action=label("action", action, "zh"), id=aid), 90_000)
    finally:
        page.screenshot(path=SHOT.format(f"step-{action}"), full_page=True)


def test_a_dispatcher_closes_the_loop_and_a_department_checks_in(browser, case):
    url, aid = case["url"], case["id"]
    dept_name = sample.load_departments().set_index("code").loc[case["department"]]["name"]
    with streamlit_server({"DATABASE_URL": url}) as base:
        ctx = browser.new_context(viewport={"width": 1700, "height": 1300})
        page = ctx.new_page()
        page.goto(base + "/workbench")
        sign_in(page, base + "/workbench", "disp", TEST_PASSWORD)
        _wait_text(page, t("workbench.queue", "zh", n=1), 120_000)
        page.locator("[data-testid=stDataFrame]").first.hover()
        page.screenshot(path=SHOT.format("queue"))
        csv = page.locator("button[aria-label='Download as CSV']")     # a table's own download is not audited
        assert all(not csv.nth(i).is_visible() for i in range(csv.count()))
        _open_first_row(page, f"#{aid} · ")
        page.screenshot(path=SHOT.format("opened"))

        for action, status in (("respond", "reported"), ("accept", "accepted")):
            _step(page, aid, action)
            assert _status(url, aid) == status
        order_box = page.locator("[data-testid=stMultiSelect]").filter(
            has_text=t("workbench.order_departments", "zh"))
        _settle(page)
        order_box.locator("input").click()
        order_box.locator("input").fill(dept_name)                     # typed: the one matching option
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        order_box.get_by_text(dept_name).wait_for(timeout=30_000)      # the chosen department's chip
        _step(page, aid, "order")
        assert _status(url, aid) == "dispatched"
        page.screenshot(path=SHOT.format("ordered"))

        order_id = int(_orders(url, aid)["order_id"].iloc[0])
        officer = browser.new_context(viewport={"width": 1600, "height": 1100}).new_page()
        frames: list[bytes] = []
        officer.on("websocket", lambda ws: ws.on(
            "framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode())))
        officer.goto(base + "/orders")
        try:
            sign_in(officer, base + "/orders", "dept", TEST_PASSWORD)
        finally:
            officer.screenshot(path=SHOT.format("officer-sign-in"))
        _wait_text(officer, t("orders.title", "zh"), 120_000)
        officer.get_by_role("button", name=t("orders.check_in_now", "zh")).wait_for(timeout=60_000)
        officer.get_by_role("button", name=t("orders.check_in_now", "zh")).click()
        _wait_text(officer, t("orders.checked_in", "zh", order=order_id))
        officer.screenshot(path=SHOT.format("checked-in"))
        orders = _orders(url, aid)
        assert len(orders) == 1 and orders["checked_in_at"].notna().all(), orders.T
        received = b"".join(frames)                                       # a department never gets the contact
        assert received and b"13900001111" not in received and "欧阳明华".encode() not in received

        _settle(page)                    # a dispute says how it was settled: the labour department mediated
        page.locator("[data-testid=stSelectbox]").filter(has_text=t("workbench.settlement", "zh")).click()
        page.get_by_role("option", name=label("settlement", "administrative_mediation", "zh")).click()
        _settle(page)
        page.get_by_label(t("workbench.mediator", "zh")).fill("区人力资源局调解员")
        page.keyboard.press("Enter")
        _settle(page)
        page.get_by_label(t("workbench.resolution", "zh")).fill("已协调企业补发工资")
        page.keyboard.press("Enter")
        for action, status in (("resolve", "resolved"), ("confirm", "confirmed"), ("feedback", "feedback"),
                               ("return_visit", "closed")):
            _step(page, aid, action)
            assert _status(url, aid) == status, action
        page.screenshot(path=SHOT.format("closed"))
        _wait_text(page, t("workbench.queue", "zh", n=0))                # closed: it left the queue
        ctx.close()
