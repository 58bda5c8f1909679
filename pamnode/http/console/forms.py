"""Console forms: reading them, checking them with the API's body models, and showing a refusal
next to the field at fault (the field comes from the route, else from the code registry)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from pamnode.core.codes import Code
from pamnode.core.errors import Conflict, InvalidInput, PamError

# Form fields that hold secrets: never echoed back into a re-rendered form.
SECRET_FIELDS = frozenset(
    {
        "password",
        "admin_password",
        "access_token",
        "private_key",
        "passphrase",
        "bind_password",
        # A peer's one-time enrolment code at its main.
        "code",
    }
)

M = TypeVar("M", bound=BaseModel)


class FieldErrors(InvalidInput):
    """Input refused before reaching a service, with one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), code="invalid_input")
        self.errors = errors


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """Check form input with the REST API's own body model; errors name the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            names = [part for part in error["loc"] if isinstance(part, str)]
            errors.setdefault(names[-1] if names else "", error["msg"])
        raise FieldErrors(errors) from None


@dataclass
class FormContext:
    """The partial to re-render when the route's service call refuses the input."""

    template: str
    context: dict[str, Any]
    values: dict[str, str]
    # Extra code -> field mappings where the form names a field differently.
    fields: dict[str, str] = field(default_factory=dict)
    # The login form shows refused credentials in the form; elsewhere they end the session.
    auth_errors: bool = False


def expect_form(
    request: Request,
    template: str,
    values: Mapping[str, str],
    *,
    fields: dict[str, str] | None = None,
    auth_errors: bool = False,
    **context: Any,
) -> None:
    shown = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    request.state.console_form = FormContext(
        template, context, shown, fields or {}, auth_errors=auth_errors
    )


async def form_data(request: Request) -> dict[str, str]:
    """The submitted fields as plain strings (repeated fields keep their last value)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def checked(data: Mapping[str, str], name: str) -> bool:
    return name in data


def snapshot(row: object, *names: str) -> dict[str, Any]:
    """Plain values of a row, for a form that may be re-rendered after the rollback.

    A refused change rolls the request's transaction back, which expires every row it
    loaded; the error handler can then read only what was copied out before.
    """
    return {name: getattr(row, name) for name in names}


def form_errors(form: FormContext, exc: PamError) -> dict[str, str] | None:
    if isinstance(exc, FieldErrors):
        return exc.errors
    where = form.fields.get(exc.code) or Code.field_of(exc.code)
    if where:
        return {where: exc.message}
    if isinstance(exc, InvalidInput | Conflict) or form.auth_errors:
        # Not tied to one field: shown above the form.
        return {"": exc.message}
    return None
