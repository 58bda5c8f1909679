"""What `pamnode serve` says when it is ready: where its consoles are, which certificate it
presents (the SHA-256 a main's Verify Trust shows for this node), every other listener it
started with what identifies it, which database it uses, and a warning while the node has no
administrator yet."""

import logging

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode import __version__
from pamnode.app.node import Node
from pamnode.app.tls import certificate_der
from pamnode.core.hostports import authority
from pamnode.crypto.fingerprints import fingerprint
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.names import BASE_TENANT


async def banner(db: AsyncSession, node: Node) -> list[tuple[int, str]]:
    """The lines to log, one fact each, with their `logging` level."""
    settings = node.settings
    origin = f"https://{authority(settings.host, settings.port)}"
    lines = [
        f"pamnode {__version__}, node '{settings.node_name}', listening on {origin}",
        # Never the password.
        "database: "
        + make_url(settings.resolved_database_url).render_as_string(hide_password=True),
    ]
    if settings.cert_file is not None:
        sha256 = fingerprint(certificate_der(settings.cert_file))
        lines.append(f"certificate SHA-256 (Verify Trust on a main shows this): {sha256}")
    lines += _listeners(node)
    sites = (
        await db.execute(
            select(Tenant.name, Site.name)
            .join(Site, Site.tenant_id == Tenant.id)
            .order_by(Tenant.name != BASE_TENANT, Tenant.name, Site.name)
        )
    ).all()
    lines += [
        f"console of {tenant}/{site}: {origin}/ztna/{tenant}/{site}/" for tenant, site in sites
    ]
    said = [(logging.INFO, line) for line in lines]
    base_users = select(User.id).join(Tenant, Tenant.id == User.tenant_id)
    if await db.scalar(base_users.where(Tenant.name == BASE_TENANT).limit(1)) is None:
        warning = (
            "NO ADMINISTRATOR YET: nobody can log in to this node; create one with: pamnode init "
            f"--data {settings.data_dir} --admin-login LOGIN --admin-password-file FILE"
        )
        said.append((logging.WARNING, warning))
    return said


def _listeners(node: Node) -> list[str]:
    """The listeners beside HTTPS, as a main's administrator enters and pins them."""
    return [listener.announce() for listener in node.listeners]
