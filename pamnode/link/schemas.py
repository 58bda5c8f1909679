"""Request and response bodies of the link's REST routes: on the main, a Peer Node's
enrolment code and link; on the peer, its site's enrolment at a main."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from pamnode.core.bodies import Strict


class EnrolmentCodeOut(BaseModel):
    # Shown once: only its SHA-256 is kept.
    code: str
    expires_at: datetime
    main_sha256: str


class MainLinkIn(Strict):
    main_url: Annotated[str, Field(min_length=1, max_length=2048)]
    code: Annotated[str, Field(min_length=1, max_length=200)]
    fingerprint: Annotated[str, Field(min_length=64, max_length=95)]


class MainLinkOut(BaseModel):
    main_url: str
    main_sha256: str
    key_sha256: str
    enrolled_by: str
    enrolled_at: datetime
    connected: bool
    connected_since: datetime | None
    round_trip_ms: float | None
    last_error: str
