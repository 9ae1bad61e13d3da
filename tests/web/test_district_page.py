"""The district's page (docs/DISTRICT.md): its posts' alarms on the same board, each card naming
its post above the site, without the buttons to acknowledge or resolve (the post does that); a
silent post is a trouble in plain Vietnamese. Real headless Chromium against a real district hub."""

from __future__ import annotations

from playwright.async_api import Page, expect

from hub.config import HubSection
from hub.domain.model import Role, TroubleKind
from hub.upstream.district import ApplyPostChanges
from hub.writer.commands import RaiseTrouble
from tests.hub.upstream.test_plans import messages
from tests.web.conftest import StartHub, add_users, log_in_page
from tests.web.test_browser import _search_history


async def test_the_district_board_names_the_post_and_leaves_acknowledging_to_it(
    start_hub: StartHub, page: Page
) -> None:
    """A post's active alarm shows as an unacknowledged card with the post's name and the site;
    the officer at the district has no acknowledge or resolve button on it, and a hint says the
    post handles it; once the post acknowledges, the card says so. A silent post reads in
    Vietnamese with its id."""
    running = await start_hub(registry=None, hub=HubSection(id="district", mode="district"))
    await add_users(running, Role.OFFICER)
    pipeline = running.hub.pipeline
    assert pipeline is not None
    raised, pressed, acked, _ = messages()
    await pipeline.execute(ApplyPostChanges([raised, pressed], [], [], {}))
    await log_in_page(page, running, Role.OFFICER)
    card = page.locator("article.card[data-state=active]")
    await expect(card).to_have_count(1)
    await expect(card).to_contain_text("Đơn vị: Xã A")
    await expect(card.locator(".site-name")).to_have_text("Ngân hàng")
    await expect(card.locator("button.ack")).to_have_count(0)
    await expect(card.locator("button.resolve")).to_have_count(0)
    await expect(card.locator(".post-handles")).to_contain_text("Công an xã tiếp nhận")
    await expect(page.locator("#board-count")).to_have_text("1")
    await card.locator("button.details").click()
    history = page.locator("#detail-dialog")
    await expect(history).to_contain_text("Công an xã xa-a")  # the changes as received
    await expect(history).to_contain_text("Phát sinh báo động")
    await page.keyboard.press("Escape")

    await pipeline.execute(ApplyPostChanges([acked], [], [], {("xa-a", raised.alarm.id): 2}))
    await expect(page.locator("article.card[data-state=acknowledged]")).to_have_count(1)

    silence = RaiseTrouble(TroubleKind.POST_SILENT, "xa-b", "no heartbeat from post Xã B")
    await pipeline.execute(silence)
    silent = page.locator("#troubles li[data-kind=post_silent]")
    await expect(silent).to_contain_text("Công an xã mất liên lạc")
    await expect(silent).to_contain_text("Công an xã xa-b")

    await page.click("#tab-history")
    await _search_history(page, state="")
    row = page.locator(f"#history-table tr[data-alarm='{raised.alarm.id}']")
    await expect(row).to_contain_text("Xã A: Ngân hàng")
