"""TLS trust in a peer: fetch its leaf certificate, describe it, and pin it.

A pinned connection accepts exactly the pinned leaf: Python's VERIFY_X509_PARTIAL_CHAIN with
the leaf as the only anchor, hostname not checked (the pin is the identity). Anything else
fails closed, naming both fingerprints.

Every connection to a peer's address passes the node's destination policy first
(`peer_address`): a configuration manager types a peer's URL and listener addresses, and must
not point them at this node's own listeners (whose certificate it could then pin, and to which
the main would hand the peer's token) nor at loopback or link-local services.
"""

import asyncio
import ssl
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pamnode.core.destinations import DestinationPolicy, TargetRefused
from pamnode.core.errors import PeerFailure, Unavailable
from pamnode.crypto.fingerprints import fingerprint
from pamnode.peers.links import Opener

CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    issuer: str
    sans: list[str]
    not_before: datetime
    not_after: datetime
    sha256: str
    pem: str


def describe(der: bytes) -> CertificateFacts:
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(name.value) for name in san]
    except x509.ExtensionNotFound:
        sans = []
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(der),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def peer_address(policy: DestinationPolicy, host: str, port: int) -> str:
    """The address to connect to for a peer's host:port, resolved once (a name that resolves
    elsewhere later is checked again at the next connection); a PeerFailure when the policy
    refuses it or the name does not resolve."""
    try:
        return (await policy.resolve(host, port)).address
    except TargetRefused as exc:
        raise PeerFailure(exc.message, code="target_refused") from None
    except Unavailable as exc:
        failure = PeerFailure(exc.message, code="dns_failed")
        raise failure from None


# How a connection reaches host:port: at the address the destination policy resolves and
# checks, or through an opener (a peer's link, which reaches its own listener by name; a
# peer's way out to its main): no address of anyone's choosing to check there.
Reach = DestinationPolicy | Opener


async def _open_tls(
    host: str, port: int, context: ssl.SSLContext, reach: Reach
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TLS to host:port, or a PeerFailure naming the layer that failed; a certificate the
    context refuses is raised as it is, for the caller to explain."""

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not isinstance(reach, DestinationPolicy):
            return await reach(context, host)
        address = await peer_address(reach, host, port)
        return await asyncio.open_connection(address, port, ssl=context, server_hostname=host)

    try:
        return await asyncio.wait_for(connect(), CONNECT_TIMEOUT_S)
    except ssl.SSLCertVerificationError:
        raise
    except OSError as exc:
        raise connection_error(host, port, exc) from exc
    except TimeoutError as exc:
        raise PeerFailure(
            f"no answer from {host}:{port} within {CONNECT_TIMEOUT_S:.0f} s", code="connect_failed"
        ) from exc


async def fetch_leaf(host: str, port: int, reach: Reach) -> bytes:
    """Connect without trusting anything and return the leaf certificate the peer presents."""
    _reader, writer = await _open_tls(host, port, _unverified_context(), reach)
    try:
        ssl_object: ssl.SSLObject | None = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    finally:
        writer.close()
    if not der:
        raise PeerFailure(f"{host}:{port} presented no certificate", code="tls_failed")
    return der


def connection_error(host: str, port: int, exc: BaseException) -> PeerFailure:
    """Name the layer that failed: name lookup, TCP connect or TLS."""
    if isinstance(exc, ssl.SSLError):
        return PeerFailure(f"TLS handshake with {host}:{port} failed: {exc}", code="tls_failed")
    text = str(exc)
    if (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or ("getaddrinfo" in text or "Temporary failure in name resolution" in text)
    ):
        return PeerFailure(f"cannot resolve host '{host}': {text}", code="dns_failed")
    return PeerFailure(f"cannot connect to {host}:{port}: {text}", code="connect_failed")


def pinned_context(pinned_pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=pinned_pem)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def pin_mismatch(pinned_sha256: str, presented_sha256: str) -> PeerFailure:
    return PeerFailure(
        f"the peer's certificate changed: pinned SHA-256 {pinned_sha256}, presented SHA-256 "
        f"{presented_sha256}. Verify and establish trust again if the change is expected.",
        code="tls_pin_mismatch",
    )


async def open_pinned(
    host: str,
    port: int,
    pin_sha256: str,
    pin_pem: str,
    reach: Reach,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS connection that accepts exactly the pinned certificate, or a PeerFailure naming
    what failed (a changed certificate with both fingerprints)."""
    try:
        return await _open_tls(host, port, pinned_context(pin_pem), reach)
    except ssl.SSLCertVerificationError as exc:
        presented = fingerprint(await fetch_leaf(host, port, reach))
        if presented != pin_sha256:
            raise pin_mismatch(pin_sha256, presented) from exc
        raise connection_error(host, port, exc) from exc
