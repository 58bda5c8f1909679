"""A shell through the main's SSH proxy (OpenSSH on a real PTY, a real sshd), replayed in the
console from its asciicast: Session details > Replay terminal, the player loaded, a seek to a
moment shows the terminal as it was then (what came before, not what came after), and a
change of speed keeps the place."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from tests.support.identity import PASSWORD, create_tenant
from tests.support.identity import expect as expect_status
from tests.support.jobs import ssh_host
from tests.support.sessions import wait_session
from tests.web.test_console_walkthrough import log_in

# What the terminal shows at a moment: the player's text lines.
SCREEN = "() => document.querySelector('#terminal-player .ap-term').textContent"


@pytest.fixture(scope="module")
def recorded(node_factory, sshd, tmp_path_factory):
    """A main with its SSH proxy, and a shell recorded there: two commands a while apart."""
    ssh_port = free_port()
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(ssh_port)})
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        ssh_host(client, sshd, "web-1")
    ssh = OpenSshClient("127.0.0.1", ssh_port, PASSWORD, tmp_path_factory.mktemp("openssh"))
    ssh.pin(main.data_dir / "ssh_proxy_host_key")
    terminal = ssh.shell("tadmin@corp#web-1", rows=24, cols=80)
    try:
        terminal.expect("$ ")
        terminal.type("echo first-$((20+1))")
        terminal.expect("first-21")
        time.sleep(3)
        terminal.type("echo second-$((40+2))")
        terminal.expect("second-42")
        terminal.type("exit")
        assert terminal.wait() == 0, terminal.text
    finally:
        terminal.close()
    with main.client("corp", token=admin) as client:
        page = expect_status(client.get("sessions", params={"limit": 5}), 200)
        session_id = page["sessions"][0]["id"]
        done = wait_session(client, session_id, {"completed", "failed"})
    assert "asciicast" in done["recordings"], done
    return main, session_id


def _screen(page: Page) -> str:
    return str(page.evaluate(SCREEN))


def test_a_proxy_shell_replays_and_seeks_to_a_moment(recorded, new_page, shot):
    main, session_id = recorded
    page = new_page()
    log_in(page, f"{main.base_url}/ztna/corp/root", "tadmin")
    page.goto(f"{main.base_url}/ztna/corp/root/sessions/{session_id}")
    page.get_by_role("link", name="Replay terminal").click()
    player = page.locator("#terminal-player")
    expect(player).to_have_attribute("data-state", "loaded")
    duration = page.evaluate("window.pamnodeCast.getDuration()")
    assert duration > 3, duration

    # Between the two commands: the first is on the screen, the second not yet.
    page.evaluate("(at) => window.pamnodeCast.seek(at)", duration - 1.5)
    page.wait_for_function(f"() => ({SCREEN})().includes('first-21')")
    assert "second-42" not in _screen(page)
    shot(page, "terminal-01-between")

    # At the end: both.
    page.evaluate("(at) => window.pamnodeCast.seek(at)", duration)
    page.wait_for_function(f"() => ({SCREEN})().includes('second-42')")

    # From the start at 4x: it plays to the end, and says so.
    page.evaluate("() => window.pamnodeCast.seek(0)")
    page.get_by_label("Speed").select_option("4")
    page.evaluate("() => window.pamnodeCast.play()")
    expect(player).to_have_attribute("data-state", "ended", timeout=30_000)
    expect(page.get_by_role("status")).to_have_text("ended")
    assert "second-42" in _screen(page)
    shot(page, "terminal-02-ended")
