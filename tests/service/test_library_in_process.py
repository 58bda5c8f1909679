"""Assets, vault fields and peer configuration in-process: what the API shows and refuses."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
async def lib(node):
    return await node.tenant("lib")


async def test_secrets_are_write_only(node, lib):
    async with node.as_("lib", lib) as client:
        body = {
            "name": "db-1",
            "type": "unix-host",
            "properties": {"host": "db.example", "port": 22},
            "secrets": {"username": "root", "password": "Never-Shown-1"},
        }
        created = await client.post("assets", json=body)
        assert created.status_code == 201
        shown = await client.get(f"assets/{created.json()['id']}")
    assert "Never-Shown-1" not in created.text + shown.text
    assert shown.json()["name"] == "db-1"


async def test_an_unknown_asset_is_404_with_its_code(node, lib):
    async with node.as_("lib", lib) as client:
        response = await client.get("assets/no-such-asset")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "asset_not_found")


async def test_a_peer_url_is_checked_and_its_token_never_shown(node, lib):
    async with node.as_("lib", lib) as client:
        bad = await client.post("peer-nodes", json={"name": "p", "url": "https://h:1/other"})
        body = {
            "name": "dc1",
            "url": "https://10.9.9.9:6443/ztna/remote/root",
            "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl",
        }
        created = await client.post("peer-nodes", json=body)
        listed = await client.get("peer-nodes")
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_peer_url")
    assert "/ztna/<tenant>/<site>" in bad.json()["error"]["message"]
    assert created.status_code == 201 and created.json()["has_access_token"] is True
    assert "c2lnbmF0dXJl" not in created.text + listed.text
