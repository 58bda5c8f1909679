"""The SSH proxy's user names: who logs in where, and to which asset."""

import pytest

from pamnode.core.errors import InvalidInput
from pamnode.proxy.names import ProxyLogin, parse_proxy_login


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("alice#web-1", ProxyLogin("alice", "acme", "root", "web-1")),
        ("alice@corp#web-1", ProxyLogin("alice", "corp", "root", "web-1")),
        ("alice@corp/paris#dc/web-1", ProxyLogin("alice", "corp", "paris", "dc/web-1")),
        ("a@example.com@corp#x", ProxyLogin("a@example.com", "corp", "root", "x")),
    ],
)
def test_names_resolve(name: str, expected: ProxyLogin) -> None:
    assert parse_proxy_login(name, "acme", "root") == expected


@pytest.mark.parametrize(
    ("name", "default", "says"),
    [
        ("alice", "acme", "names no asset"),
        ("alice#", "acme", "names no asset"),
        ("#web-1", "acme", "names no asset"),
        ("alice#web-1", None, "names no tenant"),
        ("@corp#web-1", "acme", "is not 'login#asset'"),
        ("alice@corp/#web-1", "acme", "is not 'login#asset'"),
    ],
)
def test_malformed_names_say_how_to_log_in(name: str, default: str | None, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_proxy_login(name, default, "root")
    assert refused.value.code == "proxy_login_malformed" and says in refused.value.message
