"""/api/v1/tenants: the tenants an identity can see; creating them is for platform operators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import ApiError, Conflict, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out
from kefu.platform.identity.permissions import Permission
from kefu.platform.tenancy.models import Tenant, TenantStatus
from kefu.platform.tenancy.scope import cross_tenant
from kefu.platform.tenancy.services import TenantError, TenantService, check_time_zone


class TenantOut(Out):
    id: uuid.UUID
    slug: str
    name: str
    status: TenantStatus
    time_zone: str
    default_locale: str
    created_at: datetime


class TenantCreate(Body):
    slug: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    time_zone: str = Field("UTC", max_length=64)
    default_locale: str = Field("en", max_length=16)


class TenantUpdate(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    time_zone: str | None = Field(None, max_length=64)
    default_locale: str | None = Field(None, max_length=16)
    status: TenantStatus | None = None


def _visible(request: Request, tenant_id: uuid.UUID) -> Tenant:
    """Operators see every tenant; everyone else only the one they act in."""
    identity = request.identity
    if not identity.is_superuser and tenant_id != identity.tenant_id:
        raise NotFound("tenant")
    tenant = TenantService(request.db).get(tenant_id)
    if tenant is None:
        raise NotFound("tenant")
    return tenant


@api("/tenants", "GET", permission=Permission.TENANT_READ, tag="tenants", needs_tenant=False,
     summary="Tenants visible to the caller", response=TenantOut, list_response=True)
def list_tenants(request: Request) -> Any:
    identity = request.identity
    if identity.is_superuser:
        with cross_tenant(request.db):
            tenants = TenantService(request.db).all()
    else:
        tenants = [request.tenant] if request.tenant is not None else []
    return [TenantOut.model_validate(t) for t in tenants], len(tenants)


@api("/tenants", "POST", permission=Permission.PLATFORM_TENANTS_MANAGE, tag="tenants",
     needs_tenant=False, summary="Create a tenant (platform operators)", body=TenantCreate,
     response=TenantOut, status=201)
def create_tenant(request: Request, body: TenantCreate) -> TenantOut:
    try:
        tenant = TenantService(request.db).create(
            body.slug, body.name, time_zone=body.time_zone, default_locale=body.default_locale)
    except TenantError as exc:
        field = "time_zone" if "time zone" in str(exc) else "slug"
        if "already exists" in str(exc):
            raise Conflict(str(exc), field) from None
        raise ApiError(422, "validation_failed", str(exc),
                       [{"field": field, "message": str(exc)}]) from None
    audit_change(request, "tenant.create", tenant, slug=tenant.slug)
    return TenantOut.model_validate(tenant)


@api("/tenants/{tenant_id}", "GET", permission=Permission.TENANT_READ, tag="tenants",
     needs_tenant=False, summary="Get a tenant", response=TenantOut)
def get_tenant(request: Request, tenant_id: uuid.UUID) -> TenantOut:
    return TenantOut.model_validate(_visible(request, tenant_id))


@api("/tenants/{tenant_id}", "PATCH", permission=Permission.TENANT_MANAGE, tag="tenants",
     needs_tenant=False, summary="Change a tenant's name, time zone, locale or status",
     body=TenantUpdate, response=TenantOut)
def update_tenant(request: Request, tenant_id: uuid.UUID, body: TenantUpdate) -> TenantOut:
    tenant = _visible(request, tenant_id)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes and not request.identity.is_superuser:
        raise ApiError(403, "forbidden", "only platform operators change a tenant's status")
    if changes.get("time_zone"):
        try:
            check_time_zone(changes["time_zone"])
        except TenantError as exc:
            raise ApiError(422, "validation_failed", str(exc),
                           [{"field": "time_zone", "message": str(exc)}]) from None
    for name, value in changes.items():
        if value is not None:
            setattr(tenant, name, value)
    audit_change(request, "tenant.update", tenant, fields=sorted(changes))
    return TenantOut.model_validate(tenant)
