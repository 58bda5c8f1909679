"""`pamnode peer-link …`: on a peer, its site's link to the main it dials (log in to the
peer's tenant and site first: `pamnode login`)."""

from typing import Annotated

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Json, Yes, confirm, show

link_app = typer.Typer(
    help="On a peer: the link its site keeps to a main (peers that dial out).",
    no_args_is_help=True,
)


@link_app.command("enrol")
def enrol(
    main_url: Annotated[
        str, typer.Option(help="The main's site URL: https://host:port/ztna/<tenant>/<site>.")
    ],
    code: Annotated[str, typer.Option(help="The one-time enrolment code the main showed.")],
    fingerprint: Annotated[
        str, typer.Option(help="The main's certificate SHA-256 it showed with the code.")
    ],
    as_json: Json = False,
) -> None:
    """Enrol this site at the main: check its certificate against the fingerprint, make a
    key pair, present the code and the public key once, and keep a link to it from now on
    (through the proxy https_proxy names, if any)."""
    body = {"main_url": main_url, "code": code, "fingerprint": fingerprint}
    show(request("POST", "main-link", body=body), as_json)


@link_app.command("status")
def status(as_json: Json = False) -> None:
    """The main this site is enrolled at, and whether the link is up."""
    show(request("GET", "main-link"), as_json)


@link_app.command("forget")
def forget(yes: Yes = False) -> None:
    """Drop this site's enrolment and close its link (revoke it on the main too)."""
    confirm(yes, "Forget this site's enrolment at its main?")
    request("DELETE", "main-link")
    typer.echo("enrolment forgotten")
