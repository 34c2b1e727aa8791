"""The briefing page in a real browser (issue 15 §2): the admin makes yesterday's briefing now, the page
lists it with its first page and map, and the PDF downloads; a community dispatcher then sees its own
community's briefing only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services import district
from services.i18n import t
from services.store.common import now as _now
from tests.browser import TEST_PASSWORD, add_account, settle, sign_in, streamlit_server

pytestmark = pytest.mark.browser
SHOT = "/tmp/browser-briefing-{}.png"


def _wait_text(page, text: str, timeout: int = 180_000) -> None:
    page.wait_for_function("t => document.body.innerText.includes(t)", arg=text, timeout=timeout)


def test_make_preview_download_and_scope(browser, layers, tmp_path):
    url = f"sqlite:///{tmp_path / 'gm.sqlite3'}"
    community = sorted(district.names("community", "zh"))[0]
    add_account(url, "boss", "admin")
    add_account(url, "disp", "community_dispatcher", area_code=community)
    env = {"DATABASE_URL": url, "GM_BRIEFING_DIR": str(tmp_path / "briefings"), "GM_BRIEFING_DROP": ""}
    day = (_now().date() - timedelta(days=1)).isoformat()
    with streamlit_server(env) as base:
        page = browser.new_page(viewport={"width": 1500, "height": 1300}, accept_downloads=True)
        page.goto(base + "/briefing")
        sign_in(page, base + "/briefing", "boss", TEST_PASSWORD, "zh")
        _wait_text(page, t("briefing_page.none", "zh"))
        page.get_by_text(t("briefing_page.make_title", "zh")).click()
        page.get_by_role("button", name=t("briefing_page.make_button", "zh"), exact=True).click()
        _wait_text(page, t("briefing_page.made", "zh", name=f"briefing-{next(iter(district.names('district', 'zh')))}-{day}.pdf"))
        settle(page)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stImage] img').length >= 2",
                               timeout=60_000)
        page.screenshot(path=SHOT.format("admin"), full_page=True)
        with page.expect_download() as got:
            page.get_by_role("button", name=t("briefing_page.download_pdf", "zh")).click()
        data = Path(got.value.path()).read_bytes()
        assert data.startswith(b"%PDF-") and got.value.suggested_filename.endswith(f"-{day}.pdf")
        page.close()
        # That community's own briefing too, made as the timer would (the CLI's job), for the dispatcher.
        from services.briefing import jobs
        from services.store import open_store

        jobs.make(open_store(url), _now().date() - timedelta(days=1), area=("community", community),
                  out_dir=tmp_path / "briefings")

        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(base + "/briefing")
        sign_in(page, base + "/briefing", "disp", TEST_PASSWORD, "zh")
        _wait_text(page, t("briefing_page.title", "zh"))
        settle(page)
        page.screenshot(path=SHOT.format("dispatcher"), full_page=True)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=stImage] img').length >= 2",
                               timeout=60_000)
        text = page.inner_text("body")
        name = district.names("community", "zh")[community]
        assert t("briefing_page.preview", "zh", area=name, date=day) in text
        assert t("briefing_page.make_title", "zh") not in text        # making one is the admin's
        with page.expect_download() as got:
            page.get_by_role("button", name=t("briefing_page.download_pdf", "zh")).click()
        assert got.value.suggested_filename == f"briefing-{community}-{day}.pdf"
        page.close()
