"""The validation errors a model reads on reask, free of library noise: pydantic
appends "For further information visit https://errors.pydantic.dev/<version>/..."
to every error of its own types, so the reask requests (and a recording of them)
would change with pydantic's version. The same errors are re-raised as custom
errors, which carry no URL: by a wrap validator for what the model's validation
finds, and by the answer models' base class for JSON that does not even parse
(pydantic parses JSON before any validator runs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler
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


def without_urls(cls: Any, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """A model ``wrap`` validator: the model's errors, same types and messages, no URLs."""
    try:
        return handler(data)
    except ValidationError as exc:
        raise _quiet(exc) from None


class ParsedWithoutUrls(BaseModel):
    """Base of the answer models: an answer that is not JSON at all is reported
    without URLs too."""

    @classmethod
    def model_validate_json(cls, json_data: Any, **options: Any) -> Any:  # type: ignore[override]
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise _quiet(exc) from None
