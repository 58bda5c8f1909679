"""Daily operations in the console: the home page's getting-started checklist, the base
tenant's Tenants page, editing users and scripts, paging through Audit, empty list pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, add_user, create_tenant, issue_token
from tests.support.identity import expect as expect_status
from tests.support.jobs import run_jobs, ssh_host
from tests.support.peers import add_peer, check_connection, establish_trust
from tests.web.test_console_walkthrough import log_in

MAIN_TENANT = "ops-main"
PEER_TENANT = "ops-peer"
PEER_NODE = "ops-peer-node"


@pytest.fixture(scope="module")
def nodes(node_factory):
    """A main and a peer, each with a fresh tenant (the home test sees them before any setup)."""
    main, peer = node_factory("ops-main-node"), node_factory(PEER_NODE)
    create_tenant(main, MAIN_TENANT)
    create_tenant(peer, PEER_TENANT)
    return main, peer


def admin_token(node, tenant: str) -> str:
    return node.login(tenant, "root", "tadmin", PASSWORD)


def site_url(node, tenant: str) -> str:
    return f"{node.base_url}/ztna/{tenant}/root"


def steps(page: Page) -> list[str]:
    """Each checklist step's state, in order: "done" or "not done"."""
    page.reload()
    items = page.locator("ol.checklist li .step-state")
    expect(items).to_have_count(6)
    return items.all_inner_texts()


def test_home_checklist_follows_the_seed(nodes, sshd, new_page, shot):
    main, peer = nodes
    peer_admin, main_admin = admin_token(peer, PEER_TENANT), admin_token(main, MAIN_TENANT)
    page = new_page()
    log_in(page, site_url(peer, PEER_TENANT), "tadmin")
    expect(page.get_by_role("heading", name="Getting started with peer nodes")).to_be_visible()
    assert steps(page) == ["not done"] * 6
    expect(page.locator("#count-peers")).to_have_text("0")
    shot(page, "home-01-fresh-site")

    # Step 1 of the seed, on the peer: a Service user, then its API token.
    with peer.client(PEER_TENANT, token=peer_admin) as client:
        add_user(client, "svc-main", "service")
        assert steps(page)[:2] == ["done", "not done"]
        _, jwt = issue_token(client, "svc-main")
    assert steps(page) == ["done", "done"] + ["not done"] * 4
    shot(page, "home-02-peer-ready")
    page.locator("ol.checklist li").nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="API Tokens")).to_be_visible()

    # Step 2, on the main: each part of it ticks its own step.
    page = new_page()
    log_in(page, site_url(main, MAIN_TENANT), "tadmin")
    with main.client(MAIN_TENANT, token=main_admin) as client:
        peer_id = add_peer(client, "dc1", peer, PEER_TENANT, jwt)["id"]
        assert steps(page)[2:] == ["done", "not done", "not done", "not done"]
        row = page.get_by_role("row").filter(has_text="dc1")
        expect(row).to_contain_text("not trusted")
        expect(row).to_contain_text("never")
        establish_trust(client, peer_id)
        assert check_connection(client, peer_id)["ok"]
        assert steps(page)[2:] == ["done", "done", "not done", "not done"]
        box = add_asset(client, "dc1-hosts", "container")
        expect_status(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "dc1"}), 201)
        assert steps(page)[2:] == ["done", "done", "done", "not done"]
        host = ssh_host(client, sshd, "web-1", box["id"])
        [job] = run_jobs(client, host["id"])
        assert job["state"] == "succeeded" and job["peer_node"] == "dc1"
    assert steps(page) == ["not done", "not done"] + ["done"] * 4
    expect(page.locator("#count-assets")).to_have_text("2")
    expect(page.locator("#count-peers")).to_have_text("1")
    expect(page.locator("#count-jobs")).to_have_text("1 succeeded")
    row = page.get_by_role("row").filter(has_text="dc1")
    expect(row.get_by_role("cell").nth(2)).to_have_text("trusted")
    expect(row.get_by_role("cell").nth(3)).to_contain_text("OK")
    shot(page, "home-03-main-done")

    # The Jobs table breaks the node signature at its separators only.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Jobs").click()
    signature = page.locator("code.signature").first
    expect(signature).to_have_text(f"{PEER_NODE}::{PEER_TENANT}::root")
    parts = signature.locator("span.nowrap")
    expect(parts).to_have_count(3)
    assert parts.first.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"


