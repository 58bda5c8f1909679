"""Who is looking at a console page: the session cookie's caller, with a copy that error pages
can still read after the request's transaction rolled back."""

from typing import Annotated

from fastapi import Depends, Request

from pamnode.http.deps import ConsoleCaller
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.principal import Principal


def _detached(principal: Principal) -> Principal:
    """The caller, readable after a rollback (menus and headers of error pages need it)."""
    return Principal(
        User(id=principal.user.id, login=principal.user.login),
        Tenant(id=principal.tenant.id, name=principal.tenant.name),
        Site(id=principal.site.id, name=principal.site.name),
        principal.roles,
        principal.via,
        principal.source,
        principal.groups,
    )


async def _console_caller(request: Request, caller: ConsoleCaller) -> Principal:
    request.state.viewer = _detached(caller)
    return caller


# What console routes take: the cookie's caller, with a copy kept for error pages.
Caller = Annotated[Principal, Depends(_console_caller)]
