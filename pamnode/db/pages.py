"""One page of a report: its rows and how many match in all."""

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def page_of(
    db: AsyncSession, query: Select[Any], order: tuple[Any, ...], limit: int, offset: int
) -> tuple[list[Any], int]:
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows.all()), total
