#!/usr/bin/env bash
# Runs the test suite in the repo-local venv; extra arguments go straight to pytest.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
cd "$repo_root"

if [[ $# -eq 0 ]]; then
    set -- -q
fi

# exec so pytest's exit code (1 failed, 5 nothing collected, ...) is ours.
exec .venv/bin/python -m pytest "$@"
