"""Debian's podman, as this kind of machine lets it build and run pamnode's image.

- The runtime is runc with cgroupfs: crun refuses the hybrid cgroup layout here ("cgroups in
  hybrid mode not supported").
- A build's RUN steps use chroot isolation and the host's network, and containers run with
  no network of their own (`--network none`): nothing is changed in this machine's networking,
  and no daemon is left behind (podman has none).
- Ulimits are given: podman's default (nofile 1048576) is more than a process may set here.
- No registry is reachable, so the base image is made once with debootstrap from the Debian
  mirror and kept in podman's store (BASE_IMAGE) for the next runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pamnode.lab import LabUnavailable

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
BASE_IMAGE = "localhost/pamnode-test-base:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
# pip in the build reaches the package index as this machine does: its CA bundle and pip's
# configuration, where they exist.
HOST_PIP_FILES = ("/etc/ssl/certs", "/etc/pip.conf")


def require_podman() -> None:
    for tool in ("podman", "runc", "debootstrap"):
        if shutil.which(tool) is None:
            raise LabUnavailable(f"{tool} is not installed (scripts/system-packages.sh)")
    if os.geteuid() != 0:
        raise LabUnavailable("podman's image builds here need root")


def podman(
    *args: str, check: bool = True, timeout: float = 120, input: str = ""
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, input=input
    )
    if check:
        assert result.returncode == 0, f"podman {' '.join(args)}:\n{result.stderr}"
    return result


def base_image() -> str:
    """A Debian bookworm image with python3 and venv, made here if podman has none yet."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="pamnode-rootfs-") as root:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                root,
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        packed = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [*PODMAN, "import", "-", BASE_IMAGE], stdin=packed.stdout, capture_output=True
        )
        packed.wait()
        assert imported.returncode == 0, imported.stderr
    return BASE_IMAGE


def build(context: Path, dockerfile: Path, tag: str) -> None:
    mounts = [f"--volume={path}:{path}:ro" for path in HOST_PIP_FILES if Path(path).exists()]
    podman(
        "build",
        "--format=docker",
        "--isolation=chroot",
        "--network=host",
        # No intermediate images left behind (the build stage's).
        "--layers=false",
        f"--build-arg=BASE={base_image()}",
        *mounts,
        f"--file={dockerfile}",
        f"--tag={tag}",
        str(context),
        timeout=900,
    )
