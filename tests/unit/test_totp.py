"""TOTP against RFC 6238's own test vectors, and the rule that a code is good once."""

from pamnode.identity import totp

# RFC 6238 appendix B: the SHA1 seed is the ASCII "12345678901234567890"; 8-digit codes.
RFC_SEED = b"12345678901234567890"
RFC_VECTORS = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924"}


def test_codes_match_rfc_6238_vectors() -> None:
    for now, eight_digits in RFC_VECTORS.items():
        # The six-digit code is the eight-digit one's last six digits (same truncation).
        assert totp.code_at(RFC_SEED, totp.step_at(now)) == eight_digits[-6:]


def test_a_code_is_accepted_once_and_never_an_older_one() -> None:
    now = 1_234_567_890.0
    step = totp.step_at(now)
    code = totp.code_at(RFC_SEED, step)
    assert totp.matching_step(RFC_SEED, code, after_step=0, now=now) == step
    assert totp.matching_step(RFC_SEED, code, after_step=step, now=now) is None
    previous = totp.code_at(RFC_SEED, step - 1)
    assert totp.matching_step(RFC_SEED, previous, after_step=0, now=now) == step - 1
    assert totp.matching_step(RFC_SEED, previous, after_step=step, now=now) is None
    assert totp.matching_step(RFC_SEED, totp.code_at(RFC_SEED, step - 3), 0, now=now) is None
    assert totp.matching_step(RFC_SEED, "000000" if code != "000000" else "111111", 0, now) is None


def test_the_uri_names_the_seed_and_account() -> None:
    uri = totp.otpauth_uri(RFC_SEED, "pamnode acme", "alice@acme")
    assert uri.startswith("otpauth://totp/pamnode%20acme:alice@acme?secret=")
    assert "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=pamnode%20acme&" in uri
