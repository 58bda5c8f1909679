"""Peers that dial out, clicked through both consoles in chromium: the main's Peer Node in
peer_dials mode and its one-time Enrolment Code, the peer's Configuration > Main Link with
the code and the main's fingerprint, the link shown up on both sides, then revoked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.identity import create_tenant
from tests.support.peers import UNREACHABLE, cert_sha256, prepare_peer_site
from tests.web.test_console_walkthrough import log_in, menu

PEER_TENANT = "proxm-31"


@pytest.fixture(scope="module")
def nodes(node_factory):
    main = node_factory("main")
    peer = node_factory("peer-nat")
    jwt = prepare_peer_site(peer, PEER_TENANT)
    create_tenant(main, "corp")
    return main, peer, jwt


def test_enrol_a_dialling_peer_in_two_consoles(nodes, new_page, shot):
    main, peer, jwt = nodes
    main_base = f"{main.base_url}/ztna/corp/root"
    peer_base = f"{peer.base_url}/ztna/{PEER_TENANT}/root"

    # --- On the main: a Peer Node the main never dials -------------------------------------
    on_main = new_page()
    log_in(on_main, main_base, "tadmin")
    menu(on_main, "Peer Nodes")
    on_main.get_by_role("link", name="Add").click()
    on_main.get_by_label("Peer Name").fill("nat")
    on_main.get_by_label("URL").fill(f"https://{UNREACHABLE}/ztna/{PEER_TENANT}/root")
    on_main.get_by_label("Access Token").fill(jwt)
    on_main.get_by_label("Connection Mode").select_option("peer_dials")
    on_main.get_by_role("button", name="Save").click()
    expect(on_main.get_by_role("heading", name="Peer node nat")).to_be_visible()
    link = on_main.get_by_role("region", name="Link (the peer dials this main)")
    expect(link).to_contain_text("not enrolled")
    on_main.get_by_role("button", name="Enrolment Code").click()
    dialog = on_main.get_by_role("dialog")
    expect(dialog.locator("#main-sha256")).to_have_text(cert_sha256(main))
    code = dialog.locator("#enrolment-code").inner_text().strip()
    shot(on_main, "link-01-enrolment-code")
    dialog.get_by_role("button", name="Close").click()

    # --- On the peer: Configuration > Main Link ---------------------------------------------
    on_peer = new_page()
    log_in(on_peer, peer_base, "tadmin")
    menu(on_peer, "Main Link")
    on_peer.get_by_label("Main URL").fill(main_base)
    on_peer.get_by_label("Enrolment Code").fill(code)
    on_peer.get_by_label("Main's Certificate SHA-256").fill("AB" * 32)
    on_peer.get_by_role("button", name="Enrol").click()
    # The refusal stands next to the field, and the code is not kept in the page.
    expect(on_peer.locator("#f-fingerprint-error")).to_contain_text(cert_sha256(main))
    expect(on_peer.get_by_label("Enrolment Code")).to_have_value("")
    on_peer.get_by_label("Enrolment Code").fill(code)
    on_peer.get_by_label("Main's Certificate SHA-256").fill(cert_sha256(main))
    on_peer.get_by_role("button", name="Enrol").click()
    expect(on_peer.get_by_text(main_base, exact=True)).to_be_visible()
    # The link starts once the enrolment is saved: the page shows it from its next load.
    facts = on_peer.locator("dl.facts")
    for _ in range(40):
        if "up since" in facts.inner_text():
            break
        on_peer.wait_for_timeout(250)
        on_peer.reload()
    expect(facts).to_contain_text("up since")
    shot(on_peer, "link-02-main-link-up")

    # --- Back on the main: linked, then revoked ---------------------------------------------
    on_main.reload()
    expect(link).to_contain_text("peer version")
    expect(link).to_contain_text("key SHA-256")
    menu(on_main, "Peer Nodes")
    expect(on_main.get_by_role("row").filter(has_text="nat")).to_contain_text("linked")
    on_main.get_by_role("link", name="nat", exact=True).click()
    on_main.once("dialog", lambda confirm: confirm.accept())
    on_main.get_by_role("button", name="Revoke Link").click()
    expect(link).to_contain_text("not enrolled")
    expect(link).to_contain_text("no link to this main now")
    shot(on_main, "link-03-revoked")
