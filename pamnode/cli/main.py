"""The `pamnode` command: run a node, create its first administrator, administer it remotely."""

import asyncio
import logging
import logging.config
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from pamnode import __version__
from pamnode.app.data_dir import UMASK
from pamnode.app.logs import start_logging
from pamnode.app.settings import DEFAULT_PORT, LogFormat, Settings
from pamnode.cli.account import account_app, ca_app
from pamnode.cli.admin import register_admin_commands
from pamnode.cli.assets import asset_app, register_asset_commands
from pamnode.cli.audit import audit_app
from pamnode.cli.backup import register_backup_commands
from pamnode.cli.directories import directory_app
from pamnode.cli.jobs import execute, jobs_app, script_app
from pamnode.cli.link import link_app
from pamnode.cli.options import DatabaseUrl, DataDir, local_settings
from pamnode.cli.peers import peer_app
from pamnode.cli.sessions import sessions_app
from pamnode.core.errors import PamError

_log = logging.getLogger("pamnode.cli")

app = typer.Typer(help="pamnode: a privileged-access-management node.", no_args_is_help=True)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"pamnode {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """pamnode: a privileged-access-management node."""


@app.command()
def serve(
    data: DataDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTPS port.")] = DEFAULT_PORT,
    node_name: Annotated[str | None, typer.Option(help="Name in node signatures.")] = None,
    database_url: DatabaseUrl = None,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(
            help="Serve as a gateway for remote sessions: the gateway front's TLS port (e.g. "
            "4822). guacd itself runs on loopback behind it.",
        ),
    ] = None,
    gateway_host: Annotated[
        str | None, typer.Option(help="Address the gateway front listens on (default: --host).")
    ] = None,
    http_proxy_port: Annotated[
        int | None,
        typer.Option(
            help="Carry mains' proxy sessions: the HTTP CONNECT proxy's TLS port (e.g. 8800).",
        ),
    ] = None,
    ssh_proxy_port: Annotated[
        int | None,
        typer.Option(
            help="Serve the native SSH proxy for OpenSSH clients on this port (e.g. 2203): "
            "ssh -p 2203 'alice#web-1@main'.",
        ),
    ] = None,
    target_allow_cidrs: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated networks among loopback, the unspecified address and "
            "link-local that targets may resolve to (e.g. 127.0.0.0/8 for a lab). Default: "
            "PAMNODE_TARGET_ALLOW_CIDRS, else none. The node's own listeners are refused always.",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            help="Log lines on stderr as text, or one JSON object a line (time, level, logger, "
            "message, request_id, job_id...). Default: PAMNODE_LOG_FORMAT, else text.",
        ),
    ] = None,
    admin_login: Annotated[
        str | None,
        typer.Option(
            help="On the first start, create this administrator of the base tenant (as "
            "`pamnode init` does); a node that has one already keeps it.",
        ),
    ] = None,
    admin_password_file: Annotated[
        Path | None,
        typer.Option(help="File holding --admin-login's password (first line).", exists=True),
    ] = None,
    request_header_timeout: Annotated[
        float | None,
        typer.Option(
            help="Close a connection whose request headers are not complete within this many "
            "seconds. Default: PAMNODE_REQUEST_HEADER_TIMEOUT_S, else 10.",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            envvar="PAMNODE_FORWARDED_ALLOW_IPS",
            help="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed. Off by default: the source of a request (token "
            "filters, audit) is then the peer address of its TCP connection.",
        ),
    ] = None,
) -> None:
    """Serve the web console and REST API over HTTPS."""
    # Here, not at the top: the server's protocol classes weigh on every remote command.
    from pamnode.http.https_server import server_options, with_certificate

    os.umask(UMASK)

    if (cert is None) != (key is None):
        raise typer.BadParameter("give both --cert and --key, or neither")
    if (admin_login is None) != (admin_password_file is None):
        raise typer.BadParameter("give both --admin-login and --admin-password-file, or neither")
    overrides: dict[str, object] = {"data_dir": data, "host": host, "port": port}
    if node_name:
        overrides["node_name"] = node_name
    if database_url:
        overrides["database_url"] = database_url
    if gateway_port is not None:
        overrides["gateway_port"] = gateway_port
    if gateway_host:
        overrides["gateway_host"] = gateway_host
    if http_proxy_port is not None:
        overrides["http_proxy_port"] = http_proxy_port
    if ssh_proxy_port is not None:
        overrides["ssh_proxy_port"] = ssh_proxy_port
    if target_allow_cidrs is not None:
        overrides["target_allow_cidrs"] = target_allow_cidrs
    if log_format is not None:
        overrides["log_format"] = log_format
    if request_header_timeout is not None:
        overrides["request_header_timeout_s"] = request_header_timeout
    settings = with_certificate(Settings(**overrides), cert, key)  # type: ignore[arg-type]
    # The log's format from its first line: uvicorn applies the same configuration again.
    start_logging(settings.log_format)
    # Here, once the log is set: what the application's modules warn at import is a line of it.
    from pamnode.http.app import create_app

    if admin_login is not None and admin_password_file is not None:
        _admin_on_first_start(settings, admin_login, admin_password_file)
    uvicorn.run(create_app(settings), **server_options(settings, forwarded_allow_ips))


@app.command()
def init(
    data: DataDir,
    admin_login: Annotated[str, typer.Option(help="Login of the first administrator.")],
    admin_password_file: Annotated[
        Path, typer.Option(help="File holding the password (first line).", exists=True)
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Create the first administrator of the base tenant (once)."""
    os.umask(UMASK)
    settings = local_settings(data, database_url)
    refusal = _make_first_admin(settings, admin_login, admin_password_file)
    if refusal is not None:
        typer.echo(f"error: {refusal.message}", err=True)
        raise typer.Exit(1)
    typer.echo(_admin_created(admin_login))


