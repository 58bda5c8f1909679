"""What a person types for a thing on the command line, and the id the API wants for it.

One rule for every kind of thing: an id names it; otherwise the first of the kind's naming
fields that some listed row holds exactly (an asset's path, then its name; a peer node's
name; a token's description, then its owner...) names it, and more than one row holding it
is an error that lists them. The rows are the API's own lists, so only what the caller may
see can be named (and listed as a candidate).
"""

import re
from dataclasses import dataclass
from typing import Any

from pamnode.cli.client import fail, request

# Ids are UUIDs: one given as such is used as it is, without listing anything first.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Kind:
    noun: str
    # Fields that name a row, tried in this order.
    names: tuple[str, ...]
    # Fields that tell the candidates of an ambiguous name apart (after their id).
    shown: tuple[str, ...]
    # The API's list of them, for the kinds listed on their own.
    route: str = ""


ASSET = Kind("asset", ("path", "name"), ("path",))
PEER = Kind("peer node", ("name",), ("name", "url"), "peer-nodes")
USER = Kind("user", ("login",), ("login",), "users")
TENANT = Kind("tenant", ("name",), ("name",), "tenants")
TOKEN = Kind("API token", ("description", "user"), ("user", "description"), "api-tokens")
SITE_ROLE = Kind("site-role grant", ("principal",), ("principal", "role"), "site-roles")
# A grant on an asset, by the user it was made to.
PERMISSION = Kind("grant", ("principal",), ("principal", "role"))
# A peer node's assignment to an asset, by the peer node's name.
ASSIGNMENT = Kind("assignment", ("peer_node",), ("peer_node",))


def pick(kind: Kind, ref: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The row `ref` names among `rows`; exits saying why when none or several do."""
    for row in rows:
        if row.get("id") == ref:
            return row
    for field in kind.names:
        found = [row for row in rows if row.get(field) == ref]
        if len(found) == 1:
            return found[0]
        if found:
            candidates = "\n".join(
                "  " + "  ".join(str(row.get(name, "")) for name in ("id", *kind.shown))
                for row in found
            )
            raise fail(
                f"{len(found)} {kind.noun}s have the {_spelled(field)} '{ref}': "
                f"use the id of one:\n{candidates}"
            )
    ways = ["id", *(_spelled(name) for name in kind.names)]
    raise fail(f"no {kind.noun} named '{ref}' here (by {', '.join(ways[:-1])} or {ways[-1]})")


def _spelled(field: str) -> str:
    return field.replace("_", " ")


def resolve(kind: Kind, ref: str, field: str = "id") -> str:
    """`field` (the id, or what the API's route takes instead) of the listed thing `ref`
    names."""
    if field == "id" and UUID.fullmatch(ref):
        return ref
    return str(pick(kind, ref, request("GET", kind.route))[field])


def resolve_asset(ref: str) -> str:
    """The id of the asset `ref` names: its id, its path of names from the top of what the
    caller sees (`dc1/linux/web-01`), or a name only one visible asset has."""
    if UUID.fullmatch(ref):
        return ref
    rows: list[dict[str, Any]] = []
    _flatten(request("GET", "assets/tree"), "", rows)
    return str(pick(ASSET, ref.strip("/"), rows)["id"])


def _flatten(nodes: list[dict[str, Any]], above: str, rows: list[dict[str, Any]]) -> None:
    for node in nodes:
        path = f"{above}{node['name']}"
        rows.append({**node, "path": path})
        _flatten(node["children"], f"{path}/", rows)
