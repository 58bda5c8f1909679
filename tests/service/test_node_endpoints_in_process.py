"""The node's own endpoints: `/` to the base console, liveness, readiness, the CLI's version."""

from __future__ import annotations

from dataclasses import replace

import httpx
from typer.testing import CliRunner

from pamnode import __version__
from pamnode.app.banner import banner
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


async def test_every_status_uses_the_error_format(node):
    missing = await node.client.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "nothing is at /nothing-here"}
    }
    wrong = await node.client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "GET"


async def test_the_api_docs_need_no_internet_and_declare_the_bearer_scheme(node):
    page = (await node.client.get("/docs")).text
    assert "https://" not in page and "http://" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert f"/apidocs-static/{asset}" in page
        assert (await node.client.get(f"/apidocs-static/{asset}")).status_code == 200
    spec = (await node.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert paths["/ztna/{tenant}/{site}/api/users"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/ztna/{tenant}/{site}/api/auth/login"]["post"]
    assert "security" not in paths["/healthz"]["get"]


async def test_an_unexpected_error_is_a_500_in_the_error_format(node, monkeypatch):
    app = node.transport.app
    monkeypatch.setattr(app.state.node.keyring, "active_key", _broken)  # type: ignore[attr-defined]
    # The server still sees the exception (to log it); this client only reads the answer.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.get("/readyz", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["X-Request-ID"] == "trace-500"
    assert "secret detail" not in response.text


def _broken(tenant_id: str) -> tuple[int, bytes]:
    raise RuntimeError("secret detail of a bug")


async def test_the_banner_never_shows_the_database_password(node):
    state = node.transport.app.state.node  # type: ignore[attr-defined]
    url = "postgresql+asyncpg://pamnode:Db-Secret-9@db.example:5432/pamnode"
    settings = state.settings.model_copy(update={"database_url": url})
    async with state.database() as db:
        said = "\n".join(line for _, line in await banner(db, replace(state, settings=settings)))
    assert "database: postgresql+asyncpg://pamnode:***@db.example:5432/pamnode" in said
    assert "Db-Secret-9" not in said


async def test_the_console_has_a_favicon(node):
    page = (await node.client.get("/ztna/base/root/login")).text
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in page
    icon = await node.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


async def test_every_answer_names_its_request_id_the_callers_when_sane(node):
    kept = await node.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert kept.headers["X-Request-ID"] == "trace-123"
    refused = await node.client.get("/nothing-here", headers={"X-Request-ID": "no spaces"})
    assert refused.status_code == 404
    made = refused.headers["X-Request-ID"]
    assert made != "no spaces" and len(made) == 16
    other = await node.client.get("/healthz")
    assert other.headers["X-Request-ID"] not in ("", made)


async def test_console_pages_and_static_files_carry_their_headers_and_the_api_does_not(node):
    page = await node.client.get("/ztna/base/root/login")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    static = await node.client.get("/static/favicon.svg")
    assert "default-src 'self'" in static.headers["content-security-policy"]
    assert "no-store" not in static.headers.get("cache-control", "")
    api = await node.client.get("/ztna/base/root/api/users")
    assert "content-security-policy" not in api.headers
