"""API tokens: JWTs issued to a user for one site, with expiry, source filter and a switch."""

import contextlib
import ipaddress
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import Detail, record
from pamnode.core.errors import InvalidInput, NotFound
from pamnode.crypto.cipher import open_sealed, seal
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import new_id, utcnow
from pamnode.identity import signing
from pamnode.identity.authority import caller_rights, outranks_or_equals, require_over, rights
from pamnode.identity.models import ApiToken, User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.schemas import ApiTokenPatch
from pamnode.identity.users import get_user

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

TOKEN_TYPE = "api"


def parse_filter(entries: list[str]) -> list[str]:
    """Normalise the allowed source networks; an empty filter allows every source."""
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=True)))
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f"; did you mean {ipaddress.ip_network(entry.strip(), strict=False)}?"
            raise InvalidInput(
                f"filter entry '{entry[:80]}' is not an IP network in CIDR form "
                f"such as 10.0.0.0/8 or 2001:db8::/32 ({exc}){hint}",
                code="invalid_filter",
            ) from None
    return networks


def source_allowed(networks: list[str], source: str) -> bool:
    """Whether a token whose filter is `networks` (empty: any) may be used from `source`."""
    return not networks or address_in([ipaddress.ip_network(n) for n in networks], source)


def address_in(networks: Iterable[IPNetwork], source: str) -> bool:
    """Whether the caller's address `source` is in one of `networks`."""
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d.
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _context(token_id: str) -> str:
    return f"api-token:{token_id}:jwt"


async def create_token(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    *,
    user: str,
    expires_at: datetime,
    filter: list[str],
    description: str,
    enabled: bool,
) -> tuple[ApiToken, User]:
    principal.require(Permission.API_TOKENS_WRITE)
    owner = await get_user(db, principal.tenant, user)
    await require_over(db, principal, owner, "issue a token for")
    if expires_at <= utcnow():
        raise InvalidInput(
            f"expires_at {expires_at.isoformat()} is in the past: choose a future date",
            code="expiry_in_past",
        )
    networks = parse_filter(filter)
    token_id = new_id()
    jwt = signing.sign(
        ring,
        principal.tenant,
        {"jti": token_id, "sub": owner.id, "typ": TOKEN_TYPE, "site": principal.site.name},
        expires_at,
    )
    token = ApiToken(
        id=token_id,
        site_id=principal.site.id,
        user_id=owner.id,
        description=description,
        filter=networks,
        expires_at=expires_at,
        enabled=enabled,
        jwt_sealed=seal(ring, principal.tenant.id, jwt.encode(), _context(token_id)),
        created_by=principal.user.login,
    )
    db.add(token)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.API_TOKEN_CREATE,
        token_id,
        user=owner.login,
        expires_at=expires_at.isoformat(),
        filter=networks,
        enabled=enabled,
    )
    return token, owner


async def _get(db: AsyncSession, principal: Principal, token_id: str) -> tuple[ApiToken, User]:
    row = (
        await db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id == token_id, ApiToken.site_id == principal.site.id)
        )
    ).first()
    if row is None:
        raise NotFound(f"this site has no API token {token_id}", code="api_token_not_found")
    return row[0], row[1]


async def list_tokens(db: AsyncSession, principal: Principal) -> list[tuple[ApiToken, User]]:
    principal.require(Permission.API_TOKENS_READ)
    query = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.site_id == principal.site.id)
        .order_by(ApiToken.created_at)
    )
    return [(token, user) for token, user in (await db.execute(query)).all()]


async def read_token(
    db: AsyncSession, ring: KeyRing, principal: Principal, token_id: str
) -> tuple[ApiToken, User, str | None]:
    """The token's details, with its JWT only while it is unlocked, and only to its owner or
    to whoever may manage it (reading tokens alone never shows one)."""
    principal.require(Permission.API_TOKENS_READ)
    token, owner = await _get(db, principal, token_id)
    shown = token.revealed and await _may_manage(db, principal, owner)
    return token, owner, reveal(ring, principal, token) if shown else None


async def _may_manage(db: AsyncSession, principal: Principal, owner: User) -> bool:
    if owner.id == principal.user.id:
        return True
    if not principal.can(Permission.API_TOKENS_WRITE):
        return False
    return outranks_or_equals(await caller_rights(db, principal), await rights(db, owner))


async def _managed(
    db: AsyncSession, principal: Principal, token_id: str, what: str
) -> tuple[ApiToken, User]:
    """A token the principal may change: tokens.write here, and rights over its owner."""
    principal.require(Permission.API_TOKENS_WRITE)
    token, owner = await _get(db, principal, token_id)
    await require_over(db, principal, owner, what)
    return token, owner


def reveal(ring: KeyRing, principal: Principal, token: ApiToken) -> str:
    return open_sealed(ring, principal.tenant.id, token.jwt_sealed, _context(token.id)).decode()


async def unlock_token(db: AsyncSession, ring: KeyRing, principal: Principal, token_id: str) -> str:
    token, owner = await _managed(db, principal, token_id, "unlock the token of")
    jwt = reveal(ring, principal, token)
    token.revealed = True
    record(db, principal.audit_scope, AuditAction.API_TOKEN_UNLOCK, token_id, user=owner.login)
    return jwt


async def lock_token(db: AsyncSession, principal: Principal, token_id: str) -> None:
    token, owner = await _managed(db, principal, token_id, "lock the token of")
    token.revealed = False
    record(db, principal.audit_scope, AuditAction.API_TOKEN_LOCK, token_id, user=owner.login)


async def update_token(
    db: AsyncSession, principal: Principal, token_id: str, patch: ApiTokenPatch
) -> tuple[ApiToken, User]:
    token, owner = await _managed(db, principal, token_id, "change the token of")
    details: dict[str, Detail] = {}
    if patch.filter is not None:
        token.filter = details["filter"] = parse_filter(patch.filter)
    if patch.description is not None:
        token.description = details["description"] = patch.description
    if patch.enabled is not None:
        token.enabled = details["enabled"] = patch.enabled
    await db.flush()
    record(db, principal.audit_scope, AuditAction.API_TOKEN_UPDATE, token_id, "success", **details)
    return token, owner


async def delete_token(db: AsyncSession, principal: Principal, token_id: str) -> None:
    token, owner = await _managed(db, principal, token_id, "revoke the token of")
    await db.delete(token)
    record(db, principal.audit_scope, AuditAction.API_TOKEN_REVOKE, token_id, user=owner.login)