def _make_first_admin(settings: Settings, login: str, password_file: Path) -> PamError | None:
    """The base tenant's first administrator, or why not (`user_exists`: it has one)."""
    # Here, not at the top: opening a node weighs more than every remote command together.
    from pamnode.app.first_admin import make_first_admin

    password = next(iter(password_file.read_text().splitlines()), "")
    return asyncio.run(make_first_admin(settings, login, password))


def _admin_on_first_start(settings: Settings, login: str, password_file: Path) -> None:
    """serve --admin-login: init's rule, but a node that has an administrator keeps it."""
    refusal = _make_first_admin(settings, login, password_file)
    if refusal is None:
        _log.info(_admin_created(login))
    elif refusal.code == "user_exists":
        _log.info("this node has an administrator already: --admin-login %s unused", login)
    else:
        typer.echo(f"error: {refusal.message}", err=True)
        raise typer.Exit(1)


def _admin_created(login: str) -> str:
    from pamnode.identity.tenants import BASE_TENANT

    return f"administrator '{login}' created in tenant '{BASE_TENANT}'"


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Where the nodes keep their data (default: a temp dir).")
    ] = None,
    loopback: Annotated[
        bool, typer.Option(help="Put everything on loopback even when namespaces are possible.")
    ] = False,
) -> None:
    """Main node, peer node and SSH endpoint: the whole peer-node flow of the seed, end to end."""
    import json
    import re
    import tempfile

    from rich.console import Console

    from pamnode.demo.run import can_isolate, run_demo
    from pamnode.demo.walkthrough import DemoError
    from pamnode.lab import LabUnavailable

    console = Console()
    isolated = can_isolate() and not loopback
    with tempfile.TemporaryDirectory(prefix="pamnode-demo-") as tmp:
        try:
            result = run_demo(
                workdir or Path(tmp), isolated, lambda line: console.print(f"• {line}")
            )
        except (DemoError, LabUnavailable) as exc:
            console.print(f"[red]demo failed:[/red] {exc}")
            raise typer.Exit(1) from None
    job, session = result.job, result.session
    console.print("\nReports > Jobs > Show Details:")
    shown = {k: v for k, v in job.items() if k not in ("output", "target")}
    console.print_json(json.dumps(shown))
    console.print(f"\n[bold green]Node Signature: {job['node_signature']}[/bold green]")
    console.print("\nReports > Sessions > Show Details:")
    console.print_json(json.dumps(session))
    console.print("\nFirst lines of the session's typescript:")
    # Without the terminal's control sequences (clear screen, colours): a report, not a replay.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.typescript)
    for line in text.splitlines()[:20]:
        console.print(f"  {line}", markup=False, highlight=False)
    console.print(
        f"\n[bold green]Gateway: {session['gateway']}  "
        f"Node Signature: {session['node_signature']}[/bold green]"
    )


register_admin_commands(app)
register_asset_commands(app)
register_backup_commands(app)
app.add_typer(audit_app, name="audit")
app.add_typer(account_app, name="account")
app.add_typer(ca_app, name="ssh-ca")
app.add_typer(peer_app, name="peer")
app.add_typer(link_app, name="peer-link")
app.add_typer(directory_app, name="directory")
app.add_typer(jobs_app, name="jobs")
app.add_typer(sessions_app, name="sessions")
app.add_typer(script_app, name="script")
asset_app.command("execute")(execute)
