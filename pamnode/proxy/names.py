"""The user name an SSH client gives the main's proxy: who logs in, and to which asset.

    login#asset                 the default tenant and site (settings ssh_proxy_tenant/_site),
                                when the node has a default tenant
    login@tenant#asset          that tenant's root site
    login@tenant/site#asset     that site

`asset` is an asset's id, its name (when one host in the site has it) or its path of names
from the top of the library (`datacenter/web-1`). The asset part is split off at the last
`#`, the tenant at the last `@` before it, so a login may hold `@` only when the tenant is
written too (`alice@example.com@base#web-1`).
"""

from dataclasses import dataclass

from pamnode.core.errors import InvalidInput
from pamnode.identity.names import ROOT_SITE


@dataclass(frozen=True)
class ProxyLogin:
    login: str
    tenant: str
    site: str
    asset: str


def parse_proxy_login(user_name: str, tenant: str | None, site: str) -> ProxyLogin:
    """`tenant` and `site` are the defaults for a name that does not say."""
    who, hash_sign, asset = user_name.rpartition("#")
    if not hash_sign or not who or not asset:
        raise InvalidInput(
            f"'{user_name[:120]}' names no asset: log in as 'login#asset' "
            "(or 'login@tenant/site#asset')",
            code="proxy_login_malformed",
        )
    login, at, where = who.rpartition("@")
    if at:
        tenant, slash, named_site = where.partition("/")
        site = named_site if slash else ROOT_SITE
    else:
        login = who
        if tenant is None:
            raise InvalidInput(
                f"'{user_name[:120]}' names no tenant: log in as 'login@tenant#asset'",
                code="proxy_login_malformed",
            )
    if not login or not tenant or not site:
        raise InvalidInput(
            f"'{user_name[:120]}' is not 'login#asset' or 'login@tenant/site#asset'",
            code="proxy_login_malformed",
        )
    return ProxyLogin(login, tenant, site, asset)
