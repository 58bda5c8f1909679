"""No `Any` where a use case meets its callers: every public function and method of the use
case areas names what it takes and returns (a model, a dataclass, a TypedDict), so a route
cannot hand a service a dict read by key, nor a service return one.

Methods of classes that implement a library's interface (an asyncssh server, an httpcore
stream, an asyncio protocol) keep that library's own signatures and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

PAMNODE = Path(__file__).resolve().parents[2] / "pamnode"
USE_CASES = [
    "overview",
    "jobs",
    "proxy",
    "vault",
    "executors",
    "link",
    "sessions",
    "peers",
    "directories",
    "assets",
    "identity",
    "audit",
]


def _annotations(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    arguments = function.args
    given = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    found = [a.annotation for a in given if a.annotation is not None]
    for extra in (arguments.vararg, arguments.kwarg):
        if extra is not None and extra.annotation is not None:
            found.append(extra.annotation)
    if function.returns is not None:
        found.append(function.returns)
    return found


def _implements_a_library(cls: ast.ClassDef) -> bool:
    return any("." in ast.unparse(base) for base in cls.bases)


def _public_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append(node)
        elif isinstance(node, ast.ClassDef) and not _implements_a_library(node):
            found.extend(
                item
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return [f for f in found if not f.name.startswith("_")]


def test_no_use_case_takes_or_returns_any():
    offenders = []
    for area in USE_CASES:
        for path in sorted((PAMNODE / area).rglob("*.py")):
            for function in _public_functions(ast.parse(path.read_text())):
                if any("Any" in ast.unparse(a) for a in _annotations(function)):
                    where = path.relative_to(PAMNODE.parent)
                    offenders.append(f"{where}:{function.lineno} {function.name}")
    assert offenders == []
