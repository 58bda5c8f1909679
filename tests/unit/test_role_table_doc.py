"""docs/identity.md's table of site roles is the one in pamnode/identity/roles.py, row for row:
a permission or role added to the code and not to the page fails here."""

from pathlib import Path

from pamnode.identity.roles import PERMISSION_ROLES, SiteRole

DOC = Path(__file__).resolve().parents[2] / "docs" / "identity.md"


def role_table() -> str:
    rows = ["| permission | roles |", "|---|---|"]
    for permission, roles in PERMISSION_ROLES.items():
        names = ", ".join(role.value for role in SiteRole if role in roles)
        rows.append(f"| {permission.value} | {names} |")
    return "\n".join(rows) + "\n"


def test_the_documented_role_table_is_the_codes():
    assert role_table() in DOC.read_text(), "docs/identity.md: paste this table\n" + role_table()
