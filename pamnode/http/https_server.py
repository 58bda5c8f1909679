"""How `pamnode serve` serves the application over HTTPS: the certificate it gives the node and
the server's options (header timeout, graceful shutdown, trusted proxies, the log).

In one place so that what serves the same application elsewhere (the lab's in-process node)
serves it the same way.
"""

from pathlib import Path
from typing import Any

from pamnode.app.data_dir import make_private
from pamnode.app.logs import log_config
from pamnode.app.settings import Settings
from pamnode.app.tls import ensure_self_signed
from pamnode.http.header_timeout import header_timed


def with_certificate(settings: Settings, cert: Path | None, key: Path | None) -> Settings:
    """The settings with the node's certificate and key: the ones given, else a self-signed
    pair made in the data directory on the first start. The gateway front and the HTTP proxy
    serve with the same certificate as HTTPS."""
    make_private(settings.data_dir)
    if cert is None or key is None:
        cert, key = ensure_self_signed(settings.data_dir / "tls", settings.node_name, settings.host)
    return settings.model_copy(update={"cert_file": cert, "key_file": key})


def server_options(
    settings: Settings, forwarded_allow_ips: str | None, configure_logging: bool = True
) -> dict[str, Any]:
    """uvicorn's options (`uvicorn.run`, `uvicorn.Config`) for `settings` given a certificate
    (`with_certificate`); without `configure_logging` the process's logging stays as it is
    (a test process serving a node keeps the test runner's)."""
    if settings.cert_file is None or settings.key_file is None:
        raise ValueError("HTTPS needs the node's certificate and key (with_certificate)")
    return {
        "host": settings.host,
        "port": settings.port,
        "ssl_certfile": str(settings.cert_file),
        "ssl_keyfile": str(settings.key_file),
        "log_level": "info",
        "log_config": log_config(settings.log_format) if configure_logging else None,
        "timeout_graceful_shutdown": 5,
        "http": header_timed(settings.request_header_timeout_s),
        "proxy_headers": bool(forwarded_allow_ips),
        "forwarded_allow_ips": forwarded_allow_ips,
    }
