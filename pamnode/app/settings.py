"""Node settings: command-line options override PAMNODE_* environment variables."""

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 6443


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAMNODE_")

    data_dir: Path = Path("./pamnode-data")
    database_url: str | None = None
    node_name: str = socket.gethostname()
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    cert_file: Path | None = None
    key_file: Path | None = None
    # Lifetime of a login session token, in seconds.
    session_ttl_s: int = 8 * 3600
    # Jobs run at once on this node; more wait in the queue.
    job_concurrency: int = 50
    # Database connections for API and console requests: a request holds one at most, and one
    # that finds none free within db_pool_timeout_s is answered 503 with Retry-After. Running
    # jobs write through a pool of their own (job_concurrency connections), so they never wait
    # behind requests. PostgreSQL needs max_connections >= db_pool_size + job_concurrency + 4
    # per node.
    db_pool_size: int = Field(default=16, ge=1)
    db_pool_timeout_s: float = Field(default=1.0, gt=0)
    # How long a verified API-token caller is remembered (identity/caller_cache.py): a token
    # disabled, deleted or expired, or a user locked or deleted, or a role changed, through
    # another node sharing the database is refused at most this long after; through this
    # node, at once. 0 verifies every request against the database.
    api_token_cache_s: float = Field(default=5.0, ge=0, le=60)
    # What a directory said of a directory user's account (enabled, its groups) is
    # remembered this long: a change there reaches pamnode at most this much later (plus
    # api_token_cache_s for an API-token caller). 0 asks the directory on every request.
    directory_cache_s: float = Field(default=60.0, ge=0, le=3600)
    # Request bodies beyond this size are refused with 413 before authentication.
    max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    # What is kept of a job's output (here or from a peer); the rest is cut, and marked so.
    job_output_cap_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long past its timeout a delegated job may stay unfinished on its peer before the
    # main gives up on it (cancels it there and records it as timed out).
    peer_follow_grace_s: float = Field(default=60, ge=0)
    # The gateway front (TLS with the node's certificate, in front of guacd) listens here when
    # a port is given; off by default. guacd itself is started on first use, on loopback.
    gateway_host: str | None = None
    gateway_port: int | None = Field(default=None, ge=1, le=65535)
    guacd_command: str = "guacd"
    # The HTTP CONNECT proxy (TLS with the node's certificate) that carries mains' proxy
    # sessions when a port is given; off by default.
    http_proxy_host: str | None = None
    http_proxy_port: int | None = Field(default=None, ge=1, le=65535)
    # The main's native SSH proxy (`ssh -p 2203 alice#web-1@main`) listens here when a port
    # is given; off by default. Its host key is made on first start (DATA/ssh_proxy_host_key).
    ssh_proxy_host: str | None = None
    ssh_proxy_port: int | None = Field(default=None, ge=1, le=65535)
    # The tenant and site of a proxy login that names none (`alice#web-1`); without a default
    # tenant, logins name theirs (`alice@acme#web-1`). The base tenant holds no assets.
    ssh_proxy_tenant: str | None = None
    ssh_proxy_site: str = "root"
    # RDP pass-through: the address its one-time ports listen on (default: --host), and the
    # address written into the .rdp file (default: the host name the API request came to).
    rdp_proxy_host: str | None = None
    rdp_proxy_advertised: str | None = None
    # A proxy session (SSH or RDP) in which no byte moved for this long is ended.
    proxy_idle_timeout_s: float = Field(default=1800.0, gt=0)
    # How long a proxy grant this node gives stays valid (used once).
    proxy_grant_ttl_s: float = Field(default=30.0, gt=0, le=300)
    # How long a session ticket this node grants as a gateway stays valid (used once).
    session_ticket_ttl_s: float = Field(default=30.0, gt=0, le=300)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pamnode.db').resolve()}"
