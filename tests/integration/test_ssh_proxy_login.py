"""Logging in to the main's SSH proxy with what OpenSSH users bring: an SSH key (ed25519,
RSA, ECDSA) registered in pamnode, a certificate of a CA the tenant names, and a second
factor at a keyboard-interactive prompt after the key or the password; each refusal as `ssh`
shows it, each login method on its session row."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest

from pamnode.core.ssh_library import asyncssh
from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.identity import PASSWORD, add_user, create_tenant, expect
from tests.support.jobs import ssh_host
from tests.support.keys import code, key_pair, public_line, write_identity
from tests.support.sessions import wait_session

# The smoke module of keys and the second factor: migration 0013 and the conditional updates
# that spend a code once run on both databases.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def lab(node_factory, sshd, tmp_path_factory):
    ssh_port = free_port()
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(ssh_port)})
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        web = ssh_host(client, sshd, "web-1")
        for login in ("kim", "lee", "max"):
            add_user(client, login)
            body = {"principal": login, "role": "operator"}
            expect(client.post(f"assets/{web['id']}/permissions", json=body), 201)
    workdir = tmp_path_factory.mktemp("openssh")
    ssh = OpenSshClient("127.0.0.1", ssh_port, PASSWORD, workdir)
    ssh.pin(main.data_dir / "ssh_proxy_host_key")
    return {"main": main, "admin": admin, "ssh": ssh, "workdir": workdir}


def _as(lab, login: str, second_factor: str = ""):
    """The user's own API client, logged in with its password (and code, when it has one)."""
    body = {
        "login": login,
        "password": PASSWORD,
        **({"code": second_factor} if second_factor else {}),
    }
    with lab["main"].client("corp") as anonymous:
        token = expect(anonymous.post("auth/login", json=body), 200)["token"]
    return lab["main"].client("corp", token=token)


def _register(lab, login: str, kind: str, second_factor: str = ""):
    """A key pair of `login`, its public half registered by the user; the key file, row."""
    key = key_pair(kind)
    path = write_identity(key, lab["workdir"] / f"{login}-{kind}")
    with _as(lab, login, second_factor) as client:
        body = {"public_key": public_line(key, f"{login}@laptop")}
        row = expect(client.post("account/ssh-keys", json=body), 201)
    return path, row


