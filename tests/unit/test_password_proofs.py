"""A password proven against its hash is not hashed again for a while (pamnode.identity.
passwords): a wrong password, another hash (a changed password) or an old proof still costs a
full check, and is refused when wrong."""

import asyncio
from collections.abc import Iterator

import pytest

from pamnode.identity import passwords


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The passwords that went through a full Argon2 check, in order."""
    checked: list[str] = []
    # The light profile: what is counted does not depend on the cost, and a standard check
    # costs six times the CPU.
    hasher = passwords._HASHERS[passwords.HashProfile.LIGHT]

    class Counting:
        def hash(self, password: str) -> str:
            return hasher.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            checked.append(password)
            return hasher.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    monkeypatch.setattr(passwords, "_proven", passwords.OrderedDict())
    passwords._dummy_hash.cache_clear()
    yield checked
    passwords._dummy_hash.cache_clear()


def test_a_proven_password_is_not_hashed_again_until_it_is_old(
    counted: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = asyncio.run(passwords.hash_password("right-one"))
    verify = passwords.verify_password
    assert asyncio.run(verify(stored, "right-one"))
    assert asyncio.run(verify(stored, "right-one"))
    assert counted == ["right-one"]

    # A wrong one is checked in full every time, and refused.
    assert not asyncio.run(verify(stored, "wrong-one"))
    assert not asyncio.run(verify(stored, "wrong-one"))
    # Another hash of the same password (set again): its own check.
    changed = asyncio.run(passwords.hash_password("right-one"))
    assert asyncio.run(verify(changed, "right-one"))
    assert counted == ["right-one", "wrong-one", "wrong-one", "right-one"]

    later = passwords.time.monotonic() + passwords.PROVEN_FOR_S + 1
    monkeypatch.setattr(passwords.time, "monotonic", lambda: later)
    assert asyncio.run(verify(stored, "right-one"))
    assert counted[-1] == "right-one" and len(counted) == 5


def test_no_user_is_never_proven(counted: list[str]) -> None:
    assert not asyncio.run(passwords.verify_password(None, "anything"))
    assert not asyncio.run(passwords.verify_password(None, "anything"))
    assert counted == ["anything", "anything"]


def test_a_profile_sets_what_new_hashes_cost_and_hashes_of_the_other_keep_verifying() -> None:
    try:
        passwords.use_profile(passwords.HashProfile.LIGHT)
        light = asyncio.run(passwords.hash_password("correct horse"))
        passwords.use_profile(passwords.HashProfile.STANDARD)
        standard = asyncio.run(passwords.hash_password("correct horse"))
        assert light.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert standard.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        # A node that changes profile still lets in the users whose hashes it made before.
        assert asyncio.run(passwords.verify_password(light, "correct horse"))
        passwords.use_profile(passwords.HashProfile.LIGHT)
        assert asyncio.run(passwords.verify_password(standard, "correct horse"))
        assert not asyncio.run(passwords.verify_password(standard, "wrong horse"))
    finally:
        passwords.use_profile(passwords.HashProfile.STANDARD)
