"""Protocol servers live in pamnode/listeners (docs/architecture.md): no use-case folder opens
a listening socket or subclasses asyncssh's server. The import contracts cannot say this (a
server is a call, not an import), so the tree is read."""

from __future__ import annotations

import ast
from pathlib import Path

import pamnode

ROOT = Path(pamnode.__file__).parent
# Where listening is the point: the protocol servers, and the lab's real components.
ROOMS = ("listeners", "lab")
# The RDP pass-through opens a one-time port per session inside its use case; it moves to
# listeners/ with the proxy-session use case that SSH channels and RDP are to share.
WAITING: set[str] = set()
SERVER_CALLS = {"start_server", "create_server", "start_unix_server"}


def _servers_in(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called = ast.unparse(node.func)
            if node.func.attr in SERVER_CALLS or called == "asyncssh.listen":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}")
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base) for base in node.bases}
            if bases & {"asyncssh.SSHServer", "SSHServer"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} class {node.name}")
    return found


def test_no_protocol_server_outside_the_listeners() -> None:
    strays = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.split("/")[0] in ROOMS or relative in WAITING or "migrations" in relative:
            continue
        strays += _servers_in(path)
    assert strays == [], "protocol servers belong in pamnode/listeners/: " + ", ".join(strays)


def test_the_listeners_do_start_servers() -> None:
    # The rule above holds only while the scan finds what it looks for.
    found = [hit for path in (ROOT / "listeners").glob("*.py") for hit in _servers_in(path)]
    assert len(found) >= 4, found
