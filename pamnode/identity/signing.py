"""JWTs signed with the tenant's Ed25519 key; the header's `kid` names that key."""

import hashlib
from datetime import datetime
from typing import NotRequired, TypedDict

import jwt
from cryptography.hazmat.primitives import serialization

from pamnode.core.errors import Unauthenticated
from pamnode.crypto.keyring import KeyRing
from pamnode.identity.models import Tenant

ALGORITHM = "EdDSA"
# Peers' clocks drift; AWX's one-minute signed requests broke on skew (see ANCHORS).
LEEWAY_S = 60


class Claims(TypedDict):
    """What a pamnode token says beyond its issuer, tenant and expiry (which `sign` adds)."""

    jti: str  # the login session's or API token's id
    sub: str  # the user's id
    typ: str  # a login session or an API token
    site: NotRequired[str]  # an API token's site
    mfa: NotRequired[bool]  # a login session proven with a second factor


def key_id(public_key_pem: bytes) -> str:
    public = serialization.load_pem_public_key(public_key_pem)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:32]


def sign(ring: KeyRing, tenant: Tenant, claims: Claims, expires_at: datetime) -> str:
    payload = {**claims, "iss": tenant.issuer, "tenant": tenant.name, "exp": expires_at}
    return jwt.encode(
        payload,
        ring.signing_key(tenant.id),
        algorithm=ALGORITHM,
        headers={"kid": tenant.signing_kid},
    )


def unverified_key_id(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise Unauthenticated("the bearer token is not a JWT", code="token_malformed") from exc
    if not isinstance(kid, str):
        raise Unauthenticated("the bearer token names no signing key (kid)", code="token_malformed")
    return kid


def verify(token: str, tenant: Tenant) -> Claims:
    """Check the signature and issuer; expiry is judged by the caller against its own records."""
    try:
        decoded = jwt.decode(
            token,
            tenant.signing_public_key.encode(),
            algorithms=[ALGORITHM],
            issuer=tenant.issuer,
            options={"verify_exp": False, "require": ["iss", "exp", "jti", "sub", "typ"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(
            f"the token's signature is not valid for tenant '{tenant.name}' ({exc})",
            code="token_bad_signature",
        ) from exc
    claims = Claims(jti=decoded["jti"], sub=decoded["sub"], typ=decoded["typ"])
    if "site" in decoded:
        claims["site"] = decoded["site"]
    if not all(isinstance(value, str) for value in claims.values()):
        raise Unauthenticated("the token's claims are not all text", code="token_malformed")
    if decoded.get("mfa") is True:
        claims["mfa"] = True
    return claims
