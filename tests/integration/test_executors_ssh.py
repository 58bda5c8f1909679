"""The SSH executor against a real OpenSSH sshd: on loopback, and across network namespaces."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

from pamnode.assets.credentials import REDACTED, Credential
from pamnode.core.errors import ExecutionError
from pamnode.core.ssh_library import asyncssh
from pamnode.executors import ssh
from pamnode.executors.specs import Target
from pamnode.lab.netns import Netns, three_zone_topology
from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    with SshServer("127.0.0.1", free_port()) as started:
        yield started


def target_of(server: SshServer, pinned: str | None = None) -> Target:
    return Target("127.0.0.1", server.port, "ssh", known_host_key=pinned)


def fingerprint(key_line: str) -> str:
    return asyncssh.import_public_key(key_line).get_fingerprint("sha256")


async def failure(coro: Awaitable[object]) -> ExecutionError:
    with pytest.raises(ExecutionError) as caught:
        await coro
    return caught.value


async def test_status_check_with_password_records_the_host_key(server: SshServer) -> None:
    result = await ssh.unix_status_check(
        target_of(server), Credential(server.user, password=server.password), TIMEOUT_S
    )
    assert result.exit_status == 0
    # First contact: the presented key comes back, to be pinned by the caller.
    assert result.host_key == server.host_key_line
    facts = result.facts
    assert facts["user"] == server.user
    assert facts["kernel"] and facts["hostname"] and facts["os_name"]
    assert isinstance(facts["uptime_s"], float) and facts["uptime_s"] > 0
    assert all(isinstance(facts[k], float) for k in ("load_1m", "load_5m", "load_15m"))
    assert facts["disk_mount"] == "/"
    assert isinstance(facts["disk_size_bytes"], int) and facts["disk_size_bytes"] > 0
    assert 0 <= facts["disk_used_percent"] <= 100
    assert server.user in result.output and server.password not in result.output


async def test_status_check_with_key_and_pinned_host_key(server: SshServer) -> None:
    result = await ssh.unix_status_check(
        target_of(server, pinned=server.host_key_line),
        Credential(server.user, private_key=server.private_key),
        TIMEOUT_S,
    )
    assert result.exit_status == 0 and result.facts["user"] == server.user
    assert result.host_key == server.host_key_line
    assert "Accepted publickey for " + server.user in server.log_text()


@pytest.mark.parametrize("key_format", ["openssh", "pkcs8-pem"])
async def test_key_with_passphrase(server: SshServer, key_format: str) -> None:
    # openssh is ssh-keygen's default (bcrypt KDF); pkcs8-pem is what other tools export.
    encrypted = (
        asyncssh.import_private_key(server.private_key)
        .export_private_key(key_format, passphrase="pass-phrase-1")
        .decode()
    )
    good = Credential(server.user, private_key=encrypted, passphrase="pass-phrase-1")
    result = await ssh.run_script(target_of(server), good, "id -un", TIMEOUT_S)
    assert result.output.strip() == server.user

    bad = Credential(server.user, private_key=encrypted, passphrase="wrong-phrase-2")
    error = await failure(ssh.run_script(target_of(server), bad, "true", TIMEOUT_S))
    assert error.code == "auth_failed"
    assert "passphrase" in error.message and "wrong-phrase-2" not in error.message


async def test_script_output_and_exit_status(server: SshServer) -> None:
    script = "echo out-line\necho err-line >&2\nprintf 'ünï\\n'\nexit 7\n"
    result = await ssh.run_script(
        target_of(server), Credential(server.user, password=server.password), script, TIMEOUT_S
    )
    assert result.exit_status == 7
    assert result.output == "out-line\nerr-line\nünï\n"
    assert result.facts == {}


async def test_script_quoting_and_stdin_closed(server: SshServer) -> None:
    # Quotes, $ and a command reading stdin: the script arrives verbatim and nothing hangs.
    script = """a='it'"'"'s $HOME'; echo "$a"; cat; echo done"""
    result = await ssh.run_script(
        target_of(server), Credential(server.user, password=server.password), script, TIMEOUT_S
    )
    assert (result.exit_status, result.output) == (0, "it's $HOME\ndone\n")


async def test_secrets_are_redacted_from_output(server: SshServer) -> None:
    credential = Credential(server.user, password=server.password)
    script = f"echo 'leak: {server.password}'"
    result = await ssh.run_script(target_of(server), credential, script, TIMEOUT_S)
    assert result.output == f"leak: {REDACTED}\n"


async def test_wrong_password_is_auth_failed(server: SshServer) -> None:
    credential = Credential(server.user, password="not-the-password-9")
    error = await failure(ssh.run_script(target_of(server), credential, "true", TIMEOUT_S))
    assert error.code == "auth_failed"
    assert server.user in error.message and f"127.0.0.1:{server.port}" in error.message
    assert "not-the-password-9" not in error.message


async def test_closed_port_is_network_unreachable() -> None:
    port = free_port()
    target = Target("127.0.0.1", port, "ssh")
    error = await failure(ssh.run_script(target, Credential("x", password="y"), "true", 5))
    assert error.code == "network_unreachable"
    assert f"127.0.0.1:{port}" in error.message
    assert "cannot be reached from this node" in error.message


async def test_script_past_its_timeout(server: SshServer) -> None:
    credential = Credential(server.user, password=server.password)
    error = await failure(ssh.run_script(target_of(server), credential, "sleep 30", 1))
    assert error.code == "timeout"


async def test_wrong_protocol_is_refused() -> None:
    target = Target("127.0.0.1", 1, "winrm")
    error = await failure(ssh.run_script(target, Credential("x"), "true", 5))
    assert error.code == "protocol_error"


async def test_host_key_is_pinned_then_a_changed_key_is_refused() -> None:
    with SshServer("127.0.0.1", free_port()) as server:
        credential = Credential(server.user, password=server.password)
        first = await ssh.run_script(target_of(server), credential, "true", TIMEOUT_S)
        pinned = first.host_key
        assert pinned == server.host_key_line
        again = await ssh.run_script(target_of(server, pinned), credential, "true", TIMEOUT_S)
        assert again.exit_status == 0

        server.replace_host_key()
        log_before = len(server.log_text())
        error = await failure(
            ssh.run_script(target_of(server, pinned), credential, "true", TIMEOUT_S)
        )
        assert error.code == "host_key_changed"
        assert fingerprint(pinned) in error.message
        assert fingerprint(server.host_key_line) in error.message
        # Refused during key exchange: the server never saw a user or a password.
        assert server.user not in server.log_text()[log_before:]
        assert server.password not in error.message


async def test_garbage_pinned_key_is_a_clear_error(server: SshServer) -> None:
    target = target_of(server, pinned="ssh-ed25519 not-base64")
    error = await failure(ssh.run_script(target, Credential(server.user), "true", TIMEOUT_S))
    assert error.code == "protocol_error" and "pinned" in error.message


# Runs inside a namespace: reads target and credential from stdin (never argv, which any
# local user can read), prints the outcome as JSON.
CLIENT = """
import asyncio, json, sys
from pamnode.core.errors import ExecutionError
from pamnode.executors import ssh
from pamnode.assets.credentials import Credential
from pamnode.executors.specs import Target

