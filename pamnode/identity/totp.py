"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 6 digits,
30-second steps, what every authenticator app reads from an `otpauth://` URI."""

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
# Steps either side of now that are accepted: a phone's clock a little off, a code typed as
# its step turns.
DRIFT_STEPS = 1
SEED_BYTES = 20


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def seed_text(seed: bytes) -> str:
    """The seed as apps take it typed in: base32 without padding."""
    return base64.b32encode(seed).decode().rstrip("=")


def step_at(now: float) -> int:
    return int(now // STEP_S)


def code_at(seed: bytes, step: int) -> str:
    """HOTP (RFC 4226 section 5.3) of the counter `step`."""
    mac = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def matching_step(seed: bytes, code: str, after_step: int, now: float | None = None) -> int | None:
    """The step whose code this is, among those near now and after `after_step` (the last
    one accepted: each code is good once, and none older than it), or None."""
    current = step_at(time.time() if now is None else now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(code_at(seed, step), code):
            return step
    return None


def otpauth_uri(seed: bytes, issuer: str, account: str) -> str:
    """What an authenticator app scans: Key URI Format, the defaults spelled out."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": seed_text(seed),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        },
        # Spaces as %20, not "+": some apps show a "+" literally.
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
