#!/usr/bin/env bash
# Idempotent developer/CI bootstrap: a repo-local .venv with the locked versions of pamnode's
# dependencies (locks/dev.txt, hashes checked) and pamnode itself installed editable.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ ! -x .venv/bin/python ]]; then
    echo "== python3 -m venv .venv"
    python3 -m venv .venv
fi

# Re-running pip on every test run costs seconds and needs the package index;
# only a new lock or new metadata in pyproject.toml require a reinstall, because
# the editable install already tracks source edits.
stamp=.venv/.pamnode-install-stamp
want="$(cat pyproject.toml locks/dev.txt | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "${PAMNODE_FORCE_INSTALL:-}" == "1" || "$want" != "$have" ]] \
    || ! .venv/bin/python -c 'import importlib.metadata as m; m.version("pamnode")' 2>/dev/null; then
    echo "== pip install --require-hashes -r locks/dev.txt (the tested versions, into .venv)"
    .venv/bin/pip install -q --require-hashes -r locks/dev.txt
    echo "== pip install --no-deps -e . (pamnode itself)"
    .venv/bin/pip install -q --no-deps -e .
    printf '%s\n' "$want" >"$stamp"
fi
