"""The node's own endpoints: `/` to the base console, liveness, readiness, the CLI's version."""

from __future__ import annotations

from typer.testing import CliRunner

from pamnode import __version__
from pamnode.cli.main import app as cli
from pamnode.crypto.keyring import KeyRingError
from tests.service.conftest import NODE_NAME


async def test_the_root_url_leads_to_the_base_tenants_console(node):
    response = await node.client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/ztna/base/root/"


async def test_liveness_and_readiness_say_what_they_checked(node):
    alive = await node.client.get("/healthz")
    assert alive.json() == {"status": "ok", "node": NODE_NAME, "version": __version__}
    ready = await node.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "key_ring": "ok"}


async def test_a_key_ring_that_cannot_be_used_makes_the_node_not_ready(node, monkeypatch):
    keyring = node.transport.app.state.node.keyring  # type: ignore[attr-defined]

    def unusable(tenant_id: str) -> tuple[int, bytes]:
        raise KeyRingError("key ring file unreadable")

    monkeypatch.setattr(keyring, "active_key", unusable)
    response = await node.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "code": "not_ready",
            "message": "the key ring cannot be used: key ring file unreadable",
        }
    }


def test_the_cli_prints_its_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"pamnode {__version__}\n"
