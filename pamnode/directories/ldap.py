"""Talking to one LDAP server: TLS (LDAPS or StartTLS) with a pinned certificate or a CA,
binds, and the searches pamnode needs, each failure named by the layer it happened in.

ldap3 is blocking: every function here runs whole in a worker thread (`asyncio.to_thread`
in the callers), one short-lived connection per use. The server's certificate is checked
before any password is sent: a pinned certificate by its SHA-256, after the handshake and
before the bind; a CA by the handshake itself (chain and host name).
"""

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPStartTLSError
from ldap3.utils.conv import escape_filter_chars

from pamnode.core.errors import InvalidInput, PeerFailure
from pamnode.crypto.fingerprints import fingerprint

# Whole seconds: ldap3 packs them into socket options.
CONNECT_TIMEOUT_S = 5
RECEIVE_TIMEOUT_S = 10
# Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: one search for every group, nested or not.
IN_CHAIN = "1.2.840.113556.1.4.1941"
# Nested groups walked by pamnode stop here (a cycle, or a directory of runaway depth).
MAX_GROUPS = 512


class DirectoryFailure(PeerFailure):
    """A directory could not be used; `code` names the layer (connect, tls, bind, base, ...)."""

    code = "directory_error"


@dataclass(frozen=True)
class Endpoint:
    """How to reach and trust a directory server, and whom to bind as for searches."""

    url: str
    starttls: bool
    server_sha256: str | None
    ca_pem: str | None
    bind_dn: str
    bind_password: str = field(repr=False)


@dataclass(frozen=True)
class Entry:
    dn: str
    attributes: dict[str, list[str]]

    def first(self, name: str) -> str:
        values = self.attributes.get(name) or []
        return str(values[0]) if values else ""


