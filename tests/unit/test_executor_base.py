"""Credentials never show their secrets; output is redacted before it is kept."""

from pamnode.assets.credentials import REDACTED, Credential
from pamnode.core.errors import ExecutionError
from pamnode.executors.specs import Target


def test_credential_repr_shows_no_secret() -> None:
    credential = Credential("alice", password="pw-123456", passphrase="pp-654321")
    for text in (repr(credential), str(credential), f"{credential}", repr([credential])):
        assert "pw-123456" not in text and "pp-654321" not in text
        assert "alice" in text


def test_redact_replaces_every_secret_longest_first() -> None:
    credential = Credential("alice", password="secret", passphrase="secret-longer")
    text = "a secret-longer b secret c"
    assert credential.redact(text) == f"a {REDACTED} b {REDACTED} c"


def test_redact_without_secrets_changes_nothing() -> None:
    assert Credential("alice").redact("output") == "output"


def test_target_endpoint_brackets_ipv6() -> None:
    assert Target("10.0.0.1", 22, "ssh").endpoint == "10.0.0.1:22"
    assert Target("fd00::1", 5985, "winrm").endpoint == "[fd00::1]:5985"


def test_execution_error_keeps_code_and_message() -> None:
    error = ExecutionError("too slow", code="timeout")
    assert (error.code, error.message, str(error)) == ("timeout", "too slow", "timeout: too slow")
