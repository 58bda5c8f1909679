#!/usr/bin/env bash
# Install pamnode, then walk the whole peer-node flow: main node, peer node, SSH endpoint,
# a job and a remote session through the peer. As root it first installs the Debian packages
# the demo runs for real (sshd, guacd); otherwise it names what is missing.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$(id -u)" -eq 0 ]]; then
    bash "$repo_root/scripts/system-packages.sh" --demo
else
    missing=()
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    command -v guacd >/dev/null || missing+=(guacd)
    if (( ${#missing[@]} )); then
        echo "the demo needs: ${missing[*]} — run 'sudo bash scripts/system-packages.sh' first" >&2
        exit 1
    fi
fi
bash "$repo_root/scripts/install.sh"
exec "$repo_root/.venv/bin/pamnode" demo "$@"
