"""Paging parameters of every list route, bounded so that no value reaches the database as
a number it cannot take (an offset of 1e30 is refused with 422, not answered with 500)."""

from typing import Annotated

from fastapi import Query

# Far beyond any page a person asks for, well within every database's integer range.
MAX_OFFSET = 10_000_000

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Query(ge=1, le=1000)]
