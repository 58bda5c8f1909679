#!/usr/bin/env bash
# Runs the test suite in the repo-local venv; extra arguments go straight to pytest.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
cd "$repo_root"

if [[ $# -eq 0 ]]; then
    set -- -q
fi

# Two runs. First every module but the `alone` ones, spread over PAMNODE_TEST_WORKERS
# processes (the CI machine's 2 cores; 0 runs them in this process), a module to a worker
# (tests/conftest.py). Then the `alone` ones, whose bounds are of time, with nothing beside.
workers="${PAMNODE_TEST_WORKERS:-2}"
status=0
.venv/bin/python -m pytest -n "$workers" --dist loadgroup -m "not alone" "$@" || status=$?
alone=0
.venv/bin/python -m pytest -m alone "$@" || alone=$?
# 5 is pytest's "no test selected": a run of chosen tests may have none of one kind.
if [[ $status -eq 5 && $alone -ne 5 ]]; then status=0; fi
if [[ $alone -ne 0 && $alone -ne 5 ]]; then status=$alone; fi
exit "$status"
