"""The systemd unit and the environment file example that ship in packaging/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import typer.main

from pamnode.app.settings import Settings
from pamnode.cli.main import app
from pamnode.lab import LabUnavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "systemd" / "pamnode.service"
ENV_FILE = ROOT / "packaging" / "pamnode.env.example"
INSTALLED = "/opt/pamnode/bin/pamnode"


def _serve_envvars() -> set[str]:
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return {param.envvar for param in serve.params if isinstance(param.envvar, str)}


def test_the_environment_file_names_only_settings_that_exist():
    named = re.findall(r"^#?(PAMNODE_[A-Z0-9_]+)=", ENV_FILE.read_text(), re.MULTILINE)
    known = {f"PAMNODE_{field.upper()}" for field in Settings.model_fields} | _serve_envvars()
    assert named, "no PAMNODE_* line"
    assert sorted(set(named) - known) == []
    # Each at most once, so that uncommenting one line is never overridden by another.
    assert len(named) == len(set(named))


def test_the_environment_file_holds_no_secret():
    text = ENV_FILE.read_text()
    assert not re.search(r"^#?PAMNODE_\w*(PASSWORD|SECRET)\w*=", text, re.MULTILINE)
    # A database URL names its user, never a password (user:password@host).
    urls = re.findall(r"postgresql\S*://(\S*)@", text)
    assert urls and not [user for user in urls if ":" in user]


def test_the_unit_passes_systemd_analyze(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        raise LabUnavailable("systemd-analyze (Debian package systemd) is not installed")
    # verify checks that ExecStart's program exists: the one this checkout runs stands in
    # for the documented install path, nothing else of the unit is changed.
    here = Path(sys.executable).with_name("pamnode")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    assert INSTALLED in UNIT.read_text()
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == ""
    security = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    # systemd's scale runs from 0 (locked down) to 10 (unprotected); below 2 is "OK".
    assert float(exposure.group(1)) < 2.0, security.stdout