def parse_url(url: str) -> tuple[str, int, bool]:
    """(host, port, LDAPS) of ldap://host[:port] or ldaps://host[:port]."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidInput(
            f"'{url[:120]}' is not a directory URL: use ldaps://host[:port], or ldap://host[:port] "
            "with StartTLS",
            code="invalid_directory_url",
        )
    try:
        port = parts.port or (636 if parts.scheme == "ldaps" else 389)
    except ValueError:
        raise InvalidInput(
            f"'{url[:120]}' has no valid port", code="invalid_directory_url"
        ) from None
    return parts.hostname, port, parts.scheme == "ldaps"


def _tls(endpoint: Endpoint) -> ldap3.Tls:
    if endpoint.ca_pem:
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_data=endpoint.ca_pem)
    # The pin is checked by `_check_pin` once the handshake is done, before the bind. With a
    # protocol named, ldap3 makes a bare client context instead of a default one, which would
    # load the system's CA bundle (~20 ms of CPU a connection) only to trust none of it.
    return ldap3.Tls(validate=ssl.CERT_NONE, version=ssl.PROTOCOL_TLS_CLIENT)


def _check_pin(endpoint: Endpoint, connection: ldap3.Connection) -> None:
    if endpoint.ca_pem or not endpoint.server_sha256:
        return
    der = connection.socket.getpeercert(binary_form=True)
    presented = fingerprint(der)
    if presented != endpoint.server_sha256.upper():
        raise DirectoryFailure(
            f"the directory server at {endpoint.url} presents a certificate with SHA-256 "
            f"{presented}, not the pinned {endpoint.server_sha256.upper()}: if the server's "
            "certificate was renewed, pin the new one",
            code="directory_tls_pin_mismatch",
        )


def _connect_failure(endpoint: Endpoint, exc: BaseException) -> DirectoryFailure:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return DirectoryFailure(
            f"the directory server at {endpoint.url} presents a certificate the configured CA "
            f"does not vouch for ({text[:200]})",
            code="directory_tls_untrusted",
        )
    if isinstance(exc, LDAPStartTLSError) or "SSL" in text or "TLS" in text:
        return DirectoryFailure(
            f"TLS with the directory server at {endpoint.url} failed: {text[:200]}",
            code="directory_tls_failed",
        )
    return DirectoryFailure(
        f"cannot connect to the directory server at {endpoint.url}: {text[:200]}",
        code="directory_unreachable",
    )


@contextmanager
def _opened(endpoint: Endpoint) -> Iterator[ldap3.Connection]:
    """A connection over verified TLS, not yet bound."""
    host, port, ldaps = parse_url(endpoint.url)
    server = ldap3.Server(
        host,
        port=port,
        use_ssl=ldaps,
        tls=_tls(endpoint),
        connect_timeout=CONNECT_TIMEOUT_S,
        get_info=ldap3.NONE,
    )
    connection = ldap3.Connection(
        server, receive_timeout=RECEIVE_TIMEOUT_S, read_only=True, auto_referrals=False
    )
    try:
        try:
            connection.open()
            if not ldaps and not connection.start_tls():
                raise LDAPStartTLSError(str(connection.result.get("message") or "refused"))
        except (LDAPException, OSError) as exc:
            raise _connect_failure(endpoint, exc) from None
        _check_pin(endpoint, connection)
        yield connection
    finally:
        connection.unbind()


def _bind(connection: ldap3.Connection, dn: str, password: str) -> bool:
    """True when the server accepts this DN and password. An empty password is refused
    here: LDAP takes it as an unauthenticated bind, which succeeds without proving anything."""
    if not password:
        return False
    try:
        return bool(connection.rebind(user=dn, password=password))
    except LDAPException:
        return False


def _service_bind(endpoint: Endpoint, connection: ldap3.Connection) -> None:
    if not _bind(connection, endpoint.bind_dn, endpoint.bind_password):
        raise DirectoryFailure(
            f"the directory server at {endpoint.url} refused the bind as '{endpoint.bind_dn}': "
            "check the bind DN and password",
            code="directory_bind_refused",
        )


def _search(
    connection: ldap3.Connection, base: str, query: str, attributes: list[str], *, scope: str
) -> list[Entry]:
    try:
        connection.search(base, query, search_scope=scope, attributes=attributes)
    except LDAPException as exc:
        raise DirectoryFailure(
            f"the directory refused the search under '{base}': {str(exc)[:200]}",
            code="directory_search_failed",
        ) from None
    result = connection.result
    if result.get("result") == 32:
        raise DirectoryFailure(
            f"the directory has no entry '{base}': check the search base",
            code="directory_base_not_found",
        )
    if result.get("result") not in (0, None):
        raise DirectoryFailure(
            f"the directory refused the search under '{base}': {result.get('description')} "
            f"{result.get('message') or ''}".strip(),
            code="directory_search_failed",
        )
    return [
        Entry(
            str(item["dn"]),
            {k: [str(v) for v in _listed(vals)] for k, vals in item["attributes"].items()},
        )
        for item in connection.response or []
        if item.get("type") == "searchResEntry"
    ]


def _listed(values: object) -> list[object]:
    return list(values) if isinstance(values, list | tuple) else [values]


@dataclass(frozen=True)
class Schema:
    """Where users and groups are, and what their attributes are called."""

    user_base: str
    user_filter: str
    group_base: str
    group_filter: str
    login_attributes: tuple[str, ...]
    first_name_attribute: str
    last_name_attribute: str
    mail_attribute: str
    member_of_attribute: str
    disabled_filter: str
    in_chain: bool

    @property
    def user_attributes(self) -> list[str]:
        return [
            *self.login_attributes,
            self.first_name_attribute,
            self.last_name_attribute,
            self.mail_attribute,
            self.member_of_attribute,
        ]

    def login_filter(self, login: str) -> str:
        value = escape_filter_chars(login)
        either = "".join(f"({attribute}={value})" for attribute in self.login_attributes)
        return f"(&{self.user_filter}(|{either}))"


@dataclass(frozen=True)
class Account:
    """A directory user as pamnode sees it: where it is, its names, whether it may log in,
    and the DNs of every group it belongs to (nested ones included)."""

    dn: str
    login: str
    first_name: str
    last_name: str
    mail: str
    disabled: bool
    groups: frozenset[str]


def _account(connection: ldap3.Connection, schema: Schema, entry: Entry) -> Account:
    disabled = bool(
        schema.disabled_filter
        and _search(
            connection,
            entry.dn,
            f"(&(objectClass=*){schema.disabled_filter})",
            ["1.1"],
            scope=ldap3.BASE,
        )
    )
    return Account(
        dn=entry.dn,
        login=entry.first(schema.login_attributes[0]),
        first_name=entry.first(schema.first_name_attribute),
        last_name=entry.first(schema.last_name_attribute),
        mail=entry.first(schema.mail_attribute),
        disabled=disabled,
        groups=_groups(connection, schema, entry),
    )


def _groups(connection: ldap3.Connection, schema: Schema, entry: Entry) -> frozenset[str]:
    """Every group of the entry: the server's in-chain rule where it has one, else the
    member-of attribute followed from group to group. A server without the rule (OpenLDAP)
    finds nothing with it, not even the direct groups: then pamnode walks."""
    direct = entry.attributes.get(schema.member_of_attribute) or []
    if schema.in_chain:
        query = f"(&{schema.group_filter}(member:{IN_CHAIN}:={escape_filter_chars(entry.dn)}))"
        found = _search(connection, schema.group_base, query, ["1.1"], scope=ldap3.SUBTREE)
        if found or not direct:
            return frozenset(group.dn for group in found)
    seen: dict[str, str] = {}
    todo = list(direct)
    while todo and len(seen) < MAX_GROUPS:
        dn = todo.pop()
        if dn.lower() in seen:
            continue
        seen[dn.lower()] = dn
        try:
            above = _search(
                connection, dn, "(objectClass=*)", [schema.member_of_attribute], scope=ldap3.BASE
            )
        except DirectoryFailure:
            # A group outside the bind's reach (or gone) ends that branch.
            continue
        for group in above:
            todo.extend(group.attributes.get(schema.member_of_attribute) or [])
    return frozenset(seen.values())


def _find(connection: ldap3.Connection, schema: Schema, login: str) -> Entry | None:
    found = _search(
        connection,
        schema.user_base,
        schema.login_filter(login),
        schema.user_attributes,
        scope=ldap3.SUBTREE,
    )
    if len(found) > 1:
        raise DirectoryFailure(
            f"{len(found)} directory entries match the login '{login}': narrow the user filter",
            code="directory_login_ambiguous",
        )
    return found[0] if found else None


def sign_in(endpoint: Endpoint, schema: Schema, login: str, password: str) -> Account | None:
    """The account whose login this is and whose password the server accepts (a bind as the
    user; the password goes nowhere else), or None. A disabled account is returned as such
    whatever the password: the server refuses its bind anyway."""
    with _opened(endpoint) as connection:
        _service_bind(endpoint, connection)
        entry = _find(connection, schema, login)
        if entry is None:
            return None
        account = _account(connection, schema, entry)
        if account.disabled:
            return account
        return account if _bind(connection, entry.dn, password) else None


def find_account(endpoint: Endpoint, schema: Schema, login: str) -> Account | None:
    """The account with this login, found with the directory's own bind (no password of
    the user's)."""
    with _opened(endpoint) as connection:
        _service_bind(endpoint, connection)
        entry = _find(connection, schema, login)
        return _account(connection, schema, entry) if entry is not None else None


