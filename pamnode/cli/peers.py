"""`pamnode peer …`: Configuration > Peer Nodes and Manage > Peer Nodes from a shell."""

from pathlib import Path
from typing import Annotated, Any

import typer

from pamnode.cli.client import fail, request
from pamnode.cli.output import Yes, confirm, show, table

peer_app = typer.Typer(help="Peer nodes of the current site.", no_args_is_help=True)

Component = Annotated[str, typer.Option(help="job-runner, gateway or http-proxy.")]


def _peer_id(name: str) -> str:
    for peer in request("GET", "peer-nodes"):
        if name in (peer["name"], peer["id"]):
            return str(peer["id"])
    raise fail(f"this site has no peer node named '{name}'")


def _token(token_file: Path | None) -> str | None:
    return token_file.read_text().strip() if token_file else None


@peer_app.command("add")
def add(
    name: str,
    url: Annotated[str, typer.Option(help="https://host:port/ztna/<tenant>/<site>")],
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the peer's API token.")
    ] = None,
    job_runner: Annotated[bool, typer.Option("--job-runner/--no-job-runner")] = True,
    gateway_address: Annotated[str, typer.Option(help="server:port of the gateway.")] = "",
    http_proxy_address: Annotated[
        str, typer.Option(help="server:port of the HTTP proxy (proxy sessions).")
    ] = "",
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
) -> None:
    body = {
        "name": name,
        "url": url,
        "access_token": _token(token_file),
        "job_runner": job_runner,
        "gateway": bool(gateway_address),
        "gateway_address": gateway_address,
        "http_proxy": bool(http_proxy_address),
        "http_proxy_address": http_proxy_address,
        "enabled": enabled,
    }
    show(request("POST", "peer-nodes", body=body))


@peer_app.command("list")
def list_() -> None:
    peers = request("GET", "peer-nodes")
    for peer in peers:
        peer["trusted"] = ", ".join(c for c, pin in peer["trust"].items() if pin) or "no"
    table(peers, ["name", "url", "job_runner", "gateway", "enabled", "trusted", "warnings"])


@peer_app.command("show")
def show_peer(name: str) -> None:
    show(request("GET", f"peer-nodes/{_peer_id(name)}"))


@peer_app.command("edit")
def edit(
    name: str,
    url: Annotated[str | None, typer.Option()] = None,
    token_file: Annotated[Path | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    gateway_address: Annotated[str | None, typer.Option()] = None,
    http_proxy_address: Annotated[str | None, typer.Option()] = None,
) -> None:
    changes: dict[str, Any] = {"url": url, "access_token": _token(token_file), "enabled": enabled}
    if gateway_address is not None:
        changes.update(gateway=bool(gateway_address), gateway_address=gateway_address)
    if http_proxy_address is not None:
        changes.update(http_proxy=bool(http_proxy_address), http_proxy_address=http_proxy_address)
    body = {key: value for key, value in changes.items() if value is not None}
    show(request("PATCH", f"peer-nodes/{_peer_id(name)}", body=body))


@peer_app.command("rm")
def rm(name: str, yes: Yes = False) -> None:
    confirm(yes, f"Delete peer node '{name}' and its assignments to assets?")
    request("DELETE", f"peer-nodes/{_peer_id(name)}")
    typer.echo(f"peer node '{name}' deleted")


@peer_app.command("verify-trust")
def verify_trust(name: str, component: Component = "job-runner") -> None:
    """Show the certificate the peer presents now, and whether it is trusted."""
    show(
        request("POST", f"peer-nodes/{_peer_id(name)}/verify-trust", body={"component": component})
    )


@peer_app.command("establish-trust")
def establish_trust(
    name: str,
    sha256: Annotated[str, typer.Option(help="The SHA-256 that verify-trust showed.")],
    component: Component = "job-runner",
) -> None:
    body = {"component": component, "sha256": sha256}
    show(request("POST", f"peer-nodes/{_peer_id(name)}/establish-trust", body=body))


@peer_app.command("test")
def test_connection(name: str) -> None:
    """Test Connection: call the peer with its token over the pinned channel."""
    report = request("POST", f"peer-nodes/{_peer_id(name)}/test-connection")
    show(report)
    if not report["ok"]:
        raise typer.Exit(1)


@peer_app.command("assign")
def assign(asset_id: str, peer: str, disabled: bool = False) -> None:
    """Manage > Peer Nodes > Add on a container or asset."""
    body = {"peer_node": peer, "enabled": not disabled}
    show(request("POST", f"assets/{asset_id}/peer-nodes", body=body))


@peer_app.command("assignments")
def assignments(asset_id: str) -> None:
    """Direct and inherited assignments of an asset, and the effective sets."""
    found = request("GET", f"assets/{asset_id}/peer-nodes")
    for row in found["assignments"]:
        row["from"] = row["source"]["name"] + (" (inherited)" if row["inherited"] else "")
    table(found["assignments"], ["id", "peer_node", "enabled", "from", "jobs_unusable"])
    for purpose, names in found["effective"].items():
        typer.echo(f"effective for {purpose}: {', '.join(names) or 'none (runs on this node)'}")


@peer_app.command("unassign")
def unassign(asset_id: str, assignment_id: str, yes: Yes = False) -> None:
    confirm(yes, f"Remove peer-node assignment {assignment_id}?")
    request("DELETE", f"assets/{asset_id}/peer-nodes/{assignment_id}")
    typer.echo("removed")
