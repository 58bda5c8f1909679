"""Access in the console: a remote SSH screen drawn in chromium through the peer's gateway,
Disconnect, Reports > Sessions > Show Details with the Gateway, then the recording played."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from pamnode.lab.ports import free_port
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, create_tenant
from tests.support.identity import expect as expect_status
from tests.support.jobs import ssh_host
from tests.support.peers import add_peer, establish_trust, prepare_peer_site
from tests.web.test_console_walkthrough import log_in, menu

PEER_TENANT = "dc-west"
# The number of colours on the drawn screen: a blank one has one.
COLOURS = """() => {
  const canvas = window.%s.getDisplay().flatten();
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < pixels.length && seen.size < 16; i += 4 * 97) {
    seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  }
  return seen.size;
}"""


@pytest.fixture(scope="module")
def lab(node_factory, sshd):
    main = node_factory("main")
    gateway_port = free_port()
    peer = node_factory("gw-peer", env={"PAMNODE_GATEWAY_PORT": str(gateway_port)})
    jwt = prepare_peer_site(peer, PEER_TENANT)
    admin = create_tenant(main, "corp")
    gateway = f"127.0.0.1:{gateway_port}"
    with main.client("corp", token=admin) as client:
        created = add_peer(
            client, "west", peer, PEER_TENANT, jwt, gateway=True, gateway_address=gateway
        )
        establish_trust(client, created["id"])
        establish_trust(client, created["id"], "gateway")
        box = add_asset(client, "datacenter", "container")
        ssh_host(client, sshd, "web-1", box["id"])
        body = {"peer_node": "west", "enabled": True}
        expect_status(client.post(f"assets/{box['id']}/peer-nodes", json=body), 201)
    return main, gateway, peer


def _access_web_1(page: Page, main) -> Page:
    """Log in to the main's console as its administrator and click Access on web-1."""
    log_in(page, f"{main.base_url}/ztna/corp/root", "tadmin")
    menu(page, "Asset library")
    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="web-1"
    ).click()
    page.get_by_role("button", name="Access web-1: open a remote session").click()
    return page


