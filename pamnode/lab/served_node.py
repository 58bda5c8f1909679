"""What a test sees of a lab node, however it is served: its HTTPS address and certificate,
its data directory and database, API clients and logins; and the settings every lab node
gets beyond a production node's defaults.

Two kinds serve it: `NodeProcess` (node_process.py), a real `pamnode serve` process, and
`InProcessNode` (inprocess_node.py), the same application served by uvicorn in a thread of
the test process.
"""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from pathlib import Path

import httpx

# What the lab's nodes allow as targets beyond the default policy.
LAB_TARGET_ALLOW_CIDRS = "127.0.0.0/8"


def lab_settings_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The PAMNODE_* settings of a lab node, `extra` (a test's own) last."""
    env = {
        # The lab's sshd, xrdp and doubles listen on loopback, which the destination policy
        # refuses by default (the node's own ports stay refused); a test may give its own.
        "PAMNODE_TARGET_ALLOW_CIDRS": LAB_TARGET_ALLOW_CIDRS,
        # The suite makes and checks a few thousand passwords; OWASP's minimum costs a sixth
        # of the default. A test of what a check costs (throttle, flood) gives `standard`.
        "PAMNODE_PASSWORD_HASH_PROFILE": "light",
    }
    env.update(extra or {})
    return env


def tls_context(cafile: Path) -> ssl.SSLContext:
    """Trust exactly the node's own self-signed certificate, whatever address reaches it."""
    context = ssl.create_default_context(cafile=str(cafile))
    # The pinned certificate is the identity; its SANs need not name a namespace address.
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


class ServedNode(ABC):
    """A node's data directory, database and HTTPS address; how it is served is the
    subclass's."""

    def __init__(
        self, data_dir: Path, name: str, database_url: str | None, address: str, port: int
    ) -> None:
        self.data_dir = Path(data_dir)
        self.name = name
        # None means the node's default SQLite file, see sqlite_path.
        self.database_url = database_url
        self.address = address
        # Fixed for the node's lifetime so peers and clients survive restarts.
        self.port = port
        self.data_dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def start(self, admin: tuple[str, str] | None = None) -> None:
        """Serve, once ready for requests; `admin` (login, password): the first start makes
        that administrator of the base tenant."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving as SIGTERM would."""

    @property
    def base_url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "tls" / "key.pem"

    @property
    def sqlite_path(self) -> Path | None:
        return self.data_dir / "pamnode.db" if self.database_url is None else None

    def api_url(self, tenant: str, site: str = "root") -> str:
        return f"{self.base_url}/ztna/{tenant}/{site}/api/"

    def client(self, tenant: str, site: str = "root", token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.api_url(tenant, site),
            verify=tls_context(self.cert_path),
            headers=headers,
            timeout=30.0,
        )

    def login(self, tenant: str, site: str, login: str, password: str) -> str:
        with self.client(tenant, site) as c:
            resp = c.post("auth/login", json={"login": login, "password": password})
        assert resp.status_code == 200, (
            f"login {login}@{tenant}/{site} on {self.name}: HTTP {resp.status_code} {resp.text}"
        )
        token = resp.json()["token"]
        assert isinstance(token, str) and token, f"no token in login response: {resp.text}"
        return token
