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

# exec so pytest's exit code (1 failed, 5 nothing collected, ...) is ours.
exec .venv/bin/python -m pytest "$@"
