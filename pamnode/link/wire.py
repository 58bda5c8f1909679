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


class Verdict(BaseModel):
    """The main's answer: the enrolment's id, or the link accepted, or why not."""

    link_id: str | None = None
    linked: bool = False
    error: Refusal | None = None
