"""The inbox's edit form: fields from a tool's argument JSON schema, arguments back from the
posted form, and what a reviewer's edit changed.

Only flat objects of scalars get one input per field (the common case: ids, amounts, reasons);
anything else (nested objects, arrays, unions) is edited as JSON text in its own field. The
schema is not re-checked here: the workflow's update validator checks an edit against the
same schema and the policy, and its refusal is shown to the reviewer.

The posted forms themselves are FastAPI form models (``DecisionForm``, ``LoginForm``): every
field text, as a browser sends it, so that a bad value is refused with the page that names it
(a ``ReviewRequest`` is validated from them), not with FastAPI's own 422.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from handrail.names import FINAL_ANSWER_TOOL

FIELD_PREFIX: Final = "arg."
RAW_FIELD: Final = "arguments_json"

# A final answer under review is edited as its text (README: edit with {"answer": "..."}).
FINAL_ANSWER_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "title": "Answer", "format": "textarea"}},
    "required": ["answer"],
}


class LoginForm(BaseModel):
    """The inbox's login form."""

    token: str = ""


class DecisionForm(BaseModel):
    """The inbox's decision form. The edit's fields (``arg.NAME``, ``arguments_json``) are
    extra fields: which ones exist depends on the tool's schema (``form_fields``)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | list[str]]

    step: str = ""
    verdict: str = ""
    comment: str = ""
    fingerprint: str = ""
    answer: str = ""
    back: str = ""

    def values(self) -> dict[str, str]:
        """Every field by name; of a name sent twice, the last value (as a query string's)."""
        extra = {
            name: value[-1] if isinstance(value, list) else value
            for name, value in (self.model_extra or {}).items()
        }
        return {**extra, **self.model_dump(exclude=set(extra))}


Kind = Literal["integer", "number", "text", "textarea", "checkbox", "select", "json"]
_LONG_TEXT: Final = 200  # above this maxLength (or none), a string gets a textarea


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: Kind
    value: str
    required: bool
    help: str = ""
    options: tuple[str, ...] = ()
    minimum: float | None = None
    max_length: int | None = None

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name


def _kind(prop: Mapping[str, Any]) -> Kind:
    if "enum" in prop and all(isinstance(v, str) for v in prop["enum"]):
        return "select"
    kind = prop.get("type")
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if kind == "boolean":
        return "checkbox"
    if kind == "string":
        long = prop.get("format") == "textarea" or prop.get("maxLength", 10**9) > _LONG_TEXT
        return "textarea" if long else "text"
    return "json"


def _shown(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if kind == "checkbox":
        return "on" if value else ""
    return str(value)


def form_fields(schema: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> list[FormField]:
    """One field per property of ``schema``, filled with ``arguments``; empty when the schema
    is not an object with properties (the caller then offers raw JSON)."""
    if not schema or schema.get("type") != "object" or not schema.get("properties"):
        return []
    required = set(schema.get("required", ()))
    fields = []
    for name, prop in schema["properties"].items():
        kind = _kind(prop)
        minimum = prop.get("minimum", prop.get("exclusiveMinimum"))
        fields.append(
            FormField(
                name=name,
                label=str(prop.get("title") or name),
                kind=kind,
                value=_shown(arguments.get(name), kind),
                required=name in required,
                help=str(prop.get("description", "")),
                options=tuple(prop.get("enum", ())) if kind == "select" else (),
                minimum=minimum if isinstance(minimum, int | float) else None,
                max_length=prop.get("maxLength"),
            )
        )
    # Arguments the schema does not list still travel (as JSON fields), never silently dropped.
    for name, value in arguments.items():
        if name not in schema["properties"]:
            fields.append(FormField(name, name, "json", _shown(value, "json"), False))
    return fields


def _parsed(field: FormField, raw: str) -> Any:
    if field.kind == "checkbox":
        return raw == "on"
    if field.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{field.name}: {raw!r} is not a whole number") from None
    if field.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{field.name}: {raw!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in raw else number
    if field.kind == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"{field.name}: not valid JSON ({error.msg})") from None
    return raw


def arguments_from_form(fields: list[FormField], form: Mapping[str, str]) -> dict[str, Any]:
    """The edited arguments; ``ValueError`` naming the field that cannot be read. An empty
    optional field is left out; an empty required one is kept empty for the validator to name."""
    if not fields:
        raw = form.get(RAW_FIELD, "")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"arguments: not valid JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise ValueError("arguments: must be a JSON object")
        return value
    arguments: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.input_name, "")
        if field.kind == "checkbox":
            arguments[field.name] = raw == "on"
        elif raw.strip() or (field.required and field.kind in ("text", "textarea")):
            arguments[field.name] = _parsed(field, raw)
    return arguments


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """What an edit changed, field by field, values as JSON text."""

    def text(mapping: Mapping[str, Any], key: str) -> str:
        return json.dumps(mapping[key], ensure_ascii=False) if key in mapping else "(none)"

    keys = [*before, *(key for key in after if key not in before)]
    return [
        Change(key, text(before, key), text(after, key))
        for key in keys
        if before.get(key, ...) != after.get(key, ...)
    ]


def schema_for(tool: str, declared: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The schema an edit form of ``tool`` is built from: the final answer's own, else the
    tool's ``declared`` one (``Gateway.schema``)."""
    return FINAL_ANSWER_SCHEMA if tool == FINAL_ANSWER_TOOL else declared
