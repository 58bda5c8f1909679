"""`pamnode account`: the caller's own SSH keys and second factor (and, for an administrator
of users, another user's keys and the reset of their factor); `pamnode ssh-ca`: the tenant's
SSH user CAs."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Json, show, table

account_app = typer.Typer(help="Your SSH keys and second factor.", no_args_is_help=True)
keys_app = typer.Typer(help="SSH public keys for the SSH proxy.", no_args_is_help=True)
factor_app = typer.Typer(help="The second factor (TOTP).", no_args_is_help=True)
account_app.add_typer(keys_app, name="keys")
account_app.add_typer(factor_app, name="second-factor")

OtherUser = Annotated[
    str | None,
    typer.Option("--user", help="Another user's login (an administrator of users)."),
]
KEY_COLUMNS = ["id", "algorithm", "fingerprint", "comment", "created_at", "last_used_at"]


def _keys_path(user: str | None) -> str:
    return f"users/{user}/ssh-keys" if user else "account/ssh-keys"


def _add_public_key(path: str, public_key: Path, comment: str, as_json: bool) -> None:
    """POST a public key line read from a file (or standard input, `-`)."""
    line = sys.stdin.read() if str(public_key) == "-" else public_key.read_text()
    show(request("POST", path, body={"public_key": line, "comment": comment}), as_json)


@keys_app.command("add")
def keys_add(
    public_key: Annotated[Path, typer.Argument(help="The .pub file, or - for standard input.")],
    comment: Annotated[str, typer.Option(help="Replaces the key line's own comment.")] = "",
    as_json: Json = False,
) -> None:
    """Register one of your SSH public keys (ed25519, ECDSA, RSA of 3072 bits or more)."""
    _add_public_key("account/ssh-keys", public_key, comment, as_json)


@keys_app.command("list")
def keys_list(user: OtherUser = None, as_json: Json = False) -> None:
    """Your SSH keys (or another user's)."""
    table(request("GET", _keys_path(user)), KEY_COLUMNS, as_json)


@keys_app.command("rm")
def keys_rm(
    key: Annotated[str, typer.Argument(help="The key's id or fingerprint (SHA256:...).")],
    user: OtherUser = None,
) -> None:
    """Remove an SSH key: its next login is refused."""
    request("DELETE", f"{_keys_path(user)}/{key}")
    typer.echo(f"key {key} removed")


@factor_app.command("status")
def factor_status(as_json: Json = False) -> None:
    """Whether you have a second factor, and how many recovery codes are left."""
    show(request("GET", "account/second-factor"), as_json)


@factor_app.command("enrol")
def factor_enrol() -> None:
    """Enrol a TOTP app: add the seed (or the URI) to it, then type the code it shows."""
    enrolment = request("POST", "account/second-factor")
    typer.echo(f"Seed (type it into the app): {enrolment['seed']}")
    typer.echo(f"URI (what a QR code holds): {enrolment['uri']}")
    code = typer.prompt("Code the app shows now")
    answer = request("POST", "account/second-factor/confirm", body={"code": code})
    typer.echo("Second factor enrolled. Recovery codes, each usable once, shown only now:")
    for recovery in answer["recovery_codes"]:
        typer.echo(f"  {recovery}")


@factor_app.command("reset")
def factor_reset(login: Annotated[str, typer.Argument(help="The user's login.")]) -> None:
    """Remove a user's second factor (a lost phone): they enrol again."""
    request("DELETE", f"users/{login}/second-factor")
    typer.echo(f"second factor of '{login}' reset")


@factor_app.command("require")
def factor_require(
    required: Annotated[bool, typer.Argument(help="true: logins to this site need a code.")],
    as_json: Json = False,
) -> None:
    """Whether the current site requires a second factor of every login (console, API by
    password, SSH proxy)."""
    show(request("PUT", "second-factor-policy", body={"required": required}), as_json)


ca_app = typer.Typer(
    help="SSH user CAs: their certificates log in as their principal.", no_args_is_help=True
)


@ca_app.command("add")
def ca_add(
    public_key: Annotated[Path, typer.Argument(help="The CA's .pub file, or - for stdin.")],
    comment: Annotated[str, typer.Option(help="Replaces the key line's own comment.")] = "",
    as_json: Json = False,
) -> None:
    """Trust an SSH user CA for the tenant (certificate principal = pamnode login)."""
    _add_public_key("ssh-user-cas", public_key, comment, as_json)


@ca_app.command("list")
def ca_list(as_json: Json = False) -> None:
    """The tenant's SSH user CAs."""
    columns = ["id", "algorithm", "fingerprint", "comment", "created_by", "created_at"]
    table(request("GET", "ssh-user-cas"), columns, as_json)


@ca_app.command("rm")
def ca_rm(ca: Annotated[str, typer.Argument(help="The CA's id or fingerprint.")]) -> None:
    """Stop trusting an SSH user CA: its certificates are refused from then on."""
    request("DELETE", f"ssh-user-cas/{ca}")
    typer.echo(f"SSH user CA {ca} removed")
