"""asyncssh is imported through pamnode.core.ssh_library only: a module that imports it first
(even one of its submodules) brings back cryptography's DSA warnings at every `pamnode init`
and `serve`, which the one import silences."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIRECT = re.compile(r"^\s*(import asyncssh|from asyncssh[ .])", re.MULTILINE)


def test_only_ssh_library_imports_asyncssh():
    found = [
        str(path.relative_to(ROOT))
        for folder in ("pamnode", "bench", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if DIRECT.search(path.read_text()) and path.name != "ssh_library.py"
    ]
    assert found == [], f"import asyncssh from pamnode.core.ssh_library in {found}"
