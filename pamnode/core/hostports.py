"""How a host and a port are written together, once: IPv6 addresses in brackets, so that
`host:port` stays unambiguous in messages, URLs and the audit trail, and OpenSSH's own form for
a known_hosts line."""


def bracketed(host: str) -> str:
    """The host as it goes before `:port` or into a URL: `[::1]`, `web-1`, `10.0.0.5`."""
    return f"[{host}]" if ":" in host else host


def authority(host: str, port: int) -> str:
    """`host:port`, IPv6 in brackets: `[::1]:22`, `web-1:2222`."""
    return f"{bracketed(host)}:{port}"


def known_hosts_name(host: str, port: int) -> str:
    """The name a known_hosts line gives the host: bare on port 22, else `[host]:port` (IPv4
    and names bracketed too, as OpenSSH writes it)."""
    return host if port == 22 else f"[{host}]:{port}"
