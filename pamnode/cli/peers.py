"""`pamnode peer …`: Configuration > Peer Nodes and Manage > Peer Nodes from a shell."""

from pathlib import Path
from typing import Annotated, Any

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Json, Yes, confirm, show, table
from pamnode.cli.refs import ASSIGNMENT, PEER, pick, resolve, resolve_asset

peer_app = typer.Typer(help="Peer nodes of the current site.", no_args_is_help=True)

Component = Annotated[str, typer.Option(help="job-runner, gateway or http-proxy.")]
Peer = Annotated[str, typer.Argument(help="The peer node: its name or id.")]
Asset = Annotated[str, typer.Argument(help="Asset or container: its id, its path or its name.")]
TokenFile = Annotated[Path | None, typer.Option(help="File holding the peer's API token.")]
GATEWAY_HELP = "server:port of the peer's gateway (remote sessions); empty: none."
HTTP_PROXY_HELP = "server:port of the peer's HTTP proxy (proxy sessions); empty: none."
MODE_HELP = (
    "main_dials: this main connects to the peer; peer_dials: the peer keeps a link to this "
    "main (enrol it with `pamnode peer enrolment-code`)."
)
Mode = Annotated[str, typer.Option(help=MODE_HELP)]


def _token(token_file: Path | None) -> str | None:
    return token_file.read_text().strip() if token_file else None


@peer_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name, unique in the site.")],
    url: Annotated[str, typer.Option(help="https://host:port/ztna/<tenant>/<site>")],
    token_file: TokenFile = None,
    job_runner: Annotated[
        bool, typer.Option("--job-runner/--no-job-runner", help="Whether it runs jobs.")
    ] = True,
    gateway_address: Annotated[str, typer.Option(help=GATEWAY_HELP)] = "",
    http_proxy_address: Annotated[str, typer.Option(help=HTTP_PROXY_HELP)] = "",
    enabled: Annotated[
        bool, typer.Option("--enabled/--disabled", help="Disabled: configured but not used.")
    ] = True,
    connection_mode: Mode = "main_dials",
    as_json: Json = False,
) -> None:
    """Configuration > Peer Nodes > Add: a peer node this main delegates to."""
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
        "connection_mode": connection_mode,
    }
    show(request("POST", "peer-nodes", body=body), as_json)


@peer_app.command("list")
def list_(as_json: Json = False) -> None:
    """The site's peer nodes, with the components whose certificate is trusted."""
    peers = request("GET", "peer-nodes")
    rows = [{**peer, "trusted": _trusted(peer)} for peer in peers]
    columns = ["id", "name", "url", "job_runner", "gateway", "enabled", "trusted", "warnings"]
    table(rows, columns, as_json, peers)


def _trusted(peer: dict[str, Any]) -> str:
    return ", ".join(component for component, pin in peer["trust"].items() if pin) or "no"


@peer_app.command("show")
def show_peer(name: Peer, as_json: Json = False) -> None:
    """A peer node's configuration, trust and warnings."""
    show(request("GET", f"peer-nodes/{resolve(PEER, name)}"), as_json)


@peer_app.command("edit")
def edit(
    name: Peer,
    url: Annotated[
        str | None,
        typer.Option(
            help="https://host:port/ztna/<tenant>/<site>; a new URL needs --token-file again "
            "(the token goes only where it was entered for) and Establish Trust again."
        ),
    ] = None,
    token_file: TokenFile = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Use it, or keep it unused.")
    ] = None,
    gateway_address: Annotated[str | None, typer.Option(help=GATEWAY_HELP)] = None,
    http_proxy_address: Annotated[str | None, typer.Option(help=HTTP_PROXY_HELP)] = None,
    connection_mode: Annotated[str | None, typer.Option(help=MODE_HELP)] = None,
    as_json: Json = False,
) -> None:
    """Change a peer node's address, token, state, components or connection mode."""
    changes: dict[str, Any] = {
        "url": url,
        "access_token": _token(token_file),
        "enabled": enabled,
        "connection_mode": connection_mode,
    }
    if gateway_address is not None:
        changes.update(gateway=bool(gateway_address), gateway_address=gateway_address)
    if http_proxy_address is not None:
        changes.update(http_proxy=bool(http_proxy_address), http_proxy_address=http_proxy_address)
    body = {key: value for key, value in changes.items() if value is not None}
    show(request("PATCH", f"peer-nodes/{resolve(PEER, name)}", body=body), as_json)


