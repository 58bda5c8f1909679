"""Native proxy sessions into a datacenter the main node cannot reach: OpenSSH's own ssh, sftp
and scp, run by the administrator (root namespace), reach `main:2203`; the main carries each
channel out through the peer's HTTP proxy to a real sshd in the datacenter.

Three network namespaces: main <-> peer <-> datacenter, and admin links to main and peer.
"""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

from pamnode.lab.openssh import OpenSshClient
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.isolated import PEER_NODE, datacenter_host, isolated_lab
from tests.support.peers import add_trusted_peer, prepare_peer_site
from tests.support.sessions import wait_session

SSH_PROXY_PORT = 2203
HTTP_PROXY_PORT = 8800
SIGNATURE = f"{PEER_NODE}::proxm-27::root"


def _recording(client, session_id: str, kind: str) -> str:
    response = client.get(f"sessions/{session_id}/recording", params={"kind": kind})
    assert response.status_code == 200, response.text
    return response.text


def test_openssh_clients_reach_the_datacenter_through_the_peers_http_proxy(tmp_path):
    with isolated_lab(
        tmp_path,
        main_env={"PAMNODE_SSH_PROXY_PORT": str(SSH_PROXY_PORT)},
        peer_env={"PAMNODE_HTTP_PROXY_PORT": str(HTTP_PROXY_PORT)},
    ) as lab:
        zones, main, peer = lab.zones, lab.main, lab.peer
        jwt = prepare_peer_site(peer, "proxm-27")
        admin = create_tenant(main, "corp")
        with main.client("corp", token=admin) as client:
            box, _ = datacenter_host(client, lab)
            created = add_trusted_peer(
                client,
                "remote",
                peer,
                "proxm-27",
                jwt,
                "http-proxy",
                peer_address=zones.peer_main_addr,
                http_proxy=True,
                http_proxy_address=f"{zones.peer_main_addr}:{HTTP_PROXY_PORT}",
            )
            info = expect(client.post(f"peer-nodes/{created['id']}/test-connection"), 200)
            assert info["capabilities"]["http_proxy"] is True, info
            expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "remote"}), 201)

            ssh = OpenSshClient(zones.admin_main_addr, SSH_PROXY_PORT, PASSWORD, tmp_path)
            ssh.pin(main.data_dir / "ssh_proxy_host_key")
            user = "tadmin@corp#datacenter/db-1"

            # exec: the answer comes from the datacenter (its only address is there).
            done = ssh.ssh(user, "hostname; hostname -I")
            assert done.returncode == 0, done.stderr
            name, addresses = done.stdout.decode().splitlines()
            assert name == socket.gethostname() and zones.datacenter_addr in addresses.split()

            # An interactive shell on a real PTY: two commands.
            terminal = ssh.shell(user)
            try:
                terminal.expect("$ ")
                terminal.type("echo first-$((20+1))")
                terminal.expect("first-21")
                terminal.type("hostname -I")
                terminal.expect(zones.datacenter_addr)
                terminal.type("exit")
                assert terminal.wait() == 0, terminal.text
            finally:
                terminal.close()

            # A file round trip: up with sftp, back with scp, the same SHA-256.
            payload = bytes(range(256)) * 4096
            (tmp_path / "up.bin").write_bytes(payload)
            # A name of this run's own: a file left by an earlier run belongs to a lab user
            # deleted since, /tmp's sticky bit refuses the overwrite, sftp (commands on stdin:
            # -b would forbid password authentication) still exits 0, and scp reads back the
            # old file, of the same bytes.
            remote = f"/tmp/pamnode-e2e-proxy-{time.monotonic_ns()}.bin"
            batch = f"put {tmp_path / 'up.bin'} {remote}\n"
            done = ssh.run(
                "sftp", "-P", str(SSH_PROXY_PORT), f"{user}@{ssh.host}", stdin=batch.encode()
            )
            assert done.returncode == 0, done.stderr
            done = ssh.run(
                "scp",
                "-P",
                str(SSH_PROXY_PORT),
                "-o",
                f"User={user}",
                f"{ssh.host}:{remote}",
                str(tmp_path / "down.bin"),
            )
            assert done.returncode == 0, done.stderr
            down = (tmp_path / "down.bin").read_bytes()
            assert hashlib.sha256(down).hexdigest() == hashlib.sha256(payload).hexdigest()
            # The datacenter's namespace shares this machine's filesystem.
            Path(remote).unlink()

            # The Sessions report: each channel, carried by the peer's proxy, recorded.
            page = expect(client.get("sessions", params={"limit": 10}), 200)["sessions"]
            ended = [wait_session(client, row["id"], {"completed", "failed"}) for row in page]
            rows = {row["channel"]: row for row in reversed(ended)}
            assert {"SSHP:Exec", "SSHP:Shell", "SSHP:SFTP"} <= set(rows)
            for row in ended:
                assert row["state"] == "completed", row
                assert row["node_signature"] == SIGNATURE, row
                assert row["gateway"] == f"{zones.peer_main_addr}:{HTTP_PROXY_PORT}"
                assert row["bytes_in"] > 0 and row["bytes_out"] > 0
            commands = _recording(client, rows["SSHP:Exec"]["id"], "commands")
            assert "$ hostname; hostname -I" in commands and "exit status 0" in commands
            assert "first-21" in _recording(client, rows["SSHP:Shell"]["id"], "typescript")
            # sftp wrote the file, scp (which speaks SFTP) read it back.
            files = "".join(
                _recording(client, row["id"], "files")
                for row in ended
                if row["channel"] == "SSHP:SFTP"
            )
            assert f"close {remote}: {len(payload)} bytes written, 0 bytes read" in files
            assert f"close {remote}: 0 bytes written, {len(payload)} bytes read" in files
