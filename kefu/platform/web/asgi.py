"""The ASGI application uvicorn serves: one origin for pages, API and websockets.

- ``http``: the Pyramid (WSGI) app, run on a thread pool by a2wsgi;
- ``websocket``: routes from ``kefu.platform.web.sockets.WEBSOCKET_ROUTES``;
- ``lifespan``: starts and stops what this process hosts (in ``kefu serve``: the in-process
  job runner and the runtime services, on this same event loop).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from a2wsgi import WSGIMiddleware

from kefu.platform.context import Platform
from kefu.platform.runtime_host import RuntimeHost
from kefu.platform.web.app import make_wsgi_app
from kefu.platform.web.sockets import WEBSOCKET_ROUTES, Receive, Scope, Send, Socket

log = logging.getLogger("kefu.asgi")

# Modules that register websocket routes when imported.
SOCKET_MODULES = ("kefu.platform.web.realtime", "kefu.platform.messaging.webchat")


class KefuASGI:
    def __init__(self, platform: Platform, *, host_runtime: bool, run_jobs: bool,
                 wsgi_threads: int = 16) -> None:
        import importlib

        for module in SOCKET_MODULES:
            importlib.import_module(module)
        self.platform = platform
        self.host_runtime = host_runtime
        self.run_jobs = run_jobs
        self.http = WSGIMiddleware(make_wsgi_app(platform), workers=wsgi_threads)
        self.runtime: RuntimeHost | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)  # type: ignore[arg-type]
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket = Socket(scope, receive, send)
        handler = WEBSOCKET_ROUTES.get(scope["path"])
        if handler is None:
            await receive()  # websocket.connect
            await socket.reject(4404)
            return
        try:
            await handler(socket, self.platform)
        except Exception:
            log.exception("websocket handler for %s failed", scope["path"])
            await socket.close(1011)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        self.platform.bus  # noqa: B018 - create the bus on this loop before requests use it
        if self.run_jobs:
            await asyncio.to_thread(self.platform.jobs.start)
        if self.host_runtime:
            self.runtime = RuntimeHost(self.platform)
            await self.runtime.start()

    async def shutdown(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        if self.run_jobs:
            await asyncio.to_thread(self.platform.jobs.close)
        await self.platform.bus.aclose()


def create_app(platform: Platform, *, host_runtime: bool, run_jobs: bool) -> Any:
    return KefuASGI(platform, host_runtime=host_runtime, run_jobs=run_jobs)
