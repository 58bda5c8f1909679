"""Inserts that race with other writers of the same row: other jobs, or other main nodes.

A read-then-insert (or the ORM's `merge`) loses that race with a unique violation; each
function here is one statement that both databases settle themselves (`ON CONFLICT`).
"""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.db.base import Base


def _insert(db: AsyncSession, model: type[Base]) -> Any:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


async def insert_unless_present(db: AsyncSession, model: type[Base], **values: Any) -> None:
    """Insert a row, or leave the one another writer inserted first (same primary key)."""
    await db.execute(_insert(db, model).values(**values).on_conflict_do_nothing())


async def insert_or_replace(db: AsyncSession, model: type[Base], **values: Any) -> None:
    """Insert a row, or give the one another writer inserted first (same primary key) these
    values: the last writer's win."""
    insert = _insert(db, model).values(**values)
    keys = [column.name for column in model.__table__.primary_key]
    replaced = {name: insert.excluded[name] for name in values if name not in keys}
    await db.execute(insert.on_conflict_do_update(index_elements=keys, set_=replaced))
