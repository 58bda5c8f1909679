"""`pamnode sessions …`: Reports > Sessions from a shell (the remote screen itself is the
console's; a program attaches to a session's tunnel, see docs/architecture.md)."""

from pathlib import Path
from typing import Annotated

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Json, Yes, confirm, show, table
from pamnode.cli.refs import resolve_asset

sessions_app = typer.Typer(help="Reports > Sessions.", no_args_is_help=True)

SESSION_COLUMNS = [
    "id",
    "state",
    "channel",
    "asset_name",
    "requested_by",
    "gateway",
    "node_signature",
    "created_at",
]


@sessions_app.command("list")
def list_sessions(
    asset: Annotated[
        str | None, typer.Option(help="Only the sessions to this asset (id, path or name).")
    ] = None,
    state: Annotated[str | None, typer.Option(help="Only the sessions in this state.")] = None,
    node: Annotated[str | None, typer.Option(help="Node name or node signature.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many sessions (newest first).")] = 50,
    as_json: Json = False,
) -> None:
    """Reports > Sessions: the newest sessions first, filtered."""
    params = {
        "asset_id": resolve_asset(asset) if asset else None,
        "state": state,
        "node": node,
        "limit": limit,
    }
    page = request("GET", "sessions", params={k: v for k, v in params.items() if v is not None})
    table(page["sessions"], SESSION_COLUMNS, as_json, page)
    if as_json:
        return
    typer.echo(f"{len(page['sessions'])} of {page['total']} sessions")


SessionId = Annotated[str, typer.Argument(help="The session's id (sessions have no name).")]


@sessions_app.command("show")
def show_session(session_id: SessionId, as_json: Json = False) -> None:
    """Session details: its Gateway, peer node, node signature and every attempt."""
    show(request("GET", f"sessions/{session_id}"), as_json)


@sessions_app.command("terminate")
def terminate_session(session_id: SessionId, yes: Yes = False) -> None:
    """End a session at once, on every hop."""
    confirm(yes, f"Terminate session {session_id}? It ends at once on every hop.")
    show(request("POST", f"sessions/{session_id}/terminate"))


@sessions_app.command("rdp-proxy")
def rdp_proxy(
    asset: Annotated[str, typer.Argument(help="Windows host: its id, its path or its name.")],
    out: Annotated[
        Path | None, typer.Option(help="Write the .rdp file here (default: print it).")
    ] = None,
) -> None:
    """RDP pass-through: a one-time port on the main for your RDP client (you log in to the
    host yourself); the stream goes through the asset's peer node when it has one."""
    offer = request("POST", f"assets/{resolve_asset(asset)}/rdp-proxy")
    typer.echo(
        f"Connect an RDP client to {offer['host']}:{offer['port']} within "
        f"{offer['expires_in_s']:g} s (one connection, from this address). "
        f"Session {offer['session_id']}."
    )
    if out is None:
        typer.echo(offer["rdp_file"])
    else:
        out.write_text(offer["rdp_file"])
        typer.echo(f"Wrote {out}")
