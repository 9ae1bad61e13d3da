"""A standby hub's page (docs/HA.md): a banner says it is the standby, in Vietnamese and in
English, and what would change something is refused with the reason."""

from __future__ import annotations

from playwright.async_api import Page, expect

from hub.domain.model import Role
from tests.conftest import RunningHub
from tests.web.conftest import log_in_page


async def test_the_standby_page_says_so(web_hub: RunningHub, page: Page) -> None:
    """The page's readiness check finds role standby: the banner appears (Vietnamese, then
    English); a write through the API answers 503 naming the standby; back active, it goes."""
    await log_in_page(page, web_hub, Role.OFFICER)
    banner = page.locator("#standby-banner")
    await expect(banner).to_be_hidden()
    web_hub.hub.role = "standby"  # as a hub that waits for the store's lock
    await expect(banner).to_be_visible(timeout=20_000)
    await expect(banner).to_contain_text("DỰ PHÒNG")
    status = await page.evaluate(
        "async () => (await fetch('/api/v1/alarms/x/acknowledge', {method: 'POST'})).status"
    )
    assert status == 503
    detail = await page.evaluate(
        "async () => (await (await fetch('/logout', {method: 'POST'})).json()).detail"
    )
    assert "standby" in detail
    assert "dự phòng" in detail
    await page.select_option("#app-lang", "en")
    await expect(banner).to_contain_text("STANDBY")
    web_hub.hub.role = "active"
    await expect(banner).to_be_hidden(timeout=20_000)
