"""Node settings: command-line options override PAMNODE_* environment variables."""

import socket
from pathlib import Path

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

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pamnode.db').resolve()}"
