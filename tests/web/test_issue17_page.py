"""The board (real Chromium, a real hub and broker): who has acknowledged from their phone while
an `ack = "each"` step waits for the others; a loss of communication as an alarm card."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from playwright.async_api import Page, expect

from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub
from tests.integration.escalation.test_each_ack import PUBLIC, link_of, sections
from tests.integration.notify.loopback import HttpRecorder, http_recorder
from tests.integration.supervision import test_mass_loss as mass_loss
from tests.web.conftest import StartHub, add_users, log_in_page

__all__ = ["http_recorder"]

Buttons = Callable[..., Awaitable[VirtualButton]]


async def test_the_card_lists_who_acknowledged_and_stays_active(
    start_hub: StartHub, buttons: Buttons, page: Page, http_recorder: Callable[[], HttpRecorder]
) -> None:
    """The commander acknowledges from his phone: the card, still not acknowledged (red, its
    button to acknowledge there), says "Đã xác nhận qua điện thoại: chi-huy (…)", live; the
    officer then acknowledges on the page. (Step 2 is far off: nothing else changes the card.)"""
    server = http_recorder()
    running: RunningHub = await start_hub(**sections(server, later_s=600))
    await add_users(running, Role.OFFICER)
    await log_in_page(page, running, Role.OFFICER)
    button = await buttons("bank-1")
    await button.press()
    card = page.locator("article.card[data-state=active]")
    await card.wait_for()
    boss = (await server.wait(1, "/boss"))[0]
    assert boss.json()["ack_url"].startswith(PUBLIC)
    async with httpx.AsyncClient(timeout=10) as phone:
        assert (await phone.post(link_of(running, boss))).status_code == 200
    await expect(card.locator(".person-acks")).to_contain_text(
        "Đã xác nhận qua điện thoại: chi-huy"
    )
    await expect(card).to_contain_text("CHƯA TIẾP NHẬN")
    await card.get_by_role("button", name="Tiếp nhận").click()
    await page.locator("article.card[data-state=acknowledged]").wait_for()


async def test_a_communication_loss_is_an_alarm_card(
    start_hub: StartHub, buttons: Buttons, page: Page
) -> None:
    """Both of the bank's buttons lose power: an alarm card for the bank, not acknowledged,
    marked as a loss of communication, naming both buttons, saying they went silent together
    (no press count)."""
    running: RunningHub = await start_hub(mass_loss.REGISTRY, supervision=mass_loss.supervision())
    await add_users(running, Role.OFFICER)
    await log_in_page(page, running, Role.OFFICER)
    connected = await mass_loss.connect_all(running, buttons)
    await mass_loss.settled(running)
    connected["bank-1"].kill()
    connected["bank-2"].kill()
    card = page.locator("article.card[data-state=active][data-kind=comm_loss]")
    await card.wait_for(timeout=15_000)
    await expect(card).to_contain_text("Ngân hàng Phước Hòa")
    await expect(card).to_contain_text("CHƯA TIẾP NHẬN")
    await expect(card).to_contain_text("bank-1")
    await expect(card).to_contain_text("bank-2")
    await expect(card.locator(".lost-together")).to_contain_text("cùng mất kết nối")
    await expect(card.locator(".presses")).to_have_count(0)
