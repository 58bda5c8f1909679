"""Where sealed values live in the schema, described once so the vault can walk them all.

Every column holding `cipher.seal` output is described by a `SealedColumn`; rotation and
verification go through these descriptions instead of knowing each area's tables.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from pamnode.crypto.cipher import open_sealed, seal
from pamnode.crypto.keyring import KeyRing


@dataclass(frozen=True)
class SealedColumn:
    # For people: reports say how many values of each kind were re-encrypted.
    kind: str
    column: InstrumentedAttribute[bytes]
    # The primary key, in the order `context` takes it.
    key: tuple[InstrumentedAttribute[Any], ...]
    # The associated data the value was sealed with, from its key.
    context: Callable[..., str]
    # Restricts a query over this column's table to the rows of one tenant.
    of_tenant: Callable[[Select[Any], str], Select[Any]]

    def page(self, tenant_id: str, after: tuple[Any, ...] | None, size: int) -> Select[Any]:
        """Key and sealed value of the next `size` rows of the tenant that hold one, in key
        order (a peer node saved without an access token holds none)."""
        query: Select[Any] = select(*self.key, self.column).where(self.column.is_not(None))
        query = self.of_tenant(query, tenant_id).order_by(*self.key).limit(size)
        if after is not None:
            query = query.where(tuple_(*self.key) > tuple_(*after))
        return query


def reseal(ring: KeyRing, tenant_id: str, sealed: bytes, context: str) -> bytes:
    """The same plaintext sealed again under the tenant's active key version."""
    return seal(ring, tenant_id, open_sealed(ring, tenant_id, sealed, context), context)
