"""Request dependencies shared by every area's router: node, transaction, site, caller."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Cookie, Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.app.node import Node
from pamnode.core.errors import Unauthenticated
from pamnode.identity.auth import Verified, authenticate, bearer_token, bearer_value, verify_caller
from pamnode.identity.principal import Principal
from pamnode.identity.signing import Claims


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: everything commits together or nothing does."""
    async with get_node(request).database() as db, db.begin():
        yield db


# scope="function": the transaction ends before the response is sent, so a client that
# reads right after a write always sees it.
DB = Annotated[AsyncSession, Depends(_transaction, scope="function")]


async def _node(request: Request) -> Node:
    # Async: FastAPI runs a plain function dependency in a worker thread, a thread hop (and
    # a wait for the GIL) on every request.
    return get_node(request)


NodeDep = Annotated[Node, Depends(_node)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _identified(request: Request, principal: Principal, claims: Claims) -> Principal:
    """What the audit of refusals and logout read of the caller, whichever way it came."""
    request.state.actor = principal.user.login
    request.state.token_claims = claims
    return principal


async def _authenticated(
    request: Request, tenant: str, site: str, db: AsyncSession, node: Node, token: str
) -> Principal:
    """The one path from a token to a caller, whichever way the token travelled."""
    source = client_address(request)
    principal, claims = await authenticate(db, tenant, site, token, source, node.accounts)
    return _identified(request, principal, claims)


async def _principal(
    request: Request,
    tenant: str,
    site: str,
    db: DB,
    node: NodeDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """The bearer's caller: an API-token caller verified a moment ago comes from the node's
    cache (identity/caller_cache.py) without the database; anything else is verified here,
    the token first, so that an unknown tenant tells an unproven caller nothing."""
    source = client_address(request)

    async def verify() -> Verified:
        return await verify_caller(
            db, tenant, site, bearer_value(authorization), source, node.accounts
        )

    principal, claims = await node.callers.caller(
        db, bearer_token(authorization), tenant, site, source, verify
    )
    return _identified(request, principal, claims)


Caller = Annotated[Principal, Depends(_principal)]

# The web console keeps the same session token in a cookie instead of a header.
SESSION_COOKIE = "pamnode_session"


async def _console_principal(
    request: Request,
    tenant: str,
    site: str,
    db: DB,
    node: NodeDep,
    pamnode_session: Annotated[str | None, Cookie()] = None,
) -> Principal:
    if not pamnode_session:
        raise Unauthenticated("log in to use the console", code="session_missing")
    return await _authenticated(request, tenant, site, db, node, pamnode_session)


ConsoleCaller = Annotated[Principal, Depends(_console_principal)]
