"""The forms a peer's addresses must take, with a precise message for each way they go wrong."""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pamnode.core.errors import InvalidInput
from pamnode.core.hostports import authority
from pamnode.identity.names import URL_NAME
from pamnode.identity.tenants import BASE_TENANT
from pamnode.peers.models import Component

HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
URL_FORM = "https://host:port/ztna/<tenant>/<site>"
# The port an example address shows for each component that listens apart.
EXAMPLE_PORTS = {Component.GATEWAY: 4822, Component.HTTP_PROXY: 8800}


@dataclass(frozen=True)
class PeerSiteUrl:
    host: str
    port: int
    tenant: str
    site: str

    @property
    def base(self) -> str:
        return f"https://{authority(self.host, self.port)}/ztna/{self.tenant}/{self.site}"


def valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(HOST_NAME.fullmatch(host))


def parse_peer_url(url: str) -> PeerSiteUrl:
    return parse_site_url(url, "peer URL", code="invalid_peer_url")


def parse_site_url(url: str, what: str, code: str) -> PeerSiteUrl:
    """A site URL (a peer's, or on a peer its main's: `what` and `code` name which)."""

    def _bad_url(url: str, why: str) -> InvalidInput:
        return InvalidInput(f"{what} '{url[:200]}' {why}; use the form {URL_FORM}", code=code)

    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise _bad_url(url, f"cannot be read ({exc})") from None
    if parts.scheme != "https":
        scheme = f"not '{parts.scheme}'" if parts.scheme else "and none is given"
        raise _bad_url(url, f"must start with https:// ({scheme})")
    if not parts.hostname or not valid_host(parts.hostname):
        raise _bad_url(url, "has no valid host")
    if parts.username or parts.password:
        raise _bad_url(url, "must not carry a user name or password")
    if parts.query or parts.fragment:
        raise _bad_url(url, "must not have a query or fragment")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 3 or segments[0] != "ztna":
        raise _bad_url(url, f"has the path '{parts.path or '/'}' instead of /ztna/<tenant>/<site>")
    tenant, site = segments[1], segments[2]
    for kind, value in (("tenant", tenant), ("site", site)):
        if not URL_NAME.fullmatch(value):
            raise _bad_url(url, f"names the {kind} '{value}', which is not a valid {kind} name")
    if tenant == BASE_TENANT:
        raise _bad_url(url, "points at the base tenant, which cannot serve as a peer site")
    return PeerSiteUrl(parts.hostname, port, tenant, site)


def parse_component_address(address: str, component: Component) -> tuple[str, int]:
    """server:port of a peer's gateway or HTTP proxy, as the main reaches it."""
    what = component.value.replace("-", " ")
    code = f"invalid_{component.capability}_address"
    host, sep, port_text = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not valid_host(host):
        raise InvalidInput(
            f"{what} address '{address[:200]}' must have the form server:port, "
            f"e.g. 12port.contoso.com:{EXAMPLE_PORTS[component]}",
            code=code,
        )
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise InvalidInput(
            f"{what} address '{address[:200]}' has the port '{port_text}'; "
            "use a number from 1 to 65535",
            code=code,
        )
    return host, int(port_text)
