"""On the peer: its site's enrolment at a main — checked against the fingerprint its
administrator was shown there, a new key pair presented once with the one-time code, the
private key sealed by the vault — and the links that enrolment keeps (`uplink.py`)."""

import asyncio
import logging
import re
import ssl
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.core.streams import Pair
from pamnode.crypto.cipher import VaultError, open_sealed, seal
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.db.base import new_id
from pamnode.db.commits import after_commit
from pamnode.identity.models import Site
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.link import keys
from pamnode.link.dialer import open_socket
from pamnode.link.models import MainLink, key_context
from pamnode.link.uplink import Uplinks, UplinkState, UplinkTarget, hello_of
from pamnode.link.wire import Enrolment, Hello
from pamnode.peers.addresses import parse_site_url
from pamnode.peers.trust import describe, fetch_leaf, pinned_context

log = logging.getLogger("pamnode.link")

_SHA256 = re.compile(r"^[0-9A-F]{64}$")


def _require(principal: Principal, permission: Permission) -> None:
    refuse_base_tenant(principal.tenant, "keep a link to a main node")
    principal.require(permission)


def _fingerprint(text: str) -> str:
    shown = text.replace(":", "").strip().upper()
    if not _SHA256.fullmatch(shown):
        raise InvalidInput(
            "the fingerprint must be the 64 hex digits of the main's certificate SHA-256 "
            "(colons allowed), as the main shows it with the enrolment code",
            code="invalid_fingerprint",
        )
    return shown


@dataclass(frozen=True)
class Enrolled:
    link: MainLink
    state: UplinkState | None


async def enrol(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    uplinks: Uplinks,
    main_url: str,
    code: str,
    main_fingerprint: str,
) -> MainLink:
    _require(principal, Permission.PEERS_WRITE)
    main = parse_site_url(main_url, "main URL", code="invalid_main_url")
    wanted = _fingerprint(main_fingerprint)

    async def to_main(context: ssl.SSLContext, server_hostname: str) -> Pair:
        sock = await open_socket(main.host, main.port)
        return await asyncio.open_connection(
            sock=sock, ssl=context, server_hostname=server_hostname
        )

    facts = describe(await fetch_leaf(main.host, main.port, to_main))
    if facts.sha256 != wanted:
        raise Conflict(
            f"the server at {main.base} presents SHA-256 {facts.sha256}, not the {wanted} "
            "you were shown: check the main URL and the fingerprint (or what sits between)",
            code="main_fingerprint_mismatch",
        )
    private, public = keys.new_key()
    enrolment = Hello(version=uplinks.version, enrol=Enrolment(code=code, public_key=public))
    channel, verdict = await hello_of(main, pinned_context(facts.pem), lambda _: enrolment)
    await channel.close("enrolled")
    assert verdict.link_id is not None
    site_id = principal.site.id
    previous = await db.scalar(select(MainLink).where(MainLink.site_id == site_id))
    if previous is not None:
        await db.delete(previous)
        await db.flush()
    link = MainLink(
        id=new_id(),
        site_id=site_id,
        main_url=main.base,
        main_sha256=facts.sha256,
        main_certificate_pem=facts.pem,
        link_id=verdict.link_id,
        public_key=public,
        enrolled_by=principal.user.login,
    )
    link.private_key_sealed = seal(ring, principal.tenant.id, private, key_context(link.id))
    db.add(link)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.MAIN_LINK_ENROL,
        main.base,
        main_sha256=facts.sha256,
        key_sha256=keys.key_fingerprint(public),
    )
    target = UplinkTarget(main, facts.sha256, facts.pem, verdict.link_id, private)
    after_commit(db, lambda: uplinks.keep(site_id, target))
    return link


async def read(db: AsyncSession, principal: Principal, uplinks: Uplinks) -> Enrolled:
    _require(principal, Permission.PEERS_READ)
    link = await db.scalar(select(MainLink).where(MainLink.site_id == principal.site.id))
    if link is None:
        raise NotFound("this site is enrolled at no main node", code="main_link_not_found")
    return Enrolled(link, uplinks.states.get(link.site_id))


async def forget(db: AsyncSession, principal: Principal, uplinks: Uplinks) -> None:
    """The site's enrolment is dropped here and its link closed (the main keeps its Peer
    Node: revoke it there)."""
    _require(principal, Permission.PEERS_WRITE)
    found = await read(db, principal, uplinks)
    await db.delete(found.link)
    record(db, principal.audit_scope, AuditAction.MAIN_LINK_FORGET, found.link.main_url)
    site_id = principal.site.id
    after_commit(db, lambda: uplinks.drop(site_id))


async def keep_enrolled(
    database: async_sessionmaker[AsyncSession], ring: KeyRing, uplinks: Uplinks
) -> None:
    """At start: keep the link of every site enrolled at a main."""
    async with database() as db:
        rows = (await db.execute(select(MainLink, Site.tenant_id).join(Site))).all()
    for link, tenant_id in rows:
        try:
            private = open_sealed(ring, tenant_id, link.private_key_sealed, key_context(link.id))
        except (VaultError, KeyRingError) as exc:
            # The node serves anyway (its console tells the vault's state); this site's link
            # waits for its key.
            log.error("no link to %s: its key does not open (%s)", link.main_url, exc)
            continue
        main = parse_site_url(link.main_url, "main URL", code="invalid_main_url")
        target = UplinkTarget(
            main, link.main_sha256, link.main_certificate_pem, link.link_id, private
        )
        uplinks.keep(link.site_id, target)
