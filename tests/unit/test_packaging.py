"""The systemd unit and the environment file example that ship in packaging/, and the locks of
exact versions that installs use (locks/, made by scripts/lock.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pamnode.app.settings import Settings
from pamnode.cli.main import app
from pamnode.lab import LabUnavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "systemd" / "pamnode.service"
ENV_FILE = ROOT / "packaging" / "pamnode.env.example"
INSTALLED = "/opt/pamnode/bin/pamnode"
PYPROJECT = ROOT / "pyproject.toml"
LOCKS = ROOT / "locks"


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


def _pins(lock: str) -> dict[str, Version]:
    text = (LOCKS / lock).read_text()
    # Each pin opens its entry (`name==version \\`), its hashes on the lines that follow.
    pins = re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+) \\$", text, re.MULTILINE)
    assert pins, f"no pin in {lock}"
    return {canonicalize_name(name): Version(version) for name, version in pins}


def _named(with_extras: bool) -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    named = list(project["dependencies"])
    if with_extras:
        named += [spec for specs in project["optional-dependencies"].values() for spec in specs]
    return [Requirement(spec) for spec in named]


@pytest.mark.parametrize(("lock", "with_extras"), [("dev.txt", True), ("runtime.txt", False)])
def test_a_lock_pins_every_dependency_pyproject_names_within_its_range(lock, with_extras):
    pins = _pins(lock)
    named = _named(with_extras)
    missing = sorted({canonicalize_name(r.name) for r in named} - set(pins))
    assert missing == [], f"locks/{lock} lacks them: run bash scripts/lock.sh"
    outside = [
        f"{r} (locked {pins[canonicalize_name(r.name)]})"
        for r in named
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    ]
    assert outside == [], f"locks/{lock} is outside pyproject's ranges: run bash scripts/lock.sh"


def test_the_image_ships_the_versions_the_suite_ran_with():
    runtime, dev = _pins("runtime.txt"), _pins("dev.txt")
    differing = {
        name: (str(v), str(dev.get(name))) for name, v in runtime.items() if dev.get(name) != v
    }
    assert differing == {}
