"""A flow's ``fetch`` steps: the HTTP request, from a job so no web request or runtime loop
ever waits on a slow data source.

The job (queued after the commit that saved the session in ``fetching``) reads the version the
session runs on, calls the URL the interpreter built — only when its host is on the tenant's
``allow_hosts``, resolved once and checked like a webhook (a private address only when
allow-listed by that address, never link-local; no redirects; the step's timeout; at most
64 KiB read) — and then, in one transaction, locks the session and feeds it
``LookupResult(ok | timeout | error)``. A result for a request the session no longer waits
for (its timer ran out first, the customer left) is dropped.

Jobs get no :class:`~kefu.platform.context.Platform`; the flow they carry on may queue a
contact for the ACD, whose state lives in the platform object (in memory when embedded). So
every :class:`~kefu.platform.flows.service.FlowHost` registers its platform here, and a job
run by the in-process queue of that platform uses it; an RQ worker builds one platform per
process from its settings (Redis state, shared with every other process).
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import socket
import ssl
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from kefu.platform.automation.webhooks import Target, WebhookFailed, WebhookRefused, check_target
from kefu.platform.jobs import JobAlreadyDone, JobContext, job
from kefu.platform.tenancy.scope import bind_tenant

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "kefu-flow/1"

_LIVE: weakref.WeakValueDictionary[int, Platform] = weakref.WeakValueDictionary()
_OWN: dict[str, Platform] = {}
_OWN_LOCK = threading.Lock()


def remember_platform(platform: Platform) -> None:
    """Let jobs run by ``platform``'s own (in-process) queue find it."""
    _LIVE[id(platform.session_factory)] = platform


def platform_for(ctx: JobContext) -> Platform:
    """The platform a job carries a flow on: the one whose queue runs it, when it lives in
    this process, else one built from the job's settings (once per process)."""
    found = _LIVE.get(id(ctx.session_factory))
    if found is not None and found.session_factory is ctx.session_factory:
        return found
    from kefu.platform.context import Platform

    key = ctx.settings.database_url
    with _OWN_LOCK:
        own = _OWN.get(key)
        if own is None:
            own = _OWN[key] = Platform(ctx.settings)
            atexit.register(own.close)
        return own


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, verifying the certificate against the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self.host)


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
          timeout: float, allow_hosts: tuple[str, ...],
          returns: tuple[str, ...] = ()) -> tuple[str, dict[str, Any], str]:
    """Call a data source once.

    Args:
        url: the URL, placeholders filled.
        method: GET or POST (a POST sends no body).
        headers: the definition's headers.
        timeout: seconds for connecting and for each read.
        allow_hosts: the tenant's allow-list.
        returns: the fields the definition declares; others are dropped (all kept when none).

    Returns:
        ``(status, record, detail)``: status ``ok`` with the JSON object's fields, else
        ``timeout`` or ``error`` with an empty record; ``detail`` says what went wrong.
    """
    try:
        target = check_target(url, allow_hosts)
        code, body = _request(target, method, headers or {}, timeout)
    except (WebhookRefused, WebhookFailed) as exc:
        return "error", {}, str(exc)
    except TimeoutError:
        return "timeout", {}, f"no answer within {timeout:g} s"
    problem = ""
    record: Any = None
    if not 200 <= code < 300:
        problem = f"HTTP {code}"
    elif len(body) > MAX_RESPONSE_BYTES:
        problem = f"the answer is over {MAX_RESPONSE_BYTES} bytes"
    else:
        try:
            record = json.loads(body)
        except ValueError:
            problem = "the answer is not JSON"
    if not problem and not isinstance(record, dict):
        problem = "the answer is not a JSON object"
    if problem:
        return "error", {}, problem
    if returns:
        record = {k: v for k, v in record.items() if k in returns}
    return "ok", record, ""


def _request(target: Target, method: str, headers: dict[str, str],
             timeout: float) -> tuple[int, bytes]:
    """One request to the checked address: the status and up to one byte more than
    ``MAX_RESPONSE_BYTES`` of the body.

    Raises:
        TimeoutError: no answer in time.
        WebhookFailed: the connection failed.
    """
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(target, timeout)
    else:
        connection = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    try:
        connection.request(method, target.path, headers={
            "Host": host_header, "Accept": "application/json", "User-Agent": USER_AGENT,
            **headers})
        response = connection.getresponse()
        return response.status, response.read(MAX_RESPONSE_BYTES + 1)
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.close()


@job(retries=2, retry_delays=[2, 10], timeout=120)
def perform_lookup(ctx: JobContext, tenant_id: str, session_id: str,
                   lookup: dict[str, Any]) -> dict[str, Any]:
    """Do one ``Lookup`` of a flow session and feed the result back (see the module notes).

    ``lookup`` is the action as JSON: ``request_id``, ``http``, ``method``, ``url``,
    ``timeout_ms``, ``headers`` (pairs).
    """
    from kefu.platform.flows.models import FlowSession, FlowStatus
    from kefu.platform.flows.service import FlowHost

    tenant = uuid.UUID(tenant_id)
    key = uuid.UUID(session_id)
    platform = platform_for(ctx)
    with ctx.session() as db:
        bind_tenant(db, tenant)
        row = db.get(FlowSession, key)
        if row is None or row.status is not FlowStatus.RUNNING:
            return {"status": "gone"}
        version_id = row.config_version_id
    config = platform.configs.for_version(tenant, version_id).config
    http_id = str(lookup["http"])
    http = next((h for h in config.https if h.id == http_id), None)
    status, record, detail = fetch(
        str(lookup["url"]), method=str(lookup["method"]),
        headers={str(k): str(v) for k, v in lookup.get("headers") or []},
        timeout=max(0.1, int(lookup["timeout_ms"]) / 1000),
        allow_hosts=config.tenant.allow_hosts,
        returns=tuple(http.returns) if http is not None else ())
    if detail:
        log.info("flow lookup %s of session %s: %s (%s)", http_id, session_id, status, detail)
    fed = False
    try:
        with ctx.transaction() as db:
            bind_tenant(db, tenant)
            fed = FlowHost(platform, db, tenant).lookup_result(
                key, int(lookup["request_id"]), status, record)
    except JobAlreadyDone:
        pass
    return {"status": status, "fed": fed, "detail": detail}
