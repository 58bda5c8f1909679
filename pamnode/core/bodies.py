"""What every request body of the REST API shares."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A request body that refuses unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")
