"""The validation errors a model reads on reask, free of library noise: pydantic
appends "For further information visit https://errors.pydantic.dev/<version>/..."
to every error of its own types, so the reask requests (and a recording of them)
would change with pydantic's version. A wrap validator re-raises the same errors
as custom errors, which carry no URL."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError, ValidationInfo, ValidatorFunctionWrapHandler
from pydantic_core import InitErrorDetails, PydanticCustomError


def without_urls(cls: Any, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """A model ``wrap`` validator: the model's errors, same types and messages, no URLs."""
    try:
        return handler(data)
    except ValidationError as exc:
        details: list[InitErrorDetails] = [
            {
                "type": PydanticCustomError(e["type"], e["msg"].replace("{", "{{").replace("}", "}}")),
                "loc": e["loc"],
                "input": e["input"],
            }
            for e in exc.errors(include_url=False)
        ]
        raise ValidationError.from_exception_data(exc.title, details) from None
