#!/usr/bin/env bash
# Runs the test suite in the repo-local venv; extra arguments go straight to pytest.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
cd "$repo_root"

if [[ $# -eq 0 ]]; then
    set -- -q
fi

# Compiled once here: where PYTHONDONTWRITEBYTECODE is set (these machines set it), each of
# the suite's hundreds of node and CLI processes would compile pamnode's ~200 modules again,
# about 0.3 s of CPU a start.
.venv/bin/python -m compileall -q -j 0 pamnode
# The same for the test modules, whose asserts pytest rewrites on import: it keeps the
# rewritten code in __pycache__ only where writing bytecode is allowed, and otherwise each
# pytest process rewrites and compiles every test module again (~1 s of CPU a shard).
unset PYTHONDONTWRITEBYTECODE

# One pytest process when asked (PAMNODE_TEST_SHARDS=1), or when this is already one shard;
# exec so pytest's exit code (1 failed, 5 nothing collected, ...) is ours.
# By default twice the CPUs: most tiers mostly wait for real components (the whole suite:
# 505-512 s in 4 shards on 2 CPUs, 560-612 s in 3), and even the CPU-bound in-process tiers
# end sooner so, now that the shards share their imports (tests/unit + tests/service: 21-24 s
# in 4, 24-27 s in 3, 27 s in 2).
shards="${PAMNODE_TEST_SHARDS:-$(($(nproc) * 2))}"
if [[ "$shards" -le 1 || -n "${PAMNODE_TEST_SHARD:-}" ]]; then
    exec .venv/bin/python -m pytest "$@"
fi

# Otherwise the selected modules are split into $shards processes that run at once
# (tests/support/shards.py says how and why), each with TCP ports from a range of its own
# below the kernel's ephemeral ports, forked from one interpreter that has imported pytest and
# pamnode (tests/support/shard_launch.py). Each writes its own log, shown when all have ended.
started=$SECONDS
result=0
.venv/bin/python -m tests.support.shard_launch "$shards" "$@" || result=$?
echo "== the suite in $shards shards: $((SECONDS - started)) s of wall time, exit $result"
exit "$result"
