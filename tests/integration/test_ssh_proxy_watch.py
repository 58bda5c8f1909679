"""An SSH-proxy shell watched live (Monitor: its typescript as server-sent events), and proxy
sessions (a shell, an RDP pass-through) whose peer freezes: OpenSSH's client through the main's
SSH proxy to a real sshd, straight or out through a real peer. The idle timeout is left at its
default here: a frozen peer must be noticed by the peer watch, not by the quiet it leaves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import httpx
import pytest

from pamnode.lab.node_process import tls_context
from pamnode.lab.ports import free_port
from pamnode.lab.rdp import X224_CONNECTION_CONFIRM, X224_CONNECTION_REQUEST, RdpServer
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, expect
from tests.support.sessions import typescript, wait_session
from tests.support.ssh_proxy import newest_open, proxy_lab, rdp_offer_through_west


@pytest.fixture(scope="module")
def lab(node_factory, sshd, tmp_path_factory):
    return proxy_lab(node_factory, sshd, tmp_path_factory.mktemp("openssh"))


@pytest.fixture
def api(lab):
    with lab["main"].client("corp", token=lab["admin"]) as client:
        yield client


class ShellWatch:
    """A Monitor of an SSH-proxy shell read as a browser's EventSource reads it: each event's
    JSON, in a thread, until the stream's `done`."""

    def __init__(self, main, tenant: str, session_id: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"{main.base_url}/ztna/{tenant}/root/",
            verify=tls_context(main.cert_path),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
        )
        self.path = f"sessions/{session_id}/monitor/typescript"
        self.status = 0
        self.start: dict = {}
        self.events: list[list] = []
        self.done: dict | None = None
        self.error = ""
        self.leaving = False
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with self.client.stream("GET", self.path) as response:
            self.status = response.status_code
            if self.status != 200:
                # The console's error page (the path is the console's, beside the Monitor page).
                self.error = response.read().decode()
            kind = "message"
            for line in response.iter_lines():
                if self.leaving:
                    # As a closed tab: the stream is dropped (seen at its next line at most 3 s on).
                    break
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    value = json.loads(line.removeprefix("data: "))
                    if kind == "done":
                        self.done = value
                        break
                    if isinstance(value, dict):
                        self.start = value
                        self.opened.set()
                    else:
                        self.events.append(value)
        self.opened.set()

    def output(self) -> str:
        return self.start.get("init", "") + "".join(d for _, code, d in self.events if code == "o")

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, (text, self.output()[-500:])
            time.sleep(0.1)

    def close(self) -> None:
        self.thread.join(15)
        self.client.close()

    def leave(self) -> None:
        self.leaving = True
        self.close()


@pytest.mark.parametrize("asset", ["local-web", "remote-web"])
def test_monitor_watches_a_shell_live_read_only_and_terminates_it(lab, api, asset):
    """An auditor opens Monitor on a running SSH-proxy shell (straight from the main, and out
    through the peer, whose proxy only relays): the terminal as it is, then what the owner's
    shell prints while the owner types; the owner reads that someone watches; nothing can be
    sent back; Terminate ends the owner's ssh and the watch, which is audited and listed."""
    login = f"aud-{asset}"
    add_user(api, login, "auditor")
    auditor = lab["main"].login("corp", "root", login, PASSWORD)
    terminal = lab["ssh"].shell(f"tadmin@corp#{asset}")
    try:
        terminal.type("echo before-$((2*3))")
        terminal.expect("before-6")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        watch = ShellWatch(lab["main"], "corp", row["id"], auditor)
        try:
            assert watch.opened.wait(15) and watch.status == 200, watch.status
            # A watcher who comes late sees the terminal as it is, and its size.
            assert "before-6" in watch.start["init"], watch.start
            assert (watch.start["width"], watch.start["height"]) == (80, 24)
            terminal.expect(f"Being watched, read-only, by: {login}.")
            details = expect(api.get(f"sessions/{row['id']}"), 200)
            assert [(w["watcher"], w["ended_at"]) for w in details["watches"]] == [(login, None)]

            terminal.type("echo live-$((6*7))")
            watch.wait_for("live-42")
            # The stream has no way in: nothing but GET is served on it.
            assert watch.client.post(watch.path, content=b"echo intruder\n").status_code == 405

            ended = expect(api.post(f"sessions/{row['id']}/terminate"), 200)
            assert ended["terminated_by"] == "tadmin"
            assert terminal.wait() != 0
        finally:
            watch.close()
    finally:
        terminal.close()
    assert watch.done == {"reason": "the session ended (tadmin terminated it)"}, watch.done
    done = wait_session(api, row["id"], {"completed", "failed"})
    [watched] = done["watches"]
    assert watched["watcher"] == login and watched["ended_at"] is not None
    assert "intruder" not in typescript(api, row["id"])
    audited = run_sql(
        lab["main"],
        "SELECT actor, target FROM audit_events WHERE action = 'session.watch' AND actor = :a",
        a=login,
    )
    assert audited == [(login, asset)]


