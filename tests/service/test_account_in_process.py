"""A user's SSH keys and second factor in-process: register, list, remove, refuse weak keys;
enrol TOTP, log in with a code once, recovery codes once, the site's policy, the reset."""

from __future__ import annotations

import pytest

from tests.support.identity import (
    PASSWORD,
    add_user_async,
    error_of,
    expect,
    issue_token_async,
)
from tests.support.keys import code, key_pair, public_line


@pytest.fixture(scope="module")
async def acme(node):
    token = await node.tenant("acme")
    async with node.as_("acme", token) as client:
        for login in ("alice", "bob", "carol"):
            await add_user_async(client, login)
        expect(await client.post("sites", json={"name": "prod"}), 201)
    return token


async def _login(node, login: str, site: str = "root", **extra: str):
    body = {"login": login, "password": PASSWORD, **extra}
    return await node.client.post(node.api("acme", site) + "auth/login", json=body)


async def _token(node, login: str, site: str = "root", **extra: str) -> str:
    return str(expect(await _login(node, login, site, **extra), 200)["token"])


async def test_a_user_registers_lists_and_removes_keys_and_weak_ones_are_refused(node, acme):
    alice = await _token(node, "alice")
    ecdsa = key_pair("ecdsa")
    async with node.as_("acme", alice) as client:
        added = expect(
            await client.post(
                "account/ssh-keys", json={"public_key": public_line(key_pair(), "laptop")}
            ),
            201,
        )
        assert added["algorithm"] == "ssh-ed25519" and added["comment"] == "laptop"
        assert added["fingerprint"].startswith("SHA256:") and added["last_used_at"] is None
        expect(await client.post("account/ssh-keys", json={"public_key": public_line(ecdsa)}), 201)
        again = await client.post("account/ssh-keys", json={"public_key": public_line(ecdsa)})
        assert error_of(again, 409)["code"] == "ssh_key_exists"
        weak = await client.post(
            "account/ssh-keys", json={"public_key": public_line(key_pair("rsa", 2048))}
        )
        assert error_of(weak, 422) == {
            "code": "ssh_key_weak",
            "message": "an RSA key of 2048 bits is too weak: use ed25519, ECDSA (nistp256, "
            "nistp384, nistp521) or RSA of at least 3072 bits",
        }
        for garbage in ("ssh-ed25519 AAAA", "ssh-foo AAAA", "0 0"):
            refused = await client.post("account/ssh-keys", json={"public_key": garbage})
            assert error_of(refused, 422)["code"] == "ssh_key_invalid", garbage
        listed = expect(await client.get("account/ssh-keys"), 200)
        assert [k["algorithm"] for k in listed] == ["ssh-ed25519", "ecdsa-sha2-nistp256"]
        # Nobody reads or removes another user's keys without administering users.
        other = await client.get("users/bob/ssh-keys")
        assert error_of(other, 403)["code"] == "permission_denied"
        expect(await client.delete(f"account/ssh-keys/{listed[0]['fingerprint']}"), 204)
        assert len(expect(await client.get("account/ssh-keys"), 200)) == 1
    async with node.as_("acme", acme) as admin:
        _, jwt = await issue_token_async(admin, "alice")
        seen = expect(await admin.get("users/alice/ssh-keys"), 200)
        assert [k["algorithm"] for k in seen] == ["ecdsa-sha2-nistp256"]
        expect(await admin.delete(f"users/alice/ssh-keys/{seen[0]['id']}"), 204)
        assert expect(await admin.get("users/alice/ssh-keys"), 200) == []
        gone = await admin.delete(f"users/alice/ssh-keys/{seen[0]['id']}")
        assert error_of(gone, 404)["code"] == "ssh_key_not_found"
        trail = expect(await admin.get("audit-events"), 200)
        keyed = [(e["actor"], e["action"]) for e in trail if e["action"].startswith("ssh-key")]
        # Newest first: the administrator's removal, alice's own, her two adds.
        assert keyed == [
            ("tadmin", "ssh-key.remove"),
            ("alice", "ssh-key.remove"),
            ("alice", "ssh-key.add"),
            ("alice", "ssh-key.add"),
        ]
        assert all(
            e["details"]["fingerprint"].startswith("SHA256:")
            for e in trail
            if e["action"].startswith("ssh-key")
        )
    # An API token, bound to its sources and expiry, sets up nothing that outlasts it.
    async with node.as_("acme", jwt) as token:
        refused = await token.post("account/ssh-keys", json={"public_key": public_line(key_pair())})
        assert error_of(refused, 403)["code"] == "login_session_required"
        enrol = await token.post("account/second-factor")
        assert error_of(enrol, 403)["code"] == "login_session_required"


async def _enrol(node, login: str) -> tuple[str, list[str]]:
    """Enrol `login`'s second factor; its seed and recovery codes."""
    token = await _token(node, login)
    async with node.as_("acme", token) as client:
        seed = expect(await client.post("account/second-factor"), 201)["seed"]
        wrong = await client.post("account/second-factor/confirm", json={"code": "000000"})
        if code(seed, -1) != "000000":
            assert error_of(wrong, 422)["code"] == "second_factor_code_wrong"
        confirmed = await client.post(
            "account/second-factor/confirm", json={"code": code(seed, -1)}
        )
        recovery = expect(confirmed, 200)["recovery_codes"]
        status = expect(await client.get("account/second-factor"), 200)
        assert status == {
            "enrolled": True,
            "confirmed": True,
            "recovery_codes_left": 10,
            "required_here": False,
        }
    return seed, recovery


