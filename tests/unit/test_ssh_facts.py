"""The Unix status check's parser: pure text in, typed facts out."""

import subprocess

import pytest

from pamnode.core.hostports import authority, known_hosts_name
from pamnode.executors.ssh import STATUS_SCRIPT, parse_unix_facts

M = "--pamnode-section:"

DEBIAN = f"""
{M}hostname
web-01
{M}os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
{M}kernel
6.1.0-18-amd64
{M}uptime
8381.04 16432.84
{M}loadavg
1.12 0.50 0.22 2/89 29055
{M}df
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1        264212084 22817380  83573532      22% /
{M}user
deploy
"""


def test_full_output_gives_typed_facts() -> None:
    assert parse_unix_facts(DEBIAN) == {
        "hostname": "web-01",
        "os_name": "Debian GNU/Linux",
        "os_version": "12",
        "os_pretty_name": "Debian GNU/Linux 12 (bookworm)",
        "os_id": "debian",
        "kernel": "6.1.0-18-amd64",
        "uptime_s": 8381.04,
        "load_1m": 1.12,
        "load_5m": 0.5,
        "load_15m": 0.22,
        "disk_mount": "/",
        "disk_filesystem": "/dev/vda1",
        "disk_size_bytes": 264212084 * 1024,
        "disk_used_bytes": 22817380 * 1024,
        "disk_free_bytes": 83573532 * 1024,
        "disk_used_percent": 22,
        "user": "deploy",
    }


def test_crlf_and_blank_lines_do_not_matter() -> None:
    assert parse_unix_facts(DEBIAN.replace("\n", "\r\n\n")) == parse_unix_facts(DEBIAN)


def test_os_version_falls_back_and_quotes_are_shell_quotes() -> None:
    output = f"{M}os-release\nNAME='Arch Linux'\nBUILD_ID=rolling\n# comment=x\nbroken\n"
    facts = parse_unix_facts(output)
    assert facts == {"os_name": "Arch Linux", "os_version": "rolling"}


def test_missing_and_garbled_sections_are_left_out() -> None:
    output = (
        f"noise before any section\n{M}hostname\n{M}uptime\nnot-a-number\n"
        f"{M}loadavg\n0.1 0.2\n{M}df\ndf: /: No such file or directory\n{M}user\nalice\n"
    )
    assert parse_unix_facts(output) == {"user": "alice"}


def test_empty_output_gives_no_facts() -> None:
    assert parse_unix_facts("") == {}


def test_df_filesystem_with_spaces_and_stderr_in_the_section() -> None:
    output = (
        f"{M}df\ndf: warning: something odd\n"
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
        "My Volume 1000 250 750 25% /\n"
    )
    facts = parse_unix_facts(output)
    assert facts["disk_filesystem"] == "My Volume"
    assert (facts["disk_size_bytes"], facts["disk_used_percent"]) == (1024000, 25)


def test_unterminated_quote_in_os_release_is_skipped() -> None:
    facts = parse_unix_facts(f'{M}os-release\nNAME="Broken\nID=x\n')
    assert facts == {"os_id": "x"}


@pytest.mark.parametrize("key", ["hostname", "kernel", "uptime_s", "load_1m", "disk_size_bytes"])
def test_the_real_script_on_this_machine_parses(key: str) -> None:
    # The script is POSIX sh over standard tools; running it here checks it and the parser
    # agree on the section format, without any SSH.
    output = subprocess.run(
        ["sh", "-c", STATUS_SCRIPT], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert key in parse_unix_facts(output)


def test_host_and_port_are_written_one_way():
    assert authority("web-1", 2222) == "web-1:2222"
    assert authority("::1", 22) == "[::1]:22"
    assert known_hosts_name("10.0.0.5", 22) == "10.0.0.5"
    assert known_hosts_name("10.0.0.5", 2222) == "[10.0.0.5]:2222"
