"""Response bodies of Access and Reports > Sessions."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class SessionAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    peer_node: str | None
    gateway: str
    started_at: datetime
    outcome: str
    error: str


class SessionWatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    watcher: str
    started_at: datetime
    # None while the watcher still watches.
    ended_at: datetime | None


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    asset_id: str | None
    asset_name: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    state: str
    # The target's protocol (ssh, rdp, vnc) and how it was reached (Channel: SSH, RDP, VNC
    # through a gateway; SSHP:Shell, SSHP:Exec, SSHP:SFTP, RDPP through the main's proxy).
    protocol: str
    channel: str
    gateway: str
    peer_node: str | None
    node_signature: str | None


class SessionDetailsOut(SessionOut):
    # How the SSH proxy's login was proven: "password", "publickey SHA256:..." (+ "+totp"
    # or "+recovery" after a second factor); "" for sessions not opened by such a login.
    login_method: str
    started_at: datetime | None
    target: dict[str, str | int]
    bytes_in: int
    bytes_out: int
    error: str
    error_code: str
    terminated_by: str | None
    recordings: list[str]
    # Each recording's SHA-256 by kind, kept as the session ended (still there once removed).
    recording_hashes: dict[str, str]
    # When the site's retention removed the recordings; None: kept.
    recordings_removed_at: datetime | None
    # Recordings still on the peer that carried it (it was lost, or did not answer at the
    # end): the main asks it again until it has them or the peer says it has them no more.
    recordings_pending: bool
    attempts: list[SessionAttemptOut]
    # Every Monitor of the session (who watched it live, read-only).
    watches: list[SessionWatchOut]


class OpenedSessionOut(SessionOut):
    # Where a client attaches: a WebSocket (subprotocol "guacamole") on this site's base URL,
    # authenticated by the console's session cookie or an Authorization header.
    tunnel: str


class RdpProxyOut(BaseModel):
    session_id: str
    # The one-time port an RDP client connects to (from the address that asked), in time.
    host: str
    port: int
    expires_in_s: float
    # The same as a .rdp file for mstsc, FreeRDP or Remmina.
    rdp_file: str


class SessionPageOut(BaseModel):
    total: int
    sessions: list[SessionOut]


class SearchHitOut(BaseModel):
    """A session whose text matched, with its first matching piece."""

    session_id: str
    asset_id: str | None
    asset_name: str
    requested_by: str
    channel: str
    peer_node: str | None
    created_at: datetime
    # The recording the piece comes from: asciicast, typescript, commands or files.
    kind: str
    # For a terminal recording with timing: where in its playback the piece was on the
    # screen (the console's player starts there); None otherwise.
    offset_s: float | None
    snippet: str


class SearchPageOut(BaseModel):
    total: int
    hits: list[SearchHitOut]
