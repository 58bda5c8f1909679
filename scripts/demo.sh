#!/usr/bin/env bash
# Install pamnode, then walk the whole peer-node flow: main node, peer node, SSH endpoint.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
exec "$repo_root/.venv/bin/pamnode" demo "$@"
