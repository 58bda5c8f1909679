#!/usr/bin/env bash
# Install pamnode and start a node in ./pamnode-data with a first administrator.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/install.sh"
data="${PAMNODE_DATA:-$repo_root/pamnode-data}"
mkdir -p "$data"
password_file="$data/admin-password"
if [[ ! -f "$password_file" ]]; then
    (umask 077 && "$repo_root/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$password_file")
    "$repo_root/.venv/bin/pamnode" init --data "$data" --admin-login admin --admin-password-file "$password_file"
    echo "administrator 'admin', password in $password_file"
fi
exec "$repo_root/.venv/bin/pamnode" serve --data "$data" "$@"
