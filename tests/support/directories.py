"""A directory of people and nested groups for the tests, and its configuration in pamnode.

The people: `alice` is in `ops`, which is in `auditors` (a nested group); `carol` is in
`auditors` directly; `svc-peer` is a service account; `dave` is in no group.
"""

from __future__ import annotations

from typing import Any

from pamnode.lab.slapd import ADMIN_DN, GROUPS, PEOPLE, Group, LdapServer, Person

ALICE = Person("alice", "Alice-Dir-Passw0rd", "Alice", "Liddell", "alice@pamnode.test")
CAROL = Person("carol", "Carol-Dir-Passw0rd", "Carol", "Danvers")
DAVE = Person("dave", "Dave-Dir-Passw0rd", "Dave", "Bowman")
SERVICE = Person("svc-peer", "Svc-Dir-Passw0rd", "Peer", "Service")
OPS = Group("ops", [ALICE.dn])
AUDITORS = Group("auditors", [OPS.dn, CAROL.dn])

PEOPLE_LIST = [ALICE, CAROL, DAVE, SERVICE]
GROUP_LIST = [OPS, AUDITORS]
DIRECTORY = "corp"


def directory_body(server: LdapServer, name: str = DIRECTORY, **fields: Any) -> dict[str, Any]:
    """An OpenLDAP directory of pamnode, binding as the directory's administrator, with the
    server's certificate pinned."""
    return {
        "name": name,
        "preset": "openldap",
        "url": server.ldaps_url,
        "server_sha256": server.cert_sha256,
        "bind_dn": ADMIN_DN,
        "bind_password": server.admin_password,
        "user_base": PEOPLE,
        "group_base": GROUPS,
        **fields,
    }
