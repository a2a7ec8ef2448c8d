"""Tenancy: the Tenant model and the one scoping mechanism (see ``scope``)."""

from kefu.platform.tenancy.scope import (
    TenantScoped,
    TenantScopeError,
    bind_tenant,
    cross_tenant,
    current_tenant_id,
)

__all__ = ["TenantScopeError", "TenantScoped", "bind_tenant", "cross_tenant", "current_tenant_id"]