@peer_app.command("rm")
def rm(name: Peer, yes: Yes = False) -> None:
    """Delete a peer node and its assignments."""
    confirm(yes, f"Delete peer node '{name}' and its assignments to assets?")
    request("DELETE", f"peer-nodes/{resolve(PEER, name)}")
    typer.echo(f"peer node '{name}' deleted")


@peer_app.command("verify-trust")
def verify_trust(name: Peer, component: Component = "job-runner", as_json: Json = False) -> None:
    """Show the certificate the peer presents now, and whether it is trusted."""
    body = {"component": component}
    show(request("POST", f"peer-nodes/{resolve(PEER, name)}/verify-trust", body=body), as_json)


@peer_app.command("establish-trust")
def establish_trust(
    name: Peer,
    sha256: Annotated[str, typer.Option(help="The SHA-256 that verify-trust showed.")],
    component: Component = "job-runner",
    as_json: Json = False,
) -> None:
    """Trust the certificate the peer presents, if its SHA-256 is the one given."""
    body = {"component": component, "sha256": sha256}
    show(request("POST", f"peer-nodes/{resolve(PEER, name)}/establish-trust", body=body), as_json)


@peer_app.command("test")
def test_connection(name: Peer, as_json: Json = False) -> None:
    """Test Connection: call the peer with its token over the pinned channel."""
    report = request("POST", f"peer-nodes/{resolve(PEER, name)}/test-connection")
    show(report, as_json)
    if not report["ok"]:
        raise typer.Exit(1)


@peer_app.command("assign")
def assign(
    asset: Asset,
    peer: Peer,
    disabled: Annotated[bool, typer.Option(help="Assign it disabled (not used yet).")] = False,
    as_json: Json = False,
) -> None:
    """Manage > Peer Nodes > Add on a container or asset."""
    # The route takes the peer node's name or id itself: assigning needs no right to list
    # peer nodes.
    body = {"peer_node": peer, "enabled": not disabled}
    show(request("POST", f"assets/{resolve_asset(asset)}/peer-nodes", body=body), as_json)


@peer_app.command("assignments")
def assignments(asset: Asset, as_json: Json = False) -> None:
    """Direct and inherited assignments of an asset, and the effective sets."""
    found = request("GET", f"assets/{resolve_asset(asset)}/peer-nodes")
    rows = [{**row, "from": _source(row)} for row in found["assignments"]]
    table(rows, ["id", "peer_node", "enabled", "from", "jobs_unusable"], as_json, found)
    if as_json:
        return
    for purpose, names in found["effective"].items():
        typer.echo(f"effective for {purpose}: {', '.join(names) or 'none (runs on this node)'}")


def _source(assignment: dict[str, Any]) -> str:
    inherited = " (inherited)" if assignment["inherited"] else ""
    return f"{assignment['source']['name']}{inherited}"


@peer_app.command("unassign")
def unassign(
    asset: Asset,
    assignment: Annotated[
        str,
        typer.Argument(help="The assignment made on this asset: its id or its peer node's name."),
    ],
    yes: Yes = False,
) -> None:
    """Manage > Peer Nodes > Remove: end an assignment made on this asset."""
    asset_id = resolve_asset(asset)
    found = request("GET", f"assets/{asset_id}/peer-nodes")["assignments"]
    made_here = [row for row in found if not row["inherited"]]
    chosen = pick(ASSIGNMENT, assignment, made_here)
    confirm(yes, f"Remove the assignment of peer node '{chosen['peer_node']}'?")
    request("DELETE", f"assets/{asset_id}/peer-nodes/{chosen['id']}")
    typer.echo("removed")


@peer_app.command("enrolment-code")
def enrolment_code(name: Peer, as_json: Json = False) -> None:
    """A one-time enrolment code for a peer that dials (valid 30 minutes, shown once), with
    this main's certificate SHA-256: give both to the peer's administrator, who runs
    `pamnode peer-link enrol` on the peer."""
    show(request("POST", f"peer-nodes/{resolve(PEER, name)}/enrolment-code"), as_json)


@peer_app.command("revoke-link")
def revoke_link(name: Peer, yes: Yes = False) -> None:
    """Forget the key a dialling peer enrolled with and close its link at once; it must be
    enrolled again with a new code."""
    confirm(yes, f"Revoke the link of peer node {name}?")
    request("POST", f"peer-nodes/{resolve(PEER, name)}/revoke-link")
    typer.echo(f"link of peer node {name} revoked")
