"""Starts the suite's shards (tests/support/shards.py) as forks of one interpreter that has
imported pytest and pamnode already:

    python -m tests.support.shard_launch COUNT [PYTEST ARGS...]

Each shard's pytest process used to import them itself: about 3 s of CPU a shard (FastAPI
builds the models of 200 routes; SQLAlchemy, pydantic, asyncssh load), all at once on the
same two CPUs at the start of the run. The fast tier (tests/unit, tests/service) is CPU-bound,
so that was about a sixth of its wall time; forked, the shards share the one import.

Only libraries and pamnode are imported here, never the test modules or their conftest
files: pytest rewrites the asserts of those as it imports them, in each shard. Each shard is
a process of its own (its pid, environment, port range and log); what one imports later is
its own. The exit code is the shards' (0 all passed, 5 none collected anything, otherwise the
first shard's failure).
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import NoReturn

import pytest

# What every shard imports on its way to its first test (tests/conftest.py, the in-process
# nodes): imported once, here, before the forks.
PRELOADED = (
    "pamnode.http.app",
    "pamnode.lab.inprocess_node",
    "pamnode.lab.node_process",
    "pamnode.lab.slapd",
    "pamnode.lab.sshd",
    "pamnode.lab.zygote",
)
# Ports below the kernel's ephemeral range (32768-), shared out between the shards.
PORTS_LOW = 10000
PORTS_SPAN = 22000


def _shard(index: int, count: int, args: list[str], log: Path) -> NoReturn:
    span = PORTS_SPAN // count
    low = PORTS_LOW + (index - 1) * span
    os.environ["PAMNODE_TEST_SHARD"] = f"{index}/{count}"
    os.environ["PAMNODE_PORT_RANGE"] = f"{low}-{low + span - 1}"
    # As a shell's background job: no terminal input (a test's process never waits on it).
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # SystemExit, not os._exit: the shard's own exit handlers (temporary folders) still run.
    sys.exit(pytest.main(args))


def _result(codes: list[int]) -> int:
    result = 5
    for code in codes:
        if code == 0 and result == 5:
            result = 0
        # A shard the selection left nothing to run is not a failure of the others'.
        elif code not in (0, 5) and result in (0, 5):
            result = code
    return result


def launch(count: int, args: list[str]) -> int:
    for module in PRELOADED:
        importlib.import_module(module)
    # A fork copies only the thread that forks: a thread started by an import would be
    # missing in every shard, holding whatever lock it held.
    if threading.active_count() != 1:
        raise RuntimeError(f"{threading.active_count()} threads before forking the shards")
    logs = Path(tempfile.mkdtemp(prefix="pamnode-shards."))
    print(f"== {count} shards of the suite running at once; their logs: {logs}/shard-*.log")
    sys.stdout.flush()
    sys.stderr.flush()
    # What the imports built stays out of each shard's collector passes, which would
    # otherwise touch (and so copy) the pages the shards share.
    gc.collect()
    gc.freeze()
    children = []
    for index in range(1, count + 1):
        pid = os.fork()
        if pid == 0:
            _shard(index, count, args, logs / f"shard-{index}.log")
        children.append(pid)
    # Ctrl-C at the terminal reaches every shard, whose pytest stops and reports; this
    # process waits for them and then shows their logs, as after any run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    codes = [_exit_code(os.waitpid(pid, 0)[1]) for pid in children]
    for index, code in enumerate(codes, start=1):
        print(f"{'=' * 20} shard {index}/{count} (exit {code}) {'=' * 20}")
        log = logs / f"shard-{index}.log"
        if code == 5:
            print("(none of the selected modules fell to this shard)")
        elif log.exists():
            print(log.read_text(errors="replace"), end="")
        else:
            print("(this shard ended before it wrote its log)")
    return _result(codes)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    # Killed by a signal: as a shell reports it (128 + the signal).
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(launch(int(sys.argv[1]), sys.argv[2:]))