spec = json.load(sys.stdin)
try:
    result = asyncio.run(ssh.unix_status_check(
        Target(**spec["target"]), Credential(**spec["credential"]), 10))
    print(json.dumps({"ok": True, "facts": result.facts}))
except ExecutionError as exc:
    print(json.dumps({"ok": False, "code": exc.code, "message": exc.message}))
"""


def status_check_from(ns: Netns, target: Target, credential: Credential) -> dict:
    spec = {
        "target": {"host": target.host, "port": target.port, "protocol": target.protocol},
        "credential": {"username": credential.username, "password": credential.password},
    }
    done = ns.run([sys.executable, "-c", CLIENT], input=json.dumps(spec), cwd=REPO)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_datacenter_host_reachable_from_peer_only() -> None:
    with three_zone_topology() as zones:
        sshd = SshServer(zones.datacenter_addr, 2222, netns=zones.datacenter.name)
        with sshd:
            target = Target(zones.datacenter_addr, 2222, "ssh")
            credential = Credential(sshd.user, password=sshd.password)

            from_peer = status_check_from(zones.peer, target, credential)
            assert from_peer["ok"], from_peer
            assert from_peer["facts"]["user"] == sshd.user

            from_main = status_check_from(zones.main, target, credential)
            assert not from_main["ok"]
            assert from_main["code"] == "network_unreachable"
            assert f"{zones.datacenter_addr}:2222" in from_main["message"]
            assert "cannot be reached from this node" in from_main["message"]
