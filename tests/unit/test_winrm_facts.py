"""The Windows status check's parser and PowerShell's CLIXML error stream: pure functions."""

import base64
import json

import pytest

from pamnode.executors.winrm import (
    BOOTSTRAP,
    POWERSHELL_ARGS,
    clixml_to_text,
    encoded_command,
    parse_windows_facts,
)

RAW = {
    "hostname": "WIN-01",
    "os_name": "Microsoft Windows Server 2022 Standard",
    "os_version": "10.0.20348",
    "os_build": "20348",
    "last_boot": "2024-05-01T07:12:33Z",
    "uptime_s": 86400,
    "system_drive": "C:",
    "disk_size_bytes": 1000,
    "disk_free_bytes": 333,
    "user": "WIN-01\\administrator",
}


def test_facts_are_typed_and_disk_use_is_derived() -> None:
    facts = parse_windows_facts("WARNING: noise\r\n" + json.dumps(RAW) + "\r\n")
    assert facts == {
        "hostname": "WIN-01",
        "os_name": "Microsoft Windows Server 2022 Standard",
        "os_version": "10.0.20348",
        "os_build": "20348",
        "last_boot": "2024-05-01T07:12:33Z",
        "user": "WIN-01\\administrator",
        "uptime_s": 86400.0,
        "disk_mount": "C:",
        "disk_size_bytes": 1000,
        "disk_used_bytes": 667,
        "disk_free_bytes": 333,
        "disk_used_percent": 67,
    }


def test_missing_fields_are_left_out() -> None:
    facts = parse_windows_facts(
        json.dumps({"hostname": "H", "os_name": None, "disk_size_bytes": 0})
    )
    assert facts == {"hostname": "H"}


@pytest.mark.parametrize("output", ["", "no json here", "[1, 2]\n"])
def test_no_json_object_is_an_error(output: str) -> None:
    with pytest.raises(ValueError):
        parse_windows_facts(output)


def test_clixml_errors_become_text() -> None:
    stderr = (
        "#< CLIXML\r\n"
        '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<S S="Error">Get-Item : Cannot find path &apos;C:\\x&apos;_x000D__x000A_</S>'
        '<S S="Error">    + CategoryInfo : ObjectNotFound_x000D__x000A_</S>'
        '<S S="progress">ignored</S></Objs>'
    )
    assert clixml_to_text(stderr) == (
        "Get-Item : Cannot find path 'C:\\x'\n    + CategoryInfo : ObjectNotFound\n"
    )


def test_plain_stderr_is_kept() -> None:
    assert clixml_to_text("plain error\n") == "plain error\n"


def test_the_command_line_carries_only_the_bootstrap() -> None:
    # The script itself goes over stdin; the command line is fixed and short.
    assert POWERSHELL_ARGS[-2:] == ["-EncodedCommand", encoded_command(BOOTSTRAP)]
    assert base64.b64decode(POWERSHELL_ARGS[-1]).decode("utf-16-le") == BOOTSTRAP
    assert len(" ".join(POWERSHELL_ARGS)) < 8191