def test_tenants_page_in_the_base_tenant_only(nodes, new_page, shot):
    main, _ = nodes
    base = site_url(main, "base")
    page = new_page()
    log_in(page, base, ADMIN_LOGIN, ADMIN_PASSWORD)
    # The base tenant's home leads to Tenants: it holds no assets or peers of its own.
    expect(page.get_by_role("heading", name="Getting started with peer nodes")).to_have_count(0)
    expect(page.locator("main").get_by_role("link", name="Open Tenants")).to_be_visible()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Tenants").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    page.get_by_role("button", name="Add").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("acme")
    dialog.get_by_label("Administrator login").fill("acme-admin")
    dialog.get_by_label("Administrator password").fill("short")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#f-admin_password-error")).to_contain_text("too short")
    expect(dialog.get_by_label("Administrator password")).to_have_value("")
    dialog.get_by_label("Administrator password").fill(PASSWORD)
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="acme")
    expect(row.get_by_role("link", name="acme")).to_be_visible()
    shot(page, "tenants-01-list")
    assert main.login("acme", "root", "acme-admin", PASSWORD)

    # A delete without the typed name does nothing: neither a wrong name in the dialog...
    row.get_by_role("button", name="Delete tenant acme").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Type acme to confirm").fill("acm")
    dialog.get_by_role("button", name="Delete this tenant").click()
    expect(dialog.locator("#f-confirm-error")).to_contain_text("type the tenant's name, acme")
    shot(page, "tenants-02-delete-confirmation")
    # ...nor a bare POST of the delete URL.
    status = page.evaluate(
        """url => fetch(url, {method: "POST", headers: {"HX-Request": "true"}})
        .then(r => r.status)""",
        f"{base}/tenants/acme/delete",
    )
    assert status == 422
    page.reload()
    expect(page.get_by_role("row").filter(has_text="acme")).to_have_count(1)

    page.get_by_role("button", name="Delete tenant acme").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Type acme to confirm").fill("acme")
    dialog.get_by_role("button", name="Delete this tenant").click()
    expect(page.get_by_role("row").filter(has_text="acme")).to_have_count(0)
    with main.client("base", token=main.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)) as api:
        events = expect_status(api.get("audit-events", params={"action": "tenant.delete"}), 200)
    assert [event["target"] for event in events] == ["acme"]

    # Another tenant's console has no Tenants page.
    page = new_page()
    log_in(page, site_url(main, MAIN_TENANT), "tadmin")
    menu = page.get_by_role("navigation", name="Main menu")
    expect(menu.get_by_role("link", name="Users")).to_be_visible()
    expect(menu.get_by_role("link", name="Tenants")).to_have_count(0)
    page.goto(f"{site_url(main, MAIN_TENANT)}/tenants")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_edit_a_user_and_a_script(nodes, new_page, shot):
    main, _ = nodes
    token = admin_token(main, MAIN_TENANT)
    with main.client(MAIN_TENANT, token=token) as client:
        add_user(client, "carol")
        for name in ("nightly", "weekly"):
            body = {"name": name, "type": "shell", "body": "uptime"}
            expect_status(client.post("scripts", json=body), 201)
    base = site_url(main, MAIN_TENANT)
    page = new_page()
    log_in(page, base, "tadmin")

    page.goto(f"{base}/users")
    page.get_by_role("button", name="Edit user carol").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Enabled")).to_be_checked()
    dialog.get_by_label("First name").fill("Carol")
    dialog.get_by_label("New password").fill("short")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#f-password-error")).to_contain_text("too short")
    expect(dialog.get_by_label("First name")).to_have_value("Carol")
    shot(page, "edit-01-user-error")
    dialog.get_by_label("New password").fill("Carol-Passw0rd!")
    dialog.get_by_label("Enabled").uncheck()
    dialog.get_by_label("auditor", exact=True).check()
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="carol")
    expect(row).to_contain_text("Carol")
    expect(row.get_by_role("cell").nth(3)).to_have_text("no")
    page.goto(f"{base}/site-roles")
    expect(page.get_by_role("row").filter(has_text="carol")).to_contain_text("auditor")
    # Disabled: the new password does not let carol in.
    with pytest.raises(AssertionError):
        main.login(MAIN_TENANT, "root", "carol", "Carol-Passw0rd!")

    page.goto(f"{base}/scripts")
    page.get_by_role("button", name="Edit script nightly").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Body")).to_have_value("uptime")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("weekly")
    dialog.get_by_label("Description").fill("disk and load")
    dialog.get_by_label("Body").fill("df -h; uptime")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#f-name-error")).to_contain_text("already has a script named 'weekly'")
    shot(page, "edit-02-script-error")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("nightly-health")
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="nightly-health")
    expect(row).to_contain_text("disk and load")
    with main.client(MAIN_TENANT, token=token) as client:
        script = expect_status(client.get("scripts/nightly-health"), 200)
        assert script["body"] == "df -h; uptime"
        events = expect_status(client.get("audit-events", params={"action": "user.update"}), 200)
        assert events[0]["target"] == "carol"
        assert "password" in events[0]["details"]["fields"]


