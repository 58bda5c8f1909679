"""The parameters guacd's `connect` gets for a session: target, credential, recording paths.

Written here once for every route (this node's guacd, or a peer's front that injects them), so
the recording paths are always the node's own: guacd takes them from its client, and pamnode
never lets a browser or a main choose them. The path is the session's id alone, relative to
guacd's working directory, the recordings directory (sessions/guacd.py).
"""

from pamnode.assets.credentials import Credential
from pamnode.core.hostports import known_hosts_name
from pamnode.sessions.ids import checked

RECORDING = "recording"
TYPESCRIPT = "typescript"
COMMANDS = "commands"
FILES = "files"
ASCIICAST = "asciicast"
# The files a session's recording directory may hold, and what each is. guacd writes the
# first two (and the typescript's timing, which the node that ran guacd turns into the
# asciicast, sessions/typescripts.py); the main's SSH proxy writes a typescript and an
# asciicast (shell), commands (exec) or files (SFTP).
RECORDING_KINDS = {
    RECORDING: "Guacamole protocol dump",
    TYPESCRIPT: "SSH typescript",
    ASCIICAST: "terminal recording with timing (asciicast v2)",
    COMMANDS: "list of commands and their exit status",
    FILES: "list of SFTP file operations",
}
# What a gateway session leaves, which a main fetches from the peer that carried it.
GATEWAY_KINDS = (RECORDING, TYPESCRIPT, ASCIICAST)


def connection_params(
    protocol: str,
    host: str,
    port: int,
    credential: Credential,
    recording_of: str | None,
    known_host_key: str | None = None,
) -> dict[str, str]:
    params = {"hostname": host, "port": str(port), "username": credential.username}
    if protocol == "ssh" and known_host_key:
        # A known_hosts line; guacd refuses a host that shows another key ("Aborted").
        params["host-key"] = f"{known_hosts_name(host, port)} {known_host_key}"
    if credential.password:
        params["password"] = credential.password
    if protocol == "ssh" and credential.private_key:
        params["private-key"] = credential.private_key
        if credential.passphrase:
            params["passphrase"] = credential.passphrase
    if protocol == "rdp":
        # pamnode pins nothing for RDP yet: the certificate of a Windows host is mostly
        # self-signed, and guacd refuses those unless told otherwise.
        params.update({"security": "any", "ignore-cert": "true"})
    if recording_of is not None:
        recording_dir = checked(recording_of)
        params.update(
            {
                "recording-path": recording_dir,
                "recording-name": RECORDING,
                "create-recording-path": "true",
            }
        )
        if protocol == "ssh":
            params.update(
                {
                    "typescript-path": recording_dir,
                    "typescript-name": TYPESCRIPT,
                    "create-typescript-path": "true",
                }
            )
    return params
