"""Named permissions and what each role grants. Views name a ``Permission``, never a string."""

from __future__ import annotations

import enum

from kefu.platform.identity.models import Role


class Permission(enum.StrEnum):
    # "<scope>:<resource>:<action>", kept alphabetical.
    AGENTS_MANAGE = "tenant:agents:manage"
    AGENTS_READ = "tenant:agents:read"
    AUDIT_READ = "tenant:audit:read"
    CONFIGS_DEPLOY = "tenant:configs:deploy"
    CONFIGS_READ = "tenant:configs:read"
    CONFIGS_WRITE = "tenant:configs:write"
    CUSTOMERS_READ = "tenant:customers:read"
    CUSTOMERS_WRITE = "tenant:customers:write"
    INTERACTIONS_READ = "tenant:interactions:read"
    INTERACTIONS_WRITE = "tenant:interactions:write"
    KNOWLEDGE_MANAGE = "tenant:knowledge:manage"
    KNOWLEDGE_READ = "tenant:knowledge:read"
    PLATFORM_TENANTS_MANAGE = "platform:tenants:manage"
    SUPERVISE = "tenant:supervise:act"  # wallboard, takeover, reassign, escalate
    TENANT_MANAGE = "tenant:settings:manage"
    TENANT_READ = "tenant:settings:read"
    TICKETS_READ = "tenant:tickets:read"
    TICKETS_WRITE = "tenant:tickets:write"
    TOKENS_MANAGE = "tenant:tokens:manage"  # one's own API tokens
    USERS_MANAGE = "tenant:users:manage"
    USERS_READ = "tenant:users:read"


P = Permission
_EVERY_MEMBER = {P.TENANT_READ, P.TOKENS_MANAGE, P.CONFIGS_READ, P.AGENTS_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(p for p in Permission if not p.startswith("platform:")),
    Role.ANALYST: frozenset(_EVERY_MEMBER | {
        P.CONFIGS_WRITE, P.CONFIGS_DEPLOY, P.CUSTOMERS_READ, P.INTERACTIONS_READ,
        P.TICKETS_READ, P.USERS_READ,
    }),
    Role.DESIGNER: frozenset(_EVERY_MEMBER | {P.CONFIGS_WRITE}),
    Role.SUPERVISOR: frozenset(_EVERY_MEMBER | {
        P.AGENTS_MANAGE, P.AUDIT_READ, P.CUSTOMERS_READ, P.CUSTOMERS_WRITE,
        P.INTERACTIONS_READ, P.INTERACTIONS_WRITE, P.TICKETS_READ, P.TICKETS_WRITE, P.USERS_READ,
        P.KNOWLEDGE_READ, P.KNOWLEDGE_MANAGE, P.SUPERVISE,
    }),
    Role.AGENT: frozenset(_EVERY_MEMBER | {
        P.CUSTOMERS_READ, P.CUSTOMERS_WRITE, P.INTERACTIONS_READ, P.INTERACTIONS_WRITE,
        P.TICKETS_READ, P.TICKETS_WRITE, P.KNOWLEDGE_READ,
    }),
}


def permissions_for(roles: frozenset[Role], *, superuser: bool = False) -> frozenset[Permission]:
    """Everything the given roles allow; platform operators may do everything."""
    if superuser:
        return frozenset(Permission)
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)
