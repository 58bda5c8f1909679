"""Async engine and session factory for SQLite (default) or PostgreSQL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str) -> AsyncEngine:
    # Every running job writes its state changes in short transactions of its own.
    engine = create_async_engine(
        url, pool_pre_ping=url.startswith("postgresql"), pool_size=10, max_overflow=40
    )
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # The driver's own deferred BEGIN is replaced by ours below.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            # A deferred transaction that reads, then writes after another connection has
            # committed, fails at once with "database is locked" (its snapshot is stale).
            # Transactions opened with `writing()` take the write lock up front instead, so
            # concurrent writers queue on busy_timeout.
            immediate = connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


_IMMEDIATE = "pamnode_sqlite_immediate"


@asynccontextmanager
async def writing(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A short transaction that will write: on SQLite it holds the write lock from the start.

    For the hot, self-contained writes of background work (job states). It must not be
    opened while the same task holds another transaction that has written.
    """
    async with sessions() as db:
        await db.connection(execution_options={_IMMEDIATE: True})
        yield db
        await db.commit()
