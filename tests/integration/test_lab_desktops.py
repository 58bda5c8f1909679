"""The lab's remote desktops, real Xvnc and xrdp, answer their protocols where they are told."""

from __future__ import annotations

import pwd
import re
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from pamnode.lab.netns import Netns
from pamnode.lab.ports import free_port
from pamnode.lab.rdp import RdpServer
from pamnode.lab.vnc import VncServer, exchange

TIMEOUT_S = 10.0
RFB_BANNER = re.compile(rb"RFB 003\.00\d\n")
VNC_AUTH = 2
# TPKT (version 3, length 19), X.224 Connection Request (0xE0), RDP Negotiation Request for TLS.
X224_CONNECTION_REQUEST = bytes.fromhex("03000013 0ee00000000000 0100080001000000")
X224_CONNECTION_CONFIRM = 0xD0


@pytest.fixture(scope="module")
def vnc() -> Iterator[VncServer]:
    with VncServer("127.0.0.1", free_port()) as server:
        yield server


@pytest.fixture
def rdp() -> Iterator[RdpServer]:
    # One per test: sesman's port is fixed per namespace (see pamnode/lab/rdp.py), so two
    # RdpServers in one namespace cannot overlap.
    with RdpServer("127.0.0.1", free_port()) as server:
        yield server


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection closed after {data!r}, {size} bytes expected"
        data += chunk
    return data


def rfb_security_types(sock: socket.socket) -> bytes:
    banner = receive(sock, 12)
    assert RFB_BANNER.fullmatch(banner), banner
    # The client answers with the version it speaks: the server's own.
    sock.sendall(banner)
    count = receive(sock, 1)[0]
    assert count > 0, "the server refused the handshake"
    return receive(sock, count)


def vnc_response(password: str, challenge: bytes) -> bytes:
    # VNC authentication: DES of the challenge, keyed by the password with each byte's bits
    # mirrored.
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def vnc_authenticate(port: int, password: str) -> tuple[socket.socket, int]:
    """A connection after VNC authentication, and the server's SecurityResult (0: accepted)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    assert VNC_AUTH in rfb_security_types(sock)
    sock.sendall(bytes([VNC_AUTH]))
    sock.sendall(vnc_response(password, receive(sock, 16)))
    (result,) = struct.unpack(">I", receive(sock, 4))
    return sock, result


def test_vnc_answers_rfb_and_offers_vnc_authentication(vnc: VncServer) -> None:
    with socket.create_connection(("127.0.0.1", vnc.port), timeout=TIMEOUT_S) as sock:
        assert VNC_AUTH in rfb_security_types(sock)


def test_vnc_password_opens_a_desktop_that_is_not_blank(vnc: VncServer) -> None:
    sock, result = vnc_authenticate(vnc.port, vnc.password)
    with sock:
        assert result == 0
        sock.sendall(b"\x01")  # ClientInit: share the desktop
        width, height = struct.unpack(">HH", receive(sock, 4))
        assert (width, height) == (1024, 768)
        bits_per_pixel = receive(sock, 16)[0]
        (name_length,) = struct.unpack(">I", receive(sock, 4))
        assert receive(sock, name_length) == b"pamnode-lab"
        # FramebufferUpdateRequest, not incremental, for a 32x32 corner; with no encodings
        # set, the answer is raw pixels.
        sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, 32, 32))
        message_type, rectangles = struct.unpack(">BxH", receive(sock, 4))
        assert message_type == 0
        pixels = b""
        for _ in range(rectangles):
            _x, _y, w, h, encoding = struct.unpack(">HHHHi", receive(sock, 12))
            assert encoding == 0
            pixels += receive(sock, w * h * bits_per_pixel // 8)
    step = bits_per_pixel // 8
    assert len({pixels[i : i + step] for i in range(0, len(pixels), step)}) > 1


def test_vnc_wrong_password_is_refused(vnc: VncServer) -> None:
    sock, result = vnc_authenticate(vnc.port, "wrong-pw")
    with sock:
        assert result == 1


def test_vnc_stop_leaves_nothing_behind() -> None:
    with VncServer("127.0.0.1", free_port()) as server:
        assert server.display is not None and server.dir is not None
        x_socket, workdir = Path(f"/tmp/.X11-unix/X{server.display[1:]}"), server.dir
        assert x_socket.exists()
        server.stop()
        assert not x_socket.exists() and not workdir.exists()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_S).close()


def test_rdp_confirms_an_x224_connection_request(rdp: RdpServer) -> None:
    with socket.create_connection(("127.0.0.1", rdp.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(X224_CONNECTION_REQUEST)
        tpkt = receive(sock, 4)
        assert tpkt[0] == 3
        (length,) = struct.unpack(">H", tpkt[2:])
        x224 = receive(sock, length - 4)
    assert x224[1] == X224_CONNECTION_CONFIRM
    # RDP Negotiation Response (type 2), not a failure (type 3): TLS is selected.
    assert x224[7] == 2
    assert struct.unpack("<I", x224[11:15]) == (1,)


def test_rdp_stop_leaves_nothing_behind(rdp: RdpServer) -> None:
    assert rdp.dir is not None
    workdir = rdp.dir
    pwd.getpwnam(rdp.user)
    rdp.stop()
    with pytest.raises(KeyError):
        pwd.getpwnam(rdp.user)
    assert not workdir.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", rdp.port), timeout=TIMEOUT_S).close()


def test_desktops_inside_a_namespace_answer_there_only() -> None:
    with (
        Netns() as ns,
        VncServer("127.0.0.1", 5901, ns.name),
        RdpServer("127.0.0.1", 3389, ns.name),
    ):
        assert RFB_BANNER.fullmatch(exchange("127.0.0.1", 5901, b"", 12, ns.name))
        confirm = exchange("127.0.0.1", 3389, X224_CONNECTION_REQUEST, 19, ns.name)
        assert confirm[5] == X224_CONNECTION_CONFIRM
        # The root namespace's loopback is another one: nothing of theirs listens there.
        for port in (5901, 3389):
            with pytest.raises(OSError):
                exchange("127.0.0.1", port, b"", 1)
