"""Every node setting is in docs/operations.md's table of settings, by its variable: a setting
added to pamnode/app/settings.py and not to the page fails here."""

from pathlib import Path

from pamnode.app.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_in_the_settings_table():
    text = DOC.read_text()
    table = text[text.index("## Settings") :]
    table = table[: table.index("\n## ")]
    missing = [
        f"PAMNODE_{name.upper()}"
        for name in Settings.model_fields
        if f"`PAMNODE_{name.upper()}`" not in table
    ]
    assert missing == [], f"docs/operations.md ## Settings lacks {missing}"
