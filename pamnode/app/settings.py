"""Node settings: command-line options override PAMNODE_* environment variables."""

import socket
from enum import StrEnum
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pamnode.identity.login_guard import HANDSHAKES_PER_S
from pamnode.identity.passwords import HashProfile

DEFAULT_PORT = 6443


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAMNODE_")

    data_dir: Path = Path("./pamnode-data")
    # The key ring (tenant keys, token signing keys): in the data directory unless named
    # here; several main nodes on one database name one file on shared storage.
    keyring_file: Path | None = None
    # The key-encryption key (32 bytes, hex or base64) under which the key ring is sealed in
    # the database instead of kept in a file (crypto/sealed_ring.py): mains that share nothing
    # but the database each read the same one, from the environment or from a file.
    kek: SecretStr | None = None
    kek_file: Path | None = None
    database_url: str | None = None
    node_name: str = socket.gethostname()
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    cert_file: Path | None = None
    key_file: Path | None = None
    # How `serve` writes its log lines on stderr: as today's text, or one JSON object a line
    # (`pamnode.app.logs`), request ids included.
    log_format: LogFormat = LogFormat.TEXT
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
    # A connection whose request headers are not complete this long after it opened (or
    # after the first byte of its next request) is closed (http/header_timeout.py).
    request_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Password checks (Argon2, about 0.2 s of a CPU each) that run at once; a login past
    # them is refused at once (429 login_busy), so that the API keeps its latency under a
    # flood of logins. Unset: one per CPU less one kept for serving requests (at least one).
    login_checks: int | None = Field(default=None, ge=1)
    # What an Argon2id hash costs (identity/passwords.py): "standard" (RFC 9106, 64 MiB,
    # about 0.2 s of a CPU) or "light" (OWASP's minimum, 19 MiB, about a sixth of that).
    password_hash_profile: HashProfile = HashProfile.STANDARD
    # A login turned away before its check (busy, or throttled) is answered after this pause:
    # it holds nothing meanwhile, and it slows a guessing tool that never pauses, which a
    # refusal answered at once only lets come back faster (docs/security.md).
    login_refusal_pause_s: float = Field(default=1.0, ge=0, le=10)
    # Request bodies beyond this size are refused with 413 before authentication.
    max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024)
    # What is kept of a job's output (here or from a peer); the rest is cut, and marked so.
    job_output_cap_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long past its timeout a delegated job may stay unfinished on its peer before the
    # main gives up on it (cancels it there and records it as timed out).
    peer_follow_grace_s: float = Field(default=60, ge=0)
    # A main node holds each job it runs with a lease it renews every third of this; when it
    # stops renewing (killed, cut off), another node sharing the database takes its jobs
    # over this long after its last renewal (jobs/recovery.py).
    job_lease_s: float = Field(default=30, ge=3)
    # The gateway front (TLS with the node's certificate, in front of guacd) listens here when
    # a port is given; off by default. guacd itself is started on first use, on loopback.
    gateway_host: str | None = None
    gateway_port: int | None = Field(default=None, ge=1, le=65535)
    guacd_command: str = "guacd"
    # A node running as root runs guacd as this user, the owner of the recordings directory
    # (created by the package, docs/operations.md; `nobody` when it does not exist).
    guacd_user: str = "pamnode-guacd"
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
    # SSH key exchanges the proxy begins a second: each costs its event loop (which serves
    # every request too) a few milliseconds before any password; a connection past them is
    # closed as it is accepted, as OpenSSH's MaxStartups does (docs/security.md).
    ssh_proxy_handshakes_per_s: float = Field(default=HANDSHAKES_PER_S, gt=0, le=10_000)
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
    # A peer's link to its main (pamnode/link/): after a failure it dials again after a random
    # wait between 0 and a bound that doubles with each failure up to this cap.
    link_backoff_cap_s: float = Field(default=60.0, ge=1, le=3600)
    # As a main sharing its PostgreSQL database with other mains: where peers that dial reach
    # this main itself (https://host:port, past any load balancer). A peer linked to one main
    # is told of the others that give one, and keeps a link to each (link/mains.py).
    link_advertised_url: str | None = Field(
        default=None, pattern=r"^https://(\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+)(:\d{1,5})?$"
    )
    # GET /metrics answers callers from these networks (comma-separated in the environment;
    # empty: none) and callers that send metrics_token as a bearer token; nobody else.
    metrics_allow_cidrs: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    # Targets (jobs, sessions, proxy sessions, grants and tickets asked for by a main) that
    # resolve to loopback, the unspecified address or link-local are refused unless they fall
    # in these networks (comma-separated in the environment; empty: none). This node's own
    # listeners are refused whatever this allows (pamnode/core/destinations.py).
    target_allow_cidrs: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)
    # The audit trail streamed to a SIEM (audit/stream.py, docs/operations.md): RFC 5424
    # syslog to this collector (`host:port`, TCP with octet-counting framing), over TLS when
    # audit_syslog_tls (verified against audit_syslog_ca_file, else the system's CAs); every
    # row in order from a cursor kept in DATA/audit-stream, so a collector that is down
    # delays the stream and loses nothing. Off when unset.
    audit_syslog: str | None = Field(
        default=None, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^:\s]+):\d{1,5}$"
    )
    audit_syslog_tls: bool = False
    audit_syslog_ca_file: Path | None = None
    # And/or every audit row as a JSON line appended to this file (its last line is the
    # cursor). Off when unset.
    audit_json_file: Path | None = None
    # The search across sessions (sessions/search_index.py): at most this many characters of
    # each session's text (terminal output without its escapes, command lines, file
    # operations) go into the index; the rest stays in the recording, unsearched. 0: none.
    search_index_chars: int = Field(default=1_000_000, ge=0)
    # How often this node enforces the sites' retention (app/retention.py): it removes the
    # session recordings and job output older than their site keeps them.
    retention_sweep_s: float = Field(default=3600.0, ge=1)

    @field_validator("metrics_allow_cidrs", "target_allow_cidrs", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("audit_syslog")
    @classmethod
    def _port_in_range(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError("the collector's port must be 1 to 65535")
        return value

    @property
    def audit_syslog_endpoint(self) -> tuple[str, int] | None:
        """audit_syslog as (host, port), an IPv6 address without its brackets."""
        if self.audit_syslog is None:
            return None
        host, _, port = self.audit_syslog.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def resolved_keyring_file(self) -> Path:
        return self.keyring_file or self.data_dir / "keyring.json"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pamnode.db').resolve()}"
