"""The admin runs the post without a terminal, in real headless Chromium at a small laptop's size
and a phone's: the registry file imported from the page (a preview, then the change), a user
disabled and enabled again, API tokens made (the secret shown once) and revoked; refusals read in
Vietnamese; the viewer and the officer see none of it and are refused it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.async_api import Browser, Page, expect

from hub.domain.model import Role
from tests.conftest import RunningHub
from tests.web.conftest import ARTIFACTS, PASSWORDS, log_in_page, run_sql
from tests.web.test_browser import CONTRAST
from tests.web.test_officer import NO_SIDEWAYS, RAW, SIZES

IMPORTED = """
[[sites]]
id = "clinic"
name = "Trạm y tế xã"
address = "45 Nguyễn Trãi"
phone = "0272 3811 115"
test_mode = true

[[sites]]
id = "cho"
name = "Chợ Phước Hòa"

[[buttons]]
id = "cho-1"
site = "cho"
label = "Quầy vàng"
"""


def _audit(conn: sqlite3.Connection, action: str) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT actor, detail FROM audit WHERE action = ? ORDER BY id", (action,))
    return list(rows.fetchall())


async def _no_sideways(page: Page, where: str) -> None:
    found = await page.evaluate(NO_SIDEWAYS)
    assert found["scroll"] <= found["width"], (where, found)
    assert found["wide"] == [], (where, found)


async def _no_raw_words(page: Page, where: str) -> None:
    text = await page.locator("body").inner_text()
    found = [match.group(0) for match in RAW.finditer(text)]
    assert found == [], (where, found)


@SIZES
async def test_an_admin_imports_the_registry_file_from_the_page(
    web_hub: RunningHub, page: Page, size: dict[str, int]
) -> None:
    """Choose the file, see what it changes (a site added, a site renamed and put in test mode,
    with a warning, the others left alone), apply it: the tables follow, the change is audited
    once with the admin's name. All in Vietnamese words, no sideways scrolling."""
    await page.set_viewport_size(size)
    await log_in_page(page, web_hub, Role.ADMIN)
    await page.click("#tab-sites")
    await page.click("#registry-import")
    await page.click("#import-check")
    await expect(page.locator("#import-error")).to_have_text("Vui lòng chọn tệp danh sách.")
    await page.set_input_files(
        "#import-file",
        files=[
            {"name": "danh-sach.toml", "mimeType": "application/toml", "buffer": IMPORTED.encode()}
        ],
    )
    await expect(page.locator("#import-file-name")).to_have_text("danh-sach.toml")
    assert "Choose" not in await page.locator("#import-dialog").inner_text()  # the browser's words
    await page.click("#import-check")
    preview = page.locator("#import-preview")
    await expect(preview.locator(".import-summary")).to_contain_text("Xem trước")
    await expect(preview.locator(".import-sites .added")).to_contain_text("Chợ Phước Hòa (cho)")
    changed = preview.locator(".import-sites .changed[data-id=clinic]")
    await expect(changed).to_contain_text("Tên: Trạm y tế → Trạm y tế xã")
    await expect(changed).to_contain_text("Chế độ thử: Không → Có")
    await expect(preview.locator(".import-sites .warning")).to_contain_text("chế độ thử")
    await expect(preview.locator(".import-sites .kept")).to_contain_text("1 mục")
    await expect(preview.locator(".import-buttons .added")).to_contain_text("Quầy vàng (cho-1)")
    await expect(page.locator("#import-apply")).to_be_enabled()
    await _no_raw_words(page, "import preview")
    await _no_sideways(page, "import preview")
    sites = page.locator("#sites-table tbody tr")
    await expect(sites).to_have_count(2)  # nothing changed yet
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"import-{size['width']}.png")

    await page.click("#import-apply")
    await expect(preview.locator(".import-summary")).to_have_attribute("data-applied", "true")
    await expect(page.locator("#import-apply")).to_be_hidden()
    assert await page.evaluate(CONTRAST) == []
    await page.click("#import-cancel")
    await expect(sites).to_have_count(3)
    await _no_raw_words(page, "sites, as an admin")
    clinic = page.locator("#sites-table tr[data-site=clinic]")
    await expect(clinic).to_contain_text("Trạm y tế xã")
    await expect(clinic.locator(".test-mode-state")).to_have_text("Có")
    [(actor, detail)] = [
        row
        for row in await run_sql(web_hub, lambda c: _audit(c, "registry.imported"))
        if row[0] != "cli"
    ]
    assert actor == "user:admin"
    assert json.loads(detail)["sites_added"] == ["cho"]

    await page.click("#registry-import")  # a file that cannot be read: said, details folded
    await page.set_input_files(
        "#import-file",
        files=[{"name": "x.toml", "mimeType": "text/plain", "buffer": b"[[sites]\nid ="}],
    )
    await page.click("#import-check")
    error = page.locator("#import-error")
    await expect(error).to_contain_text("Tệp danh sách không đọc được")
    await expect(error.locator("details")).not_to_have_attribute("open", "")
    await page.click("#import-cancel")


