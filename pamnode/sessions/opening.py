"""Opening a session on an asset: the row that Access (a browser then attaches a tunnel to
it) or a proxy channel (SSH, RDP pass-through) then carries."""

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.library import session_endpoint
from pamnode.assets.models import AssetType
from pamnode.assets.permissions import Action, require_asset
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Forbidden, InvalidInput, NotFound
from pamnode.identity.principal import Principal
from pamnode.sessions.models import Channel, Session
from pamnode.sessions.states import SessionState, end_unattached

# A browser attaches at once; a session nobody attached to within this ends as failed.
ATTACH_WITHIN_S = 600.0


async def require_connect(
    db: AsyncSession, principal: Principal, asset_id: str | None, asset_name: str
) -> None:
    """At each use of an opened session: its user still holds `connect` on the asset."""
    try:
        await require_asset(db, principal, asset_id or "", Action.CONNECT)
    except (NotFound, Forbidden) as exc:
        raise Forbidden(
            f"user '{principal.user.login}' may no longer connect to '{asset_name}': its "
            "permission was revoked or the asset deleted since the session was opened",
            code="connect_revoked",
        ) from exc


async def open_session(
    db: AsyncSession, principal: Principal, asset_id: str, channel: Channel | None = None
) -> Session:
    """A pending session; `channel` None is a gateway session in the host's own protocol."""
    asset, _ = await require_asset(db, principal, asset_id, Action.CONNECT)
    if asset.type == AssetType.CONTAINER:
        raise InvalidInput(
            f"'{asset.name}' is a container; open a session on one of its hosts",
            code="session_on_container",
        )
    assert asset.host is not None
    protocol, port = session_endpoint(asset)
    if channel is None:
        channel = Channel(protocol.value.upper())
    elif channel.protocol != protocol:
        raise InvalidInput(
            f"'{asset.name}' is reached with {protocol.value.upper()}, so it cannot carry "
            f"{channel.label}",
            code="session_protocol_mismatch",
        )
    await end_unattached(db, principal.site.id, "local", ATTACH_WITHIN_S)
    session = Session(
        site_id=principal.site.id,
        asset_id=asset.id,
        asset_name=asset.name,
        protocol=protocol.value,
        channel=channel,
        target={"host": asset.host, "port": port},
        state=SessionState.PENDING,
        requested_by=principal.user.login,
        user_id=principal.user.id,
        login_method=principal.login_method,
    )
    db.add(session)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.SESSION_OPEN,
        asset.name,
        session=session.id,
        channel=channel,
    )
    return session
