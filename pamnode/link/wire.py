"""The link's opening messages (JSON, before the stream frames of `mux.py`), typed once for
both sides: the main's challenge, the peer's enrolment or signed answer, the main's verdict."""

from typing import Annotated

from pydantic import BaseModel, Field

from pamnode.core.bodies import Strict

Base64 = Annotated[str, Field(min_length=1, max_length=200)]
Version = Annotated[str, Field(max_length=64)]


class Challenge(BaseModel):
    challenge: Base64
    version: Version


class Enrolment(Strict):
    code: Annotated[str, Field(min_length=1, max_length=200)]
    public_key: Base64


class Answer(Strict):
    link_id: Annotated[str, Field(min_length=1, max_length=36)]
    signature: Base64


class Hello(Strict):
    """The peer's first message: an enrolment (once, with the code) or a signed answer."""

    version: Version
    enrol: Enrolment | None = None
    link: Answer | None = None


class Refusal(BaseModel):
    code: str
    message: str


class MainAddress(BaseModel):
    """Another main of the same database, as a linked peer is told of it: where to dial it
    (https://host:port) and the certificate to pin there."""

    url: Annotated[str, Field(max_length=2048)]
    sha256: Annotated[str, Field(pattern=r"^[0-9A-F]{64}$")]
    certificate_pem: Annotated[str, Field(max_length=16384)]


class Verdict(BaseModel):
    """The main's answer: the enrolment's id, or the link accepted (with the other mains the
    peer may link to), or why not."""

    link_id: str | None = None
    linked: bool = False
    mains: list[MainAddress] = Field(default_factory=list, max_length=64)
    error: Refusal | None = None