async def test_refusals_read_in_vietnamese(web_hub: RunningHub, page: Page) -> None:
    """What the hub refuses is said in Vietnamese on the page (its code, worded by the page), not
    in the hub's English: a site that still has buttons, a taken site id, a short password."""
    await log_in_page(page, web_hub, Role.ADMIN)
    await page.click("#tab-sites")
    await page.locator("#sites-table tr[data-site=bank] button.remove").click()
    await page.click("#edit-form button[type=submit]")
    error = page.locator("#edit-error")
    await expect(error).to_have_text(
        "Cơ sở còn nút (bank-1, bank-2): hãy xóa hoặc chuyển các nút sang cơ sở khác trước."
    )
    await page.click("#edit-cancel")
    await page.click("#site-add")
    await page.fill("#edit-id", "bank")
    await page.fill("#edit-name", "Ngân hàng khác")
    await page.click("#edit-form button[type=submit]")
    await expect(error).to_have_text("Đã có cơ sở mã «bank».")
    await page.fill("#edit-id", "Ngân Hàng")
    await page.click("#edit-form button[type=submit]")
    await expect(error).to_have_text("Ô «Mã» chưa hợp lệ.")  # the hub's English is not shown
    await page.click("#edit-cancel")
    await page.click("#tab-users")
    await page.click("#user-add")
    await page.fill("#edit-username", "trucban3")
    await page.fill("#edit-password", "ngan")
    await page.click("#edit-form button[type=submit]")
    await expect(error).to_have_text("Mật khẩu cần ít nhất 8 ký tự.")
    await page.click("#edit-cancel")
    await page.select_option("#app-lang", "en")
    await page.click("#tab-sites")
    await page.locator("#sites-table tr[data-site=bank] button.remove").click()
    await page.click("#edit-form button[type=submit]")
    await expect(error).to_contain_text("The site still has buttons (bank-1, bank-2)")


