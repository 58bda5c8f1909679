"""The registry of error codes (pamnode/core/codes.py) and the tree agree.

Every code the product raises, records or answers is registered, with a meaning; every
registered code is used somewhere. Codes are found where they are written: `code=` and
`error_code=` arguments, `code = ...` class attributes, the code argument of the error kinds
and of the job-state helpers, and `job.error_code` assignments.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pamnode
from pamnode.core.codes import Code

ROOT = Path(pamnode.__file__).parent
# Calls whose positional argument at this index is an error code.
CODE_ARGUMENT = {
    "PamError": 1,
    "InvalidInput": 1,
    "NotFound": 1,
    "Conflict": 1,
    "Unauthenticated": 1,
    "Forbidden": 1,
    "fail": 3,
    "failure": 2,
    "end_broken": 3,
    "_refuse": 2,
    "_error": 1,
}


def _strings(node: ast.AST) -> Iterator[str]:
    """Literal codes; an f-string becomes a pattern (`invalid_{kind}_name` -> `invalid_*_name`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body)
        yield from _strings(node.orelse)


def _codes_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            for keyword in node.keywords:
                if keyword.arg in ("code", "error_code"):
                    yield from _strings(keyword.value)
            index = CODE_ARGUMENT.get(name)
            if index is not None and len(node.args) > index:
                yield from _strings(node.args[index])
        elif isinstance(node, ast.Assign):
            targets, value = node.targets[0], node.value
            if isinstance(targets, ast.Name) and targets.id == "code":
                yield from _strings(value)
            if isinstance(targets, ast.Tuple) and isinstance(value, ast.Tuple):
                for target, item in zip(targets.elts, value.elts, strict=False):
                    if isinstance(target, ast.Attribute) and target.attr == "error_code":
                        yield from _strings(item)
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
            and node.target.id == "code"
        ):
            yield from _strings(node.value)


@cache
def used_codes() -> frozenset[str]:
    """The codes the tree writes (parsed once: two tests read them)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if path.name == "codes.py" and path.parent.name == "core":
            continue
        found |= set(_codes_in(ast.parse(path.read_text(), str(path))))
    # "" is a job that has no error.
    return frozenset(found - {""})


def _matches(pattern: str) -> set[str]:
    regex = re.compile("^" + re.escape(pattern).replace(r"\*", "[a-z_]+") + "$")
    return {code.value for code in Code if regex.match(code.value)}


def test_every_code_in_the_tree_is_registered():
    unregistered = sorted(code for code in used_codes() if not _matches(code))
    assert unregistered == [], "register these in pamnode/core/codes.py"


def test_every_registered_code_is_used():
    used = set().union(*(_matches(code) for code in used_codes()))
    dead = sorted(code.value for code in Code if code.value not in used)
    assert dead == [], "these codes are used nowhere: remove them from the registry"


def test_every_code_says_what_it_means():
    assert [code.value for code in Code if not code.meaning.strip()] == []
    assert all(re.fullmatch(r"[a-z][a-z_]*", code.value) for code in Code)


def test_the_registry_names_form_fields():
    assert Code.field_of("peer_exists") == "name"
    assert Code.field_of("login_failed") == "password"
    assert Code.field_of("peer_lost") is None
    assert Code.field_of("not-a-code") is None
