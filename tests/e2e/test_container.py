"""The container image (packaging/container/Dockerfile), built and started with podman: a
non-root node whose data lives on a volume, healthy by its own healthcheck."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from tests.support.container import LIMITS, build, podman, require_podman

ROOT = Path(__file__).resolve().parents[2]
DATA = "/var/lib/pamnode"
HEALTHY_WITHIN_S = 90


@pytest.fixture(scope="module")
def image():
    require_podman()
    tag = f"localhost/pamnode-test:{uuid.uuid4().hex[:8]}"
    build(ROOT, ROOT / "packaging" / "container" / "Dockerfile", tag)
    try:
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


@pytest.fixture
def volume():
    name = f"pamnode-test-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        podman("volume", "rm", "--force", name, check=False)


def start(image: str, volume: str) -> str:
    name = f"pamnode-test-{uuid.uuid4().hex[:8]}"
    podman(
        "run",
        "--detach",
        f"--name={name}",
        "--network=none",
        *LIMITS,
        "-v",
        f"{volume}:{DATA}",
        image,
    )
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while podman("healthcheck", "run", name, check=False).returncode != 0:
        state = podman("inspect", "--format={{.State.Status}}", name).stdout.strip()
        assert state == "running" and time.monotonic() < deadline, podman("logs", name).stderr
        time.sleep(1)
    return name


def test_the_image_serves_as_a_non_root_user_and_keeps_its_data_on_the_volume(image, volume):
    [inspected] = json.loads(podman("image", "inspect", image).stdout)
    config = inspected["Config"]
    assert config["User"] == "pamnode" and DATA in config["Volumes"]
    assert "6443/tcp" in config["ExposedPorts"]
    assert "https://127.0.0.1:6443/healthz" in " ".join(inspected["Healthcheck"]["Test"])

    first = start(image, volume)
    try:
        assert podman("exec", first, "id", "-u").stdout.strip() == "10001"
        logs = podman("logs", first).stderr
        assert "listening on https://0.0.0.0:6443" in logs and "NO ADMINISTRATOR YET" in logs
        files = podman("exec", first, "stat", "-c", "%U %a %n", DATA, f"{DATA}/keyring.json")
        assert files.stdout.split("\n")[:2] == [
            f"pamnode 700 {DATA}",
            f"pamnode 600 {DATA}/keyring.json",
        ]
        cert = podman("exec", first, "cat", f"{DATA}/tls/cert.pem").stdout
        # The documented first administrator, the password on standard input.
        init = podman(
            "exec",
            "-i",
            first,
            "pamnode",
            "init",
            "--data",
            DATA,
            "--admin-login",
            "admin",
            "--admin-password-file",
            "/dev/stdin",
            input="Admin-Passw0rd!\n",
        )
        assert "administrator 'admin' created" in init.stdout
    finally:
        podman("rm", "--force", first, check=False)

    # A new container on the same volume is the same node: same key ring, same certificate.
    second = start(image, volume)
    try:
        assert podman("exec", second, "cat", f"{DATA}/tls/cert.pem").stdout == cert
        assert "NO ADMINISTRATOR YET" not in podman("logs", second).stderr
        # The documented backup, taken by the node's user while it serves.
        backup = podman(
            "exec", second, "pamnode", "backup", "--data", DATA, "--to", f"{DATA}/b.tgz"
        )
        assert "the SQLite database (an online copy), the key ring" in backup.stdout
    finally:
        podman("rm", "--force", second, check=False)
