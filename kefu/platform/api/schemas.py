"""Shared pydantic bases for API bodies, queries and responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Body(BaseModel):
    """Request bodies: unknown fields and loose types are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class Query(BaseModel):
    """Query strings arrive as text, so values are coerced ("20" → 20); unknown keys fail."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="page size")
    offset: int = Field(0, ge=0, description="items to skip")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _reject_null(cls: type[BaseModel], value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out but not null")
    return value


def not_null(*fields: str) -> Any:
    """For PATCH bodies: the named fields may be omitted (unchanged) but not sent as null.

    Use as a class attribute: ``_not_null = not_null("name", "is_vip")``.
    """
    return field_validator(*fields)(_reject_null)
