"""The CLI's side of the REST API: a stored login, and calls that turn errors into messages."""

import json
import os
import ssl
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import typer

from pamnode.crypto.fingerprints import fingerprint


def config_dir() -> Path:
    if "PAMNODE_CONFIG_DIR" in os.environ:
        return Path(os.environ["PAMNODE_CONFIG_DIR"])
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "pamnode"


def _session_file() -> Path:
    return config_dir() / "session.json"


def save_session(url: str, token: str, ca_file: str | None, pinned: bool = False) -> None:
    path = _session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "token": token, "ca_file": ca_file, "pinned": pinned}, handle)


def forget_session() -> None:
    _session_file().unlink(missing_ok=True)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def tls_context(ca_file: str | None, pinned: bool = False) -> ssl.SSLContext:
    """Trust the given node certificate (a self-signed node's own), else the system store.

    `pinned`: `ca_file` is the node's own certificate, pinned by its SHA-256 (`login
    --sha256`): that certificate alone is trusted, whatever names it holds.
    """
    if not ca_file:
        return ssl.create_default_context()
    context = ssl.create_default_context(cafile=ca_file)
    if pinned:
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def pin_certificate(url: str, sha256: str) -> str:
    """Fetch the certificate the node at `url` presents and keep it, if its SHA-256 is
    `sha256` (hex, any case, colons allowed); the file to trust from now on."""
    wanted = sha256.replace(":", "").strip().upper()
    address = httpx.URL(url)
    try:
        pem = ssl.get_server_certificate((address.host, address.port or 443), timeout=10)
    except OSError as exc:
        raise fail(f"cannot reach {url}: {exc}") from None
    presented = fingerprint(ssl.PEM_cert_to_DER_cert(pem))
    if presented != wanted:
        raise fail(
            f"the node presents a certificate with SHA-256 {presented}, not {wanted}: "
            "nothing was sent to it"
        )
    path = config_dir() / f"pinned-{presented[:16].lower()}.pem"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(pem)
    return str(path)


def unreachable(url: str, exc: httpx.HTTPError) -> typer.Exit:
    """Why `url` could not be used, with what to do when its certificate is not trusted."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return fail(
            f"the certificate of {url} is not trusted here ({exc}). A node with its own "
            "self-signed certificate: log in with --ca-file pointing to its DATA/tls/cert.pem, "
            "or with --sha256 and the SHA-256 its startup banner shows"
        )
    return fail(f"cannot reach {url}: {exc}")


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
            verify=tls_context(session.get("ca_file"), bool(session.get("pinned"))),
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
            raise unreachable(self.url, exc) from None
        if response.is_error:
            raise _refused(response)
        return response.json() if response.content else None

    def download(self, path: str, sink: BinaryIO, params: dict[str, Any] | None = None) -> int:
        """GET `path` into `sink` as it arrives (a recording may be large); the bytes written,
        or exit with the server's message."""
        written = 0
        try:
            with self._client.stream("GET", path, params=params) as response:
                if response.is_error:
                    response.read()
                    raise _refused(response)
                for chunk in response.iter_bytes():
                    sink.write(chunk)
                    written += len(chunk)
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        return written


def _refused(response: httpx.Response) -> typer.Exit:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:500]
    return fail(f"{response.status_code}: {message}")


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
