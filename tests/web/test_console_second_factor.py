"""My account in chromium: an SSH key added and removed, a second factor enrolled with the
node's QR code and confirmed, recovery codes shown once, and the console's login that then
asks for a code."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.identity import PASSWORD, add_user, create_tenant
from tests.support.keys import code, key_pair, public_line

TENANT = "factors"


@pytest.fixture(scope="module")
def site(node_factory):
    node = node_factory("console-factors")
    admin = create_tenant(node, TENANT)
    with node.client(TENANT, token=admin) as client:
        add_user(client, "sam")
    return f"{node.base_url}/ztna/{TENANT}/root"


def log_in(page: Page, base: str, second_factor: str = "", login: str = "sam") -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    if second_factor:
        page.get_by_label("Second-factor code").fill(second_factor)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name=f"Log in to {TENANT} / root")).to_be_visible()


def test_my_account_keys_and_a_second_factor_the_login_then_asks_for(site, new_page, shot):
    page = new_page()
    log_in(page, site)
    expect(page.get_by_text("Signed in as sam")).to_be_visible()
    page.get_by_role("link", name="sam").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()

    page.get_by_label("Public key").fill(public_line(key_pair("rsa", 2048)))
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("#f-public_key-error")).to_contain_text("too weak")
    page.get_by_label("Public key").fill(public_line(key_pair(), "sam@laptop"))
    page.get_by_role("button", name="Add key").click()
    row = page.get_by_role("row").filter(has_text="sam@laptop")
    expect(row).to_contain_text("SHA256:")
    expect(row).to_contain_text("never")

    page.get_by_role("button", name="Enrol an authenticator app").click()
    expect(page.get_by_role("img", name="QR code of the second factor's seed")).to_be_visible()
    seed = page.locator("#totp-seed").inner_text()
    shot(page, "second-factor-enrol")
    page.get_by_label("Code the app shows").fill("12345" if code(seed) != "12345" else "54321")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#f-code-error")).to_contain_text("not the app's current one")
    page.get_by_label("Code the app shows").fill(code(seed))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    recovery = page.locator(".recovery-codes li").first.inner_text()

    log_out(page)
    log_in(page, site)
    # Said next to the code's field, the password kept out of the form.
    expect(page.locator("#f-code-error")).to_contain_text("this login needs a second factor")
    log_in(page, site, code(seed, 1))
    expect(page.get_by_text("Signed in as sam")).to_be_visible()
    log_out(page)
    log_in(page, site, recovery)
    expect(page.get_by_text("Signed in as sam")).to_be_visible()
    page.get_by_role("link", name="sam").click()
    expect(page.get_by_text("9 recovery codes left")).to_be_visible()

    log_out(page)

    # A lost phone: an administrator resets the factor on the Users page, and sam logs in
    # with the password alone again.
    log_in(page, site, login="tadmin")
    expect(page.get_by_text("Signed in as tadmin")).to_be_visible()
    page.goto(f"{site}/users")
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Reset the second factor of sam").click()
    expect(page.get_by_role("button", name="Reset the second factor of sam")).to_have_count(0)
    log_out(page)
    log_in(page, site)
    expect(page.get_by_text("Signed in as sam")).to_be_visible()
