"""What every request body of the REST API shares."""

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


class Strict(BaseModel):
    """A request body that refuses unknown fields, so a typo is an error, not a silent no-op,
    and text with the NUL character, which PostgreSQL cannot store and no field needs."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _holds_nul(data):
            raise ValueError("text may not hold the NUL character (\\u0000)")
        return data


class Patch(Strict):
    """A partial update: a field left out keeps its value; `null` is refused for every field
    but those in `nullable` (where it means something, such as "move to the top level")."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _null_only_where_it_means_something(self) -> Self:
        refused = sorted(
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self.nullable
        )
        if refused:
            raise ValueError(
                f"{', '.join(refused)} cannot be null; leave a field out to keep its value"
            )
        return self

    def changes(self, *leave: str) -> dict[str, object]:
        """The fields the caller set, by name, less `leave` (those the service reads itself)."""
        return self.model_dump(exclude_unset=True, exclude=set(leave))
