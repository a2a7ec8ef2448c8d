"""/api/v1/forms: check answers to a form of the tenant's deployed config with the DSL's rules
— the same check the server applies when a ticket is opened with the form's fields."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pyramid.request import Request

from kefu.platform.api.context import tenant_id
from kefu.platform.api.errors import ApiError, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out
from kefu.platform.identity.permissions import Permission
from kefu.platform.portal.config import deployed_now
from kefu.runtime.forms import check_form


class FormValues(Body):
    values: dict[str, Any] = Field(description="answers by field name: text, numbers, "
                                               "true/false or null (empty)")
    locale: str | None = Field(None, max_length=20, description="language of the messages "
                               "(default: the tenant's first locale)")


class FormValid(Out):
    ok: bool


def form_errors(errors: dict[str, str], prefix: str = "") -> ApiError:
    """A 422 naming every field at fault with the DSL's message for it."""
    fields = [{"field": prefix + name, "message": message} for name, message in errors.items()]
    first = fields[0]
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return ApiError(422, "validation_failed", f"{first['field']}: {first['message']}{more}",
                    fields)


@api("/forms/{form}/validate", "POST", permission=Permission.TENANT_READ, tag="portal",
     summary="Check answers to a form of the deployed config with the DSL's rules: 200 "
     "{ok: true}, or 422 with the DSL's message for each field at fault",
     body=FormValues, response=FormValid)
def validate_form(request: Request, form: str, body: FormValues) -> FormValid:
    loaded = deployed_now(request.db, request.platform.configs, tenant_id(request))
    found = next((f for f in loaded.config.forms if f.id == form), None) if loaded else None
    if loaded is None or found is None:
        raise NotFound("form")
    tenant = loaded.config.tenant
    locale = body.locale or (tenant.locales[0] if tenant.locales else None)
    errors = check_form(found, body.values, locale)
    if errors:
        raise form_errors(errors, "values.")
    return FormValid(ok=True)
