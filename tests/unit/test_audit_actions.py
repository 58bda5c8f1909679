"""The registry of audit actions (pamnode/audit/actions.py) lists what the code writes: an
action nobody writes any more fails here (one written but not registered fails mypy, since
`record` takes an `AuditAction`)."""

from pathlib import Path

from pamnode.audit.actions import AuditAction

PAMNODE = Path(__file__).resolve().parents[2] / "pamnode"


def test_every_registered_action_is_written_somewhere():
    sources = "".join(
        path.read_text() for path in PAMNODE.rglob("*.py") if path.name != "actions.py"
    )
    unused = [action.name for action in AuditAction if f"AuditAction.{action.name}" not in sources]
    assert unused == [], f"registered but never written: {unused}"


def test_actions_are_area_dot_verb():
    for action in AuditAction:
        area, _, verb = action.value.rpartition(".")
        assert area and verb and action.value == action.value.lower(), action
