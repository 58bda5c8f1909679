"""The seed (../shared/seed/peer-nodes.txt), clicked through the two consoles in chromium.

Step 1 on the peer's console, Step 2 on the main's, the peer assigned to a container in the
Asset library, a Unix Status Check on a real sshd behind it, and the job's details showing
the peer's node signature.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.support.identity import PASSWORD, create_tenant
from tests.support.peers import cert_sha256

PEER_NODE = "12P-remotePeer-dev"
PEER_TENANT = "proxm-27"
MAIN_TENANT = "corp"
PEER_NAME = "remote-dc1"


@pytest.fixture(scope="module")
def nodes(node_factory):
    main = node_factory("main")
    peer = node_factory(PEER_NODE)
    create_tenant(peer, PEER_TENANT)
    create_tenant(main, MAIN_TENANT)
    return main, peer


def log_in(page: Page, base: str, login: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/")
    # Not logged in: the console sends the browser to its login page.
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Signed in as {login}")).to_be_visible()


def menu(page: Page, item: str) -> None:
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name=item).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def open_menu(page: Page, name: str, role: str, item: str) -> None:
    """A menu button of the page (Manage, Execute), then one of its entries."""
    main = page.locator("main")
    main.get_by_text(name, exact=True).click()
    main.get_by_role(role, name=item).click()  # type: ignore[arg-type]


def test_seed_walkthrough_in_two_consoles(nodes, sshd, new_page, shot):
    main, peer = nodes
    peer_base = f"{peer.base_url}/ztna/{PEER_TENANT}/root"
    main_base = f"{main.base_url}/ztna/{MAIN_TENANT}/root"

    # --- Step 1: on the peer node ----------------------------------------------------------
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=peer.base_url)
    log_in(page, peer_base, "tadmin")
    shot(page, "peer-01-home")

    menu(page, "Users")
    page.get_by_role("button", name="Add").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Login").fill("svc-main")
    dialog.get_by_label("Password").fill("short")
    dialog.get_by_role("button", name="Save").click()
    # The service's refusal lands next to the field it is about.
    expect(dialog.locator("#f-password-error")).to_contain_text("too short")
    expect(dialog.get_by_label("Login")).to_have_value("svc-main")
    dialog.get_by_label("Password").fill("Svc-Main-Passw0rd!")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="svc-main", exact=True)).to_be_visible()
    shot(page, "peer-02-users")

    menu(page, "Site Roles")
    page.get_by_role("button", name="Grant").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("User").select_option("svc-main")
    dialog.get_by_label("Role").select_option("service")
    dialog.get_by_role("button", name="Grant").click()
    row = page.get_by_role("row").filter(has_text="svc-main")
    expect(row).to_contain_text("service")
    shot(page, "peer-03-site-roles")

    menu(page, "API Tokens")
    page.get_by_role("button", name="Add").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("User").select_option("svc-main")
    expiry = (datetime.now(UTC) + timedelta(days=180)).date().isoformat()
    dialog.get_by_label("Expiration date").fill(expiry)
    dialog.get_by_label("Filter").fill("127.0.0.0/8")
    dialog.get_by_label("Description").fill("main node")
    expect(dialog.get_by_label("Enabled")).to_be_checked()
    dialog.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text="main node")
    expect(row).to_contain_text("127.0.0.0/8")
    row.get_by_text("Actions").click()
    row.get_by_role("button", name="Show Details").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("The token is locked.")
    dialog.get_by_role("button", name="Unlock Token").click()
    jwt_box = dialog.locator("#jwt-value")
    expect(jwt_box).to_be_visible()
    jwt = jwt_box.inner_text().strip()
    assert jwt.count(".") == 2, jwt
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == jwt
    shot(page, "peer-04-api-token-unlocked")
    dialog.get_by_role("button", name="Lock Token").click()
    expect(dialog).to_contain_text("The token is locked.")
    expect(dialog.locator("#jwt-value")).to_have_count(0)
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # --- Step 2: on the main node ----------------------------------------------------------
    page = new_page()
    log_in(page, main_base, "tadmin")
    menu(page, "Peer Nodes")
    page.get_by_role("link", name="Add").click()
    page.get_by_label("Peer Name").fill(PEER_NAME)
    page.get_by_label("Includes Job Runner").check()
    page.get_by_label("URL").fill("https://example.org/not-a-site")
    page.get_by_label("Access Token").fill(jwt)
    page.get_by_label("Enabled").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-url-error")).to_contain_text("/ztna/")
    page.get_by_label("URL").fill(peer_base)
    # A refused form keeps no secret: the token is typed (pasted) again.
    expect(page.get_by_label("Access Token")).to_have_value("")
    page.get_by_label("Access Token").fill(jwt)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=f"Peer node {PEER_NAME}")).to_be_visible()
    shot(page, "main-01-peer-node")

    page.get_by_role("button", name="Verify Trust (Job Runner)").click()
    dialog = page.get_by_role("dialog")
    header = dialog.get_by_role("heading", level=2)
    expect(header).to_contain_text("Not trusted")
    expect(dialog.locator("#trust-sha256")).to_have_text(cert_sha256(peer))
    for fact in ("Subject", "Issuer", "SANs", "Valid from", "Valid until", "SHA-256"):
        expect(dialog.get_by_text(fact, exact=True)).to_be_visible()
    shot(page, "main-02-verify-trust")
    dialog.get_by_role("button", name="Establish Trust").click()
    expect(header).to_contain_text("Trusted")
    expect(header).to_have_css("background-color", "rgb(26, 127, 55)")
    shot(page, "main-03-trust-established")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_text("trusted SHA-256")).to_be_visible()

    page.get_by_role("button", name="Test Connection").click()
    result = page.locator("#connection-result")
    expect(result).to_contain_text("Connection OK")
    expect(result).to_contain_text(f"node {PEER_NODE}, tenant {PEER_TENANT}, site root")
    shot(page, "main-04-test-connection")

    # --- Assigning the peer node in the Asset library -------------------------------------
    menu(page, "Asset library")
    page.get_by_role("button", name="Add container", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("datacenter")
    expect(dialog.get_by_label("Type")).to_have_value("container")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="datacenter")).to_be_visible()

    page.get_by_role("button", name="Add asset to datacenter").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("web-1")
    dialog.get_by_label("Type").select_option("unix-host")
    dialog.get_by_label("Host", exact=True).fill(sshd.address)
    dialog.get_by_label("Port", exact=True).fill(str(sshd.port))
    dialog.get_by_label("Username", exact=True).fill(sshd.user)
    dialog.get_by_label("Password", exact=True).fill(sshd.password)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="web-1")).to_be_visible()
    expect(page.get_by_text("password, username")).to_be_visible()
    assert sshd.password not in page.content()
    shot(page, "main-05-asset-library")

    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="datacenter"
    ).click()
    open_menu(page, "Manage", "link", "Peer Nodes")
    page.get_by_text("Add", exact=True).click()
    page.get_by_label("Peer Node").select_option(PEER_NAME)
    page.get_by_role("button", name="Save").click()
    row = page.get_by_role("row").filter(has_text=PEER_NAME)
    expect(row).to_contain_text("this container")
    expect(row.get_by_role("cell", name="usable").first).to_be_visible()
    shot(page, "main-06-manage-peer-nodes")

    # --- Verifying peer node job execution ---------------------------------------------------
    page.get_by_role("link", name="Back to datacenter").click()
    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="web-1"
    ).click()
    open_menu(page, "Manage", "link", "Peer Nodes")
    expect(page.get_by_role("row").filter(has_text=PEER_NAME)).to_contain_text(
        "inherited from datacenter"
    )
    page.get_by_role("link", name="Back to web-1").click()
    open_menu(page, "Execute", "button", "Unix Status Check")
    # The details page follows the job without a reload until it ends.
    expect(page.get_by_role("heading", name="Job details")).to_be_visible()
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)

    menu(page, "Jobs")
    row = page.get_by_role("row").filter(has_text="web-1")
    expect(row).to_contain_text("succeeded")
    shot(page, "main-07-jobs")
    row.get_by_text("Actions").click()
    row.get_by_role("link", name="Show Details").click()
    expect(page.locator("#node-signature")).to_have_text(f"{PEER_NODE}::{PEER_TENANT}::root")
    expect(page.get_by_role("definition").filter(has_text=PEER_NAME)).to_be_visible()
    shot(page, "main-08-job-details")

    # A running job updates in place: a script that takes a moment, followed without reload.
    menu(page, "Scripts")
    page.get_by_role("button", name="Add").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox", name="Name", exact=True).fill("slow-hello")
    dialog.get_by_label("Type").select_option("shell")
    dialog.get_by_label("Body").fill("sleep 3; echo hello from $(whoami)")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="slow-hello", exact=True)).to_be_visible()
    menu(page, "Asset library")
    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="web-1"
    ).click()
    open_menu(page, "Execute", "button", "Script: slow-hello")
    expect(page.get_by_role("heading", name="Job details")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#job-state")).to_have_text(re.compile("queued|dispatched|running"))
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.get_by_label("Job output")).to_contain_text(f"hello from {sshd.user}")
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#node-signature")).to_have_text(f"{PEER_NODE}::{PEER_TENANT}::root")

    menu(page, "Audit")
    expect(page.get_by_role("cell", name="job.start").first).to_be_visible()
    shot(page, "main-09-audit")

    # The same console on a narrow window: the menu stays reachable.
    page.set_viewport_size({"width": 400, "height": 800})
    expect(
        page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Jobs")
    ).to_be_visible()
    shot(page, "main-10-narrow")
    menu(page, "Asset library")
    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="web-1"
    ).click()
    expect(page.locator("main").get_by_text("Execute", exact=True)).to_be_visible()
    shot(page, "main-11-narrow-asset")
