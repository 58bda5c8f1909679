"""Management > Directories in a browser: add an LDAP directory (a real slapd), Test
Connection with a user's nested groups, a group's site role, and a directory user's login."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.assets import add_asset
from tests.support.directories import ALICE, AUDITORS, directory_body
from tests.support.identity import PASSWORD, create_tenant

TENANT = "dirs"


@pytest.fixture(scope="module")
def node_and_admin(node_factory):
    node = node_factory("console-directories")
    return node, create_tenant(node, TENANT)


@pytest.fixture(scope="module")
def site(node_and_admin):
    node, _ = node_and_admin
    return f"{node.base_url}/ztna/{TENANT}/root"


def log_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()


def test_a_directory_from_adding_it_to_a_group_members_login(site, slapd, new_page, shot):
    body = directory_body(slapd)
    page = new_page()
    log_in(page, site, "tadmin", PASSWORD)
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Directories").click()
    expect(page.get_by_role("heading", name="Directories")).to_be_visible()
    page.get_by_role("link", name="Add").click()
    page.get_by_label("Name").fill("corp")
    page.get_by_label("Kind").select_option("openldap")
    page.get_by_label("URL").fill(body["url"])
    page.get_by_label("Server certificate SHA-256").fill(body["server_sha256"])
    page.get_by_label("Bind DN").fill(body["bind_dn"])
    page.get_by_label("Bind password").fill(body["bind_password"])
    page.get_by_label("User search base").fill(body["user_base"])
    page.get_by_label("Group search base").fill(body["group_base"])
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Directory corp")).to_be_visible()
    assert slapd.admin_password not in page.content()

    page.get_by_label("User login (optional)").fill(ALICE.uid)
    page.get_by_role("button", name="Test Connection").click()
    result = page.locator("#connection-result")
    expect(result).to_contain_text("Connection OK")
    expect(result).to_contain_text(AUDITORS.dn)
    shot(page, "directory-test-connection")

    roles = page.locator("#f-role")
    assert "service" not in roles.locator("option").all_inner_texts()
    page.locator("#f-group").fill("auditors")
    roles.select_option("auditor")
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("cell", name=AUDITORS.dn)).to_be_visible()

    member = new_page()
    log_in(member, site, f"{ALICE.uid}@corp", ALICE.password)
    menu = member.get_by_role("navigation", name="Main menu")
    expect(menu.get_by_role("link", name="Audit")).to_be_visible()
    # Site Roles lists the groups' roles beside the users'.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Site Roles").click()
    expect(page.get_by_role("link", name="auditors@corp")).to_be_visible()


def test_an_asset_permission_for_a_directory_group(node_and_admin, site, new_page):
    """Manage > Permissions of a container: a group's role, shown beside the users' (the
    directory corp is the previous test's)."""
    node, admin = node_and_admin
    with node.client(TENANT, token=admin) as client:
        box = add_asset(client, "lab", "container")
    page = new_page()
    log_in(page, site, "tadmin", PASSWORD)
    page.goto(f"{site}/assets/{box['id']}/permissions")
    page.get_by_text("Grant to a directory group").click()
    page.locator("#f-directory").select_option("corp")
    page.locator("#f-group").fill("ops")
    page.locator("#f-group_role").select_option("operator")
    page.get_by_role("button", name="Grant to group").click()
    expect(page.get_by_role("cell", name="ops@corp")).to_be_visible()
