"""One page of a report: its rows and how many match in all (or, past a bound, at least)."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    # How many rows match; when `capped`, more do: counting stopped at `total`.
    total: int
    capped: bool = False


async def page_of(
    db: AsyncSession,
    query: Select[Any],
    order: tuple[Any, ...],
    limit: int,
    offset: int,
    count_ahead: int | None = None,
) -> Page:
    """The page, and how many rows match; with `count_ahead`, counting stops that many rows
    past the page's start, since counting every match costs as much as reading them (then the
    page is `capped`, and its `total` is still past the page's end)."""
    counted = query if count_ahead is None else query.limit(offset + count_ahead + 1)
    total = await db.scalar(select(func.count()).select_from(counted.subquery())) or 0
    rows = await db.scalars(query.order_by(*order).limit(limit).offset(offset))
    if count_ahead is not None and total > offset + count_ahead:
        return Page(list(rows.all()), offset + count_ahead, capped=True)
    return Page(list(rows.all()), total)
