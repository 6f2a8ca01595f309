"""The base of every contract: lenient on input, and leaving empty defaults out of the payload."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class _Contract(BaseModel):
    # Unknown fields are ignored rather than rejected so that an older worker can still read a
    # payload written by a newer client during a rolling deploy.
    model_config = ConfigDict(extra="ignore")

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave out fields that hold their empty default (None, [], {}): every payload lands in
        workflow history, and decoding restores them from the defaults. About a third of a
        step's history bytes were ``null`` and ``[]``."""
        data = handler(self)
        if not isinstance(data, dict):
            return data
        for name, field in type(self).model_fields.items():
            if name not in data:
                continue
            value = data[name]
            empty_default = value is None and field.default is None
            empty_factory = value in ([], {}) and field.default_factory in (list, dict)
            if empty_default or empty_factory:
                del data[name]
        return data
