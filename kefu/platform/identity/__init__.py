"""Identity: users, roles, login sessions, API tokens and the security policy."""

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    from kefu.platform.identity.security import KefuSecurityPolicy, request_tenant

    config.set_security_policy(KefuSecurityPolicy())
    config.add_request_method(request_tenant, "tenant", reify=True)
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("switch_tenant", "/switch-tenant")
    config.scan("kefu.platform.identity.views")
