"""What a destination's host and user name may be: one rule wherever they enter (an asset's
properties and vault secrets, and the targets a main hands a peer in `peer/jobs`,
`peer/sessions` and `peer/proxy-grants`), so that nothing later meets a value it cannot
take: the SSH layer prepares user names with SASLprep (RFC 4013) and fails on unassigned
code points, and guacd and the job's resolver take hosts as ASCII names or addresses.
"""

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field

from pamnode.core.errors import InvalidInput
from pamnode.core.ssh_library import asyncssh

HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(HOSTNAME_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(
            f"host '{host[:80]}' is neither an IP address nor a DNS name: a name is made of "
            "dot-separated labels of letters, digits and '-', with no spaces",
            code="invalid_host",
        )
    return host.lower()


def check_username(username: str) -> str:
    """A user name the SSH layer can send (and no line break to forge a record with)."""
    problem = ""
    if CONTROL.search(username):
        problem = "contains control characters (such as a line break)"
    else:
        try:
            asyncssh.saslprep.saslprep(username)
        except asyncssh.saslprep.SASLPrepError as exc:
            problem = f"cannot be sent over SSH: {exc}"
    if problem:
        raise InvalidInput(f"user name '{username[:80]}' {problem}", code="invalid_username")
    return username


def _in_body(check: Callable[[str], str]) -> AfterValidator:
    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    return AfterValidator(validate)


# The same rules in a peer-protocol body: a refusal there is the body's 422.
Host = Annotated[str, Field(min_length=1, max_length=253), _in_body(check_host)]
Username = Annotated[str, Field(max_length=256), _in_body(check_username)]
