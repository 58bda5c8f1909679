"""The CLI's side of the REST API: a stored login, and calls that turn errors into messages."""

import json
import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import typer


def config_dir() -> Path:
    if "PAMNODE_CONFIG_DIR" in os.environ:
        return Path(os.environ["PAMNODE_CONFIG_DIR"])
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "pamnode"


def _session_file() -> Path:
    return config_dir() / "session.json"


def save_session(url: str, token: str, ca_file: str | None) -> None:
    path = _session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "token": token, "ca_file": ca_file}, handle)


def forget_session() -> None:
    _session_file().unlink(missing_ok=True)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Trust the given node certificate (a self-signed node's own), else the system store."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()


def site_api(url: str) -> str:
    return url.rstrip("/") + "/api/"


class Api:
    """One connection to the API with the stored login (or the one given), reused by every
    call made through it: a command that asks again and again (following jobs) pays for one
    TLS handshake, not one per question."""

    def __init__(self, session: dict[str, Any] | None = None) -> None:
        if session is None:
            try:
                session = json.loads(_session_file().read_text())
            except FileNotFoundError:
                raise fail("not logged in: run `pamnode login URL --user LOGIN` first") from None
        self.url = str(session["url"])
        token = session.get("token")
        self._client = httpx.Client(
            base_url=site_api(self.url),
            verify=tls_context(session.get("ca_file")),
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Call the API; exit with the server's message."""
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach {self.url}: {exc}") from None
        if response.is_error:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise fail(f"{response.status_code}: {message}")
        return response.json() if response.content else None


def request(
    method: str,
    path: str,
    *,
    body: Any = None,
    params: dict[str, Any] | None = None,
    session: dict[str, Any] | None = None,
) -> Any:
    """One call to the API with the stored login (or the one given); exit with the server's
    message."""
    with Api(session) as api:
        return api.request(method, path, body=body, params=params)
