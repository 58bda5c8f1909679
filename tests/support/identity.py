"""Shortcuts for tests that need a tenant, its users, roles and tokens on a real node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pamnode.lab.served_node import ServedNode
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD

PASSWORD = "Tenant-Passw0rd!"


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: expected {status}, "
        f"got {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    return expect(response, status)["error"]


def create_tenant(node: ServedNode, name: str, admin: str = "tadmin") -> str:
    """Create a tenant from the base tenant; return a session token of its administrator."""
    base_token = node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    with node.client("base", token=base_token) as base:
        body = {"name": name, "admin_login": admin, "admin_password": PASSWORD}
        expect(base.post("tenants", json=body), 201)
    return node.login(name, "root", admin, PASSWORD)


def add_user(client: httpx.Client, login: str, *roles: str) -> None:
    expect(client.post("users", json={"login": login, "password": PASSWORD}), 201)
    for role in roles:
        expect(client.post("site-roles", json={"principal": login, "role": role}), 201)


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def issue_token(client: httpx.Client, user: str, **fields: Any) -> tuple[str, str]:
    """Add an API token for `user` and unlock it; return (token id, JWT)."""
    body = {"user": user, "expires_at": in_days(30), "description": "test", **fields}
    token_id = expect(client.post("api-tokens", json=body), 201)["id"]
    jwt = expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"]
    return token_id, jwt


async def add_user_async(client: httpx.AsyncClient, login: str, *roles: str) -> list[str]:
    """`add_user` for an in-process node; return the ids of the role grants."""
    expect(await client.post("users", json={"login": login, "password": PASSWORD}), 201)
    grants = []
    for role in roles:
        body = {"principal": login, "role": role}
        grants.append(expect(await client.post("site-roles", json=body), 201)["id"])
    return grants


async def issue_token_async(client: httpx.AsyncClient, user: str, **fields: Any) -> tuple[str, str]:
    """`issue_token` for an in-process node: add an API token and unlock it; (id, JWT)."""
    body = {"user": user, "expires_at": in_days(30), "description": "test", **fields}
    token_id = expect(await client.post("api-tokens", json=body), 201)["id"]
    jwt = expect(await client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"]
    return token_id, jwt
