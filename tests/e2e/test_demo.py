"""The README's "run it" command: `pamnode demo` walks the seed (a job and an SSH session
through the peer) and shows the peer's signature and gateway."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pamnode.demo.run import can_isolate


@pytest.mark.parametrize("mode", ["isolated", "loopback"])
def test_demo_ends_on_the_peer_node_signature(mode):
    if mode == "isolated" and not can_isolate():
        pytest.skip("network namespaces need root and iproute2")
    argv = [
        sys.executable,
        "-m",
        "pamnode",
        "demo",
        *(["--loopback"] if mode == "loopback" else []),
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Node Signature: 12P-remotePeer-dev::proxm-27::root" in result.stdout
    assert "Test Connection answered by 12P-remotePeer-dev::proxm-27::root" in result.stdout
    # The session went through the peer's gateway: its report and typescript say so.
    assert "Gateway:" in result.stdout and "Reports > Sessions > Show Details" in result.stdout
    assert "$ hostname; hostname -I" in result.stdout
    if mode == "isolated":
        assert "Gateway: 10.77." in result.stdout
        assert "Unix Status Check from the main node: failed" in result.stdout
        assert "cannot be reached" in result.stdout
