#!/usr/bin/env bash
# Refresh the locks of exact versions with their hashes (docs/operations.md, "Installs pinned
# to what was tested"): locks/dev.txt (pamnode's dependencies and its test and bench extras:
# scripts/install.sh, CI) and locks/runtime.txt (the dependencies alone: the container image).
#
#   bash scripts/lock.sh                               keep every pin, add what pyproject newly names
#   bash scripts/lock.sh --upgrade                     every package at its newest allowed release
#   bash scripts/lock.sh --upgrade-package cryptography   that one (and what it needs)
#
# uv resolves from its default index alone, never from this machine's pip configuration: the
# hashes must be those of the files every other machine downloads.
set -euo pipefail

UV_VERSION=0.13.9
# What the locks are made for; another platform makes its own (docs/operations.md).
PYTHON_VERSION=3.11
PLATFORM=x86_64-unknown-linux-gnu

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

[[ -x .venv/bin/python ]] || python3 -m venv .venv
if [[ "$(.venv/bin/uv --version 2>/dev/null || true)" != "uv $UV_VERSION"* ]]; then
    echo "== pip install uv==$UV_VERSION (into .venv)"
    .venv/bin/pip install -q "uv==$UV_VERSION"
fi

compile() {
    env -u UV_INDEX -u UV_INDEX_URL -u UV_DEFAULT_INDEX -u UV_EXTRA_INDEX_URL -u UV_FIND_LINKS \
        -u UV_CONSTRAINT -u UV_OVERRIDE \
        .venv/bin/uv pip compile pyproject.toml --no-config --quiet --generate-hashes \
        --python-version "$PYTHON_VERSION" --python-platform "$PLATFORM" \
        --custom-compile-command "bash scripts/lock.sh" "$@"
}

echo "== locks/dev.txt"
compile --extra test --extra bench --output-file locks/dev.txt "$@"
# The same versions as the developers' lock: what the suite passed with is what ships.
echo "== locks/runtime.txt"
compile --constraint locks/dev.txt --output-file locks/runtime.txt
