"""Evidence on a real node, on both databases: `pamnode audit verify` (run on the node's
machine) reports the chain intact with its count, and names an audit row or a recording
edited by one byte (exit 1); a site's retention, set by its administrator only, removes a
recording and job output older than it and audits the removal, and the session's details
say so (and the search across sessions no longer finds its text)."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.cli import cli_env, log_in, run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect

pytestmark = pytest.mark.databases("sqlite", "postgresql")

OLD = datetime.now(UTC) - timedelta(days=40)


@pytest.fixture(scope="module")
def main(node_factory):
    node = node_factory("main", env={"PAMNODE_RETENTION_SWEEP_S": "1"})
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        add_user(client, "carol", "asset-manager")
        add_user(client, "ada", "auditor")
    return node, admin


def _verify(node):
    args = ["audit", "verify", "--data", str(node.data_dir)]
    if node.database_url:
        args += ["--database-url", node.database_url]
    return run_cli(dict(os.environ), *args, check=False)


def _ended_session(node, admin: str, content: bytes, completed_at: datetime) -> str:
    """A session opened through the API, ended with a typescript and its SHA-256 as a carrier
    leaves them (the carriers themselves are tests/integration/test_ssh_proxy.py's)."""
    with node.client("corp", token=admin) as client:
        body = {"name": f"web-{time.monotonic_ns()}", "type": "unix-host"}
        host = expect(client.post("assets", json={**body, "properties": {"host": "10.0.0.7"}}), 201)
        session_id = expect(client.post(f"assets/{host['id']}/sessions"), 201)["id"]
    directory = node.data_dir / "recordings" / session_id
    directory.mkdir(parents=True)
    (directory / "typescript").write_bytes(content)
    digest = json.dumps({"typescript": hashlib.sha256(content).hexdigest()})
    run_sql(
        node,
        "UPDATE sessions SET state = 'completed', completed_at = :at, served_by = :carrier,"
        " recordings = '[\"typescript\"]', recording_hashes = :digest WHERE id = :id",
        # As each database keeps a time: SQLite as text without the zone.
        at=completed_at if node.database_url else f"{completed_at:%Y-%m-%d %H:%M:%S.%f}",
        carrier=node.name,
        digest=digest,
        id=session_id,
    )
    return session_id


def _found(client, words: str, awaited: str | None = None) -> list[str]:
    """The sessions a search finds; with `awaited`, once that one is in the index."""
    deadline = time.monotonic() + 20
    while True:
        found = expect(client.get("sessions/search", params={"q": words}), 200)
        ids = [hit["session_id"] for hit in found["hits"]]
        if awaited is None or awaited in ids or time.monotonic() > deadline:
            return ids
        time.sleep(0.3)


def test_verify_reports_the_chain_intact_with_its_count(main):
    node, _ = main
    done = _verify(node)
    assert done.returncode == 0, done.stderr
    (count,) = run_sql(node, "SELECT count(*) FROM audit_events")[0]
    assert f"audit chain OK: {count} row(s) linked" in done.stdout


def test_verify_names_an_audit_row_edited_by_one_byte(main):
    node, _ = main
    row_id, actor = run_sql(
        node, "SELECT id, actor FROM audit_events WHERE action = 'user.create' ORDER BY id"
    )[0]
    edited = actor[:-1] + ("X" if actor[-1] != "X" else "Y")
    run_sql(node, "UPDATE audit_events SET actor = :a WHERE id = :id", a=edited, id=row_id)
    try:
        broken = _verify(node)
        assert broken.returncode == 1
        assert "audit chain BROKEN" in broken.stderr
        assert f"row {row_id} (" in broken.stderr
        assert "its fields do not match its hash" in broken.stderr
    finally:
        run_sql(node, "UPDATE audit_events SET actor = :a WHERE id = :id", a=actor, id=row_id)
    assert _verify(node).returncode == 0


def test_verify_names_a_recording_edited_by_one_byte(main):
    node, admin = main
    session_id = _ended_session(node, admin, b"$ systemctl stop db\r\n", datetime.now(UTC))
    assert _verify(node).returncode == 0
    path = node.data_dir / "recordings" / session_id / "typescript"
    path.write_bytes(b"$ systemctl start db\r\n")
    broken = _verify(node)
    assert broken.returncode == 1
    assert f"recording BROKEN: session {session_id}, typescript: edited" in broken.stderr
    assert "audit chain OK" in broken.stdout
    path.write_bytes(b"$ systemctl stop db\r\n")


def test_only_an_administrator_sets_the_sites_retention(main):
    node, admin = main
    carol = node.login("corp", "root", "carol", PASSWORD)
    with node.client("corp", token=carol) as client:
        body = {"recording_retention_days": 1}
        assert error_of(client.patch("site-settings", json=body), 403)["code"] == (
            "permission_denied"
        )
    ada = node.login("corp", "root", "ada", PASSWORD)
    with node.client("corp", token=ada) as client:
        assert expect(client.get("site-settings"), 200)["recording_retention_days"] is None
    with node.client("corp", token=admin) as client:
        bad = client.patch("site-settings", json={"recording_retention_days": 0})
        assert bad.status_code == 422
        assert expect(client.get("site-settings"), 200)["recording_retention_days"] is None


def test_retention_removes_an_old_recording_and_job_output_and_audits_it(main):
    node, admin = main
    old = _ended_session(node, admin, b"old shell\r\n", OLD)
    recent = _ended_session(node, admin, b"recent shell\r\n", datetime.now(UTC))
    with node.client("corp", token=admin) as client:
        # Both are searchable first (indexed by the node as any ended session is).
        for session_id, words in ((old, "old shell"), (recent, "recent shell")):
            assert _found(client, words, session_id) == [session_id]
        body = {"recording_retention_days": 30, "job_output_retention_days": 30}
        settings = expect(client.patch("site-settings", json=body), 200)
        assert settings["recording_retention_days"] == 30
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            details = expect(client.get(f"sessions/{old}"), 200)
            if details["recordings_removed_at"]:
                break
            time.sleep(0.3)
        assert details["recordings_removed_at"], details
        assert details["recordings"] == []
        # What it held stays proven: its hash is kept.
        assert set(details["recording_hashes"]) == {"typescript"}
        gone = error_of(client.get(f"sessions/{old}/recording?kind=typescript"), 404)
        assert gone["code"] == "recording_removed", gone
        kept = expect(client.get(f"sessions/{recent}"), 200)
        assert (kept["recordings"], kept["recordings_removed_at"]) == (["typescript"], None)
        events = expect(client.get("audit-events", params={"action": "retention.remove"}), 200)
        # The removed recording's text left the search with it.
        assert _found(client, "old shell") == []
        assert _found(client, "recent shell") == [recent]
    assert not (node.data_dir / "recordings" / old).exists()
    assert (node.data_dir / "recordings" / recent / "typescript").is_file()
    (removal,) = [e for e in events if e["target"] == "recordings"]
    assert removal["actor"] == "retention"
    assert removal["details"]["count"] == 1 and removal["details"]["ids"] == [old]
    # The chain covers the removal, and verify does not miss the removed files.
    assert _verify(node).returncode == 0


def test_a_session_exports_as_one_archive_with_a_manifest_of_hashes(main, tmp_path):
    node, admin = main
    content = b"$ uptime\r\n 10:00 up 3 days\r\n"
    session_id = _ended_session(node, admin, content, datetime.now(UTC))
    carol = node.login("corp", "root", "carol", PASSWORD)
    with node.client("corp", token=carol) as client:
        refused = error_of(client.get(f"sessions/{session_id}/export"), 403)
        assert refused["code"] == "permission_denied"
    with node.client("corp", token=admin) as client:
        answer = client.get(f"sessions/{session_id}/export")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/gzip"
        events = expect(client.get("audit-events", params={"action": "session.export"}), 200)
    assert [e["details"]["session"] for e in events] == [session_id]

    archive = tmp_path / "export.tar.gz"
    archive.write_bytes(answer.content)
    top = f"session-{session_id}"
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    assert files[f"{top}/recordings/typescript"] == content
    manifest = json.loads(files[f"{top}/manifest.json"])
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256(files[f"{top}/{name}"]).hexdigest() == digest, name
    assert manifest["recordings"]["typescript"] == {
        "sha256_at_end": hashlib.sha256(content).hexdigest(),
        "matches": True,
    }
    rows = json.loads(files[f"{top}/audit.json"])
    assert [row["action"] for row in rows] == ["session.open"]
    assert rows[0]["details"]["session"] == session_id and len(rows[0]["hash"]) == 64
    assert json.loads(files[f"{top}/session.json"])["id"] == session_id


def test_the_cli_reads_and_sets_the_sites_retention(main, tmp_path):
    node, _ = main
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    log_in(env, node, "corp", "tadmin", password_file)
    changed = run_cli(env, "site", "settings", "--recording-retention-days", "90", "--json")
    assert json.loads(changed.stdout)["recording_retention_days"] == 90
    run_cli(env, "site", "settings", "--recording-retention-days", "0")
    shown = json.loads(run_cli(env, "site", "settings", "--json").stdout)
    assert shown["recording_retention_days"] is None
    (last,) = run_sql(
        node,
        "SELECT details FROM audit_events WHERE action = 'site-settings.update'"
        " ORDER BY chain_seq DESC LIMIT 1",
    )[0:1]
    details = last[0] if isinstance(last[0], dict) else json.loads(last[0])
    assert details == {
        "before": {"recording_retention_days": 90},
        "after": {"recording_retention_days": None},
    }
