"""The WinRM executor against the WS-Management test double, over real HTTP(S).

No Windows host is involved: these tests show the executor speaks WinRS as the double
understands it, handles its answers and fails clearly; not that a Windows host agrees.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

from pamnode.app.tls import ensure_self_signed
from pamnode.assets.credentials import REDACTED, Credential
from pamnode.core.errors import ExecutionError
from pamnode.executors import winrm
from pamnode.executors.specs import Target
from pamnode.lab.ports import free_port
from tests.support.wsman_double import Invocation, Outcome, WsmanDouble

USER, PASSWORD = "administrator", "Win-Passw0rd!"
CREDENTIAL = Credential(USER, password=PASSWORD)
# Basic over plain HTTP: all the double speaks (see its docstring), so the tests opt in.
BASIC_HTTP = winrm.Options(auth="basic", allow_cleartext=True)

WINDOWS_FACTS = {
    "hostname": "WIN-DC-01",
    "os_name": "Microsoft Windows Server 2022 Standard",
    "os_version": "10.0.20348",
    "os_build": "20348",
    "last_boot": "2024-05-01T07:12:33Z",
    "uptime_s": 86400,
    "system_drive": "C:",
    "disk_size_bytes": 107374182400,
    "disk_free_bytes": 32212254720,
    "user": "WIN-DC-01\\administrator",
}


def respond(invocation: Invocation) -> Outcome:
    """Plays powershell.exe: answers by what the script asks for."""
    script = invocation.stdin_script
    if script == winrm.STATUS_SCRIPT:
        return Outcome(stdout=json.dumps(WINDOWS_FACTS) + "\r\n")
    if script.startswith("# echo"):
        return Outcome(stdout=script, exit_code=0)
    if script.startswith("# fail"):
        clixml = (
            '#< CLIXML\r\n<Objs Version="1.1.0.1" '
            'xmlns="http://schemas.microsoft.com/powershell/2004/04">'
            '<S S="Error">Stop-Computer : Access denied_x000D__x000A_</S></Objs>'
        )
        return Outcome(stdout="before\r\n", stderr=clixml, exit_code=3)
    if script.startswith("# slow"):
        return Outcome(stdout="late", duration_s=60)
    return Outcome(stderr=f"unexpected script {script[:40]!r}", exit_code=99)


@pytest.fixture
def double() -> Iterator[WsmanDouble]:
    with WsmanDouble(USER, PASSWORD, respond) as started:
        yield started


def http_target(double: WsmanDouble) -> Target:
    return Target("127.0.0.1", double.port, "winrm")


async def failure(coro: Awaitable[object]) -> ExecutionError:
    with pytest.raises(ExecutionError) as caught:
        await coro
    return caught.value


async def test_status_check_facts(double: WsmanDouble) -> None:
    result = await winrm.windows_status_check(http_target(double), CREDENTIAL, 10, BASIC_HTTP)
    assert result.exit_status == 0
    assert result.facts == {
        "hostname": "WIN-DC-01",
        "os_name": "Microsoft Windows Server 2022 Standard",
        "os_version": "10.0.20348",
        "os_build": "20348",
        "last_boot": "2024-05-01T07:12:33Z",
        "uptime_s": 86400.0,
        "user": "WIN-DC-01\\administrator",
        "disk_mount": "C:",
        "disk_size_bytes": 107374182400,
        "disk_used_bytes": 75161927680,
        "disk_free_bytes": 32212254720,
        "disk_used_percent": 70,
    }
    # One shell, one command, the script on stdin, and the shell removed afterwards.
    assert double.actions() == ["Create", "Command", "Send", "Receive", "Delete"]
    (invocation,) = double.invocations
    assert invocation.executable == "powershell.exe"
    assert invocation.encoded_command == winrm.BOOTSTRAP
    assert double.shells == {}
    # Basic sends the password in a header; it is never part of a SOAP body.
    assert all(PASSWORD.encode() not in e.body for e in double.exchanges)


async def test_script_output_exit_status_and_clixml(double: WsmanDouble) -> None:
    result = await winrm.run_powershell(http_target(double), CREDENTIAL, "# fail", 10, BASIC_HTTP)
    assert result.exit_status == 3
    assert result.output == "before\r\nStop-Computer : Access denied\n"


async def test_non_ascii_script_round_trip_and_redaction(double: WsmanDouble) -> None:
    script = f"# echo Grüße, ñ, 日本 and {PASSWORD}"
    result = await winrm.run_powershell(http_target(double), CREDENTIAL, script, 10, BASIC_HTTP)
    assert result.output == f"# echo Grüße, ñ, 日本 and {REDACTED}"


async def test_large_script_is_sent_in_pieces(double: WsmanDouble) -> None:
    script = "# echo " + "x" * 400_000
    result = await winrm.run_powershell(http_target(double), CREDENTIAL, script, 30, BASIC_HTTP)
    assert result.output == script
    assert double.actions().count("Send") > 1


async def test_status_check_failing_script_keeps_its_output(double: WsmanDouble) -> None:
    double.responder = lambda _: Outcome(stderr="Get-CimInstance : RPC unavailable", exit_code=1)
    result = await winrm.windows_status_check(http_target(double), CREDENTIAL, 10, BASIC_HTTP)
    assert (result.exit_status, result.facts) == (1, {})
    assert result.output == "Get-CimInstance : RPC unavailable"


async def test_status_check_without_json_is_a_protocol_error(double: WsmanDouble) -> None:
    double.responder = lambda _: Outcome(stdout="not json")
    error = await failure(
        winrm.windows_status_check(http_target(double), CREDENTIAL, 10, BASIC_HTTP)
    )
    assert error.code == "protocol_error" and "did not answer as expected" in error.message


async def test_wrong_password_is_auth_failed(double: WsmanDouble) -> None:
    credential = Credential(USER, password="Wrong-Passw0rd-7")
    error = await failure(
        winrm.run_powershell(http_target(double), credential, "# echo", 10, BASIC_HTTP)
    )
    assert error.code == "auth_failed"
    assert error.message == f"the WinRM service at 127.0.0.1:{double.port} refused user '{USER}'"
    assert double.invocations == []


async def test_closed_port_is_network_unreachable() -> None:
    port = free_port()
    target = Target("127.0.0.1", port, "winrm")
    error = await failure(winrm.windows_status_check(target, CREDENTIAL, 5, BASIC_HTTP))
    assert error.code == "network_unreachable"
    assert error.message == (
        f"127.0.0.1:{port} cannot be reached from this node: Connection refused"
    )


async def test_timeout_terminates_and_removes_the_shell(double: WsmanDouble) -> None:
    error = await failure(
        winrm.run_powershell(http_target(double), CREDENTIAL, "# slow", 2, BASIC_HTTP)
    )
    assert error.code == "timeout" and "2 s" in error.message
    assert double.actions()[-2:] == ["Signal", "Delete"]
    assert double.shells == {}


async def test_basic_over_plain_http_needs_an_explicit_opt_in(double: WsmanDouble) -> None:
    options = winrm.Options(auth="basic")
    error = await failure(
        winrm.run_powershell(http_target(double), CREDENTIAL, "# echo", 10, options)
    )
    assert error.code == "protocol_error" and "in the clear" in error.message
    assert PASSWORD not in error.message
    assert double.exchanges == []  # refused before anything was sent


async def test_https_with_the_hosts_certificate(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path, "wsman-double", "127.0.0.1")
    with WsmanDouble(USER, PASSWORD, respond, tls=(cert, key)) as double:
        target = Target("127.0.0.1", double.port, "winrm-https")
        trusted = winrm.Options(auth="basic", cert_validation=str(cert))
        result = await winrm.windows_status_check(target, CREDENTIAL, 10, trusted)
        assert result.facts["hostname"] == "WIN-DC-01"

        # The system trust store does not know this self-signed certificate.
        error = await failure(
            winrm.windows_status_check(target, CREDENTIAL, 10, winrm.Options(auth="basic"))
        )
        assert error.code == "protocol_error" and "certificate" in error.message


async def test_winrm_without_password_is_refused() -> None:
    target = Target("127.0.0.1", 1, "winrm-https")
    error = await failure(winrm.run_powershell(target, Credential(USER), "x", 5))
    assert error.code == "auth_failed"
