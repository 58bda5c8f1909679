#!/usr/bin/env bash
# The checks CI never forgives, in the order that fails fastest: lint, format, types, layering.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
cd "$repo_root"

run() {
    printf '== %s\n' "$*"
    "$@"
}

run .venv/bin/ruff check pamnode tests bench
run .venv/bin/ruff format --check pamnode tests bench
run .venv/bin/mypy
run .venv/bin/lint-imports
