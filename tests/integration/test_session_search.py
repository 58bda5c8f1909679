"""Search across sessions on a real node, on both databases: three sessions recorded through
the main's SSH proxy to a real sshd (two shells, one exec) and a gateway shell through real
guacd; a command typed in one is found in that one alone, by whoever may read it, with the
moment in its playback, and by nobody else (another user, another tenant); the CLI and the
CLI searches the same; a gateway shell's typescript is replayed as an asciicast."""

from __future__ import annotations

import json
import time

import pytest

from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from pamnode.lab.tunnel_client import run_command
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect
from tests.support.jobs import ssh_host
from tests.support.sessions import open_session, wait_session

pytestmark = pytest.mark.databases("sqlite", "postgresql")

# Typed at a shell, once: the search looks for the command line as the terminal showed it.
NEEDLE = "zebra-quartz"
# The indexer looks every 2 s; a session's text is searchable within a few seconds.
INDEXED_S = 30


@pytest.fixture(scope="module")
def lab(node_factory, sshd, tmp_path_factory):
    ssh_port = free_port()
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(ssh_port)})
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        web, db = ssh_host(client, sshd, "web-1"), ssh_host(client, sshd, "db-1")
        for login, asset in (("kim", web), ("lee", db)):
            add_user(client, login)
            body = {"principal": login, "role": "operator"}
            expect(client.post(f"assets/{asset['id']}/permissions", json=body), 201)
    other = create_tenant(main, "other")
    ssh = OpenSshClient("127.0.0.1", ssh_port, PASSWORD, tmp_path_factory.mktemp("openssh"))
    ssh.pin(main.data_dir / "ssh_proxy_host_key")

    def shell(login: str, asset: str, command: str) -> None:
        terminal = ssh.shell(f"{login}@corp#{asset}")
        try:
            terminal.expect("$ ")
            terminal.type(command)
            terminal.expect("$ ")
            terminal.type("exit")
            assert terminal.wait() == 0, terminal.text
        finally:
            terminal.close()

    # Each session says "echo"; only the first was typed the needle.
    shell("kim", "web-1", f"echo {NEEDLE} > /dev/null")
    assert ssh.ssh("lee@corp#db-1", "echo from-lee").returncode == 0
    shell("kim", "web-1", "echo nothing-to-find")
    with main.client("corp", token=admin) as client:
        page = expect(client.get("sessions", params={"limit": 3}), 200)["sessions"]
        sessions = [wait_session(client, s["id"], {"completed", "failed"}) for s in page][::-1]
    assert [(s["requested_by"], s["channel"]) for s in sessions] == [
        ("kim", "SSHP:Shell"),
        ("lee", "SSHP:Exec"),
        ("kim", "SSHP:Shell"),
    ]
    return {"main": main, "admin": admin, "other": other, "sessions": sessions, "web": web["id"]}


def _token(lab, login: str) -> str:
    return lab["main"].login("corp", "root", login, PASSWORD)


def _search(
    lab, token: str, q: str, tenant: str = "corp", wait: bool = True, **filters: str
) -> dict:
    """The search's answer; with `wait`, the first that finds anything, as the text of a
    session ended a moment ago may still be on its way in. A search expected to find
    nothing, made once the module's sessions are in (`_indexed`), does not wait."""
    deadline = time.monotonic() + INDEXED_S
    with lab["main"].client(tenant, token=token) as client:
        while True:
            found = expect(client.get("sessions/search", params={"q": q, **filters}), 200)
            if found["total"] or not wait or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