def test_audit_pages_and_one_line_times(nodes, new_page, shot):
    main, _ = nodes
    tenant = "ops-audit"
    token = create_tenant(main, tenant)
    with main.client(tenant, token=token) as client:
        for number in range(60):
            body = {"name": f"s{number:02}", "type": "shell", "body": "true"}
            expect_status(client.post("scripts", json=body), 201)
    page = new_page()
    log_in(page, site_url(main, tenant), "tadmin")
    with main.client(tenant, token=token) as client:
        # 60 script.create events, the logins, and any refusal the browser's first visit left.
        total = len(expect_status(client.get("audit-events", params={"limit": 1000}), 200))
    assert total >= 62
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Audit").click()
    where = page.get_by_role("navigation", name="Pages").get_by_role("status")
    expect(where).to_have_text(f"1 to 50 of {total} events")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("auth.login")
    expect(page.get_by_role("link", name="Previous")).to_have_count(0)
    when = page.locator("td.when time").first
    assert when.evaluate("e => getComputedStyle(e.parentElement).whiteSpace") == "nowrap"
    line = when.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert when.bounding_box()["height"] < 1.5 * line
    page.get_by_role("link", name="Next").scroll_into_view_if_needed()
    shot(page, "audit-01-first-page")

    page.get_by_role("link", name="Next").click()
    expect(where).to_have_text(f"51 to {total} of {total} events")
    expect(rows).to_have_count(total - 50)
    # The oldest: the administrator's first login, when the tenant was made.
    expect(rows.last).to_contain_text("auth.login")
    expect(page.get_by_role("link", name="Next")).to_have_count(0)
    where.scroll_into_view_if_needed()
    shot(page, "audit-02-last-page")
    page.get_by_role("link", name="Previous").click()
    expect(where).to_have_text(f"1 to 50 of {total} events")

    # Filters are kept from page to page.
    page.get_by_label("Action").fill("script.create")
    page.get_by_role("button", name="Filter").click()
    expect(where).to_have_text("1 to 50 of 60 events")
    page.get_by_role("link", name="Next").click()
    expect(where).to_have_text("51 to 60 of 60 events")
    expect(page.get_by_label("Action")).to_have_value("script.create")


def test_empty_list_pages_say_what_to_do(nodes, new_page, shot):
    main, _ = nodes
    tenant = "ops-empty"
    create_tenant(main, tenant)
    base = site_url(main, tenant)
    page = new_page()
    log_in(page, base, "tadmin")
    for path, hint in (
        ("peer-nodes", "No peer nodes yet: click Add"),
        ("jobs", "No jobs yet: open an asset in the Asset library"),
        ("scripts", "No scripts yet: click Add"),
        ("api-tokens", "No API tokens yet: click Add"),
        ("assets", "No assets yet: click Add container"),
        ("audit?action=nothing.here", "No event matches these filters"),
    ):
        page.goto(f"{base}/{path}")
        expect(page.locator(".empty")).to_contain_text(hint)
    shot(page, "empty-audit-filtered")
    page.goto(f"{base}/peer-nodes")
    shot(page, "empty-peer-nodes")