def test_monitor_of_a_shell_is_refused_to_a_viewer_and_to_another_tenant(lab, api):
    # viewer-1 may view local-web (an asset permission), not Reports > Sessions.
    viewer = lab["main"].login("corp", "root", "viewer-1", PASSWORD)
    other_admin = create_tenant(lab["main"], "elsewhere-shell")
    terminal = lab["ssh"].shell("tadmin@corp#local-web")
    try:
        terminal.expect("$ ")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        refused = ShellWatch(lab["main"], "corp", row["id"], viewer)
        intruder = ShellWatch(lab["main"], "elsewhere-shell", row["id"], other_admin)
        refused.close()
        intruder.close()
        terminal.type("exit")
        terminal.wait()
    finally:
        terminal.close()
    assert (refused.status, refused.start) == (403, {}), refused.error
    assert "only who may read Reports &gt; Sessions of this site" in refused.error
    assert (intruder.status, intruder.start) == (404, {}), intruder.error
    assert f"this site has no session {row['id']}" in intruder.error
    done = wait_session(api, row["id"], {"completed", "failed"})
    assert done["watches"] == []
    assert "Being watched" not in terminal.text


def test_a_watcher_who_leaves_ends_the_watch_and_the_shell_goes_on(lab, api):
    terminal = lab["ssh"].shell("tadmin@corp#local-web")
    try:
        terminal.expect("$ ")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        watch = ShellWatch(lab["main"], "corp", row["id"], lab["admin"])
        assert watch.opened.wait(15) and watch.status == 200, watch.status
        terminal.expect("Being watched, read-only, by: tadmin.")
        watch.leave()
        terminal.expect("pamnode: No longer watched.", timeout=15)
        # The row says until when right after the owner is told.
        deadline = time.monotonic() + 10
        while not expect(api.get(f"sessions/{row['id']}"), 200)["watches"][0]["ended_at"]:
            assert time.monotonic() < deadline, "the watch was never ended"
            time.sleep(0.2)
        assert watch.done is None
        terminal.type("echo still-$((7*6))")
        terminal.expect("still-42")
        terminal.type("exit")
        assert terminal.wait() == 0
    finally:
        terminal.close()


def test_a_shell_whose_peer_freezes_ends_failed_peer_lost(lab, api):
    """The peer carrying a shell stops (SIGSTOP) without closing anything, while the shell is
    quiet: the main's questions to the peer go unanswered, and within the gateway's 10 s of
    silence the user reads why and the row ends `failed` with `peer_lost`."""
    terminal = lab["ssh"].shell("tadmin@corp#remote-web")
    pid = lab["peer"].proc.pid
    try:
        terminal.expect("$ ")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            terminal.expect("it did not answer for 10 s", timeout=20)
            noticed_s = time.monotonic() - frozen
            assert terminal.wait() != 0
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        terminal.close()
    assert "peer node 'west' was lost in the middle of the session" in terminal.text
    # 10 s after it was last heard from, which the main saw at most 3 s after the freeze.
    assert noticed_s < 14, noticed_s
    done = wait_session(api, row["id"], {"completed", "failed"}, timeout=10)
    assert (done["state"], done["error_code"]) == ("failed", "peer_lost"), done
    assert done["error"].endswith("it did not answer for 10 s"), done


def test_an_rdp_pass_through_whose_peer_freezes_ends_failed_peer_lost(lab, api):
    """The same for an RDP pass-through: its client's connection is closed and the row ends
    `failed peer_lost`."""
    with RdpServer("127.0.0.1", free_port()) as rdp:
        offer = rdp_offer_through_west(api, "rdp-frozen", rdp.port)
        pid = lab["peer"].proc.pid
        with socket.create_connection(("127.0.0.1", offer["port"]), timeout=20) as client:
            client.sendall(X224_CONNECTION_REQUEST)
            assert client.recv(19)[5] == X224_CONNECTION_CONFIRM
            wait_session(api, offer["session_id"], {"active"})
            os.kill(pid, signal.SIGSTOP)
            frozen = time.monotonic()
            try:
                assert client.recv(65536) == b""
                noticed_s = time.monotonic() - frozen
            finally:
                os.kill(pid, signal.SIGCONT)
    assert noticed_s < 14, noticed_s
    row = wait_session(api, offer["session_id"], {"completed", "failed"}, timeout=10)
    assert (row["state"], row["error_code"]) == ("failed", "peer_lost"), row
    assert row["error"] == (
        "peer node 'west' was lost in the middle of the session: it did not answer for 10 s"
    )
