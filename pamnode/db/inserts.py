"""Inserts that race with other writers of the same row: other jobs, or other main nodes."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.db.base import Base


async def insert_unless_present(db: AsyncSession, model: type[Base], **values: Any) -> None:
    """Insert a row, or leave the one another writer inserted first (same primary key).

    A read-then-insert loses that race with a unique violation; this is one statement that
    both databases settle themselves (`ON CONFLICT DO NOTHING`).
    """
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    await db.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())
