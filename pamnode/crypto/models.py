"""The key ring sealed in the database under a key-encryption key (`crypto/sealed_ring.py`)."""

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pamnode.db.base import Base, UTCDateTime, utcnow

# The one row of the table.
RING_ROW = 1


class SealedKeyRing(Base):
    __tablename__ = "sealed_key_ring"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One more at each change: how the other nodes see, cheaply, that theirs is old.
    version: Mapped[int] = mapped_column(BigInteger)
    # The id of the key-encryption key it is sealed under (never the key).
    kek_id: Mapped[str] = mapped_column(String(32))
    # AES-256-GCM under the KEK's sealing key; associated data `key-ring:{kek_id}:{version}`.
    ring_under_kek: Mapped[bytes] = mapped_column(LargeBinary)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
