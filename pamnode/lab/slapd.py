"""A real OpenLDAP slapd: its own config, mdb database and test certificate, on loopback.

slapd runs in the foreground (`-d 0`) as a child of its caller with a slapd.conf of its own
(never the system's cn=config), listening on `ldaps://127.0.0.1:PORT` and `ldap://` on the
next port (for StartTLS). The directory holds `inetOrgPerson` users and `groupOfNames`
groups with the `memberof` overlay (direct groups only, as OpenLDAP does: nested groups are
pamnode's to resolve) and the `ppolicy` overlay, whose `pwdAccountLockedTime` disables an
account (a disabled account's bind is refused, as Active Directory refuses it).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pamnode.app.tls import ensure_self_signed
from pamnode.crypto.fingerprints import fingerprint
from pamnode.lab import LabUnavailable
from pamnode.lab.ports import free_port
from pamnode.lab.server import OneProcessServer

SLAPD = Path("/usr/sbin/slapd")
LDAPMODIFY = Path("/usr/bin/ldapmodify")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
START_TIMEOUT = 15.0
SUFFIX = "dc=pamnode,dc=test"
ADMIN_DN = f"cn=admin,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
# ppolicy's value for "locked until an administrator unlocks it".
LOCKED_FOREVER = "000001010000Z"


@dataclass
class Person:
    uid: str
    password: str
    given_name: str = "Given"
    surname: str = "Surname"
    mail: str = ""

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"


@dataclass
class Group:
    cn: str
    # DNs of people or other groups.
    members: list[str] = field(default_factory=list)

    @property
    def dn(self) -> str:
        return f"cn={self.cn},{GROUPS}"


def _ldif(entry: dict[str, list[str]]) -> str:
    return "".join(f"{name}: {value}\n" for name, values in entry.items() for value in values)


class LdapServer(OneProcessServer):
    PREFIX = "pamnode-slapd-"
    LOG = "slapd.log"

    def __init__(self, address: str, port: int, people: list[Person], groups: list[Group]) -> None:
        super().__init__(address, port)
        self.admin_password = secrets.token_urlsafe(18)
        self.people = people
        self.groups = groups
        # A free port of its own: the one after `port` was never checked, and slapd, which
        # says nothing at `-d 0`, exited 1 when another process held it (a clean-clone CI).
        self.starttls_port = free_port()

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}:{self.port}"

    @property
    def cert_pem(self) -> str:
        return self._read("cert.pem")

    @property
    def cert_sha256(self) -> str:
        """The SHA-256 of the certificate it presents, as pamnode pins it."""
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return fingerprint(cert.public_bytes(serialization.Encoding.DER))

    def _require(self) -> None:
        if not SLAPD.exists() or not LDAPMODIFY.exists():
            raise LabUnavailable(
                f"{SLAPD} or {LDAPMODIFY} is not installed (Debian packages slapd ldap-utils)"
            )

    def _setup(self) -> None:
        assert self.dir is not None
        self._write_certificate()
        (self.dir / "db").mkdir()
        (self.dir / "slapd.conf").write_text(self._config())
        self._load(self._entries())
        self._spawn()

    def _write_certificate(self) -> None:
        """A new self-signed certificate for 127.0.0.1 (cert.pem, key.pem): pinned by its
        SHA-256, or trusted as its own CA."""
        assert self.dir is not None
        for name in ("cert.pem", "key.pem"):
            (self.dir / name).unlink(missing_ok=True)
        ensure_self_signed(self.dir, "pamnode-slapd", self.address)

    def _config(self) -> str:
        assert self.dir is not None
        schemas = "".join(f"include /etc/ldap/schema/{name}.schema\n" for name in SCHEMAS)
        return (
            f"{schemas}"
            "modulepath /usr/lib/ldap\n"
            "moduleload back_mdb\nmoduleload memberof\nmoduleload ppolicy\n"
            f"pidfile {self.dir}/slapd.pid\n"
            f"TLSCertificateFile {self.dir}/cert.pem\n"
            f"TLSCertificateKeyFile {self.dir}/key.pem\n"
            "database mdb\n"
            f'suffix "{SUFFIX}"\n'
            f'rootdn "{ADMIN_DN}"\n'
            f"rootpw {self.admin_password}\n"
            f"directory {self.dir}/db\n"
            "maxsize 104857600\n"
            "overlay memberof\n"
            "memberof-group-oc groupOfNames\n"
            "memberof-member-ad member\n"
            "memberof-memberof-ad memberOf\n"
            "memberof-refint TRUE\n"
            "overlay ppolicy\n"
            f'ppolicy_default "cn=default,{SUFFIX}"\n'
            "access to attrs=userPassword by self =xw by anonymous auth by * none\n"
            "access to * by users read by * none\n"
        )

    def _entries(self) -> list[dict[str, list[str]]]:
        entries: list[dict[str, list[str]]] = [
            {
                "dn": [SUFFIX],
                "objectClass": ["top", "dcObject", "organization"],
                "dc": ["pamnode"],
                "o": ["pamnode tests"],
            },
            {
                "dn": [f"cn=default,{SUFFIX}"],
                "objectClass": ["device", "pwdPolicy"],
                "cn": ["default"],
                "pwdAttribute": ["userPassword"],
                # Honours pwdAccountLockedTime: a disabled account cannot bind.
                "pwdLockout": ["TRUE"],
            },
            {"dn": [PEOPLE], "objectClass": ["organizationalUnit"], "ou": ["people"]},
            {"dn": [GROUPS], "objectClass": ["organizationalUnit"], "ou": ["groups"]},
        ]
        entries += [self._person(person) for person in self.people]
        return entries

    @staticmethod
    def _person(person: Person) -> dict[str, list[str]]:
        entry = {
            "dn": [person.dn],
            "objectClass": ["inetOrgPerson"],
            "uid": [person.uid],
            "cn": [f"{person.given_name} {person.surname}"],
            "givenName": [person.given_name],
            "sn": [person.surname],
            "userPassword": [person.password],
        }
        if person.mail:
            entry["mail"] = [person.mail]
        return entry

    def _load(self, entries: list[dict[str, list[str]]]) -> None:
        """slapadd writes the database offline (fast, no server needed); the groups go in
        through the running server below, since the memberof overlay fills memberOf only on
        writes it sees."""
        assert self.dir is not None
        ldif = "\n".join(_ldif(entry) for entry in entries)
        result = subprocess.run(
            ["/usr/sbin/slapadd", "-f", str(self.dir / "slapd.conf"), "-q"],
            input=ldif.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"slapadd failed: {result.stderr.decode(errors='replace')}")

    def _spawn(self) -> None:
        assert self.dir is not None
        urls = f"ldaps://{self.address}:{self.port}/ ldap://{self.address}:{self.starttls_port}/"
        self._launch([str(SLAPD), "-d", "0", "-f", str(self.dir / "slapd.conf"), "-h", urls])
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection((self.address, self.starttls_port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
                continue
            for group in self.groups:
                self.add_group(group)
            return
        raise self._not_started("slapd")

    def modify(self, ldif: str) -> None:
        """Apply LDIF changes as the directory's administrator, through the server."""
        env = {**os.environ, "LDAPTLS_REQCERT": "never"}
        result = subprocess.run(
            [
                str(LDAPMODIFY),
                "-H",
                f"ldap://{self.address}:{self.starttls_port}",
                "-x",
                "-D",
                ADMIN_DN,
                "-w",
                self.admin_password,
            ],
            input=ldif.encode(),
            capture_output=True,
            check=False,
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ldapmodify failed: {result.stderr.decode(errors='replace')}")

    def add_group(self, group: Group) -> None:
        entry = {
            "dn": [group.dn],
            "changetype": ["add"],
            "objectClass": ["groupOfNames"],
            "cn": [group.cn],
            # groupOfNames needs a member: an empty group names itself.
            "member": group.members or [group.dn],
        }
        self.modify(_ldif(entry))

    def remove_member(self, group: Group, member_dn: str) -> None:
        self.modify(f"dn: {group.dn}\nchangetype: modify\ndelete: member\nmember: {member_dn}\n")

    def disable(self, person: Person) -> None:
        self.modify(
            f"dn: {person.dn}\nchangetype: modify\n"
            f"replace: pwdAccountLockedTime\npwdAccountLockedTime: {LOCKED_FOREVER}\n"
        )

    def enable(self, person: Person) -> None:
        self.modify(f"dn: {person.dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n")

    def replace_certificate(self) -> None:
        """Restart with a new certificate, as a rebuilt or impostor server would present."""
        self._stop_processes()
        self._write_certificate()
        groups, self.groups = self.groups, []
        try:
            self._spawn()
        finally:
            self.groups = groups
