"""The main's native proxy on loopback: its SSH proxy driven by OpenSSH's own clients (exec, a
shell on a real PTY, SFTP and scp), straight from the main or out through a peer's HTTP proxy;
the refusals a person sees; the Sessions report and recordings; RDP pass-through to a real
xrdp. The three-namespace version is in tests/e2e.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import pytest

from pamnode.core.ssh_library import asyncssh
from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from pamnode.lab.rdp import X224_CONNECTION_CONFIRM, X224_CONNECTION_REQUEST, RdpServer
from pamnode.lab.vnc import exchange
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, error_of, expect
from tests.support.jobs import ssh_host
from tests.support.sessions import recording_sha256, wait_session
from tests.support.ssh_proxy import PEER_TENANT, newest_open, proxy_lab, rdp_offer_through_west

IDLE_S = 6


@pytest.fixture(scope="module")
def lab(node_factory, sshd, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("openssh")
    return proxy_lab(node_factory, sshd, workdir, PAMNODE_PROXY_IDLE_TIMEOUT_S=str(IDLE_S))


@pytest.fixture
def api(lab):
    with lab["main"].client("corp", token=lab["admin"]) as client:
        yield client


def newest(api, channel: str) -> dict:
    page = expect(api.get("sessions", params={"limit": 20}), 200)
    found = next(s for s in page["sessions"] if s["channel"] == channel)
    return wait_session(api, found["id"], {"completed", "failed"})


def recording(api, session_id: str, kind: str) -> str:
    response = api.get(f"sessions/{session_id}/recording", params={"kind": kind})
    assert response.status_code == 200, response.text
    return response.text


def test_the_banners_name_every_listener(lab):
    """What an administrator copies from a node's start into a main's form: the proxies'
    addresses, and the SSH proxy's host key as `ssh` will show it."""
    key = asyncssh.read_private_key(lab["main"].data_dir / "ssh_proxy_host_key")
    main_log = lab["main"].log_text()
    ssh_port = lab["ssh"].port
    assert f"SSH proxy on 127.0.0.1:{ssh_port}, host key {key.get_fingerprint('sha256')}" in (
        main_log
    )
    assert "HTTP proxy (proxy sessions) on" not in main_log
    peer_log = lab["peer"].log_text()
    assert (
        f"HTTP proxy (proxy sessions) on 127.0.0.1:{lab['proxy_port']}, with the same "
        "certificate: a main's HTTP Proxy Address"
    ) in peer_log


def test_exec_from_the_main_returns_output_and_exit_status(lab, api):
    done = lab["ssh"].ssh("tadmin@corp#local-web", "hostname; exit 3")
    assert done.returncode == 3, done.stderr
    assert done.stdout.decode().strip() == socket.gethostname()

    row = newest(api, "SSHP:Exec")
    assert (row["state"], row["asset_name"], row["requested_by"]) == (
        "completed",
        "local-web",
        "tadmin",
    )
    assert row["node_signature"] == "main::corp::root" and row["peer_node"] is None
    assert row["recordings"] == ["commands"] and row["bytes_in"] > 0
    commands = recording(api, row["id"], "commands")
    assert "$ hostname; exit 3" in commands and "exit status 3" in commands
    assert row["recording_hashes"] == {"commands": recording_sha256(api, row["id"], "commands")}


def test_the_cli_downloads_a_recording(lab, api, tmp_path):
    done = lab["ssh"].ssh("tadmin@corp#local-web", "echo cli-recording")
    assert done.returncode == 0, done.stderr
    row = newest(api, "SSHP:Exec")
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    log_in(env, lab["main"], "corp", "tadmin", password_file)

    # The session has one recording: --kind may be left out.
    out = tmp_path / "commands.txt"
    wrote = run_cli(env, "sessions", "recording", row["id"], "-o", str(out))
    assert out.read_text() == recording(api, row["id"], "commands")
    assert f"Wrote {out}" in wrote.stdout and "commands" in wrote.stdout
    printed = run_cli(env, "sessions", "recording", row["id"], "--kind", "commands")
    assert printed.stdout == out.read_text()

    # A kind the session does not have: the server's reason, and no file left behind.
    missing = tmp_path / "typescript.txt"
    refused = run_cli(
        env,
        "sessions",
        "recording",
        row["id"],
        "--kind",
        "typescript",
        "-o",
        str(missing),
        check=False,
    )
    assert refused.returncode == 1 and "no typescript" in refused.stderr, refused.stderr
    assert list(tmp_path.glob("typescript.txt*")) == []


