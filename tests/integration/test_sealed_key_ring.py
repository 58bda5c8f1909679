"""The key ring sealed in the database under a key-encryption key (docs/operations.md): two
real main nodes on one PostgreSQL database, each with its own data directory and no key ring
file anywhere, share the vault through the database alone; a node with another KEK, or none,
refuses to start; a key ring file moves into the database with `pamnode vault keyring import`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pamnode.crypto.kek import Kek
from pamnode.lab.node_process import NodeProcess
from tests.support.assets import key_version
from tests.support.cli import run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import ssh_host, wait_job

pytestmark = pytest.mark.databases("postgresql")

KEK = base64.b64encode(os.urandom(32)).decode()
KEK_ID = Kek.parse(KEK).id


@dataclass
class Mains:
    a: NodeProcess
    b: NodeProcess
    admin: str
    host: str


@pytest.fixture(scope="module")
def mains(node_factory, sshd, tmp_path_factory) -> Iterator[Mains]:
    env = {"PAMNODE_KEK": KEK, "PAMNODE_DB_POOL_SIZE": "8"}
    a = node_factory("main-a", env=env)
    admin = create_tenant(a, "corp")
    with a.client("corp", token=admin) as client:
        host = ssh_host(client, sshd, "web-1")
    # The second main: the same database and KEK; its own data directory, nothing shared.
    kek_file = tmp_path_factory.mktemp("kek") / "kek"
    # main-b reads it from a file, in hex.
    kek_file.write_text(base64.b64decode(KEK).hex() + "\n")
    b = NodeProcess(
        tmp_path_factory.mktemp("main-b") / "data",
        "main-b",
        a.database_url,
        env={"PAMNODE_KEK_FILE": str(kek_file), "PAMNODE_DB_POOL_SIZE": "8"},
    )
    b.start()
    try:
        yield Mains(a, b, admin, host["id"])
    finally:
        b.stop()


def _secrets_of(node: NodeProcess, asset_id: str) -> list[tuple[str, bytes]]:
    rows = run_sql(
        node, "SELECT field, sealed FROM asset_secrets WHERE asset_id = :id", id=asset_id
    )
    return [(field, bytes(sealed)) for field, sealed in rows]


def test_the_ring_is_sealed_in_the_database_and_in_no_file(mains):
    for node in (mains.a, mains.b):
        assert not (node.data_dir / "keyring.json").exists()
    ((kek_id, version, sealed),) = run_sql(
        mains.a, "SELECT kek_id, version, ring_under_kek FROM sealed_key_ring"
    )
    assert kek_id == KEK_ID and version >= 2
    # Sealed: none of the ring's JSON shows; and the KEK is written nowhere.
    assert b"tenants" not in bytes(sealed) and b"PRIVATE KEY" not in bytes(sealed)
    for node in (mains.a, mains.b):
        assert KEK not in node.log_text()


def test_a_secret_stored_through_one_main_is_used_through_the_other(mains):
    token = mains.b.login("corp", "root", "tadmin", PASSWORD)
    with mains.a.client("corp", token=token) as on_a:
        assert expect(on_a.get("auth/me"), 200)["login"] == "tadmin"
    with mains.b.client("corp", token=mains.admin) as on_b:
        # main-b opens every value main-a sealed.
        verified = expect(on_b.post("vault/verify"), 200)
        assert (verified["active_version"], verified["unreadable"]) == (1, [])
        (job,) = expect(
            on_b.post(f"assets/{mains.host}/execute", json={"task": "unix-status-check"}), 202
        )["jobs"]
        assert wait_job(on_b, job["id"])["state"] == "succeeded"


def test_a_key_rotated_on_one_main_is_used_by_the_other_at_once(mains, sshd):
    with mains.a.client("corp", token=mains.admin) as on_a:
        rotated = expect(on_a.post("vault/rotate"), 200)
    assert (rotated["version"], rotated["dropped_versions"]) == (2, [1])
    assert {key_version(sealed) for _, sealed in _secrets_of(mains.a, mains.host)} == {2}
    with mains.b.client("corp", token=mains.admin) as on_b:
        # main-b, never restarted, opens what main-a resealed under version 2...
        after = expect(on_b.post("vault/verify"), 200)
        assert (after["active_version"], after["unreadable"]) == (2, [])
        assert list(after["sealed_values"]) == ["2"]
        # ...and seals what it is given under version 2.
        fresh = ssh_host(on_b, sshd, "web-2")
        assert {key_version(sealed) for _, sealed in _secrets_of(mains.b, fresh["id"])} == {2}
    with mains.a.client("corp", token=mains.admin) as on_a:
        for asset_id in (mains.host, fresh["id"]):
            (job,) = expect(
                on_a.post(f"assets/{asset_id}/execute", json={"task": "unix-status-check"}), 202
            )["jobs"]
            assert wait_job(on_a, job["id"])["state"] == "succeeded"


def test_a_main_with_another_kek_or_none_refuses_to_start(mains, tmp_path):
    wrong = base64.b64encode(os.urandom(32)).decode()
    other = NodeProcess(tmp_path / "c", "main-c", mains.a.database_url, env={"PAMNODE_KEK": wrong})
    with pytest.raises(RuntimeError, match="exited"):
        other.start()
    log = other.log_text()
    assert (
        f"the key ring sealed in the database is sealed under the key-encryption key {KEK_ID}, "
        f"and this node's (PAMNODE_KEK or PAMNODE_KEK_FILE) is {Kek.parse(wrong).id}"
    ) in log
    assert wrong not in log and KEK not in log
    bare = NodeProcess(tmp_path / "d", "main-d", mains.a.database_url)
    with pytest.raises(RuntimeError, match="exited"):
        bare.start()
    assert (
        f"this database's key ring is sealed in it under the key-encryption key {KEK_ID}: "
        "start this node with PAMNODE_KEK or PAMNODE_KEK_FILE"
    ) in bare.log_text()
    assert not (tmp_path / "d" / "keyring.json").exists()
    # Neither wrote anything: the two mains serve on.
    with mains.b.client("corp", token=mains.admin) as on_b:
        assert expect(on_b.get("vault"), 200)["active_version"] == 2


def test_a_key_ring_file_moves_into_the_database(node_factory, sshd):
    """A node of the file kind is stopped, its ring imported, and started with the KEK: its
    secrets open, its file no longer read; a second import is refused."""
    node = node_factory("filed")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        host = ssh_host(client, sshd, "web-1")
    node.stop()
    ring = node.data_dir / "keyring.json"
    env = {**os.environ, "PAMNODE_KEK": KEK}
    args = ["vault", "keyring", "import", "--data", str(node.data_dir)]
    args += ["--database-url", str(node.database_url)]
    done = run_cli(env, *args)
    assert f"under the key-encryption key {KEK_ID}" in done.stdout
    assert f"{ring} is no longer read" in done.stdout
    again = run_cli(env, *args, check=False)
    assert again.returncode == 1
    assert "holds a key ring sealed under the key-encryption key" in again.stderr
    assert "give --replace" in again.stderr
    # Proof that the file is not read: it is gone.
    ring.rename(node.data_dir / "keyring.json.imported")
    node.extra_env["PAMNODE_KEK"] = KEK
    node.start()
    with node.client("acme", token=admin) as client:
        assert expect(client.post("vault/verify"), 200)["unreadable"] == []
        (job,) = expect(
            client.post(f"assets/{host['id']}/execute", json={"task": "unix-status-check"}), 202
        )["jobs"]
        assert wait_job(client, job["id"])["state"] == "succeeded"
