"""`pamnode sessions …`: Reports > Sessions from a shell (the remote screen itself is the
console's; a program attaches to a session's tunnel, see docs/architecture.md)."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from pamnode.cli.client import Api, fail, request
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


SEARCH_COLUMNS = ["session_id", "created_at", "asset_name", "requested_by", "channel"]
SEARCH_COLUMNS += ["offset_s", "snippet"]


@sessions_app.command("search")
def search_sessions(
    text: Annotated[
        str,
        typer.Argument(
            help='Words the session showed or ran (all of them); "quoted words" in this order.'
        ),
    ],
    asset: Annotated[
        str | None, typer.Option(help="Only the sessions to this asset (id, path or name).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Only the sessions of this login.")] = None,
    peer: Annotated[
        str | None, typer.Option(help="Only the sessions this peer node carried.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only the sessions opened at or after this time (ISO 8601, with zone)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Only the sessions opened before this time (ISO 8601, with zone)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many sessions (newest first).")] = 50,
    as_json: Json = False,
) -> None:
    """Search across sessions: terminal output, exec command lines and SFTP operations of the
    sessions you may read; each hit is a session, with where its terminal recording shows it
    (offset_s, seconds into playback)."""
    params = {
        "q": text,
        "asset": resolve_asset(asset) if asset else None,
        "user": user,
        "peer": peer,
        "since": since,
        "until": until,
        "limit": limit,
    }
    found = request(
        "GET", "sessions/search", params={k: v for k, v in params.items() if v is not None}
    )
    table(found["hits"], SEARCH_COLUMNS, as_json, found)
    if as_json:
        return
    typer.echo(f"{len(found['hits'])} of {found['total']} sessions")


SessionId = Annotated[str, typer.Argument(help="The session's id (sessions have no name).")]


@sessions_app.command("show")
def show_session(session_id: SessionId, as_json: Json = False) -> None:
    """Session details: its Gateway, peer node, node signature and every attempt."""
    show(request("GET", f"sessions/{session_id}"), as_json)


@sessions_app.command("recording")
def download_recording(
    session_id: SessionId,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Which recording: recording (the Guacamole one, for the player), typescript, "
            "asciicast (a shell with its timing), commands or files; needed only when the "
            "session has more than one "
            "(`pamnode sessions show ID` lists them)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here (default: print it).")
    ] = None,
) -> None:
    """Download one of a session's recordings (what the console's Download links give)."""
    with Api() as api:
        if kind is None:
            details = api.request("GET", f"sessions/{session_id}")
            kinds = details["recordings"]
            if not kinds and details["recordings_pending"]:
                raise fail(
                    f"session {session_id}'s recordings are still on peer node "
                    f"'{details['peer_node']}'; this node fetches them when it answers again"
                )
            if len(kinds) != 1:
                listed = ", ".join(kinds) or "none"
                raise fail(
                    f"session {session_id} has these recordings: {listed}; name one with --kind"
                )
            kind = str(kinds[0])
        params = {"kind": kind}
        if out is None:
            api.download(f"sessions/{session_id}/recording", sys.stdout.buffer, params)
            return
        # Written beside it and renamed when whole: a refusal or a broken transfer leaves
        # no partial file under the name asked for.
        part = out.with_name(out.name + ".part")
        try:
            with part.open("wb") as sink:
                written = api.download(f"sessions/{session_id}/recording", sink, params)
            part.replace(out)
        finally:
            part.unlink(missing_ok=True)
    typer.echo(f"Wrote {out} ({written} bytes, {kind})")


@sessions_app.command("export")
def export_session(
    session_id: SessionId,
    out: Annotated[Path, typer.Option("--out", "-o", help="The archive to write (tar.gz).")],
) -> None:
    """One session as evidence in one archive: its details, the audit rows that name it,
    its recordings and a manifest of their SHA-256 (administrators and auditors)."""
    part = out.with_name(out.name + ".part")
    try:
        with Api() as api, part.open("wb") as sink:
            written = api.download(f"sessions/{session_id}/export", sink, {})
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    typer.echo(f"Wrote {out} ({written} bytes)")


@sessions_app.command("terminate")
def terminate_session(session_id: SessionId, yes: Yes = False, as_json: Json = False) -> None:
    """End a session at once, on every hop."""
    confirm(yes, f"Terminate session {session_id}? It ends at once on every hop.")
    show(request("POST", f"sessions/{session_id}/terminate"), as_json)


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
