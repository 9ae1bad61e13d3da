"""The page in real headless Chromium against a real hub, broker and virtual buttons."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from hub.config import HttpSection
from hub.domain.model import Role
from simulator.broker import free_port
from simulator.button import VirtualButton
from tests.conftest import RunningHub
from tests.web.conftest import ARTIFACTS, StartHub, add_users, log_in_page

Buttons = Callable[..., Awaitable[VirtualButton]]
ACTIVE = "article.card[data-state=active]"
ACKNOWLEDGED = "article.card[data-state=acknowledged]"


def _local_day(offset_days: int = 0) -> str:
    """A day in the hub's zone as the page asks for it: dd/mm/yyyy."""
    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(days=offset_days)).strftime(
        "%d/%m/%Y"
    )


async def _search_history(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        target = page.locator(f"#history-{name}")
        if name in ("site", "outcome", "state"):
            await target.select_option(value)
        else:
            await target.fill(value)
    async with page.expect_response(lambda r: "/api/v1/alarms?" in r.url):
        await page.click("#history-form button[type=submit]")


async def test_officer_handles_an_alarm_from_press_to_history(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """Log in; a press is on the board within 2 s as a large card with the site's name, address,
    phone, the button, the press count (a repeat press shows) and a ticking time; the title and
    favicon flash. The sound gate is shown until clicked; then the alarm tone repeats. One click
    acknowledges (the tone stops); the audit trail names the officer; resolving needs an outcome
    and a note; the alarm leaves the board and is found in the history (by site, date and
    outcome), and the CSV export has it. Times are the hub's, whatever the PC's zone. A
    screenshot of the board is kept in test-artifacts/."""
    await log_in_page(page, web_hub, Role.OFFICER)
    await expect(page.locator("#enable-sound")).to_be_visible()
    assert await page.get_attribute("body", "data-sound") == "off"
    button = await buttons("bank-1")

    await button.press()
    card = page.locator(ACTIVE)
    await card.wait_for(timeout=2_000)  # the requirement: on the board within 2 s of the press
    for text in ("Ngân hàng Phước Hòa", "12 Quốc lộ 1A", "0272 3812 345", "Quầy 1 (bank-1)"):
        await expect(card).to_contain_text(text)
    await expect(card).to_contain_text("CHƯA TIẾP NHẬN")
    await expect(card.locator(".badge.kind")).to_have_text("Cướp giật / đột nhập")
    (alarm,) = await web_hub.alarms()
    raised = datetime.fromisoformat(alarm["raised_at"]).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    await expect(card).to_contain_text(f"Báo lúc {raised:%H:%M:%S %d/%m/%Y}")  # the hub's zone
    await expect(card.locator(".badge.level")).to_have_count(0)  # shown once it climbs
    ago = card.locator(".ago")
    await expect(ago).not_to_have_text(await ago.inner_text(), timeout=3_000)  # ticking
    await button.press()
    await expect(card.locator(".presses")).to_have_attribute("data-count", "2")
    await expect(card.locator(".presses")).to_contain_text("bấm lặp lại")
    await page.wait_for_function("() => document.title.includes('BÁO ĐỘNG (1)')")
    await page.wait_for_function(
        "() => document.getElementById('favicon').dataset.state === 'alarm'"
    )
    await page.wait_for_function(
        "() => document.getElementById('favicon').dataset.state === 'normal'"
    )

    await page.click("#enable-sound")
    await expect(page.locator("#sound-gate")).to_be_hidden()
    await page.wait_for_function(
        "() => document.body.dataset.sound === 'alarm' && Number(document.body.dataset.tones) >= 6"
    )
    assert await page.get_attribute("body", "data-sound-kind") == "holdup"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "board.png")

    await expect(card.locator("button.resolve")).to_be_disabled()  # an officer acknowledges first
    await card.locator("button.ack").click()
    acknowledged = page.locator(ACKNOWLEDGED)
    await expect(acknowledged).to_contain_text("Tiếp nhận bởi officer lúc")  # a name, no "user:"
    await page.wait_for_function("() => document.body.dataset.sound === 'quiet'")
    await page.wait_for_function("() => !document.title.includes('BÁO ĐỘNG')")
    alarm_id = await acknowledged.get_attribute("data-alarm")
    assert alarm_id is not None
    assert (await button.wait_ack(state="acknowledged")).ack.alarm == alarm_id

    await acknowledged.locator("button.details").click()
    dialog = page.locator("#detail-dialog")
    await expect(dialog).to_contain_text("Nhật ký xử lý")
    await expect(dialog).not_to_contain_text("null")  # an alarm without a note shows none
    await expect(dialog).not_to_contain_text("user:")
    await expect(dialog.locator("tbody tr", has_text="officer")).to_contain_text("Tiếp nhận")
    await expect(dialog.locator("tr", has_text="Bấm lặp lại")).to_have_count(1)
    await page.click("#detail-close")

    await acknowledged.locator("button.resolve").click()
    resolve = page.locator("#resolve-dialog")
    await resolve.locator("button[type=submit]").click()
    await expect(page.locator("#resolve-error")).to_have_text("Vui lòng chọn kết quả.")
    await resolve.get_by_label("Báo động nhầm").check()
    await resolve.locator("button[type=submit]").click()
    await expect(page.locator("#resolve-error")).to_have_text("Vui lòng ghi chú điều đã xảy ra.")
    await page.fill("#resolve-note", "Khách bấm nhầm; tổ tuần tra đã kiểm tra")
    await resolve.locator("button[type=submit]").click()
    await expect(resolve).to_be_hidden()
    await expect(page.locator("article.card")).to_have_count(0)
    await expect(page.locator("#no-alarms")).to_be_visible()

    await page.click("#tab-history")
    await _search_history(page, site="bank", **{"from": _local_day(), "to": _local_day()})
    row = page.locator(f"#history-table tr[data-alarm='{alarm_id}']")
    await expect(row).to_contain_text("Báo động nhầm")
    await expect(row).to_contain_text("Khách bấm nhầm")
    async with page.expect_download() as download_info:
        await page.click("#history-export")
    download = await download_info.value
    assert download.suggested_filename.startswith("chuong-alarms-")
    path = await download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
    assert [(r["id"], r["outcome"], r["note"]) for r in rows] == [
        (alarm_id, "false_alarm", "Khách bấm nhầm; tổ tuần tra đã kiểm tra")
    ]
    await _search_history(page, outcome="genuine")
    await expect(page.locator("#history-empty")).to_be_visible()
    await _search_history(page, outcome="false_alarm")
    await expect(row).to_be_visible()
    await _search_history(page, site="clinic", outcome="")
    await expect(page.locator("#history-empty")).to_be_visible()
    await _search_history(page, site="", **{"from": _local_day(1), "to": _local_day(1)})
    await expect(page.locator("#history-empty")).to_be_visible()

    stored = (await web_hub.api().get(f"/api/v1/alarms/{alarm_id}")).json()
    assert (stored["state"], stored["outcome"], stored["resolved_by"]) == (
        "resolved",
        "false_alarm",
        "user:officer",
    )


async def test_the_page_shows_a_lost_hub_and_recovers_by_itself(
    start_hub: StartHub, buttons: Buttons, page: Page
) -> None:
    """When the hub goes away the page says so in red at once and chimes; a press made meanwhile
    (kept by the broker) appears by itself once the hub is back, with the siren, and the page is
    live again with the same session."""
    http = HttpSection(port=free_port())
    running = await start_hub(http=http)
    await add_users(running, Role.OFFICER)
    await log_in_page(page, running, Role.OFFICER)
    await page.click("#enable-sound")
    button = await buttons("clinic-1")

    await running.hub.stop()
    await expect(page.locator("#lost-banner")).to_be_visible(timeout=15_000)
    await expect(page.locator("#lost-banner")).to_contain_text("MẤT KẾT NỐI VỚI MÁY CHỦ TRỰC BAN")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "lost")
    await page.wait_for_function("() => document.body.dataset.sound === 'trouble'")
    await button.press()

    await start_hub(http=http)
    await expect(page.locator(ACTIVE)).to_contain_text("Trạm y tế", timeout=20_000)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    await expect(page.locator("#lost-banner")).to_be_hidden()
    await page.wait_for_function("() => document.body.dataset.sound === 'alarm'")


