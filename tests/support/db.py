"""Direct SQL on a node's database (SQLite file or PostgreSQL), for checks behind the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pamnode.lab.apart import run_apart
from pamnode.lab.served_node import ServedNode


def database_url(node: ServedNode) -> str:
    return node.database_url or f"sqlite+aiosqlite:///{node.sqlite_path}"


def run_sql(node: ServedNode, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement in its own transaction; rows for a SELECT, [] otherwise."""

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url(node))
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(query), params)
                return [tuple(row) for row in result.fetchall()] if result.returns_rows else []
        finally:
            await engine.dispose()

    # In a thread of its own: a test may call this while an event loop runs (Playwright's).
    return run_apart(run())
