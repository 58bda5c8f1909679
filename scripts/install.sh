#!/usr/bin/env bash
# Idempotent developer/CI bootstrap: a repo-local .venv with pamnode installed editable.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ ! -x .venv/bin/python ]]; then
    echo "== python3 -m venv .venv"
    python3 -m venv .venv
fi

# Re-running pip on every test run costs seconds and needs the package index;
# only dependency/metadata changes in pyproject.toml require a reinstall, because
# the editable install already tracks source edits.
stamp=.venv/.pamnode-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "${PAMNODE_FORCE_INSTALL:-}" == "1" || "$want" != "$have" ]] \
    || ! .venv/bin/python -c 'import importlib.metadata as m; m.version("pamnode")' 2>/dev/null; then
    echo "== pip install -e '.[test]' (pamnode and its Python dependencies, into .venv)"
    .venv/bin/pip install -q -e '.[test]'
    printf '%s\n' "$want" >"$stamp"
fi
