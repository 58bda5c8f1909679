"""On mains sharing one PostgreSQL database: each main that peers may dial directly
(`link_advertised_url`) says so in `main_nodes` while it serves, and a peer that links to any
main is told of the others, so that it keeps a link to each (docs/peers.md, "Several mains").
A main that stops renewing its row (killed) drops out of what peers are told after `LIVE_S`.
"""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.db.base import utcnow
from pamnode.db.inserts import insert_or_replace
from pamnode.link.models import MainNode
from pamnode.link.wire import MainAddress

log = logging.getLogger("pamnode.link")

# How often a main renews its row, and how old a row may be for its main to be told of.
ADVERTISE_S = 10.0
LIVE_S = 3 * ADVERTISE_S


async def keep_advertised(
    database: async_sessionmaker[AsyncSession], name: str, address: MainAddress
) -> None:
    """Renew this main's row while it serves; runs until cancelled."""
    while True:
        try:
            async with database.begin() as db:
                await insert_or_replace(
                    db,
                    MainNode,
                    name=name,
                    url=address.url,
                    sha256=address.sha256,
                    certificate_pem=address.certificate_pem,
                    seen_at=utcnow(),
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("advertising this main to dialling peers failed (%s); retrying", exc)
        await asyncio.sleep(ADVERTISE_S)


async def other_mains(db: AsyncSession, own_sha256: str) -> list[MainAddress]:
    """The mains a peer linked to this one is told of: every other that serves now."""
    rows = await db.scalars(
        select(MainNode)
        .where(MainNode.seen_at > utcnow() - timedelta(seconds=LIVE_S))
        .where(MainNode.sha256 != own_sha256)
        .order_by(MainNode.name)
    )
    return [
        MainAddress(url=row.url, sha256=row.sha256, certificate_pem=row.certificate_pem)
        for row in rows
    ]
