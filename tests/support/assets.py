"""Shortcuts for tests of the asset library and the vault on a real node."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pamnode.lab.served_node import ServedNode
from tests.support.identity import expect

PASSPHRASE = "passphrase-quokka-77"


def private_key() -> str:
    """A fresh ed25519 key in PKCS#8 PEM, encrypted with PASSPHRASE."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
        .decode()
    )


def add_asset(
    client: httpx.Client, name: str, type: str = "unix-host", parent: str | None = None, **fields
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "type": type, "parent_id": parent, **fields}
    if type != "container" and "properties" not in fields:
        body["properties"] = {"host": "10.0.0.1"}
    return expect(client.post("assets", json=body), 201)


def add_chain(client: httpx.Client, *names: str) -> list[dict[str, Any]]:
    """Nested containers, outermost first."""
    made: list[dict[str, Any]] = []
    for name in names:
        made.append(add_asset(client, name, "container", made[-1]["id"] if made else None))
    return made


def sealed_rows(node: ServedNode, request: Any, query: str) -> list[tuple[Any, ...]]:
    """Rows of `query` read straight from the node's database, behind the API's back."""
    if node.sqlite_path is not None:
        with sqlite3.connect(node.sqlite_path) as db:
            return [tuple(row) for row in db.execute(query)]
    cluster = request.getfixturevalue("postgres_cluster")
    assert node.database_url is not None
    return cluster.sql(node.database_url.rsplit("/", 1)[1], query)


def key_version(sealed: bytes) -> int:
    return int.from_bytes(bytes(sealed)[:4], "big")
