"""The data set of bench/scale.py, generated on PostgreSQL with set-based SQL (INSERT ... SELECT
generate_series): an asset library of 100,000 assets in a 6-level tree, 1,000 peer nodes
assigned on containers at every level, and 1,000,000 jobs with their attempts.

Rows follow the models (pamnode/*/models.py) and what the product writes (states, node
signatures, attempts' outcomes, batches). Ids are UUID-shaped md5 digests of a row's kind and
number, so that a row's parent or asset is computed, not looked up. What no query here opens
is a stand-in: sealed secrets and access tokens are 16 random-looking bytes (the benchmark reads
whether they are set, never their values), and pinned certificates are a short text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import md5

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Containers at levels 1 to 5, each level's count a multiple of the one above (its fan-out);
# hosts at level 6 fill the library up to ASSETS.
LEVELS = (4, 20, 100, 1_000, 10_000)
ASSETS = 100_000
HOSTS = ASSETS - sum(LEVELS)
PEERS = 1_000
JOBS = 1_000_000
# The jobs of one execution on a level-4 container (the first 4 hosts of each of its ten
# level-5 containers); the newest UNFINISHED jobs are still queued, dispatched or running.
BATCH = 40
UNFINISHED = 200
DAYS = 180
# Who ran the jobs: these two mains, or a peer (half of the batches).
MAINS = ("main-a", "main-b")
SITE_PATH = "bench::root"
PEER_SITE_PATH = "edge::root"
# The tenant's administrator (who made everything) and a user with no site role.
ADMIN = "tadmin"
OPERATOR = "operator"

# The names of level 1, and of level 5 (the hosts' roles, which name the hosts inside).
REGIONS = ("eu-west", "eu-central", "us-east", "ap-south")
ROLES = ("web", "db", "app", "cache", "batch", "k8s", "mail", "dns", "ldap", "backup")


def _array(names: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]"


def _fan(level: int) -> int:
    """How many containers of `level` (2-5) each container of the level above holds."""
    return LEVELS[level - 1] // LEVELS[level - 2]


def asset_id(level: int, index: int) -> str:
    """The id of container `index` of `level` (1-5), or of host `index` (level 6)."""
    digest = md5(f"a{level}:{index}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def _id_sql(kind: str, number: str) -> str:
    """SQL for the id `asset_id` (or another kind's) computes, e.g. `_id_sql("a6:", "i")`."""
    return f"md5('{kind}' || ({number}))::uuid::text"


def host_parent(host: int) -> int:
    """The level-5 container of host `host`: hosts are dealt round the level-5 containers."""
    return host % LEVELS[-1]


def host_name(host: int) -> str:
    """The name of host `host`: the role of its container and its number."""
    return f"{ROLES[host_parent(host) % len(ROLES)]}-{host:06d}"


def _host_name_sql(host: str) -> str:
    """SQL for `host_name`."""
    role = f"({_array(ROLES)})[{host} % {LEVELS[-1]} % {len(ROLES)} + 1]"
    return f"{role} || '-' || lpad(({host})::text, 6, '0')"


def _container_names(level: int) -> str:
    """SQL naming container `i` of a level: unique among its parent's children."""
    position = f"(i % {_fan(level) if level > 1 else LEVELS[0]})"
    return {
        1: f"({_array(REGIONS)})[i + 1]",
        2: f"'dc-' || lpad(({position} + 1)::text, 2, '0')",
        3: f"'zone-' || chr(97 + {position})",
        4: f"'rack-' || lpad(({position} + 1)::text, 2, '0')",
        5: f"({_array(ROLES)})[{position} + 1]",
    }[level]


def _containers(level: int) -> str:
    parent = "NULL" if level == 1 else _id_sql(f"a{level - 1}:", f"i / {_fan(level)}")
    return f"""
INSERT INTO assets (id, site_id, parent_id, name, type, use_https, description, tags,
                    created_by, created_at, updated_at)
SELECT {_id_sql(f"a{level}:", "i")}, :site, {parent}, {_container_names(level)}, 'container',
       false, '', '[]', '{ADMIN}', :start, :start
FROM generate_series(0, {LEVELS[level - 1] - 1}) AS i
"""


_HOSTS = f"""
INSERT INTO assets (id, site_id, parent_id, name, type, host, port, use_https, description,
                    tags, created_by, created_at, updated_at)
SELECT {_id_sql("a6:", "i")}, :site, {_id_sql("a5:", f"i % {LEVELS[-1]}")}, name,
       CASE WHEN windows THEN 'windows-host' ELSE 'unix-host' END,
       name || '.corp.example.net', CASE WHEN windows THEN 5985 ELSE 22 END, false, '',
       json_build_array((ARRAY['prod','staging','dev'])[i % 3 + 1],
                        CASE WHEN windows THEN 'windows' ELSE 'linux' END),
       '{ADMIN}', :start, :start
FROM (SELECT i, {_host_name_sql("i")} AS name,
             i % 5 = 0 AS windows
      FROM generate_series(0, {HOSTS - 1}) AS i) AS h
"""

# A username and a password on every host.
_SECRETS = f"""
INSERT INTO asset_secrets (asset_id, field, sealed, updated_at)
SELECT {_id_sql("a6:", "i")}, field, decode(md5(field || i), 'hex'), :start
FROM generate_series(0, {HOSTS - 1}) AS i, unnest(ARRAY['username', 'password']) AS field
"""

# Every fourth peer includes a gateway, every fifth an HTTP proxy; one in 50 is disabled and
# one in 100 has no trust established for its job runner.
_PEERS = f"""
INSERT INTO peer_nodes (id, site_id, name, job_runner, url, access_token_sealed,
                        access_token_expires_at, gateway, gateway_address, http_proxy,
                        http_proxy_address, enabled, created_at, updated_at)
SELECT {_id_sql("p:", "i")}, :site, name, true, 'https://' || name || '.edge.example.net:8443',
       decode(md5('token' || i), 'hex'), CAST(:now AS timestamptz) + interval '365 days',
       i % 4 = 0, CASE WHEN i % 4 = 0 THEN name || '.edge.example.net:4823' ELSE '' END,
       i % 5 = 0, CASE WHEN i % 5 = 0 THEN name || '.edge.example.net:3128' ELSE '' END,
       i % 50 <> 49, :start, :start
FROM (SELECT i, 'peer-' || lpad((i + 1)::text, 4, '0') AS name
      FROM generate_series(0, {PEERS - 1}) AS i) AS p
"""

_PINS = f"""
INSERT INTO peer_pins (id, peer_node_id, component, sha256, certificate_pem, not_after,
                       established_by, established_at)
SELECT {_id_sql("pin:", "component || i")}, {_id_sql("p:", "i")}, component,
       md5(component || i) || md5(i || component), '(certificate of ' || component || ')',
       CAST(:now AS timestamptz) + interval '365 days', '{ADMIN}', :start
FROM generate_series(0, {PEERS - 1}) AS i,
     unnest(ARRAY['job-runner', 'gateway', 'http-proxy']) AS component
WHERE (component = 'job-runner' AND i % 100 <> 99)
   OR (component = 'gateway' AND i % 4 = 0)
   OR (component = 'http-proxy' AND i % 5 = 0)
"""

# Per level: how many peers each assigned container gets, and which containers (one in `every`).
ASSIGNED = {1: (3, 1), 2: (2, 1), 3: (1, 1), 4: (1, 2), 5: (1, 10)}


def _assignments(level: int) -> str:
    per, every = ASSIGNED[level]
    # Peer k of container i: spread over all peers, distinct for one container.
    peer = f"(i * 7 + k * 331 + {level * 97}) % {PEERS}"
    return f"""
INSERT INTO peer_assignments (id, asset_id, peer_node_id, enabled, created_by, created_at)
SELECT {_id_sql(f"pa{level}:", "i || ':' || k")}, {_id_sql(f"a{level}:", "i")},
       {_id_sql("p:", peer)}, true, '{ADMIN}', :start
FROM generate_series(0, {LEVELS[level - 1] - 1}) AS i, generate_series(0, {per - 1}) AS k
WHERE i % {every} = 0
"""


def deep_host() -> int:
    """A host whose every container above it has assignments (ASSIGNED's `every` divides its
    level-4 and level-5 indexes): its effective peer set comes from five levels."""
    host = 12_340
    level5 = host_parent(host)
    assert level5 % ASSIGNED[5][1] == 0 and (level5 // 10) % ASSIGNED[4][1] == 0
    return host


# Job i belongs to batch i / BATCH, run on level-4 container (batch % 1,000) at one moment of
# the last DAYS days (newest last); its host is the (i % BATCH)-th of that container's.
_JOBS = f"""
INSERT INTO jobs (id, site_id, origin, asset_id, asset_name, task, script_name, script_type,
                  script_body, batch_id, state, requested_by, target, timeout_s, created_at,
                  started_at, finished_at, node_signature, peer_node, exit_status, output,
                  facts, error, error_code, claimed_by, lease_until, change_seq)
SELECT {_id_sql("j:", "i")}, :site, 'local', {_id_sql("a6:", "host")},
       {_host_name_sql("host")},
       CASE WHEN script THEN 'script' WHEN windows THEN 'windows-status-check'
            ELSE 'unix-status-check' END,
       CASE WHEN script THEN 'rotate-logs' ELSE '' END,
       CASE WHEN NOT script THEN '' WHEN windows THEN 'powershell' ELSE 'shell' END,
       CASE WHEN script THEN 'logrotate -f /etc/logrotate.conf' ELSE '' END,
       {_id_sql("b:", "batch")}, state,
       CASE WHEN batch % 10 = 9 THEN '{OPERATOR}' ELSE '{ADMIN}' END,
       json_build_object('host', {_host_name_sql("host")} || '.corp.example.net',
                         'port', CASE WHEN windows THEN 5985 ELSE 22 END,
                         'protocol', CASE WHEN windows THEN 'winrm' ELSE 'ssh' END),
       300, created,
       CASE WHEN state <> 'queued' THEN created + interval '1 second' END,
       CASE WHEN state IN ('queued', 'dispatched', 'running') THEN NULL
            ELSE created + interval '1 second' * (2 + i % 29) END,
       CASE WHEN state IN ('queued', 'dispatched') THEN NULL
            WHEN peer IS NOT NULL THEN peer || '::{PEER_SITE_PATH}'
            ELSE main || '::{SITE_PATH}' END,
       CASE WHEN state <> 'queued' THEN peer END,
       CASE state WHEN 'succeeded' THEN 0 WHEN 'failed' THEN 1 END,
       CASE WHEN state IN ('succeeded', 'failed')
            THEN '--pamnode-section:uptime' || chr(10) || ' 10:42:01 up 187 days,  3:12,  '
                 || '0 users,  load average: 0.08, 0.11, 0.09' || chr(10)
                 || '--pamnode-section:disk' || chr(10) || '/dev/sda1  40G  '
                 || (i % 40) || 'G  ' || (40 - i % 40) || 'G  ' || (i % 40) * 2 || '% /'
            ELSE '' END,
       CASE WHEN state = 'succeeded'
            THEN json_build_object('os', CASE WHEN windows THEN 'windows' ELSE 'linux' END,
                                   'uptime_days', i % 400)
            ELSE '{{}}' END,
       CASE state WHEN 'failed' THEN 'exit status 1'
                  WHEN 'timed_out' THEN 'the job did not finish within 300 s' ELSE '' END,
       CASE state WHEN 'failed' THEN 'nonzero_exit' WHEN 'timed_out' THEN 'timeout' ELSE '' END,
       CASE WHEN state <> 'queued' THEN main END,
       CASE WHEN state IN ('dispatched', 'running')
            THEN CAST(:now AS timestamptz) + interval '30 seconds' END,
       i + 1
FROM (
    SELECT i, batch, host, windows, script, created, main,
           CASE WHEN batch % 2 = 0 THEN 'peer-' || lpad(((batch * 31 + i) % {PEERS} + 1)::text,
                                                       4, '0') END AS peer,
           CASE WHEN i >= {JOBS - UNFINISHED}
                THEN (ARRAY['queued', 'dispatched', 'running'])[i % 3 + 1]
                WHEN (i % 1000 * 7919) % 1000 < 850 THEN 'succeeded'
                WHEN (i % 1000 * 7919) % 1000 < 950 THEN 'failed'
                WHEN (i % 1000 * 7919) % 1000 < 980 THEN 'timed_out'
                ELSE 'cancelled' END AS state
    FROM (
        SELECT i, i / {BATCH} AS batch, host, host % 5 = 0 AS windows,
               (i / {BATCH}) % 10 < 3 AS script,
               CAST(:now AS timestamptz) - interval '{DAYS} days'
                   + interval '1 second' * ({DAYS} * 86400.0 * (i / {BATCH}) / {JOBS // BATCH})
                   + interval '1 millisecond' * (i % {BATCH}) AS created,
               (ARRAY{list(MAINS)})[(i / {BATCH}) % 5 / 4 + 1] AS main
        FROM (SELECT i, ((i / {BATCH}) % {LEVELS[3]}) * 10 + (i % {BATCH}) % 10
                        + ((i % {BATCH}) / 10) * {LEVELS[-1]} AS host
              FROM generate_series(0, {JOBS - 1}) AS i) AS numbered
    ) AS placed
) AS job
"""

# The attempt of every job a node took: here, or through its peer.
_ATTEMPTS = """
INSERT INTO job_attempts (id, job_id, number, peer_node, started_at, finished_at, outcome, error)
SELECT md5('t:' || id)::uuid::text, id, 1, peer_node, started_at, finished_at,
       CASE state WHEN 'succeeded' THEN 'ran' WHEN 'failed' THEN 'ran'
                  WHEN 'dispatched' THEN 'running' WHEN 'running' THEN 'running'
                  ELSE state END,
       CASE WHEN state = 'timed_out' THEN error ELSE '' END
FROM jobs WHERE started_at IS NOT NULL
"""

# The job feed's counter has numbered every change written above.
_FEED = "UPDATE job_feed SET seq = (SELECT max(change_seq) FROM jobs)"


@dataclass(frozen=True)
class Step:
    what: str
    sql: str


def steps() -> list[Step]:
    return [
        *(
            Step(f"{count:,} containers at level {level}", _containers(level))
            for level, count in enumerate(LEVELS, start=1)
        ),
        Step(f"{HOSTS:,} hosts at level 6", _HOSTS),
        Step(f"{2 * HOSTS:,} vault fields", _SECRETS),
        Step(f"{PEERS:,} peer nodes", _PEERS),
        Step("their pinned certificates", _PINS),
        *(Step(f"assignments on level {level}", _assignments(level)) for level in ASSIGNED),
        Step(f"{JOBS:,} jobs", _JOBS),
        Step("their attempts", _ATTEMPTS),
        Step("the job feed's counter", _FEED),
    ]


async def generate(connection: AsyncConnection, site_id: str, now: datetime) -> None:
    """Every step in one transaction, each timed on the terminal."""
    params = {"site": site_id, "now": now, "start": now - timedelta(days=DAYS + 30)}
    for step in steps():
        started = time.perf_counter()
        await connection.execute(text(step.sql), params)
        print(f"  {step.what}: {time.perf_counter() - started:.1f} s", flush=True)
