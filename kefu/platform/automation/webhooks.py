"""``webhook`` actions: an HTTP request to one of the tenant's ``http`` definitions, from a
job of its own so a slow or dead endpoint never holds up the rules.

Safety (no server-side request forgery):

- only ``http``/``https`` URLs whose host is on the tenant's ``allow_hosts`` are called;
- the host is resolved once and the request goes to that address (a second lookup cannot
  swap in another one). A name that resolves to a private, loopback or otherwise non-public
  address is refused; a private address is reached only when the tenant allow-lists that
  address itself (``allow_hosts "10.0.0.5"``). Link-local (cloud metadata), multicast and
  unspecified addresses are always refused;
- redirects are not followed; the request times out after the definition's ``timeout``;
  at most 64 KiB of the answer is read.

Delivery is at least once: a failed attempt (network error, timeout, 5xx, 408, 429) is
retried ``retries`` times with growing delays, so the far side may see a request twice; each
carries ``Idempotency-Key`` (the job id, the same on every attempt). The outcome is written
into the firing's ``results``.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import kefu.platform.models  # noqa: F401 - every mapper configured in a worker process
from kefu.dsl import ir
from kefu.platform.automation.configs import cache_for
from kefu.platform.automation.models import AutomationEvent, FiringStatus, RuleFiring
from kefu.platform.jobs import JobAlreadyDone, JobContext, job
from kefu.platform.tenancy.scope import bind_tenant
from kefu.runtime.expressions import fill
from kefu.runtime.ivr.interpreter import host_allowed
from kefu.runtime.rules.expressions import Scope

MAX_RESPONSE_BYTES = 64 * 1024
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookRefused(Exception):
    """The URL may not be called (not allow-listed, or a forbidden address)."""


class WebhookFailed(Exception):
    """The call failed in a way worth retrying."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    path: str


def check_target(url: str, allow_hosts: tuple[str, ...]) -> Target:
    """Where a webhook may go, resolved and checked (see the module notes).

    Raises:
        WebhookRefused: the URL is not allowed.
    """
    if not host_allowed(url, allow_hosts):
        raise WebhookRefused("the host is not on the tenant's allow_hosts")
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefused(f"bad port: {exc}") from None
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = \
            ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookFailed(f"cannot resolve {host}: {exc}") from None
    listed = {h.lower() for h in allow_hosts}
    refused = ""
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_link_local or address.is_multicast or address.is_unspecified:
            refused = f"{host} is at {address}, which is never called"
            continue
        if not address.is_global and not (literal is not None and literal == address
                                           and host in listed):
            refused = (f"{host} is at the private address {address}; allow-list the "
                       "address itself to call it")
            continue
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(parts.scheme, host, port, str(address), path)
    raise WebhookRefused(refused or f"{host} has no usable address")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate against the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self.host)


def send(target: Target, method: str, headers: dict[str, str], body: bytes | None,
         timeout: float) -> int:
    """One request to the checked address; returns the status code.

    Raises:
        WebhookFailed: the connection failed or timed out.
    """
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout)
    else:
        connection = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    try:
        connection.request(method, target.path, body=body,
                           headers={"Host": host_header, **headers})
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()


@job(retries=3, retry_delays=[10, 60, 300], timeout=60)
def deliver_webhook(ctx: JobContext, tenant_id: str, firing_id: str, index: int) -> dict[str, Any]:
    """Call the ``http`` definition of action ``index`` of a firing and record the outcome."""
    tenant = uuid.UUID(tenant_id)
    if ctx.session_factory is None:
        raise RuntimeError("deliver_webhook needs the database")
    configs = cache_for(ctx.session_factory)
    with ctx.session() as db:
        bind_tenant(db, tenant)
        firing = db.get(RuleFiring, uuid.UUID(firing_id))
        if firing is None or firing.config_version_id is None:
            return {"status": "gone"}
        event = db.get(AutomationEvent, firing.event_id)
        action = dict(firing.actions[index])
        config = configs.for_version(tenant, firing.config_version_id).config
        payload = {"event": {"id": str(firing.event_id), "kind": firing.event_kind,
                             "at": event.at.isoformat() if event else None},
                   "rule": firing.rule, "firing_id": str(firing.id),
                   "data": dict(event.data or {}) if event else {}}
    http = next((h for h in config.https if h.id == action.get("target")), None)
    if http is None:
        return _record(ctx, tenant, firing_id, index, {"ok": False, "delivery": "failed",
                                                      "error": "no such http definition"})
    outcome = _attempt(ctx, http, payload, config)
    if outcome.get("retry") and ctx.attempt < ctx.max_attempts:
        raise WebhookFailed(str(outcome.get("error")))
    outcome.pop("retry", None)
    return _record(ctx, tenant, firing_id, index, outcome)


def _attempt(ctx: JobContext, http: ir.Http, payload: dict[str, Any],
             config: ir.Config) -> dict[str, Any]:
    scope = Scope(payload["data"], _now(), config)
    url = fill(http.url, scope, quote=lambda text: urllib.parse.quote(text, safe=""))
    try:
        target = check_target(url, config.tenant.allow_hosts)
    except WebhookRefused as exc:
        return {"ok": False, "delivery": "refused", "error": str(exc)}
    except WebhookFailed as exc:
        return {"ok": False, "delivery": "failed", "error": str(exc), "retry": True}
    method = http.method.upper()
    body = None
    headers = {"User-Agent": "kefu-webhook/1", "Idempotency-Key": ctx.job_id,
               **dict(http.headers)}
    if method != "GET":
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    try:
        status = send(target, method, headers, body, max(0.1, http.timeout_ms / 1000))
    except WebhookFailed as exc:
        return {"ok": False, "delivery": "failed", "error": str(exc), "retry": True,
                "attempts": ctx.attempt}
    if 200 <= status < 300:
        return {"ok": True, "delivery": "delivered", "status": status, "attempts": ctx.attempt}
    return {"ok": False, "delivery": "failed", "status": status, "attempts": ctx.attempt,
            "error": f"HTTP {status}", "retry": status in RETRY_STATUSES}


def _record(ctx: JobContext, tenant: uuid.UUID, firing_id: str, index: int,
            outcome: dict[str, Any]) -> dict[str, Any]:
    try:
        with ctx.transaction(step="result") as db:
            bind_tenant(db, tenant)
            firing = db.get(RuleFiring, uuid.UUID(firing_id), with_for_update=True)
            if firing is not None:
                results = [dict(r) for r in firing.results]
                while len(results) <= index:
                    results.append({})
                results[index] = {**results[index], **outcome, "kind": "webhook"}
                firing.results = results
                failed = sum(1 for r in results if not r.get("ok"))
                firing.status = (FiringStatus.DONE if not failed else FiringStatus.FAILED
                                 if failed == len(results) else FiringStatus.PARTIAL)
    except JobAlreadyDone:
        pass
    return outcome


def _now() -> Any:
    from kefu.platform.db import utcnow

    return utcnow()
