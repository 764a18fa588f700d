"""The validation errors a model reads on reask, free of library noise: pydantic
appends "For further information visit https://errors.pydantic.dev/<version>/..."
to every error of its own types, so the reask requests (and a recording of them)
would change with pydantic's version. The answer models derive from
``WithoutUrls``, which re-raises every error of their validation (JSON that does not
parse included) as the same custom errors, which carry no URL."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def _quiet(exc: ValidationError) -> ValidationError:
    """The same errors (types, messages, locations, inputs) as custom errors: no URLs."""
    details: list[InitErrorDetails] = [
        {
            "type": PydanticCustomError(e["type"], e["msg"].replace("{", "{{").replace("}", "}}")),
            "loc": e["loc"],
            "input": e["input"],
        }
        for e in exc.errors(include_url=False)
    ]
    return ValidationError.from_exception_data(exc.title, details)


class WithoutUrls(BaseModel):
    """Base of the answer models: their validation errors carry no library URL."""

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise _quiet(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, **options: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise _quiet(exc) from None