async def test_an_enrolled_user_logs_in_with_each_code_once(node, acme):
    seed, recovery = await _enrol(node, "bob")
    assert len(recovery) == 10 and len(set(recovery)) == 10
    without = await _login(node, "bob")
    assert error_of(without, 401)["code"] == "second_factor_required"
    now = code(seed)
    expect(await _login(node, "bob", code=now), 200)
    reused = await _login(node, "bob", code=now)
    assert error_of(reused, 401) == {
        "code": "second_factor_failed",
        "message": "wrong or already used second-factor code",
    }
    # Older than the last accepted: refused even though it was never used.
    assert error_of(await _login(node, "bob", code=code(seed, -1)), 401)["code"] == (
        "second_factor_failed"
    )
    expect(await _login(node, "bob", code=recovery[0]), 200)
    assert error_of(await _login(node, "bob", code=recovery[0]), 401)["code"] == (
        "second_factor_failed"
    )
    # A recovery code is typed as shown, or without its dashes and in capitals.
    expect(await _login(node, "bob", code=recovery[1].replace("-", "").upper()), 200)
    async with node.as_("acme", acme) as admin:
        expect(await admin.delete("users/bob/second-factor"), 204)
        events = expect(
            await admin.get("audit-events", params={"action": "second-factor.reset"}), 200
        )
        assert "bob" in str(events)
    expect(await _login(node, "bob"), 200)


async def test_a_site_that_requires_a_second_factor_refuses_logins_and_sessions_without(node, acme):
    alice = await _token(node, "alice")
    prod_admin = await _token(node, "tadmin", site="prod")
    async with node.as_("acme", prod_admin, site="prod") as admin:
        # Whoever turns it on has a factor, or their own next login would be refused.
        unenrolled = await admin.put("second-factor-policy", json={"required": True})
        assert error_of(unenrolled, 403)["code"] == "second_factor_not_enrolled"
        expect(
            await admin.post("site-roles", json={"principal": "carol", "role": "administrator"}),
            201,
        )
    async with node.as_("acme", alice, site="prod") as plain:
        refused = await plain.put("second-factor-policy", json={"required": True})
        assert error_of(refused, 403)["code"] == "permission_denied"
    seed, _ = await _enrol(node, "carol")
    carol = await _token(node, "carol", site="prod", code=code(seed))
    async with node.as_("acme", carol, site="prod") as client:
        expect(await client.put("second-factor-policy", json={"required": True}), 200)
        status = expect(await client.get("account/second-factor"), 200)
        assert status["required_here"] is True
        try:
            # A user without a factor cannot log in to it.
            none = await _login(node, "alice", site="prod")
            assert error_of(none, 403)["code"] == "second_factor_not_enrolled"
            # A session from a site that asked no code does not open this one.
            async with node.as_("acme", alice, site="prod") as other:
                refused = await other.get("auth/me")
                assert error_of(refused, 401)["code"] == "second_factor_required"
        finally:
            expect(await client.put("second-factor-policy", json={"required": False}), 200)
        # Users are the tenant's: an administrator of another site resets nobody's factor.
        reset = await client.delete("users/alice/second-factor")
        assert "administered on its root site" in error_of(reset, 403)["message"]
    async with node.as_("acme", alice, site="prod") as other:
        assert expect(await other.get("auth/me"), 200)["login"] == "alice"


async def test_only_an_administrator_of_users_names_an_ssh_user_ca(node, acme):
    line = {"public_key": public_line(key_pair(), "corp-ca")}
    async with node.as_("acme", await _token(node, "alice")) as alice:
        assert error_of(await alice.post("ssh-user-cas", json=line), 403)["code"] == (
            "permission_denied"
        )
    async with node.as_("acme", acme) as admin:
        named = expect(await admin.post("ssh-user-cas", json=line), 201)
        assert (named["comment"], named["created_by"]) == ("corp-ca", "tadmin")
        assert (
            error_of(await admin.post("ssh-user-cas", json=line), 409)["code"] == "ssh_key_exists"
        )
        weak = {"public_key": public_line(key_pair("rsa", 2048))}
        assert error_of(await admin.post("ssh-user-cas", json=weak), 422)["code"] == "ssh_key_weak"
        listed = expect(await admin.get("ssh-user-cas"), 200)
        assert [ca["fingerprint"] for ca in listed] == [named["fingerprint"]]
        expect(await admin.delete(f"ssh-user-cas/{named['fingerprint']}"), 204)
        assert expect(await admin.get("ssh-user-cas"), 200) == []
        trail = expect(await admin.get("audit-events"), 200)
        assert [e["action"] for e in trail if e["action"].startswith("ssh-ca")] == [
            "ssh-ca.remove",
            "ssh-ca.add",
        ]