def test_exec_through_the_peers_http_proxy(lab, api):
    done = lab["ssh"].ssh("tadmin@corp/root#remote-web", "uname", "-n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == socket.gethostname()

    row = newest(api, "SSHP:Exec")
    assert row["asset_name"] == "remote-web" and row["state"] == "completed"
    assert row["gateway"] == f"127.0.0.1:{lab['proxy_port']}"
    assert (row["peer_node"], row["node_signature"]) == ("west", f"peer-west::{PEER_TENANT}::root")
    assert [a["outcome"] for a in row["attempts"]] == ["connected"]
    # The peer audited the tunnel with its bytes; it never held the host's credential.
    tunnels = run_sql(
        lab["peer"],
        "SELECT details FROM audit_events WHERE action = 'proxy.tunnel' ORDER BY id",
    )
    assert tunnels and '"bytes_to_target"' in str(tunnels[-1][0])


def test_interactive_shell_on_a_pty_with_window_changes(lab, api):
    terminal = lab["ssh"].shell("tadmin@corp#remote-web", rows=24, cols=80)
    try:
        terminal.expect("$ ")
        terminal.type("echo marker-$((6*7))")
        terminal.expect("marker-42")
        terminal.type("stty size")
        terminal.expect("24 80")
        terminal.resize(40, 132)
        time.sleep(0.5)
        terminal.type("stty size")
        terminal.expect("40 132")
        terminal.type("exit")
        assert terminal.wait() == 0, terminal.text
    finally:
        terminal.close()

    row = newest(api, "SSHP:Shell")
    assert row["state"] == "completed" and row["peer_node"] == "west"
    typescript = recording(api, row["id"], "typescript")
    assert "marker-42" in typescript and "40 132" in typescript
    assert row["recordings"] == ["typescript", "asciicast"]
    # The asciicast: the terminal's size, output with rising times, the resize in its place.
    header, *lines = recording(api, row["id"], "asciicast").splitlines()
    assert json.loads(header)["version"] == 2
    assert (json.loads(header)["width"], json.loads(header)["height"]) == (80, 24)
    events = [json.loads(line) for line in lines]
    times = [event[0] for event in events]
    assert times == sorted(times) and times[-1] > 0.5
    output = "".join(data for _, code, data in events if code == "o")
    assert "marker-42" in output and "24 80" in output and "40 132" in output
    # The kernel's SIGWINCH and the test's own can reach ssh apart: one window change or two,
    # of the same size.
    resizes = [index for index, event in enumerate(events) if event[1] == "r"]
    assert resizes and {events[index][2] for index in resizes} == {"132x40"}, resizes
    resize = resizes[0]
    before = "".join(data for _, code, data in events[:resize] if code == "o")
    assert "24 80" in before and "40 132" not in before


def test_sftp_and_scp_round_trip_a_file(lab, api, tmp_path):
    payload = (b"pamnode sftp " * 40000)[:500_000]
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    remote = f"/tmp/pamnode-sftp-{time.monotonic_ns()}.bin"
    back = tmp_path / "back.bin"
    # Commands on stdin (sftp -b would forbid password authentication); sftp carries on past
    # the refused upload (the lab's user cannot write to /) and removal.
    batch = (
        f"put {source} /pamnode-refused.bin\nrm /pamnode-absent.bin\n"
        f"put {source} {remote}\nget {remote} {back}\nrm {remote}\n"
    )
    done = lab["ssh"].run(
        "sftp",
        "-P",
        str(lab["ssh"].port),
        "tadmin@corp#remote-web@127.0.0.1",
        stdin=batch.encode(),
    )
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()

    row = newest(api, "SSHP:SFTP")
    assert row["state"] == "completed" and row["node_signature"].startswith("peer-west::")
    files = recording(api, row["id"], "files")
    assert f"open {remote} (write, create, truncate)" in files
    assert f"close {remote}: {len(payload)} bytes written, 0 bytes read" in files
    assert f"remove {remote}" in files
    assert (
        "refused: open /pamnode-refused.bin (write, create, truncate) (Permission denied)" in files
    )
    assert "refused: remove /pamnode-absent.bin (No such file)" in files
    assert f"refused: open {remote}" not in files and f"refused: remove {remote}" not in files

    copied = tmp_path / "scp.bin"
    done = lab["ssh"].run(
        "scp", "-P", str(lab["ssh"].port), str(source), f"tadmin@corp#local-web@127.0.0.1:{remote}"
    )
    assert done.returncode == 0, done.stderr
    # scp checks the user name of a remote source, and refuses '#': give it as an option.
    done = lab["ssh"].run(
        "scp",
        "-P",
        str(lab["ssh"].port),
        "-o",
        "User=tadmin@corp#local-web",
        f"127.0.0.1:{remote}",
        str(copied),
    )
    assert done.returncode == 0, done.stderr
    assert copied.read_bytes() == payload
    lab["ssh"].ssh("tadmin@corp#local-web", "rm", "-f", remote)


def test_refusals_a_person_can_act_on(lab, api):
    ssh = lab["ssh"]
    wrong = OpenSshClient(ssh.host, ssh.port, "not-the-password", ssh.workdir)
    done = wrong.ssh("viewer-1@corp#local-web", "true")
    assert done.returncode == 255 and b"Permission denied" in done.stderr

    done = ssh.ssh("tadmin@corp", "true")
    assert done.returncode == 255
    assert b"names no asset: log in as 'login#asset'" in done.stderr

    done = ssh.ssh("viewer-1@corp#local-web", "true")
    assert done.returncode == 255
    assert b"may not open sessions on it" in done.stderr

    done = ssh.ssh("tadmin@corp#no-such-host", "true")
    assert done.returncode == 255 and b"this site has no asset no-such-host" in done.stderr

    done = ssh.run(
        "ssh", "-p", str(ssh.port), "-W", "127.0.0.1:22", "tadmin@corp#local-web@127.0.0.1"
    )
    assert done.returncode == 255
    assert b"does not forward ports or sockets" in done.stderr


def test_a_malformed_login_is_refused_before_any_password_prompt(lab, tmp_path):
    """The reason comes first and alone: no password is asked for a name that names no asset
    (OpenSSH would otherwise prompt again and again before its "Permission denied")."""
    ssh = lab["ssh"]
    counting = OpenSshClient(ssh.host, ssh.port, PASSWORD, tmp_path)
    (tmp_path / "known_hosts").write_text((ssh.workdir / "known_hosts").read_text())
    asked = tmp_path / "asked"
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(
        f'#!/bin/sh\necho asked >> {asked}\nprintf "%s\\n" "$PAMNODE_LAB_PASSWORD"\n'
    )
    askpass.chmod(0o700)
    done = counting.ssh("tadmin@corp", "true")
    assert done.returncode == 255
    assert b"Received disconnect" in done.stderr
    assert b"pamnode: 'tadmin@corp' names no asset: log in as 'login#asset'" in done.stderr
    assert not asked.exists(), (asked.read_text(), done.stderr)
    # The same client with a well-formed name is asked for its password, once.
    assert counting.ssh("tadmin@corp#local-web", "true").returncode == 0
    assert asked.read_text() == "asked\n"


def test_an_asset_the_user_cannot_see_is_refused_as_one_that_does_not_exist(lab):
    # viewer-1 holds a permission on local-web only; remote-web exists, hidden from them.
    hidden = lab["ssh"].ssh("viewer-1@corp#remote-web", "true")
    missing = lab["ssh"].ssh("viewer-1@corp#remote-wob", "true")
    assert hidden.returncode == missing.returncode == 255
    assert b"this site has no asset remote-web" in hidden.stderr
    assert hidden.stderr.replace(b"remote-web", b"remote-wob") == missing.stderr


def test_terminate_and_idle_end_a_shell(lab, api):
    terminal = lab["ssh"].shell("tadmin@corp#local-web")
    try:
        terminal.expect("$ ")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        ended = expect(api.post(f"sessions/{row['id']}/terminate"), 200)
        assert ended["state"] == "completed" and ended["terminated_by"] == "tadmin"
        assert terminal.wait() != 0
    finally:
        terminal.close()

    terminal = lab["ssh"].shell("tadmin@corp#local-web")
    try:
        terminal.expect("$ ")
        terminal.expect(f"ended after {IDLE_S} s without traffic", timeout=IDLE_S + 15)
    finally:
        terminal.close()
    row = newest(api, "SSHP:Shell")
    assert (row["state"], row["error_code"]) == ("completed", "idle_timeout")


def test_the_host_key_is_pinned_and_enforced(lab, api, sshd):
    host = ssh_host(api, sshd, "pinned-web")
    assert lab["ssh"].ssh("tadmin@corp#pinned-web", "true").returncode == 0
    pinned = run_sql(
        lab["main"], f"SELECT key FROM asset_host_keys WHERE asset_id = '{host['id']}'"
    )
    assert pinned == [(sshd.host_key_line,)]
    impostor = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv4i0ODnTrvhbMe8aHX6G2+sD7bC2kCnA0yYn8e0ZtM"
    run_sql(
        lab["main"],
        f"UPDATE asset_host_keys SET key = '{impostor}' WHERE asset_id = '{host['id']}'",
    )
    done = lab["ssh"].ssh("tadmin@corp#pinned-web", "true")
    assert done.returncode == 255 and b"host key of" in done.stderr and b"changed" in done.stderr
    row = newest(api, "SSHP:Exec")
    assert (row["state"], row["error_code"]) == ("failed", "host_key_changed")


def test_rdp_pass_through_carries_one_client_through_the_peer(lab, api, tmp_path):
    """The commands of docs/proxy.md's "Trying it", with a real xrdp (a real X.224 exchange
    stands for xfreerdp, which needs a screen)."""
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    log_in(env, lab["main"], "corp", "tadmin", password_file)
    with RdpServer("127.0.0.1", free_port()) as rdp:
        made = run_cli(
            env,
            "asset",
            "add",
            "rdp-desk",
            "--type",
            "windows-host",
            "--host",
            "127.0.0.1",
            "--session-port",
            str(rdp.port),
            "--json",
        )
        desk = json.loads(made.stdout)
        body = {"peer_node": "west", "enabled": True}
        expect(api.post(f"assets/{desk['id']}/peer-nodes", json=body), 201)
        rdp_file = tmp_path / "desk.rdp"
        offered = run_cli(env, "sessions", "rdp-proxy", "rdp-desk", "--out", str(rdp_file))
        port = int(re.search(r"full address:s:127\.0\.0\.1:(\d+)", rdp_file.read_text())[1])
        assert f"Connect an RDP client to 127.0.0.1:{port} within 60 s" in offered.stdout
        assert "password" not in rdp_file.read_text()
        session_id = re.search(r"Session (\S+)\.", offered.stdout)[1]

        # A real RDP exchange: xrdp confirms the client's X.224 connection request.
        answer = exchange("127.0.0.1", port, X224_CONNECTION_REQUEST, 19)
        assert answer[5] == X224_CONNECTION_CONFIRM
        row = wait_session(api, session_id, {"completed", "failed"})
        # The port was for one connection only.
        with pytest.raises(OSError):
            exchange("127.0.0.1", port, X224_CONNECTION_REQUEST, 19)
    assert (row["channel"], row["state"], row["peer_node"]) == ("RDPP", "completed", "west")
    assert row["node_signature"] == f"peer-west::{PEER_TENANT}::root"
    assert row["bytes_out"] == len(X224_CONNECTION_REQUEST) and row["bytes_in"] >= 19
    assert row["recordings"] == []

    # A Unix host reached by SSH cannot carry an RDP pass-through.
    local = next(a for a in expect(api.get("assets"), 200) if a["name"] == "local-web")
    refused = error_of(api.post(f"assets/{local['id']}/rdp-proxy"), 422)
    assert refused["code"] == "session_protocol_mismatch"
    assert refused["message"] == (
        "'local-web' is reached with SSH, so it cannot carry an RDP pass-through (RDPP)"
    )


def test_a_throttled_login_is_refused_before_its_password_with_a_reason(lab, api):
    """Five wrong passwords lock the login: the right one is then refused without being
    checked, and the client is told why rather than left to think the password wrong."""
    add_user(api, "guesser")
    ssh = lab["ssh"]
    wrong = OpenSshClient(ssh.host, ssh.port, "not-the-password", ssh.workdir)
    for _ in range(5):
        assert wrong.ssh("guesser@corp#local-web", "true").returncode == 255
    done = ssh.ssh("guesser@corp#local-web", "true")
    assert done.returncode == 255 and b"Permission denied" in done.stderr
    assert b"pamnode: too many failed logins for this login" in done.stderr


def test_a_shell_whose_peer_is_killed_ends_failed_peer_lost(lab, api):
    """The peer carrying a shell dies: the client reads why at once and the row ends `failed`
    with `peer_lost`, not `completed`."""
    terminal = lab["ssh"].shell("tadmin@corp#remote-web")
    try:
        terminal.expect("$ ")
        row = wait_session(api, newest_open(api)["id"], {"active"})
        lab["peer"].kill()
        try:
            terminal.expect("peer node 'west' was lost in the middle of the session", timeout=10)
            assert terminal.wait() != 0
        finally:
            lab["peer"].start()
    finally:
        terminal.close()
    done = wait_session(api, row["id"], {"completed", "failed"}, timeout=10)
    assert (done["state"], done["error_code"]) == ("failed", "peer_lost"), done
    assert done["peer_node"] == "west"


def test_an_rdp_pass_through_whose_peer_is_killed_ends_failed_peer_lost(lab, api):
    """The route ends before the client: the main asks the peer, which does not answer, so
    the row ends `failed peer_lost` (a target that ends the connection leaves `completed`)."""
    with RdpServer("127.0.0.1", free_port()) as rdp:
        offer = rdp_offer_through_west(api, "rdp-lost", rdp.port)
        with socket.create_connection(("127.0.0.1", offer["port"]), timeout=10) as client:
            client.sendall(X224_CONNECTION_REQUEST)
            assert client.recv(19)[5] == X224_CONNECTION_CONFIRM
            wait_session(api, offer["session_id"], {"active"})
            lab["peer"].kill()
            try:
                assert client.recv(65536) == b""
                row = wait_session(api, offer["session_id"], {"completed", "failed"}, timeout=15)
            finally:
                lab["peer"].start()
    assert (row["state"], row["error_code"]) == ("failed", "peer_lost"), row
    assert row["error"].startswith("peer node 'west' was lost in the middle of the session")
