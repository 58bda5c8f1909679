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
    typescript = result.stdout.split("First lines of the session's typescript:", 1)[1]
    # Echoed by the terminal (before or after the prompt, as the shell was ready).
    assert "hostname; hostname -I; exit" in typescript
    if mode == "isolated":
        assert "Gateway: 10.77." in result.stdout
        # The shell that answered runs in the datacenter.
        assert "10.77.2.2" in typescript.split("hostname -I; exit", 1)[1]
        assert "Unix Status Check from the main node: failed" in result.stdout
        assert "cannot be reached" in result.stdout