@SIZES
async def test_an_admin_disables_a_user_and_manages_api_tokens_from_the_page(
    web_hub: RunningHub, page: Page, browser: Browser, size: dict[str, int]
) -> None:
    """Disable the officer (their open page is logged out, their password no longer works, the
    login says so in Vietnamese), enable them again; make an API token (the secret shown once,
    gone once the dialog is closed), revoke it. Every step on the record; no key or English word
    in the users view; no sideways scrolling."""
    officer_context = await browser.new_context(viewport=size, locale="vi-VN")
    officer_page = await officer_context.new_page()
    try:
        await log_in_page(officer_page, web_hub, Role.OFFICER)
        await page.set_viewport_size(size)
        await log_in_page(page, web_hub, Role.ADMIN)
        await page.click("#tab-users")
        person = page.locator("#users-table tr[data-user=officer]")
        await expect(person.locator(".user-state")).to_have_text("Đang dùng")
        await person.locator("button.disable-user").click()
        await page.click("#edit-form button[type=submit]")
        await expect(person.locator(".user-state")).to_contain_text("Đã khóa từ")
        # the session ended, and its live stream with it: the open page shows the login by itself
        await expect(officer_page.locator("#login")).to_be_visible(timeout=15_000)
        await officer_page.fill("#login-username", "officer")
        await officer_page.fill("#login-password", PASSWORDS[Role.OFFICER])
        await officer_page.click("#login-submit")
        await expect(officer_page.locator("#login-message")).to_have_text(
            "Tài khoản này đã bị khóa. Hãy hỏi người quản trị."
        )
        await person.locator("button.enable-user").click()
        await page.click("#edit-form button[type=submit]")
        await expect(person.locator(".user-state")).to_have_text("Đang dùng")
        await officer_page.click("#login-submit")
        await officer_page.wait_for_selector("#conn[data-state=live]")

        tokens = page.locator("#tokens-table tbody tr")
        await expect(tokens).to_have_count(3)  # the test's own, made with the command line
        await expect(tokens.first.locator(".made-by")).to_have_text("Cán bộ kỹ thuật (dòng lệnh)")
        await _no_raw_words(page, "users")
        await _no_sideways(page, "users")
        assert await page.evaluate(CONTRAST) == []
        await page.click("#night")
        assert await page.evaluate(CONTRAST) == []  # readable at night too
        await page.click("#night")
        await page.screenshot(path=ARTIFACTS / f"users-{size['width']}.png")
        await page.click("#token-add")
        await page.fill("#edit-name", "tong-dai-huyen")
        await page.select_option("#edit-role", "viewer")
        await page.click("#edit-form button[type=submit]")
        secret = page.locator("#token-secret-text")
        await expect(secret).to_contain_text("chuong_")
        token = await secret.inner_text()
        await _no_sideways(page, "token secret")
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await web_hub.api(None).get("/api/v1/alarms", headers=bearer)).status_code == 200
        await page.click("#token-secret-close")
        await expect(page.locator("#token-secret-dialog")).to_be_hidden()
        assert token not in await page.content()  # shown once: gone from the page
        made = page.locator("#tokens-table tr[data-token=tong-dai-huyen]")
        await expect(made.locator(".role")).to_have_text("chỉ xem")
        await expect(made.locator(".made-by")).to_have_text("admin")
        await made.locator("button.revoke-token").click()
        await page.click("#edit-form button[type=submit]")
        await expect(made.locator(".token-state")).to_contain_text("Đã thu hồi")
        assert (await web_hub.api(None).get("/api/v1/alarms", headers=bearer)).status_code == 401
    finally:
        await officer_context.close()

    def record(conn: sqlite3.Connection) -> list[str]:
        actions = ("user.disabled", "user.enabled", "token.created", "token.revoked")
        return [
            action
            for action in actions
            for actor, _ in _audit(conn, action)
            if actor == "user:admin"
        ]

    assert await run_sql(web_hub, record) == [
        "user.disabled",
        "user.enabled",
        "token.created",
        "token.revoked",
    ]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OFFICER])
async def test_viewers_and_officers_get_no_import_users_or_tokens(
    web_hub: RunningHub, page: Page, role: Role
) -> None:
    """No import button, users tab or token control for a viewer or an officer; their session is
    refused the calls behind them (403, the role named)."""
    await log_in_page(page, web_hub, role)
    await page.click("#tab-sites")
    for selector in ("#registry-import", "#registry-export", "#tab-users", "#token-add"):
        assert not await page.locator(selector).is_visible(), selector
    statuses = await page.evaluate(
        """async () => {
          const csrf = (await (await fetch("/api/v1/session")).json()).csrf_token;
          const headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"};
          const calls = [
            ["GET", "/api/v1/tokens", null],
            ["POST", "/api/v1/tokens", '{"name": "x", "role": "admin"}'],
            ["DELETE", "/api/v1/tokens/test-admin", null],
            ["POST", "/api/v1/registry/import", '[[sites]]\\nid = "x"\\nname = "X"\\n'],
            ["PATCH", "/api/v1/users/admin", '{"disabled": true}'],
          ];
          const out = [];
          for (const [method, path, body] of calls) {
            const answer = await fetch(path, {method, headers, body});
            out.push([answer.status, (await answer.json()).code]);
          }
          return out;
        }"""
    )
    assert statuses == [[403, "role_needed"]] * 5
