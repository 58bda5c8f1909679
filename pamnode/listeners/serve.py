"""What `serve` starts beside its HTTPS port, when the settings give each a port: the protocol
servers of this folder. Each translates its clients' bytes into an area's use cases (the
gateway front into sessions, the SSH and HTTP proxies into proxy) and holds no rule of its own.
"""

from pamnode.app.node import Node
from pamnode.app.tls import server_context
from pamnode.link.main_link import keep_enrolled
from pamnode.listeners.gateway_front import GatewayFront
from pamnode.listeners.http_proxy import HttpProxy
from pamnode.listeners.ssh_proxy import SshProxy
from pamnode.peers.links import GATEWAY, HTTP_PROXY


async def serve_listeners(node: Node) -> None:
    """Start the gateway front, the HTTP proxy and the SSH proxy when the settings give them
    a port (when serving, never for init); the first two speak TLS with the node's own
    certificate, the SSH proxy has its own host key in the data directory."""
    settings = node.settings
    # Serving, this node is the data directory's only one: a guacd of it still running was
    # left by a run that was killed.
    node.remote_sessions.guacd.end_leftover()
    await keep_enrolled(node.database, node.keyring, node.uplinks)
    if settings.ssh_proxy_port is not None:
        ssh_proxy = SshProxy(
            node.proxy,
            settings.data_dir / "ssh_proxy_host_key",
            settings.ssh_proxy_tenant,
            settings.ssh_proxy_site,
        )
        await ssh_proxy.start(settings.ssh_proxy_host or settings.host, settings.ssh_proxy_port)
        node.listeners.append(ssh_proxy)
    if settings.gateway_port is None and settings.http_proxy_port is None:
        return
    if settings.cert_file is None or settings.key_file is None:
        raise ValueError("the gateway front and HTTP proxy need the node's certificate and key")
    tls = server_context(settings.cert_file, settings.key_file)
    if settings.gateway_port is not None:
        host = settings.gateway_host or settings.host
        front = GatewayFront(node.remote_sessions, tls)
        await front.start(host, settings.gateway_port, f"{host}:{settings.gateway_port}")
        node.listeners.append(front)
        node.uplinks.listeners.serve_here(GATEWAY, front.server.take)
    if settings.http_proxy_port is not None:
        host = settings.http_proxy_host or settings.host
        http_proxy = HttpProxy(node.proxy, tls)
        await http_proxy.start(host, settings.http_proxy_port, f"{host}:{settings.http_proxy_port}")
        node.listeners.append(http_proxy)
        node.uplinks.listeners.serve_here(HTTP_PROXY, http_proxy.server.take)
