"""A real OpenLDAP slapd: its own config, mdb database and test certificate, on loopback.

slapd runs in the foreground (`-d 0`) as a child of its caller with a slapd.conf of its own
(never the system's cn=config), listening on `ldaps://127.0.0.1:PORT` and `ldap://` on the
next port (for StartTLS). The directory holds `inetOrgPerson` users and `groupOfNames`
groups with the `memberof` overlay (direct groups only, as OpenLDAP does: nested groups are
pamnode's to resolve) and the `ppolicy` overlay, whose `pwdAccountLockedTime` disables an
account (a disabled account's bind is refused, as Active Directory refuses it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pamnode.lab import LabUnavailable
from pamnode.lab.server import LabServer, end_process

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


def _certificate(dir: Path, key: ec.EllipticCurvePrivateKey, name: str) -> tuple[Path, Path]:
    """A self-signed leaf for 127.0.0.1 and localhost, written as cert.pem and key.pem."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = dir / "cert.pem", dir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _ldif(entry: dict[str, list[str]]) -> str:
    return "".join(f"{name}: {value}\n" for name, values in entry.items() for value in values)


class LdapServer(LabServer):
    PREFIX = "pamnode-slapd-"

    def __init__(self, address: str, port: int, people: list[Person], groups: list[Group]) -> None:
        super().__init__(address, port)
        self.admin_password = secrets.token_urlsafe(18)
        self.people = people
        self.groups = groups
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}:{self.port}"

    @property
    def starttls_port(self) -> int:
        return self.port + 1

    @property
    def cert_pem(self) -> str:
        return self._read("cert.pem")

    @property
    def cert_sha256(self) -> str:
        """The SHA-256 of the certificate it presents, as pamnode pins it."""
        cert = x509.load_pem_x509_certificate(self.cert_pem.encode())
        return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()

    def log_text(self) -> str:
        return self._read("slapd.log")

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
        assert self.dir is not None
        _certificate(self.dir, ec.generate_private_key(ec.SECP256R1()), "pamnode-slapd")

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
        self._log = (self.dir / "slapd.log").open("ab")
        urls = f"ldaps://{self.address}:{self.port}/ ldap://{self.address}:{self.starttls_port}/"
        self.proc = subprocess.Popen(
            [str(SLAPD), "-d", "0", "-f", str(self.dir / "slapd.conf"), "-h", urls],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
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
        raise RuntimeError(
            f"slapd on {self.address}:{self.port} did not start "
            f"(exit {self.proc.poll()}):\n{self.log_text()[-3000:]}"
        )

    def _stop_processes(self) -> None:
        end_process(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

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
