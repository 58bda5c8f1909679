"""What the console shows and refuses depends on site roles and asset permissions.

A user only sees the menus and buttons their roles allow; calling a page's URL directly is
refused all the same (403 page, or 404 for an asset they may not see), and a POST that does
not come from a console page is refused whoever sends it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, add_user, create_tenant
from tests.support.identity import expect as expect_status

TENANT = "acme"
MAIN_MENU = (
    *("Users", "Directories", "Site Roles", "API Tokens", "Scripts", "Peer Nodes", "Main Link"),
    "Asset library",
    *("Jobs", "Sessions", "Audit"),
)


@pytest.fixture(scope="module")
def site(node_factory):
    node = node_factory("console")
    admin = create_tenant(node, TENANT)
    with node.client(TENANT, token=admin) as client:
        add_user(client, "op1")
        add_user(client, "auditor1", "auditor")
        dc = add_asset(client, "dc", "container")
        host = add_asset(client, "h1", "unix-host", dc["id"])
        desk = add_asset(client, "desk", "windows-host", dc["id"])
        hidden = add_asset(client, "secret-host", "unix-host")
        grant = {"principal": "op1", "role": "operator"}
        expect_status(client.post(f"assets/{dc['id']}/permissions", json=grant), 201)
    return node, {"dc": dc["id"], "h1": host["id"], "desk": desk["id"], "hidden": hidden["id"]}


def log_in(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()


def menu_items(page: Page) -> list[str]:
    return page.get_by_role("navigation", name="Main menu").get_by_role("link").all_inner_texts()


def test_operator_sees_only_what_the_asset_permission_allows(site, new_page, shot):
    node, ids = site
    base = f"{node.base_url}/ztna/{TENANT}/root"
    page = new_page()
    log_in(page, base, "op1")
    assert menu_items(page) == ["Asset library", "Jobs", "Sessions"]

    page.get_by_role("link", name="Asset library").click()
    tree = page.get_by_role("navigation", name="Containers and assets")
    expect(tree.get_by_role("link", name="h1")).to_be_visible()
    expect(tree.get_by_role("link", name="secret-host")).to_have_count(0)
    expect(page.get_by_role("button", name="Add container", exact=True)).to_have_count(0)
    tree.get_by_role("link", name="h1").click()
    main = page.locator("main")
    expect(main.get_by_text("Execute", exact=True)).to_be_visible()
    for absent in ("Manage", "Edit", "Delete"):
        expect(main.get_by_text(absent, exact=True)).to_have_count(0)
    shot(page, "operator-asset")

    # Direct calls: the pages refuse what the menus did not offer.
    for path in ("users", "site-roles", "api-tokens", "peer-nodes", "audit", "users/new"):
        response = page.goto(f"{base}/{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert menu_items(page) == ["Asset library", "Jobs", "Sessions"]
    shot(page, "operator-refused")
    response = page.goto(f"{base}/assets/{ids['hidden']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"{base}/assets/{ids['h1']}/edit")
    assert response is not None and response.status == 403

    # Manage > Peer Nodes is not offered, and posting to it directly is refused.
    page.goto(f"{base}/assets/{ids['h1']}/peer-nodes")
    expect(page.get_by_text("Add", exact=True)).to_have_count(0)
    refused = page.request.post(
        f"{base}/assets/{ids['h1']}/peer-nodes",
        form={"peer_node": "anything", "enabled": "on"},
        headers={"HX-Request": "true", "Origin": node.base_url},
    )
    assert refused.status == 403
    assert "asset-manager asset permission" in refused.text()


def test_a_viewer_is_told_what_access_needs_and_an_operator_gets_an_rdp_file(site, new_page):
    node, ids = site
    base = f"{node.base_url}/ztna/{TENANT}/root"
    page = new_page()
    log_in(page, base, "auditor1")
    page.goto(f"{base}/assets/{ids['h1']}")
    main = page.locator("main")
    expect(main.get_by_role("button", name="Access")).to_have_count(0)
    for button in ("Access", "Execute"):
        expect(main).to_contain_text(
            f"{button} needs the operator permission on this asset or a container above it; "
            "yours is viewer."
        )

    page = new_page()
    log_in(page, base, "op1")
    page.goto(f"{base}/assets/{ids['h1']}")
    main = page.locator("main")
    expect(main.get_by_text("needs the operator permission")).to_have_count(0)
    # SSH host: no pass-through offered; a Windows host: its .rdp file, one click.
    expect(main.get_by_role("button", name="RDP pass-through")).to_have_count(0)
    page.goto(f"{base}/assets/{ids['desk']}")
    with page.expect_download() as downloading:
        page.get_by_role("button", name="RDP pass-through").click()
    download = downloading.value
    assert download.suggested_filename == "desk.rdp"
    rdp = Path(download.path()).read_text()
    assert re.search(r"^full address:s:127\.0\.0\.1:\d+$", rdp, re.MULTILINE), rdp


def test_auditor_reads_without_change_buttons(site, new_page):
    node, _ = site
    base = f"{node.base_url}/ztna/{TENANT}/root"
    page = new_page()
    log_in(page, base, "auditor1")
    assert menu_items(page) == list(MAIN_MENU)
    for path, button in (("users", "Add"), ("site-roles", "Grant"), ("api-tokens", "Add")):
        page.goto(f"{base}/{path}")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("main").get_by_role("button", name=button)).to_have_count(0)
    page.goto(f"{base}/peer-nodes")
    expect(page.get_by_role("link", name="Add")).to_have_count(0)
    page.goto(f"{base}/main-link")
    expect(page.get_by_role("heading", name="Main Link")).to_be_visible()
    expect(page.get_by_role("button", name="Enrol")).to_have_count(0)
    page.goto(f"{base}/audit")
    expect(page.get_by_role("cell", name="auth.login").first).to_be_visible()
    response = page.goto(f"{base}/site-roles/new")
    assert response is not None and response.status == 403


def test_changes_come_only_from_console_pages(site, new_page):
    node, _ = site
    base = f"{node.base_url}/ztna/{TENANT}/root"
    page = new_page()
    log_in(page, base, "tadmin")
    form = {"login": "forged", "password": "Forged-Passw0rd!"}
    # Without htmx's header (a plain cross-site form could not add it), or from elsewhere.
    for headers in ({}, {"HX-Request": "true", "Origin": "https://evil.example"}):
        refused = page.request.post(f"{base}/users", form=form, headers=headers)
        assert refused.status == 403, headers
    page.goto(f"{base}/users")
    expect(page.get_by_role("cell", name="forged")).to_have_count(0)


def test_anonymous_is_sent_to_login(site, new_page):
    node, _ = site
    base = f"{node.base_url}/ztna/{TENANT}/root"
    page = new_page()
    page.goto(f"{base}/jobs")
    expect(page).to_have_url(re.compile(r"/login\?next=.*jobs$"))
    page.get_by_label("Login").fill("tadmin")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#f-password-error")).to_contain_text("invalid login or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Back where the login started.
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "pamnode_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