def read_account(endpoint: Endpoint, schema: Schema, dn: str) -> Account | None:
    """The account at this DN as it is now (None when it is gone or no longer a user)."""
    with _opened(endpoint) as connection:
        _service_bind(endpoint, connection)
        try:
            found = _search(
                connection, dn, schema.user_filter, schema.user_attributes, scope=ldap3.BASE
            )
        except DirectoryFailure as exc:
            if exc.code == "directory_base_not_found":
                return None
            raise
        return _account(connection, schema, found[0]) if found else None


def find_group(endpoint: Endpoint, schema: Schema, name: str) -> Entry | None:
    """The group with this DN or common name."""
    with _opened(endpoint) as connection:
        _service_bind(endpoint, connection)
        if "=" in name:
            query, base, scope = schema.group_filter, name, ldap3.BASE
        else:
            query = f"(&{schema.group_filter}(cn={escape_filter_chars(name)}))"
            base, scope = schema.group_base, ldap3.SUBTREE
        try:
            found = _search(connection, base, query, ["cn"], scope=scope)
        except DirectoryFailure as exc:
            if exc.code == "directory_base_not_found" and base == name:
                return None
            raise
        return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class Probe:
    """What Test Connection found: the certificate's SHA-256, and the named user's account."""

    sha256: str
    users_seen: int
    groups_seen: int
    account: Account | None


def probe(endpoint: Endpoint, schema: Schema, login: str | None) -> Probe:
    """Connect, bind, search both bases and, given a login, resolve that user: the first
    step that fails raises its own DirectoryFailure."""
    with _opened(endpoint) as connection:
        sha256 = fingerprint(connection.socket.getpeercert(binary_form=True))
        _service_bind(endpoint, connection)
        users = _search(
            connection, schema.user_base, schema.user_filter, ["1.1"], scope=ldap3.SUBTREE
        )
        groups = _search(
            connection, schema.group_base, schema.group_filter, ["1.1"], scope=ldap3.SUBTREE
        )
        account = None
        if login:
            entry = _find(connection, schema, login)
            if entry is None:
                raise DirectoryFailure(
                    f"no user '{login}' under '{schema.user_base}' matches the user filter",
                    code="directory_user_not_found",
                )
            account = _account(connection, schema, entry)
        return Probe(sha256, len(users), len(groups), account)