def _last_exec(lab) -> dict:
    with lab["main"].client("corp", token=lab["admin"]) as api:
        page = expect(api.get("sessions", params={"limit": 5}), 200)
        found = next(s for s in page["sessions"] if s["channel"] == "SSHP:Exec")
        return wait_session(api, found["id"], {"completed", "failed"})


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_a_registered_key_logs_in_without_a_password(lab, kind):
    path, row = _register(lab, "kim", kind)
    # No password: the askpass program would give a wrong one if it were asked.
    ssh = replace(lab["ssh"], identity=path, password="not-the-password")
    done = ssh.ssh("kim@corp#web-1", "hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == socket.gethostname()
    session = _last_exec(lab)
    assert session["requested_by"] == "kim"
    assert session["login_method"] == f"publickey {row['fingerprint']}"
    with _as(lab, "kim") as client:
        keys = {k["fingerprint"]: k for k in expect(client.get("account/ssh-keys"), 200)}
    assert keys[row["fingerprint"]]["last_used_at"] is not None


def test_a_removed_or_unknown_key_is_refused(lab):
    path, row = _register(lab, "lee", "ed25519")
    ssh = replace(lab["ssh"], identity=path, password="not-the-password")
    assert ssh.ssh("lee@corp#web-1", "true").returncode == 0
    with lab["main"].client("corp", token=lab["admin"]) as admin:
        expect(admin.delete(f"users/lee/ssh-keys/{row['id']}"), 204)
    refused = ssh.ssh("lee@corp#web-1", "true")
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr.decode()
    # Another user's key does not open lee's login either.
    kim_key, _ = _register(lab, "kim", "ed25519")
    other = replace(lab["ssh"], identity=kim_key, password="not-the-password")
    assert other.ssh("lee@corp#web-1", "true").returncode == 255


def test_the_second_factor_is_asked_after_the_password_or_the_key_each_code_once(lab):
    with _as(lab, "max") as client:
        seed = expect(client.post("account/second-factor"), 201)["seed"]
        confirmed = client.post("account/second-factor/confirm", json={"code": code(seed, -1)})
        recovery = expect(confirmed, 200)["recovery_codes"]
    now = code(seed)
    ssh = replace(lab["ssh"], code=now)
    done = ssh.ssh("max@corp#web-1", "echo with-a-code")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "with-a-code"
    assert _last_exec(lab)["login_method"] == "password+totp"

    reused = ssh.ssh("max@corp#web-1", "true")
    assert reused.returncode == 255
    assert "wrong or already used second-factor code" in reused.stderr.decode()

    # The code's prompt comes after the key too.
    path, row = _register(lab, "max", "ed25519", code(seed, 1))
    with_key = replace(lab["ssh"], identity=path, password="not-the-password", code=recovery[0])
    assert with_key.ssh("max@corp#web-1", "true").returncode == 0
    assert _last_exec(lab)["login_method"] == f"publickey {row['fingerprint']}+recovery"
    again = with_key.ssh("max@corp#web-1", "true")
    assert again.returncode == 255
    # Without a code there is nothing to give at the prompt.
    no_code = replace(lab["ssh"], identity=path, password="not-the-password", code="")
    assert no_code.ssh("max@corp#web-1", "true").returncode == 255


def test_the_cli_registers_lists_and_removes_a_key_that_then_logs_in(lab, tmp_path):
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    log_in(env, lab["main"], "corp", "lee", password_file)
    key = key_pair("ecdsa")
    pub = tmp_path / "id_ecdsa.pub"
    pub.write_text(public_line(key, "lee@workstation") + "\n")
    added = json.loads(run_cli(env, "account", "keys", "add", str(pub), "--json").stdout)
    assert (added["algorithm"], added["comment"]) == ("ecdsa-sha2-nistp256", "lee@workstation")
    listed = json.loads(run_cli(env, "account", "keys", "list", "--json").stdout)
    assert [k["fingerprint"] for k in listed] == [added["fingerprint"]]

    ssh = replace(
        lab["ssh"], identity=write_identity(key, tmp_path / "id_ecdsa"), password="not-it"
    )
    assert ssh.ssh("lee@corp#web-1", "true").returncode == 0
    removed = run_cli(env, "account", "keys", "rm", added["fingerprint"])
    assert f"key {added['fingerprint']} removed" in removed.stdout
    assert ssh.ssh("lee@corp#web-1", "true").returncode == 255
    weak = tmp_path / "id_rsa.pub"
    weak.write_text(public_line(key_pair("rsa", 2048)))
    refused = run_cli(env, "account", "keys", "add", str(weak), check=False)
    assert refused.returncode != 0
    assert "an RSA key of 2048 bits is too weak" in refused.stderr


def test_a_certificate_of_a_named_ca_logs_in_as_its_principal(lab, tmp_path):
    ca = asyncssh.generate_private_key("ssh-ed25519")
    with lab["main"].client("corp", token=lab["admin"]) as admin:
        line = ca.export_public_key("openssh").decode()
        named = expect(admin.post("ssh-user-cas", json={"public_key": line}), 201)
    key = asyncssh.generate_private_key("ssh-ed25519")
    identity = tmp_path / "id_kim"
    key.write_private_key(str(identity))
    identity.chmod(0o600)
    # OpenSSH offers `<identity>-cert.pub` with the key.
    cert = ca.generate_user_certificate(key, "kim-laptop", principals=["kim"])
    cert.write_certificate(str(tmp_path / "id_kim-cert.pub"))
    ssh = replace(lab["ssh"], identity=identity, password="not-the-password")

    assert ssh.ssh("kim@corp#web-1", "true").returncode == 0
    certified = key.get_fingerprint("sha256")
    assert _last_exec(lab)["login_method"] == f"certificate {certified} by {named['fingerprint']}"
    # Its principal is kim: it does not log in as anyone else.
    assert ssh.ssh("lee@corp#web-1", "true").returncode == 255
    with lab["main"].client("corp", token=lab["admin"]) as admin:
        expect(admin.delete(f"ssh-user-cas/{named['id']}"), 204)
    assert ssh.ssh("kim@corp#web-1", "true").returncode == 255


def test_a_site_that_requires_a_second_factor_refuses_a_key_without_one(lab, tmp_path):
    with lab["main"].client("corp", token=lab["admin"]) as admin:
        add_user(admin, "ana", "administrator")
    with _as(lab, "ana") as client:
        seed = expect(client.post("account/second-factor"), 201)["seed"]
        expect(client.post("account/second-factor/confirm", json={"code": code(seed, -1)}), 200)
    path, _ = _register(lab, "kim", "ed25519")
    with _as(lab, "ana", code(seed)) as ana:
        expect(ana.put("second-factor-policy", json={"required": True}), 200)
        try:
            ssh = replace(lab["ssh"], identity=path, password="not-the-password")
            refused = ssh.ssh("kim@corp#web-1", "true")
            assert refused.returncode == 255
            assert (
                "pamnode: site 'root' requires a second factor and user 'kim' has none"
                in refused.stderr.decode()
            )
        finally:
            expect(ana.put("second-factor-policy", json={"required": False}), 200)
    assert ssh.ssh("kim@corp#web-1", "true").returncode == 0

    # The CLI's login gives the code too, each once.
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    url = f"{lab['main'].base_url}/ztna/corp/root"
    login = ("login", url, "--user", "ana", "--password-file", str(password_file))
    trust = ("--ca-file", str(lab["main"].cert_path))
    later = code(seed, 1)
    assert "logged in to" in run_cli(env, *login, *trust, "--code", later).stdout
    reused = run_cli(env, *login, *trust, "--code", later, check=False)
    assert reused.returncode != 0
    assert "401: wrong or already used second-factor code" in reused.stderr
