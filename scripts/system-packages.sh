#!/usr/bin/env bash
# The Debian packages pamnode's real components need (sshd, guacd, PostgreSQL, netns tools,
# chromium, OpenLDAP's slapd), installed with apt-get. guacd is not in bookworm: it comes from
# bullseye (1.3.0), added as a low-priority suite of the same mirror this machine already uses.
#   bash scripts/system-packages.sh            # what the tests and the demo need
#   bash scripts/system-packages.sh --demo     # what the demo alone needs
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
        echo "run as root (or install sudo) to install: apt-get packages for pamnode" >&2
        exit 1
    fi
    sudo=(sudo -E)
fi

# What the demo runs for real: sshd and its client, network namespaces, guacd for SSH.
packages=(openssh-server openssh-client iproute2 procps)
guacd_packages=(guacd libguac-client-ssh0)
if [[ "${1:-}" != "--demo" ]]; then
    # chromium: the browser tests/web drives through Playwright (no browser download).
    packages+=(postgresql chromium)
    # OpenLDAP's slapd and its tools: tests/ starts its own directories (pamnode/lab/slapd.py).
    packages+=(slapd ldap-utils)
    # rsyslogd: the collector the audit stream's tests send to (pamnode/lab/rsyslog.py).
    packages+=(rsyslog)
    # tinyproxy: the HTTP proxy a peer that dials its main goes out through in the link's
    # tests (pamnode/lab/tinyproxy.py).
    packages+=(tinyproxy)
    # guacd's other plugins and the desktop servers the session tests connect to.
    guacd_packages+=(libguac-client-vnc0 libguac-client-rdp0)
    packages+=(tigervnc-standalone-server xrdp)
    # The operations tests: systemd-analyze checks packaging/systemd/pamnode.service; podman
    # (with runc, and debootstrap for a base image where no registry is reachable) builds
    # and runs packaging/container/Dockerfile.
    packages+=(systemd podman runc debootstrap)
fi
# The interpreter here may be a pyenv build that ships venv; pulling python3-venv
# would drag in Debian's own python3 for nothing.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi

sources=/etc/apt/sources.list.d/pamnode-bullseye.sources
if ! apt-cache policy 2>/dev/null | grep -q ' bullseye/main'; then
    # The mirror this machine already trusts; never a host written into the repository.
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    if [[ -z "$mirror" ]]; then
        mirror="$(awk '$1 == "deb" && $3 ~ /^(bookworm|trixie)$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    fi
    if [[ -z "$mirror" ]]; then
        echo "cannot find this machine's Debian mirror to add bullseye for guacd" >&2
        exit 1
    fi
    printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" | "${sudo[@]}" tee "$sources" >/dev/null
    # Low priority: only what is asked for by name comes from bullseye.
    printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' \
        | "${sudo[@]}" tee /etc/apt/preferences.d/pamnode-bullseye >/dev/null
fi

# slapd without a directory of its own: the tests start their own (pamnode/lab/slapd.py), and
# the system's service is then left with nothing to serve.
echo "slapd slapd/no_configuration boolean true" | "${sudo[@]}" debconf-set-selections

echo "== apt-get update"
"${sudo[@]}" apt-get update -qq
echo "== apt-get install ${packages[*]} ${guacd_packages[*]}"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" "${guacd_packages[@]}" >/dev/null
command -v guacd >/dev/null || { echo "guacd did not install" >&2; exit 1; }