def test_access_draws_the_remote_screen_and_the_recording_plays(lab, new_page, shot):
    main, gateway, _ = lab
    page = _access_web_1(new_page(), main)

    display = page.locator("#session-display")
    expect(display).to_have_attribute("data-state", "connected", timeout=30_000)
    page.wait_for_timeout(1500)
    display.focus()
    page.keyboard.type("echo marker-$((6*7))")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    assert page.evaluate(COLOURS % "pamnodeSession") > 1
    shot(page, "session-01-remote-terminal")
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#session-state")).to_have_text("disconnected")
    expect(page.locator("#session-message")).to_contain_text(
        "You disconnected: the session has ended"
    )

    menu(page, "Sessions")
    row = page.get_by_role("row").filter(has_text="web-1")
    expect(row).to_contain_text(gateway)
    row.get_by_text("Actions").click()
    row.get_by_role("link", name="Show Details").click()
    expect(page.get_by_role("definition").filter(has_text=gateway)).to_be_visible()
    expect(
        page.get_by_role("definition").filter(has_text=f"gw-peer::{PEER_TENANT}::root")
    ).to_be_visible()
    # The main fetches the recording from the peer once the session has ended there.
    for _ in range(60):
        if page.get_by_role("link", name="Play recording").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.get_by_role("definition").filter(has_text="completed")).to_be_visible()
    shot(page, "session-02-details")

    href = page.get_by_role("link", name="Download typescript").get_attribute("href")
    typescript = page.request.get(f"{main.base_url}{href}")
    assert "marker-42" in typescript.text()

    page.get_by_role("link", name="Play recording").click()
    recording = page.locator("#recording-display")
    expect(recording).to_have_attribute("data-state", "loaded")
    duration = page.evaluate("window.pamnodeRecording.getDuration()")
    assert duration > 1000, duration
    total = f"{duration // 1000 // 60}:{duration // 1000 % 60:02d}"
    expect(page.locator("#recording-time")).to_have_text(f"0:00 / {total}")

    # Seek: the bar moves the recording to the first frame from there (a terminal draws only
    # when something changes), and the clock says where it is.
    seek_bar = page.get_by_label("Position in the recording")
    middle = duration // 2
    seek_bar.evaluate(
        "(bar, at) => { bar.value = at; bar.dispatchEvent(new Event('change')); }", middle
    )
    page.wait_for_function(
        """() => {
          const ms = window.pamnodeRecording.getPosition(), s = Math.floor(ms / 1000);
          const shown = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} /`;
          return ms > 0 && document.getElementById("recording-time").textContent
            .startsWith(shown);
        }"""
    )

    # Play (at 4x) from there to the end; the button is Pause meanwhile.
    page.get_by_label("Speed").select_option("4")
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(recording).to_have_attribute("data-state", "ended", timeout=60_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("ended")
    assert page.evaluate(COLOURS % "pamnodeRecording") > 1
    shot(page, "session-03-recording")


def test_a_refused_access_says_why_and_what_to_do(lab, new_page, shot):
    """The peer refuses the main's token: the page says so in words, with the code and what
    to do, instead of a black box that says "disconnected"."""
    main, _, peer = lab
    peer_admin = peer.login(PEER_TENANT, "root", "tadmin", PASSWORD)
    with peer.client(PEER_TENANT, token=peer_admin) as client:
        [token] = [t for t in expect_status(client.get("api-tokens"), 200) if t["enabled"]]
        expect_status(client.patch(f"api-tokens/{token['id']}", json={"enabled": False}), 200)
        try:
            page = _access_web_1(new_page(), main)
            alert = page.locator("#session-message")
            expect(alert).to_contain_text("the API token is disabled", timeout=30_000)
            expect(alert).to_contain_text("enable the token on the peer (API Tokens)")
            expect(alert).to_contain_text("token_disabled")
            expect(page.locator("#session-state")).to_have_text("ended")
            shot(page, "session-04-refused")
        finally:
            expect_status(client.patch(f"api-tokens/{token['id']}", json={"enabled": True}), 200)


def _monitor_web_1(page: Page, main, login: str) -> Page:
    """Log in as `login`, find web-1's running session in Reports > Sessions, Monitor it."""
    log_in(page, f"{main.base_url}/ztna/corp/root", login)
    menu(page, "Sessions")
    row = page.get_by_role("row").filter(has_text="web-1").filter(has_text="active").first
    row.get_by_text("Actions").click()
    row.get_by_role("link", name="Show Details").click()
    page.get_by_role("link", name="Monitor").click()
    expect(page.locator("#session-display")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )
    return page


def test_monitor_shows_a_session_live_read_only_then_terminate(lab, new_page, shot):
    """An auditor watches the administrator's session through the peer: the screen is drawn,
    the owner's page says who watches, the auditor's keys do nothing and it has no Terminate;
    another administrator watches and Terminates it from the same page."""
    main, _, _ = lab
    with main.client("corp", token=main.login("corp", "root", "tadmin", PASSWORD)) as client:
        for login, role in (("aud", "auditor"), ("boss", "administrator")):
            expect_status(client.post("users", json={"login": login, "password": PASSWORD}), 201)
            body = {"principal": login, "role": role}
            expect_status(client.post("site-roles", json=body), 201)
    owner = _access_web_1(new_page(), main)
    expect(owner.locator("#session-display")).to_have_attribute(
        "data-state", "connected", timeout=30_000
    )

    auditor = _monitor_web_1(new_page(), main, "aud")
    auditor.wait_for_timeout(1500)
    assert auditor.evaluate(COLOURS % "pamnodeSession") > 1
    expect(auditor.locator("#session-state")).to_have_text("connected")
    expect(auditor.get_by_role("button", name="Terminate")).to_have_count(0)
    expect(owner.locator("#session-watchers")).to_contain_text(
        "Being watched, read-only, by: aud", timeout=10_000
    )
    shot(auditor, "session-05-monitor")
    shot(owner, "session-06-owner-told")
    auditor.locator("#session-display").focus()
    auditor.keyboard.type("echo intruder-$((5*5))")
    auditor.keyboard.press("Enter")
    owner.locator("#session-display").focus()
    owner.keyboard.type("echo marker-$((6*7))")
    owner.keyboard.press("Enter")
    owner.wait_for_timeout(1500)

    boss = _monitor_web_1(new_page(), main, "boss")
    boss.on("dialog", lambda dialog: dialog.accept())
    boss.get_by_role("button", name="Terminate").click()
    expect(owner.locator("#session-message")).to_contain_text(
        "boss terminated the session", timeout=30_000
    )
    expect(owner.locator("#session-state")).to_have_text("ended")
    expect(auditor.locator("#session-message")).to_contain_text("ended", timeout=30_000)

    expect(boss.get_by_role("definition").filter(has_text="terminated by boss")).to_be_visible(
        timeout=30_000
    )
    watched = boss.get_by_role("table").filter(has_text="Watcher")
    expect(watched.get_by_role("row").filter(has_text="aud")).to_be_visible()
    expect(watched.get_by_role("row").filter(has_text="boss")).to_be_visible()
    for _ in range(60):
        if boss.get_by_role("link", name="Download typescript").count():
            break
        boss.wait_for_timeout(500)
        boss.reload()
    href = boss.get_by_role("link", name="Download typescript").get_attribute("href")
    typescript = boss.request.get(f"{main.base_url}{href}").text()
    assert "marker-42" in typescript and "intruder" not in typescript
    shot(boss, "session-07-terminated-details")
