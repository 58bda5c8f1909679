"""Remote sessions into a datacenter the main node cannot reach, through the peer's gateway.

Three network namespaces: main <-> peer <-> datacenter; real guacd on both nodes, a real sshd
in the datacenter. The tunnel is spoken by a program as a browser would speak it.
"""

from __future__ import annotations

from pamnode.lab.tunnel_client import TunnelClient, run_command
from tests.support.identity import create_tenant, expect
from tests.support.isolated import datacenter_host, isolated_lab
from tests.support.peers import add_trusted_peer, prepare_peer_site
from tests.support.sessions import open_session, typescript, wait_session

GATEWAY_PORT = 4822


def test_ssh_session_reaches_the_datacenter_only_through_the_peers_gateway(tmp_path):
    with isolated_lab(tmp_path, peer_env={"PAMNODE_GATEWAY_PORT": str(GATEWAY_PORT)}) as lab:
        zones, main, peer = lab.zones, lab.main, lab.peer
        jwt = prepare_peer_site(peer, "proxm-27")
        admin = create_tenant(main, "corp")
        with main.client("corp", token=admin) as client:
            box, asset = datacenter_host(client, lab)

            # Without a peer the main's own guacd carries it, and cannot reach the host.
            direct = open_session(client, asset["id"])
            with TunnelClient(main, direct["tunnel"], admin) as tunnel:
                seen = tunnel.pump(60, until="error")
            assert seen.errors, seen
            failed = wait_session(client, direct["id"], {"completed", "failed"})
            assert (failed["state"], failed["error_code"]) == ("failed", "remote_error")
            assert failed["node_signature"] == "main-node::corp::root"

            gateway = f"{zones.peer_main_addr}:{GATEWAY_PORT}"
            created = add_trusted_peer(
                client,
                "remote",
                peer,
                "proxm-27",
                jwt,
                "gateway",
                peer_address=zones.peer_main_addr,
                gateway=True,
                gateway_address=gateway,
            )
            info = expect(client.post(f"peer-nodes/{created['id']}/test-connection"), 200)
            assert info["ok"] and info["capabilities"]["gateway"] is True, info
            expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "remote"}), 201)

            opened = open_session(client, asset["id"])
            seen = run_command(main, admin, opened["tunnel"], "hostname; hostname -I")
            assert seen.opcodes["sync"] > 0 and not seen.errors, seen
            done = wait_session(client, opened["id"], {"completed", "failed"})
            assert done["state"] == "completed", done
            assert done["gateway"] == gateway
            assert done["peer_node"] == "remote"
            assert done["node_signature"] == "12P-remotePeer-dev::proxm-27::root"
            script = typescript(client, opened["id"])
        # The shell that answered runs in the datacenter: its only address is there.
        assert zones.datacenter_addr in script.split("hostname -I", 1)[1]