async def test_a_viewer_sees_alarms_but_has_no_buttons_to_act(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """A viewer's board shows the alarm, says the account is view-only, and offers no
    acknowledge or resolve button (the API would refuse them anyway)."""
    await log_in_page(page, web_hub, Role.VIEWER)
    await expect(page.locator("#viewer-note")).to_be_visible()
    await (await buttons("bank-2")).press()
    card = page.locator(ACTIVE)
    await expect(card).to_contain_text("Quầy 2 (bank-2)")
    await expect(card.locator("button.ack")).to_have_count(0)
    await expect(card.locator("button.resolve")).to_have_count(0)
    await expect(card.locator("button.details")).to_be_visible()


async def test_an_admin_resolves_an_active_alarm_from_the_keyboard(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """An admin may resolve an alarm nobody acknowledged. Done with the keyboard alone: Tab
    reaches the card's buttons, Enter opens the dialog, Space picks the outcome, and the note is
    typed and sent with Enter on the button."""
    await log_in_page(page, web_hub, Role.ADMIN)
    await (await buttons("bank-1")).press()
    resolve = page.locator(f"{ACTIVE} button.resolve")
    await expect(resolve).to_be_enabled()
    for _ in range(40):
        if await resolve.evaluate("button => button === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the resolve button")
    await page.keyboard.press("Enter")
    await expect(page.locator("#resolve-dialog")).to_be_visible()
    await page.keyboard.press("Space")  # the first outcome has the focus: genuine
    await page.keyboard.press("Tab")
    await page.keyboard.type("Cướp giật, đã bắt được đối tượng")
    await page.keyboard.press("Tab")
    submit = page.locator("#resolve-form button[type=submit]")
    assert await submit.evaluate("button => button === document.activeElement")
    await page.keyboard.press("Enter")
    await expect(page.locator("article.card")).to_have_count(0)
    alarms = await web_hub.alarms(state="resolved")
    assert [(a["outcome"], a["resolved_by"], a["acknowledged_at"]) for a in alarms] == [
        ("genuine", "user:admin", None)
    ]


async def test_troubles_are_shown_apart_with_a_softer_tone(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """A button sending malformed messages is a trouble, listed apart from the alarms; with the
    sound on it plays the soft trouble tone (not the alarm) until marked seen."""
    await log_in_page(page, web_hub, Role.OFFICER)
    await page.click("#enable-sound")
    await page.wait_for_function("() => document.body.dataset.sound === 'quiet'")
    button = await buttons("bank-2")
    await button.publish(button.topics.event(button.id), b"not json")
    trouble = page.locator("#troubles li[data-kind=bad_messages]")
    await expect(trouble).to_contain_text("Nút gửi tin sai định dạng")
    await expect(trouble).to_contain_text("Quầy 2 (bank-2)")
    await expect(page.locator("article.card")).to_have_count(0)
    await page.wait_for_function("() => document.body.dataset.sound === 'trouble'")
    await page.click("#troubles-seen")
    await page.wait_for_function("() => document.body.dataset.sound === 'quiet'")
    await expect(page.locator("#troubles-seen")).to_be_hidden()


async def test_buttons_and_sites_tables_filter(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """The buttons table lists every button (registered or not) with status and battery, and
    filters by text, site and status; the sites table filters by text. A press from an unknown
    button raises an alarm flagged unregistered."""
    low = await buttons("bank-1")
    await low.heartbeat(battery=12)
    stranger = await buttons("stranger-9")
    await log_in_page(page, web_hub, Role.OFFICER)
    await page.click("#tab-buttons")
    rows = page.locator("#buttons-table tbody tr")
    await expect(rows).to_have_count(4)
    await expect(page.locator("#buttons-table tr[data-button=bank-1]")).to_contain_text("12 %")
    await page.select_option("#buttons-status", "low_battery")
    await expect(rows).to_have_count(1)
    await page.select_option("#buttons-status", "unregistered")
    await expect(page.locator("#buttons-table tbody tr[data-button]")).to_have_attribute(
        "data-button", "stranger-9"
    )
    await page.select_option("#buttons-status", "online")
    await expect(rows).to_have_count(2)
    await page.select_option("#buttons-status", "")
    await page.select_option("#buttons-site", "clinic")
    await expect(rows).to_have_count(1)
    await page.select_option("#buttons-site", "")
    await page.fill("#buttons-text", "bank")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#buttons-shown")).to_have_text("Hiển thị 2 / 4")

    await page.click("#tab-sites")
    await expect(page.locator("#sites-table tbody tr")).to_have_count(2)
    await page.fill("#sites-text", "y tế")
    await expect(page.locator("#sites-table tbody tr")).to_have_count(1)
    await expect(page.locator("#sites-table tbody tr")).to_contain_text("45 Nguyễn Trãi")

    await page.click("#tab-board")
    await stranger.press("test")
    card = page.locator(ACTIVE)
    await expect(card).to_contain_text("NÚT CHƯA ĐĂNG KÝ")
    await expect(card).to_contain_text("THỬ NGHIỆM")
    await expect(card).to_contain_text("Không rõ cơ sở")


async def test_english_is_selectable_and_remembered(web_hub: RunningHub, page: Page) -> None:
    """Vietnamese first; choosing English changes the page and `lang`, and survives a reload."""
    await log_in_page(page, web_hub, Role.OFFICER)
    assert await page.get_attribute("html", "lang") == "vi"
    await expect(page.locator("#tab-board")).to_have_text("Bảng trực")
    await page.select_option("#app-lang", "en")
    await expect(page.locator("#tab-board")).to_have_text("Board")
    assert await page.get_attribute("html", "lang") == "en"
    await page.reload()
    await page.wait_for_selector("#conn[data-state=live]")
    await expect(page.locator("#tab-history")).to_have_text("History")
    await expect(page.locator("#no-alarms")).to_have_text("No open alarms.")
    assert await page.get_attribute("html", "lang") == "en"


async def test_the_monthly_report_shows_and_prints(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """A fire button's alarm is on the board in its own colour, with its kind in Vietnamese (never
    the raw key) and its own tune. The report tab shows this month's figures per site, in total
    and per kind; printed, only the report is on paper."""
    api = web_hub.api(Role.ADMIN)
    assert (await api.patch("/api/v1/devices/clinic-1", json={"kind": "fire"})).is_success
    await log_in_page(page, web_hub, Role.VIEWER)
    button = await buttons("clinic-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    card = page.locator(f"{ACTIVE}[data-kind=fire]")
    await expect(card.locator(".badge.kind")).to_have_text("Cháy", timeout=2_000)
    await expect(card).not_to_contain_text("fire")
    colours = await card.evaluate(
        "(card) => [getComputedStyle(card).backgroundColor, getComputedStyle(document.body)"
        ".getPropertyValue('--alarm')]"
    )
    assert colours[0] == "rgb(194, 65, 12)", colours  # the fire orange, not the hold-up red
    await page.click("#enable-sound")
    await page.wait_for_function(
        "() => document.body.dataset.soundKind === 'fire'"
        " && Number(document.body.dataset.tones) >= 3"
    )
    body = {"outcome": "false_alarm", "note": "nhầm"}
    assert (await api.post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)).status_code == 200
    await page.click("#tab-report")
    await page.click("#report-form button[type=submit]")
    clinic = page.locator("#report tbody tr", has_text="Trạm y tế")
    await expect(clinic.locator("td").nth(0)).to_have_text("1")  # alarms
    await expect(clinic.locator("td").nth(2)).to_have_text("1")  # false alarms
    await expect(clinic.locator("td.false-12m")).to_have_text("1")
    await expect(page.locator("#report tfoot tr")).to_contain_text("Tổng cộng")
    fire = page.locator("#report-kinds tr[data-kind=fire]")
    await expect(fire.locator("th")).to_have_text("Cháy")
    await expect(fire.locator("td")).to_have_text("1")
    await expect(page.locator("#report-kinds tr[data-kind=holdup] th")).to_have_text(
        "Cướp giật / đột nhập"
    )
    await expect(page.locator("#report-kinds")).not_to_contain_text("comm_loss")
    await expect(page.locator("#report-print")).to_be_enabled()
    await page.emulate_media(media="print")
    await expect(page.locator("header.top")).to_be_hidden()
    await expect(page.locator("#report-form")).to_be_hidden()
    await expect(page.locator("#report table")).to_have_count(2)
    for table in await page.locator("#report table").all():
        await expect(table).to_be_visible()


CONTRAST = """
() => {
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const color = getComputedStyle(node).backgroundColor;
      const alpha = color.match(/[\\d.]+/g)[3];
      if (alpha === undefined || Number(alpha) > 0.5) return color;
    }
    return "rgb(255, 255, 255)";
  };
  const worst = [];
  for (const element of document.querySelectorAll("body *")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !element.checkVisibility()) continue;
    const [a, b] = [luminance(getComputedStyle(element).color), luminance(background(element))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(`${element.tagName}.${element.className}: ${ratio.toFixed(2)}`);
  }
  return worst;
}
"""

UNLABELLED = """
() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => !(el.labels?.length || el.getAttribute("aria-label") ||
                    el.getAttribute("aria-labelledby") ||
                    (el.tagName === "BUTTON" && el.textContent.trim())))
  .map((el) => el.id || el.outerHTML.slice(0, 80))
"""


async def test_contrast_labels_and_focus(web_hub: RunningHub, buttons: Buttons, page: Page) -> None:
    """Every visible text on the board (active and acknowledged alarms, header, banners) has a
    contrast of at least 4.5:1; every control has a label or a name; the controls are real
    buttons, reachable with Tab, and Enter on the acknowledge button acknowledges."""
    await log_in_page(page, web_hub, Role.OFFICER)
    for button_id in ("bank-1", "clinic-1"):
        await (await buttons(button_id)).press()
    await expect(page.locator(ACTIVE)).to_have_count(2)
    first_ack = page.locator(f"{ACTIVE} button.ack").first
    await first_ack.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(ACKNOWLEDGED)).to_have_count(1)
    assert await page.evaluate(CONTRAST) == []
    for view in ("buttons", "sites", "history", "report"):
        await page.click(f"#tab-{view}")
        assert await page.evaluate(CONTRAST) == [], view
    assert await page.evaluate(UNLABELLED) == []
    await page.keyboard.press("ArrowLeft")  # tabs move with the arrow keys
    await expect(page.locator("#tab-history")).to_have_attribute("aria-selected", "true")


async def test_the_page_reloads_what_it_missed_while_cut_off(
    web_hub: RunningHub, buttons: Buttons, page: Page
) -> None:
    """The network between the page and a running hub is cut (the cable unplugged): the page
    says it lost the hub. An alarm raised and acknowledged meanwhile is not lost: once the network
    is back, the page reloads its lists and shows it, acknowledged."""
    await log_in_page(page, web_hub, Role.OFFICER)
    await page.context.set_offline(True)
    await expect(page.locator("#lost-banner")).to_be_visible(timeout=15_000)
    button = await buttons("bank-2")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    response = await web_hub.api(Role.OFFICER).post(f"/api/v1/alarms/{alarm_id}/ack")
    assert response.status_code == 200
    await expect(page.locator("article.card")).to_have_count(0)

    await page.context.set_offline(False)
    card = page.locator(f"article.card[data-alarm='{alarm_id}']")
    await expect(card).to_have_attribute("data-state", "acknowledged", timeout=20_000)
    await expect(page.locator("#lost-banner")).to_be_hidden()
