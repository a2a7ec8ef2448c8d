"""The asyncio host for runtime services (engines, channel listeners, reconcilers).

Services are ``async def service(platform, stopping: asyncio.Event) -> None`` functions named
by dotted path in ``RUNTIME_SERVICES``; later parts of kefu (ACD, SIP, SMTP, SMPP) add
theirs here. ``kefu serve`` runs the host inside the web server's event loop; ``kefu runtime``
runs it alone, any number of times on one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from kefu.platform.context import Platform
from kefu.platform.db import utcnow

log = logging.getLogger("kefu.runtime")

Service = Callable[[Platform, asyncio.Event], Awaitable[None]]

RUNTIME_SERVICES: list[str] = [
    "kefu.platform.runtime_host:heartbeat",
    "kefu.platform.configs.cache:follow_deployments",
    "kefu.platform.routing.host:run_acd",
    "kefu.platform.automation.sweep:automation_service",
    "kefu.platform.flows.sweep:run_flow_timers",
    "kefu.platform.messaging.outbound:run_outbound",
    "kefu.platform.messaging.sms_host:run_sms",
    "kefu.platform.messaging.email_host:run_email",
    "kefu.platform.voice.host:run_voice",
    "kefu.platform.routing.host:run_routing_requests",
]
HEARTBEAT_SECONDS = 10.0


def node_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def heartbeat(platform: Platform, stopping: asyncio.Event) -> None:
    """Announce this runtime node on the bus so supervisors and reconcilers can see who is
    alive (work held by a node whose heartbeats stop is re-queued by the runtime)."""
    while not stopping.is_set():
        await platform.bus.apublish("runtime.heartbeat",
                                    {"node": node_id(), "at": utcnow().isoformat()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), HEARTBEAT_SECONDS)


async def cancel_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel a service's helper tasks and wait until each has ended (their errors were
    logged where they happened; on the way out they must not stop the others' cleanup)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _load(path: str) -> Service:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class RuntimeHost:
    def __init__(self, platform: Platform, services: list[str] | None = None) -> None:
        self.platform = platform
        self.service_paths = list(RUNTIME_SERVICES if services is None else services)
        self.stopping = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[Any]] = {}

    async def start(self) -> None:
        for path in self.service_paths:
            service = _load(path)
            self.tasks[path] = asyncio.create_task(self._supervise(path, service), name=path)
        log.info("runtime node %s started %d services", node_id(), len(self.tasks))

    async def _supervise(self, path: str, service: Service) -> None:
        """Restart a crashed service after a pause instead of taking the process down."""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await service(self.platform, self.stopping)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("runtime service %s crashed; restarting in %.0f s", path, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 60.0)

    async def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks.values(), timeout=timeout)
            for task in pending:
                task.cancel()
        self.tasks.clear()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            await self.stop()
