"""`pamnode backup` of a running node's data directory with its key ring, and `pamnode
restore` into a new one: the restored node starts and opens every secret."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from pamnode.app.tls import certificate_der
from pamnode.crypto.fingerprints import fingerprint
from pamnode.lab.node_process import NodeProcess
from tests.support.assets import add_asset
from tests.support.cli import run_cli
from tests.support.identity import PASSWORD, add_user, create_tenant, expect, issue_token

# Both backends: backup and restore dump and load each backend.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

SECRET = "backup-secret-Okapi-93"


@pytest.fixture(scope="module")
def source(node_factory):
    """A node with a tenant, an asset whose password is in the vault, and an API token."""
    node = node_factory("source")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        add_asset(client, "web-1", secrets={"username": "root", "password": SECRET})
        add_user(client, "svc", "service")
        token_id, jwt = issue_token(client, "svc")
    return node, admin, token_id, jwt


def pamnode(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli(dict(os.environ), *args, check=check)


def db_args(node: NodeProcess) -> list[str]:
    return ["--database-url", node.database_url] if node.database_url else []


def back_up(node: NodeProcess, archive: Path) -> subprocess.CompletedProcess:
    return pamnode("backup", "--data", str(node.data_dir), "--to", str(archive), *db_args(node))


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_restored(node: NodeProcess, token_id: str, jwt: str, assets: set[str]) -> None:
    """The restored node knows the tenant and its assets, and its key ring opens what its
    database holds: every sealed value, the token's JWT, a login's signature."""
    admin = node.login("acme", "root", "tadmin", PASSWORD)
    with node.client("acme", token=admin) as client:
        assert {asset["name"] for asset in expect(client.get("assets"), 200)} == assets
        verified = expect(client.post("vault/verify"), 200)
        assert verified["unreadable"] == [] and sum(verified["sealed_values"].values()) > 0
        assert expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"] == jwt
    with node.client("acme", token=jwt) as service:
        expect(service.get("peer/info"), 200)


# The online copy is SQLite's; PostgreSQL is dumped with pg_dump (below).
@pytest.mark.only_on("sqlite")
def test_a_backup_taken_while_the_node_writes_restores_a_node_that_opens_its_secrets(
    source, tmp_path
):
    node, admin, token_id, jwt = source
    written: list[str] = []
    stop = threading.Event()

    def write() -> None:
        with node.client("acme", token=admin) as client:
            while not stop.is_set():
                name = f"busy-{len(written)}"
                add_asset(client, name, secrets={"password": f"pw-{name}"})
                written.append(name)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(written) < 3 and writer.is_alive() and time.monotonic() < deadline:
            stop.wait(0.05)
        assert len(written) >= 3, "the writer made no assets"
        before = len(written)
        archive = tmp_path / "acme.tar.gz"
        out = back_up(node, archive).stdout
        during = len(written)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert during > before, "the node wrote nothing while the backup ran"

    assert f"written to {archive} (mode 0600)" in out
    assert "the SQLite database (an online copy), the key ring, the TLS certificate and key" in out
    assert "It holds the key ring, which opens every secret" in out
    assert mode(archive) == 0o600
    packed = members(archive)
    manifest = json.loads(packed["manifest.json"])
    assert manifest["format"] == 1 and manifest["database"] == "sqlite"
    assert set(manifest["files"]) == set(packed) - {"manifest.json"}
    assert {"pamnode.db", "keyring.json", "tls/cert.pem", "tls/key.pem"} <= set(packed)
    assert not [name for name in packed if name.endswith(("-wal", "-shm")) or "log" in name]

    target = tmp_path / "restored"
    out = pamnode("restore", "--from", str(archive), "--data", str(target)).stdout
    assert "every file matched the manifest's checksums" in out
    sha256 = fingerprint(certificate_der(node.cert_path))
    assert f"presents its certificate as before (SHA-256 {sha256})" in out
    assert f"pamnode serve --data {target}" in out
    assert mode(target) == 0o700
    assert mode(target / "keyring.json") == mode(target / "pamnode.db") == 0o600
    assert not [p.name for p in target.iterdir() if p.name.startswith(".restore-")]

    restored = NodeProcess(target, node.name)
    try:
        restored.start()
        # What was committed when the copy began is there; a write that came during the copy
        # is there whole or not at all (its secrets open either way).
        with restored.client("acme", token=restored.login("acme", "root", "tadmin", PASSWORD)) as c:
            names = {asset["name"] for asset in expect(c.get("assets"), 200)}
        busy = names - {"web-1"}
        assert (
            {f"busy-{i}" for i in range(before)} <= busy <= {f"busy-{i}" for i in range(during + 1)}
        )
        check_restored(restored, token_id, jwt, {"web-1", *busy})
    finally:
        restored.stop()


@pytest.fixture(scope="module")
def archive(source, tmp_path_factory):
    path = tmp_path_factory.mktemp("archive") / "acme.tar.gz"
    back_up(source[0], path)
    return path


# Restore's checks are the same whatever the database: SQLite covers them.
@pytest.mark.only_on("sqlite")
def test_restore_refuses_a_data_directory_in_use_unless_forced_and_confirmed(
    archive, source, tmp_path
):
    node = source[0]
    ring = (node.data_dir / "keyring.json").read_bytes()
    refused = pamnode("restore", "--from", str(archive), "--data", str(node.data_dir), check=False)
    assert refused.returncode == 1
    assert "already holds pamnode.db and keyring.json" in refused.stderr
    assert "add --force" in refused.stderr
    # --force asks first; with no answer nothing happens.
    unanswered = pamnode(
        "restore", "--from", str(archive), "--data", str(node.data_dir), "--force", check=False
    )
    assert unanswered.returncode == 1 and "Replace pamnode.db and keyring.json" in unanswered.stdout
    # Forced and confirmed, the node serving there still refuses it.
    served = pamnode(
        "restore",
        "--from",
        str(archive),
        "--data",
        str(node.data_dir),
        "--force",
        "--yes",
        check=False,
    )
    assert served.returncode == 1 and f"a node is serving {node.data_dir}" in served.stderr
    assert (node.data_dir / "keyring.json").read_bytes() == ring

    # Forced over another node's data: its database, journal files and key ring are gone.
    target = tmp_path / "other"
    pamnode("restore", "--from", str(archive), "--data", str(target))
    (target / "keyring.json").write_text('{"tenants": {}}')
    (target / "pamnode.db-wal").write_bytes(b"stale")
    pamnode("restore", "--from", str(archive), "--data", str(target), "--force", "--yes")
    assert (target / "keyring.json").read_bytes() == members(archive)["keyring.json"]
    assert not (target / "pamnode.db-wal").exists()


def rewritten(archive: Path, path: Path, change: dict[str, bytes]) -> Path:
    """The archive with some members' contents replaced, its manifest kept as it was."""
    with tarfile.open(path, "w:gz") as out:
        for name, data in members(archive).items():
            data = change.get(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.only_on("sqlite")
def test_a_damaged_archive_is_refused_and_the_target_left_as_it_was(archive, tmp_path):
    damaged = tmp_path / "damaged.tar.gz"
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    ring = members(archive)["keyring.json"]
    cases = {
        damaged: "is not a readable pamnode backup",
        rewritten(archive, tmp_path / "tampered.tar.gz", {"keyring.json": ring + b" "}): (
            "is corrupt: checksum mismatch for keyring.json"
        ),
        rewritten(
            archive, tmp_path / "future.tar.gz", {"manifest.json": b'{"format": 2, "files": {}}'}
        ): ("is a backup of format 2"),
        tmp_path / "missing.tar.gz": "no backup archive at",
    }
    empty = tmp_path / "empty"
    empty.mkdir()
    # Into an empty directory and into one that does not exist yet, in turn.
    for (path, message), target in zip(cases.items(), [empty, tmp_path / "new"] * 2, strict=True):
        result = pamnode("restore", "--from", str(path), "--data", str(target), check=False)
        assert result.returncode == 1, (path, result.stdout)
        assert result.stderr.startswith("error: ") and str(path) in result.stderr
        assert message in result.stderr, result.stderr
        assert list(empty.iterdir()) == [] and not (tmp_path / "new").exists()


# SQLite's database is in the archive (above).
@pytest.mark.only_on("postgresql")
def test_a_postgresql_node_backs_up_its_key_ring_and_says_how_to_dump_the_database(
    source, tmp_path, request
):
    node, _, token_id, jwt = source
    archive = tmp_path / "acme.tar.gz"
    out = back_up(node, archive).stdout
    assert "The database (postgresql) is not in this archive. Dump it now" in out
    command = next(line.strip() for line in out.splitlines() if "pg_dump" in line.split()[:1])
    assert command == (
        f"pg_dump --format=custom --file pamnode.dump {node.database_url}".replace("+asyncpg", "")
    )
    packed = members(archive)
    assert "pamnode.db" not in packed
    assert packed["keyring.json"] == (node.data_dir / "keyring.json").read_bytes()
    assert mode(archive) == 0o600

    # The documented path, followed: the printed command, pg_restore, restore, start.
    cluster = request.getfixturevalue("postgres_cluster")
    tools = {**os.environ, "PATH": f"{cluster.bin_dir}:{os.environ['PATH']}"}
    subprocess.run(command, shell=True, cwd=tmp_path, env=tools, check=True, timeout=120)
    url = cluster.create_database(cluster.unique_name("restored"))
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run(
        ["pg_restore", "--no-owner", "--dbname", dsn, str(tmp_path / "pamnode.dump")],
        env=tools,
        check=True,
        timeout=120,
    )
    target = tmp_path / "restored"
    out = pamnode("restore", "--from", str(archive), "--data", str(target)).stdout
    assert "restore the postgresql database from the dump taken with this backup" in out
    restored = NodeProcess(target, node.name, url)
    try:
        restored.start()
        check_restored(restored, token_id, jwt, {"web-1"})
    finally:
        restored.stop()


# The sealed key ring is a row of the database: the SQLite copy carries it.
@pytest.mark.only_on("sqlite")
def test_a_node_whose_key_ring_is_sealed_restores_from_its_database_and_its_kek(
    node_factory, tmp_path
):
    kek = base64.b64encode(os.urandom(32)).decode()
    node = node_factory("sealed", env={"PAMNODE_KEK": kek})
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        add_asset(client, "web-1", secrets={"username": "root", "password": SECRET})
        add_user(client, "svc", "service")
        token_id, jwt = issue_token(client, "svc")
    archive = tmp_path / "sealed.tar.gz"
    env = {**os.environ, "PAMNODE_KEK": kek}
    args = ["backup", "--data", str(node.data_dir), "--to", str(archive)]
    out = run_cli(env, *args).stdout
    assert "keep a copy of PAMNODE_KEK apart from this archive" in out
    packed = members(archive)
    manifest = json.loads(packed["manifest.json"])
    assert manifest["key_ring_sealed"] is True
    assert "pamnode.db" in packed and "keyring.json" not in packed
    assert kek.encode() not in b"".join(packed.values())

    target = tmp_path / "restored"
    out = pamnode("restore", "--from", str(archive), "--data", str(target)).stdout
    assert "start the node with PAMNODE_KEK or PAMNODE_KEK_FILE" in out
    restored = NodeProcess(target, node.name, env={"PAMNODE_KEK": kek})
    try:
        restored.start()
        check_restored(restored, token_id, jwt, {"web-1"})
    finally:
        restored.stop()
