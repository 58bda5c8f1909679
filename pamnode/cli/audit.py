"""`pamnode audit`: the site's newest audit events (through the API), and `pamnode audit
verify`, run on the node's machine against its database and data directory."""

import asyncio
from typing import Annotated

import typer

from pamnode.cli.client import request
from pamnode.cli.options import DatabaseUrl, DataDir, local_settings
from pamnode.cli.output import Json, table

audit_app = typer.Typer(
    help="The audit trail: its newest events, and the proof that it is intact.",
    invoke_without_command=True,
)


@audit_app.callback()
def audit(
    context: typer.Context,
    action: Annotated[str | None, typer.Option(help="Only events of this action.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only events by this login.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 50,
    as_json: Json = False,
) -> None:
    """The newest audit events of the current site."""
    if context.invoked_subcommand is not None:
        return
    params = {"action": action, "actor": actor, "limit": limit}
    events = request("GET", "audit-events", params={k: v for k, v in params.items() if v})
    table(events, ["at", "actor", "action", "target", "outcome", "source"], as_json)


@audit_app.command("verify")
def verify(data: DataDir, database_url: DatabaseUrl = None) -> None:
    """Check the audit trail's hash chain and every recording against its SHA-256; exits 1
    naming the first broken link or each edited recording."""
    # Here, not at the top: the database layer weighs more than every remote command.
    from pamnode.app.evidence import verify as verify_evidence

    evidence = asyncio.run(verify_evidence(local_settings(data, database_url)))
    chain, recordings = evidence.chain, evidence.recordings
    if chain.broken is not None:
        typer.echo(
            f"audit chain BROKEN after {chain.linked} intact row(s): {chain.broken.described()}",
            err=True,
        )
    else:
        before = f"; {chain.unlinked} older row(s) predate the chain" if chain.unlinked else ""
        typer.echo(f"audit chain OK: {chain.linked} row(s) linked{before}")
    for problem in recordings.problems:
        typer.echo(f"recording BROKEN: {problem.described()}", err=True)
    if not recordings.problems:
        unproven = (
            f"; {recordings.unproven} older recording(s) have no hash"
            if recordings.unproven
            else ""
        )
        typer.echo(f"recordings OK: {recordings.matched} match their SHA-256{unproven}")
    if not evidence.intact:
        raise typer.Exit(1)
