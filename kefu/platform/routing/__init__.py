"""Hosting the ACD router: per-tenant state, the routing service, the runtime ticker."""