def _indexed(lab) -> None:
    """Wait until the module's sessions are all in: the administrator finds each."""
    found = _search(lab, lab["admin"], "echo")
    deadline = time.monotonic() + INDEXED_S
    while found["total"] < len(lab["sessions"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        found = _search(lab, lab["admin"], "echo")
    assert found["total"] == len(lab["sessions"]), found


def test_a_command_typed_in_one_session_finds_that_session_alone(lab):
    _indexed(lab)
    typed_in = lab["sessions"][0]
    for reader in (lab["admin"], _token(lab, "kim")):
        found = _search(lab, reader, NEEDLE)
        assert [hit["session_id"] for hit in found["hits"]] == [typed_in["id"]], found
        (hit,) = found["hits"]
        assert (hit["asset_name"], hit["requested_by"], hit["kind"]) == (
            "web-1",
            "kim",
            "asciicast",
        )
        assert NEEDLE in hit["snippet"]
        # The moment of the command in its shell's playback, within the recording.
        cast = lab["main"].client("corp", token=lab["admin"])
        with cast as client:
            lines = client.get(
                f"sessions/{typed_in['id']}/recording", params={"kind": "asciicast"}
            ).text.splitlines()
        last = json.loads(lines[-1])[0]
        assert 0 < hit["offset_s"] <= last
        shown = "".join(
            data for at, code, data in map(json.loads, lines[1:]) if at <= hit["offset_s"]
        )
        assert NEEDLE in shown


def test_a_user_who_may_not_read_the_session_finds_nothing(lab):
    _indexed(lab)
    lee = _token(lab, "lee")
    with lab["main"].client("corp", token=lee) as client:
        found = expect(client.get("sessions/search", params={"q": NEEDLE}), 200)
        assert found == {"total": 0, "hits": []}
        # Lee finds their own session, and only that one, by a word all three share.
        own = expect(client.get("sessions/search", params={"q": "echo"}), 200)
        assert [hit["session_id"] for hit in own["hits"]] == [lab["sessions"][1]["id"]]
        assert own["hits"][0]["kind"] == "commands" and own["hits"][0]["offset_s"] is None
    with lab["main"].client("other", token=lab["other"]) as client:
        for q in (NEEDLE, "echo"):
            found = expect(client.get("sessions/search", params={"q": q}), 200)
            assert found == {"total": 0, "hits": []}


def test_filters_narrow_the_search_and_a_bad_query_is_refused(lab):
    _indexed(lab)
    admin = lab["admin"]
    assert _search(lab, admin, "echo", user="kim")["total"] == 2
    by_asset = _search(lab, admin, "echo", asset="db-1")
    assert [hit["session_id"] for hit in by_asset["hits"]] == [lab["sessions"][1]["id"]]
    later = _search(lab, admin, "echo", wait=False, since="2999-01-01T00:00:00Z")
    assert later["total"] == 0
    # A quoted phrase: its words in this order.
    assert _search(lab, admin, '"quartz zebra"', wait=False)["total"] == 0
    assert _search(lab, admin, f'"{NEEDLE}"')["total"] == 1
    with lab["main"].client("corp", token=admin) as client:
        for bad in ("--- ;", "w " * 17):
            refused = error_of(client.get("sessions/search", params={"q": bad}), 422)
            assert refused["code"] == "search_query_invalid"
        assert client.get("sessions/search").status_code == 422
        # Words of any script, digits and marks reach either database's query as words.
        for odd in ("a² ǅx", "İstanbul", "١٢٣", "x" * 200, 'AND OR NOT "near"', "e\u0301t\u00e9"):
            answer = expect(client.get("sessions/search", params={"q": odd}), 200)
            assert answer == {"total": 0, "hits": []}, odd


def test_the_cli_searches_as_its_user(lab, tmp_path):
    _indexed(lab)
    env = cli_env(tmp_path / "cli")
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD)
    log_in(env, lab["main"], "corp", "kim", password_file)
    answer = json.loads(run_cli(env, "sessions", "search", NEEDLE, "--json").stdout)
    assert [hit["session_id"] for hit in answer["hits"]] == [lab["sessions"][0]["id"]]
    table = run_cli(env, "sessions", "search", NEEDLE, "--asset", "web-1").stdout
    assert lab["sessions"][0]["id"] in table and "1 of 1 sessions" in table
    none = run_cli(env, "sessions", "search", NEEDLE, "--user", "lee").stdout
    assert "0 of 0 sessions" in none


def test_a_gateway_shell_is_replayed_as_an_asciicast_and_searched(lab):
    with lab["main"].client("corp", token=lab["admin"]) as client:
        opened = open_session(client, lab["web"])
        seen = run_command(lab["main"], lab["admin"], opened["tunnel"], "echo gw-$((6*7))")
        assert not seen.errors
        done = wait_session(client, opened["id"], {"completed", "failed"})
        assert done["state"] == "completed", done
        assert set(done["recordings"]) == {"recording", "typescript", "asciicast"}
        assert "asciicast" in done["recording_hashes"]
        cast = client.get(f"sessions/{opened['id']}/recording", params={"kind": "asciicast"})
        header, *lines = cast.text.splitlines()
    assert json.loads(header)["version"] == 2
    assert json.loads(header)["width"] >= 80 and json.loads(header)["height"] >= 24
    events = [json.loads(line) for line in lines]
    times = [event[0] for event in events]
    assert times == sorted(times) and times[-1] > 0
    output = "".join(data for _, _, data in events)
    assert "gw-42" in output and "[BEGIN TYPESCRIPT]" not in output
    found = _search(lab, lab["admin"], "gw 42")
    assert [hit["session_id"] for hit in found["hits"]] == [opened["id"]]
    assert found["hits"][0]["kind"] == "asciicast" and found["hits"][0]["offset_s"] > 0
