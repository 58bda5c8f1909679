"""The registry of error codes: every code pamnode puts on the wire or on a record, once.

A code is stable (clients and tests match on it); its message is for people and may change.
Each member carries a line of meaning and, when the code points at one field of a form, that
field: the console shows the message next to it. `tests/unit/test_error_codes.py` fails when
the tree uses a code that is not here, or when a code here is used nowhere.

Where codes travel: `{"error": {"code", "message"}}` bodies of the API and the peer protocol
(core/errors.py draws the error kinds), a job's `error_code` and its attempts, Test
Connection's `code`, and the audit trail's refusals.
"""

from enum import StrEnum
from typing import Self


class Code(StrEnum):
    meaning: str
    field: str | None

    def __new__(cls, value: str, meaning: str, field: str | None = None) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        member.field = field
        return member

    @classmethod
    def field_of(cls, code: str) -> str | None:
        """The form field a code points at, if it is registered with one."""
        member = cls._value2member_map_.get(code)
        return member.field if isinstance(member, Code) else None

    # The kinds of core/errors.py, when nothing more precise applies.
    ERROR = "error", "something went wrong that a person should read about"
    INVALID_INPUT = "invalid_input", "a field of the request is missing, malformed or too large"
    NOT_FOUND = "not_found", "what the request names does not exist here"
    METHOD_NOT_ALLOWED = "method_not_allowed", "the URL exists, but not with that HTTP method"
    CONFLICT = "conflict", "the change conflicts with data written at the same time"
    UNAUTHENTICATED = "unauthenticated", "the caller could not be identified"
    FORBIDDEN = "forbidden", "the caller is known but may not do this"
    THROTTLED = "throttled", "too many attempts: wait for Retry-After"

    # Requests at the edge (pamnode/http).
    BODY_TOO_LARGE = "body_too_large", "the request body is larger than max_body_bytes"
    NODE_BUSY = "node_busy", "the node is saturated: retry after Retry-After"
    CSRF_REFUSED = "csrf_refused", "a console form was posted from another origin"
    DATABASE_IN_USE = "database_in_use", "another node serves this SQLite database already"
    SESSION_MISSING = "session_missing", "the console needs a login (no session cookie)"
    VAULT_UNAVAILABLE = "vault_unavailable", "the key ring cannot open or seal secrets"
    KEK_INVALID = (
        "kek_invalid",
        "PAMNODE_KEK or PAMNODE_KEK_FILE is not a 32-byte key in hex or base64, or both are set",
    )
    KEY_RING_IN_DATABASE = (
        "key_ring_in_database",
        "the key ring is sealed in the database already: importing again needs --replace",
    )
    NOT_READY = "not_ready", "the node's database or key ring cannot be used (GET /readyz)"
    METRICS_FORBIDDEN = (
        "metrics_forbidden",
        "GET /metrics from an address outside metrics_allow_cidrs, without a token",
    )
    METRICS_TOKEN_REFUSED = "metrics_token_refused", "GET /metrics with a wrong metrics token"

    # Identity: tenants, sites, users, roles, tokens, login.
    BASE_TENANT_REFUSED = "base_tenant_refused", "the base tenant only manages tenants"
    NOT_BASE_TENANT = "not_base_tenant", "only the base tenant manages tenants"
    TENANT_EXISTS = "tenant_exists", "a tenant of that name exists"
    TENANT_NOT_FOUND = "tenant_not_found", "no tenant of that name on this node"
    INVALID_TENANT_NAME = "invalid_tenant_name", "not a valid tenant name for a URL"
    SITE_EXISTS = "site_exists", "the tenant has a site of that name"
    SITE_NOT_FOUND = "site_not_found", "the tenant has no site of that name"
    INVALID_SITE_NAME = "invalid_site_name", "not a valid site name for a URL"
    INVALID_LOGIN = "invalid_login", "not a valid login", "login"
    USER_EXISTS = "user_exists", "the tenant has a user with that login", "login"
    USER_NOT_FOUND = "user_not_found", "the tenant has no user with that login"
    WEAK_PASSWORD = "weak_password", "the password is too short", "password"
    SELF_DELETE = "self_delete", "nobody deletes their own account"
    SELF_LOCK = "self_lock", "nobody locks their own account"
    SELF_REVOKE = "self_revoke", "nobody revokes their own administrator role"
    UNKNOWN_ROLE = "unknown_role", "not a site role", "role"
    GRANT_EXISTS = "grant_exists", "the user holds that role already", "role"
    GRANT_NOT_FOUND = "grant_not_found", "the site has no such role grant"
    PERMISSION_DENIED = "permission_denied", "the caller's roles lack the permission"
    ESCALATION_REFUSED = "escalation_refused", "it would give or use rights the caller lacks"
    API_TOKEN_NOT_FOUND = "api_token_not_found", "the site has no such API token"
    EXPIRY_IN_PAST = "expiry_in_past", "a token's expiry must be in the future", "expires_at"
    INVALID_FILTER = "invalid_filter", "a filter entry is not a CIDR network", "filter"
    # Directories (directories/): configuration, Test Connection, directory users.
    INVALID_DIRECTORY_NAME = "invalid_directory_name", "not a valid directory name", "name"
    INVALID_DIRECTORY_URL = "invalid_directory_url", "not an ldaps:// or ldap:// URL", "url"
    DIRECTORY_TRUST_MISSING = (
        "directory_trust_missing",
        "neither a pinned SHA-256 nor a CA for the directory server",
        "server_sha256",
    )
    DIRECTORY_EXISTS = "directory_exists", "the tenant has a directory of that name", "name"
    DIRECTORY_NOT_FOUND = "directory_not_found", "the tenant has no such directory"
    DIRECTORY_ERROR = "directory_error", "the directory could not be used"
    DIRECTORY_UNREACHABLE = "directory_unreachable", "no connection to the directory server"
    DIRECTORY_TLS_FAILED = "directory_tls_failed", "TLS with the directory server failed"
    DIRECTORY_TLS_UNTRUSTED = (
        "directory_tls_untrusted",
        "the directory server's certificate is not vouched for by the configured CA",
    )
    DIRECTORY_TLS_PIN_MISMATCH = (
        "directory_tls_pin_mismatch",
        "the directory server presents another certificate than the pinned one",
    )
    DIRECTORY_BIND_REFUSED = (
        "directory_bind_refused",
        "the directory refused the bind DN and password",
    )
    DIRECTORY_BASE_NOT_FOUND = "directory_base_not_found", "a search base does not exist"
    DIRECTORY_SEARCH_FAILED = "directory_search_failed", "the directory refused a search"
    DIRECTORY_LOGIN_AMBIGUOUS = (
        "directory_login_ambiguous",
        "more than one directory entry matches the login",
    )
    DIRECTORY_USER_NOT_FOUND = "directory_user_not_found", "the directory has no such user"
    DIRECTORY_GROUP_NOT_FOUND = "directory_group_not_found", "the directory has no such group"
    DIRECTORY_ACCOUNT_DISABLED = (
        "directory_account_disabled",
        "the user's directory account is disabled",
    )
    DIRECTORY_ACCOUNT_GONE = (
        "directory_account_gone",
        "the user's directory account no longer exists",
    )
    GROUP_SERVICE_ROLE = "group_service_role", "a group never holds the service role", "role"
    DIRECTORY_USER_PASSWORD = (
        "directory_user_password",
        "a directory user's password is set in its directory",
        "password",
    )
    LOGIN_FAILED = "login_failed", "wrong login or password", "password"
    LOGIN_LOCKED = "login_locked", "wrong password, and further attempts now wait", "password"
    LOGIN_THROTTLED = "login_throttled", "too many failed logins: wait for Retry-After"
    LOGIN_BUSY = "login_busy", "the node is checking as many logins as it can: wait for Retry-After"
    USER_LOCKED = "user_locked", "the user is locked"
    LOGIN_SESSION_REQUIRED = (
        "login_session_required",
        "a user's login means are set up by the user logged in, not with an API token",
    )
    SSH_KEY_INVALID = "ssh_key_invalid", "not an SSH public key line", "public_key"
    SSH_KEY_WEAK = (
        "ssh_key_weak",
        "an SSH key of a refused algorithm or size (DSA, RSA under 3072 bits)",
        "public_key",
    )
    SSH_KEY_EXISTS = "ssh_key_exists", "the user has registered this SSH key already", "public_key"
    SSH_KEY_NOT_FOUND = "ssh_key_not_found", "the user has no such SSH key"
    SECOND_FACTOR_EXISTS = "second_factor_exists", "the user has a second factor: reset it first"
    SECOND_FACTOR_NOT_ENROLLING = (
        "second_factor_not_enrolling",
        "a code confirms an enrolment, and none is under way",
    )
    SECOND_FACTOR_CODE_WRONG = (
        "second_factor_code_wrong",
        "the code does not confirm the new second factor",
        "code",
    )
    SECOND_FACTOR_NOT_ENROLLED = (
        "second_factor_not_enrolled",
        "the site requires a second factor and the user has none enrolled",
    )
    SECOND_FACTOR_REQUIRED = (
        "second_factor_required",
        "the login needs a second-factor code (or the session lacks one for this site)",
        "code",
    )
    SECOND_FACTOR_FAILED = (
        "second_factor_failed",
        "a wrong or already used second-factor code",
        "code",
    )
    USER_DELETED = "user_deleted", "the user was deleted since it logged in"
    SESSION_ENDED = "session_ended", "the session was logged out"
    SESSION_EXPIRED = "session_expired", "the session outlived its lifetime"
    TOKEN_MISSING = "token_missing", "no Authorization: Bearer header"
    TOKEN_MALFORMED = "token_malformed", "the token is not a pamnode JWT"
    TOKEN_BAD_SIGNATURE = "token_bad_signature", "the token's signature does not verify"
    TOKEN_REVOKED = "token_revoked", "the token, or its owner, was deleted"
    TOKEN_DISABLED = "token_disabled", "the API token is switched off"
    TOKEN_EXPIRED = "token_expired", "the token is past its expiry"
    TOKEN_WRONG_TENANT = "token_wrong_tenant", "the token was issued by another tenant"
    TOKEN_WRONG_SITE = "token_wrong_site", "the token was issued for another site"
    TOKEN_OWNER_LOCKED = "token_owner_locked", "the token's owner is locked"
    TOKEN_SOURCE_DENIED = "token_source_denied", "the caller's address is outside the filter"

    # Assets, their permissions and secrets.
    ASSET_NOT_FOUND = "asset_not_found", "no such asset, or the caller may not see it"
    ASSET_EXISTS = "asset_exists", "that container holds an asset of that name", "name"
    ASSET_PERMISSION_DENIED = "asset_permission_denied", "the caller's asset role is too weak"
    INVALID_ASSET_NAME = "invalid_asset_name", "not a valid asset name", "name"
    UNKNOWN_ASSET_TYPE = "unknown_asset_type", "not an asset type", "type"
    TYPE_IMMUTABLE = "type_immutable", "an asset's type cannot change"
    PARENT_NOT_CONTAINER = "parent_not_container", "only a container holds assets"
    MOVE_LOOP = "move_loop", "a container cannot move into itself"
    TREE_TOO_DEEP = "tree_too_deep", "the library would grow too deep"
    CONTAINER_NOT_EMPTY = "container_not_empty", "deleting it needs the recursive flag"
    CONTAINER_PROPERTIES = "container_properties", "a container has no connection properties"
    CONTAINER_SECRETS = "container_secrets", "a container holds no secrets"
    HOST_REQUIRED = "host_required", "a host asset needs a host", "host"
    INVALID_HOST = "invalid_host", "not a host name or address", "host"
    INVALID_USERNAME = (
        "invalid_username",
        "a user name with control characters, or that SSH cannot send (SASLprep)",
    )
    INVALID_PORT = "invalid_port", "not a TCP port", "port"
    INVALID_PROPERTY = "invalid_property", "an asset property is not valid"
    INVALID_TAG = "invalid_tag", "not a valid tag"
    INVALID_SECRET = "invalid_secret", "a secret field is empty"
    INVALID_PRIVATE_KEY = "invalid_private_key", "not a private key", "private_key"
    SECRETS_REQUIRED = (
        "secrets_required",
        "the asset's destination changed: its vault secrets must be entered again with it",
        "password",
    )
    PASSPHRASE_WITHOUT_KEY = "passphrase_without_key", "a passphrase needs a key", "passphrase"
    UNKNOWN_ASSET_ROLE = "unknown_asset_role", "not an asset role", "role"
    ASSET_GRANT_EXISTS = "asset_grant_exists", "the user holds a role on that asset already"
    ASSET_GRANT_NOT_FOUND = "asset_grant_not_found", "the asset has no such permission grant"
    VAULT_ROOT_SITE_ONLY = "vault_root_site_only", "the vault is managed on the root site"

    # Peer nodes: configuration, trust, connection.
    PEER_EXISTS = "peer_exists", "the site has a peer node of that name", "name"
    PEER_NOT_FOUND = "peer_not_found", "the site has no peer node of that name", "peer_node"
    INVALID_PEER_URL = "invalid_peer_url", "not a pamnode site URL", "url"
    INVALID_ACCESS_TOKEN = "invalid_access_token", "not a JWT", "access_token"
    ACCESS_TOKEN_REQUIRED = (
        "access_token_required",
        "the peer's URL changed: its access token must be entered again with it",
        "access_token",
    )
    INVALID_GATEWAY_ADDRESS = (
        "invalid_gateway_address",
        "not a host:port gateway address",
        "gateway_address",
    )
    INVALID_HTTP_PROXY_ADDRESS = (
        "invalid_http_proxy_address",
        "not a host:port HTTP proxy address",
        "http_proxy_address",
    )
    PEER_ADDRESS_REFUSED = (
        "peer_address_refused",
        "a peer's URL or listener address is one the destination policy refuses (this node's "
        "own listeners, loopback, link-local)",
    )
    NO_GATEWAY_CONFIGURED = "no_gateway_configured", "the peer includes no gateway"
    NO_HTTP_PROXY_CONFIGURED = "no_http_proxy_configured", "the peer includes no HTTP proxy"
    CERTIFICATE_CHANGED = "certificate_changed", "the peer now presents another certificate"
    NO_ACCESS_TOKEN = "no_access_token", "the peer node has no access token"
    TRUST_NOT_ESTABLISHED = "trust_not_established", "no certificate is pinned for the peer"
    ASSIGNMENT_EXISTS = "assignment_exists", "that peer is assigned there already", "peer_node"
    ASSIGNMENT_NOT_FOUND = "assignment_not_found", "no such peer assignment"
    OK = "ok", "Test Connection: the peer answered as its URL says"
    DNS_FAILED = "dns_failed", "the peer's host name does not resolve"
    CONNECT_FAILED = "connect_failed", "the peer did not accept or answer in time"
    TLS_FAILED = "tls_failed", "the TLS handshake with the peer failed"
    TLS_PIN_MISMATCH = "tls_pin_mismatch", "the peer presents another certificate than pinned"
    TOKEN_REFUSED = "token_refused", "the peer refused the access token"
    NOT_SERVICE_ROLE = "not_service_role", "the access token's user lacks the Service role"
    TENANT_SITE_MISMATCH = "tenant_site_mismatch", "the peer answers for another tenant/site"
    WRONG_LISTENER = (
        "wrong_listener",
        "Test Connection: another server answers at a gateway or HTTP proxy address",
    )
    PEER_IS_BASE_TENANT = "peer_is_base_tenant", "the URL names the peer's base tenant"
    PEER_ERROR = "peer_error", "the peer failed to answer, or is not pamnode"
    PEER_ANSWER_INVALID = "peer_answer_invalid", "the peer's answer breaks the peer protocol"
    # Peers that dial out (pamnode/link/, docs/peers.md).
    PEER_NOT_DIALING = "peer_not_dialing", "the peer node's connection mode is main_dials"
    ENROLMENT_CODE_INVALID = (
        "enrolment_code_invalid",
        "the main issued no such enrolment code for its site",
        "code",
    )
    ENROLMENT_CODE_EXPIRED = "enrolment_code_expired", "the enrolment code ran out", "code"
    ENROLMENT_CODE_USED = "enrolment_code_used", "the enrolment code was used already", "code"
    INVALID_LINK_KEY = "invalid_link_key", "the peer presented no Ed25519 public key"
    LINK_REFUSED = "link_refused", "the main accepts no link with that key, or is not pamnode"
    LINK_NOT_ENROLLED = "link_not_enrolled", "the peer node holds no enrolled key"
    LINK_DOWN = "link_down", "the peer dials this main and has no link to it now"
    LINK_STREAM_REFUSED = "link_stream_refused", "the peer refused a stream to its listener"
    LINK_PROXY_FAILED = "link_proxy_failed", "the peer's HTTP proxy refused the way to the main"
    INVALID_MAIN_URL = "invalid_main_url", "not a pamnode site URL of the main", "main_url"
    INVALID_FINGERPRINT = (
        "invalid_fingerprint",
        "not the 64 hex digits of a SHA-256",
        "fingerprint",
    )
    MAIN_FINGERPRINT_MISMATCH = (
        "main_fingerprint_mismatch",
        "the main presents another certificate than the fingerprint given",
        "fingerprint",
    )
    MAIN_LINK_NOT_FOUND = "main_link_not_found", "the peer's site is enrolled at no main"

    # Jobs: why one failed (job.error_code, attempts).
    NONZERO_EXIT = "nonzero_exit", "the task ran and exited non-zero"
    TIMEOUT = "timeout", "the task did not finish within its timeout"
    NETWORK_UNREACHABLE = "network_unreachable", "the host could not be reached"
    TARGET_REFUSED = (
        "target_refused",
        "the node's destination policy refuses the target (loopback, link-local, its own ports)",
    )
    AUTH_FAILED = "auth_failed", "the host refused the vault's credential"
    HOST_KEY_CHANGED = "host_key_changed", "the SSH host key differs from the pinned one"
    PROTOCOL_ERROR = "protocol_error", "the host answered, but not as the task expects"
    ASSET_GONE = "asset_gone", "the asset was deleted before the job ran"
    INTERRUPTED = (
        "interrupted",
        "a restart, or the loss of the main node that ran it, ended the job (never run twice)",
    )
    INTERNAL_ERROR = "internal_error", "a job or a request broke inside pamnode (see its log)"
    PEERS_UNREACHABLE = "peers_unreachable", "no assigned peer node could take the job"
    PEER_LOST = (
        "peer_lost",
        "the peer stayed unreachable past the job's deadline, or its gateway or HTTP proxy "
        "went silent or closed in the middle of a session",
    )
    PEER_SIGNATURE_MISMATCH = (
        "peer_signature_mismatch",
        "the peer signed the result for another tenant or site than its URL names",
    )
    TASK_NOT_FOR_ASSET = "task_not_for_asset", "the task runs on another asset type"
    SCRIPT_MISSING = "script_missing", "the task 'script' names a script, and only it"
    NOTHING_TO_RUN = "nothing_to_run", "the container holds no asset the task runs on"
    JOB_NOT_FOUND = "job_not_found", "the site (or peer) has no such job"
    JOB_FINISHED = "job_finished", "the job has ended already"
    JOB_ID_TAKEN = "job_id_taken", "a main sent a job id this node uses otherwise"
    FEED_CURSOR_INVALID = "feed_cursor_invalid", "a job feed cursor this node did not give"
    SCRIPT_EXISTS = "script_exists", "the site has a script of that name", "name"
    SCRIPT_NOT_FOUND = "script_not_found", "the site has no such script"

    # Remote sessions: opening, attaching, gateways, recordings.
    SESSION_ON_CONTAINER = "session_on_container", "a session opens on a host, not a container"
    UNKNOWN_SESSION_PROTOCOL = (
        "unknown_session_protocol",
        "the protocol is not one of ssh, rdp, vnc",
        "protocol",
    )
    SESSION_NOT_FOUND = "session_not_found", "the site (or peer) has no such session for you"
    CONNECT_REVOKED = (
        "connect_revoked",
        "the user may no longer connect to the session's asset (a grant revoked, or the "
        "asset deleted, since it was opened)",
    )
    SESSION_ATTACHED = "session_attached", "a tunnel is attached to the session, or it ended"
    SESSION_UNATTACHED = "session_unattached", "nothing attached to the session in time"
    SESSION_FINISHED = "session_finished", "the remote session has ended already"
    SESSION_NOT_WATCHABLE = (
        "session_not_watchable",
        "Monitor needs a running session, on the main node that carries it",
    )
    SESSION_ID_TAKEN = "session_id_taken", "a main sent a session id this node uses already"
    INVALID_SESSION_ID = "invalid_session_id", "a session id is not a UUID in canonical form"
    CROSS_ORIGIN_REFUSED = "cross_origin_refused", "a tunnel was asked for from another origin"
    GATEWAY_NOT_RUNNING = "gateway_not_running", "the peer runs no gateway front"
    GATEWAY_REFUSED = "gateway_refused", "the gateway (front or guacd) refused the session"
    GATEWAY_TIMEOUT = "gateway_timeout", "the gateway did not get the session ready in time"
    ALL_GATEWAYS_FAILED = "all_gateways_failed", "no assigned peer's gateway could carry it"
    REMOTE_ERROR = "remote_error", "guacd reported an error (host unreachable, login refused)"
    GATEWAY_LOST = "gateway_lost", "this node's guacd went silent or closed mid-session"
    GUACD_MISSING = "guacd_missing", "guacd is not installed or would not start"
    TICKET_UNKNOWN = "ticket_unknown", "the gateway front does not know the session ticket"
    TICKET_USED = "ticket_used", "the session ticket was used already (one use only)"
    TICKET_EXPIRED = "ticket_expired", "the session ticket is older than its lifetime"
    RECORDING_MISSING = "recording_missing", "the session has no recording of that kind"
    RECORDING_REMOVED = "recording_removed", "the site's retention removed the recordings"
    RECORDING_BEING_WRITTEN = "recording_being_written", "guacd still writes the recording"
    RECORDING_PENDING = (
        "recording_pending",
        "the recordings are still on the lost peer that carried the session, fetched once it "
        "answers again",
    )
    SEARCH_QUERY_INVALID = (
        "search_query_invalid",
        "a search across sessions needs words (letters, digits): at most 16, 200 characters",
        "q",
    )
    # Proxy sessions: the peer's HTTP proxy.
    HTTP_PROXY_NOT_RUNNING = "http_proxy_not_running", "the peer runs no HTTP proxy"
    PROXY_GRANT_MISSING = "proxy_grant_missing", "a CONNECT came without a proxy grant"
    PROXY_GRANT_MISMATCH = "proxy_grant_mismatch", "the proxy grant is for another host:port"
    NOT_CONNECT = "not_connect", "the HTTP proxy was asked for something other than CONNECT"
    INVALID_TARGET = "invalid_target", "a CONNECT did not name host:port"
    # Proxy sessions: the main's SSH proxy and RDP pass-through.
    PROXY_LOGIN_MALFORMED = "proxy_login_malformed", "the SSH user name is not login#asset"
    PROXY_REFUSED = "proxy_refused", "a peer's HTTP proxy refused the CONNECT"
    ALL_PROXIES_FAILED = "all_proxies_failed", "no assigned peer's HTTP proxy could carry it"
    SESSION_PROTOCOL_MISMATCH = (
        "session_protocol_mismatch",
        "the asset speaks another protocol than the proxy channel needs",
    )
    IDLE_TIMEOUT = "idle_timeout", "no byte moved in a proxy session for the idle bound"
    ASSET_NAME_AMBIGUOUS = "asset_name_ambiguous", "several assets have that name: give a path"
    UNKNOWN_RECORDING_KIND = (
        "unknown_recording_kind",
        "the kind of recording is not one of recording, typescript, commands, files",
    )
