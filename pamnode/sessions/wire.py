"""The peer protocol's session routes, typed once for both sides.

Routes (under a site's `/api/`): `POST peer/sessions` (PeerSessionIn -> 201 PeerSessionTicket:
the gateway front will let one connection through with that ticket, for that target only),
`GET peer/sessions/{id}/recording?kind=recording|typescript` (the files the peer's guacd wrote,
once the session has ended), `POST peer/sessions/{id}/watch` (PeerWatchIn -> 201
PeerSessionTicket: the front lets one connection join that running session, read-only).
The front itself speaks the Guacamole protocol: the main's first
instruction is `ticket,<ticket>,<width>,<height>,<dpi>,<timezone>`; the front answers `ready`
or `error` and then carries guacd's stream.
"""

from typing import Annotated

from pydantic import BaseModel, Field

from pamnode.assets.credentials import CredentialIn
from pamnode.assets.destinations import Host
from pamnode.core.bodies import Strict

TICKET_OPCODE = "ticket"


class SessionTargetIn(Strict):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Annotated[str, Field(pattern="^(ssh|rdp|vnc)$")]
    # The SSH host key pinned for the asset (OpenSSH public key line), if a job pinned one.
    known_host_key: Annotated[str, Field(max_length=8192)] | None = None


class PeerSessionIn(Strict):
    """What a main sends to have one session carried by the peer's gateway."""

    id: Annotated[str, Field(min_length=1, max_length=36)]
    asset_name: Annotated[str, Field(max_length=255)] = ""
    target: SessionTargetIn
    credential: CredentialIn
    recording: bool = True


class PeerWatchIn(Strict):
    """What a main sends to have a Monitor join a session the peer's gateway carries."""

    # Who watches, for the peer's audit trail.
    watcher: Annotated[str, Field(min_length=1, max_length=160)]


class PeerSessionTicket(BaseModel):
    id: str
    ticket: str
    expires_in_s: float
    node_signature: str
    # The front says `nop` whenever guacd is silent this long, so a main may take a longer
    # silence for a lost peer; None from a peer whose front does not.
    keep_alive_s: float | None = None
