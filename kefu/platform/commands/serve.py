"""``kefu serve`` (everything in one process), and the production process kinds ``kefu web``,
``kefu runtime`` and ``kefu worker``."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from kefu.platform import migrate
from kefu.platform.context import Platform
from kefu.platform.logs import configure_logging
from kefu.platform.settings import Settings

log = logging.getLogger("kefu.serve")


def _prepare(settings: Settings, *, auto_migrate: bool) -> Platform:
    configure_logging(settings["log.level"], settings["log.format"])
    platform = Platform(settings)
    current, head = migrate.current_revision(platform.engine), migrate.head_revision()
    if current != head:
        if not auto_migrate:
            raise click.ClickException(
                f"database schema is at {current}, this release needs {head}: "
                "run `kefu db upgrade` first (or pass --migrate)")
        migrate.upgrade(settings.database_url)
    return platform


def _needs_redis(settings: Settings, command: str) -> None:
    if settings.embedded:
        raise click.ClickException(
            f"`kefu {command}` shares state through Redis: set redis.url (KEFU_REDIS_URL). "
            "For a single process without Redis, use `kefu serve`.")


def _run_http(platform: Platform, host: str, port: int, *, host_runtime: bool,
              run_jobs: bool) -> None:
    import uvicorn

    from kefu.platform.web.asgi import create_app

    app = create_app(platform, host_runtime=host_runtime, run_jobs=run_jobs)
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", ws="websockets-sansio", log_config=None,
        access_log=False, proxy_headers=False, ws_max_size=1024 * 1024,
    )
    server = uvicorn.Server(config)
    log.info("kefu listening on http://%s:%d/", host, port)
    click.echo(f"kefu is serving on http://{host}:{port}/  (Ctrl+C stops it)")
    server.run()


_http_options = [
    click.option("--host", default=None, help="Bind address (default: http.bind)."),
    click.option("--port", type=int, default=None, help="Port (default: http.port)."),
    click.option("--migrate", "auto_migrate", is_flag=True,
                 help="Upgrade the database schema first if it is behind."),
]


def _with_http_options(func):
    for option in reversed(_http_options):
        func = option(func)
    return func


@click.command("serve")
@_with_http_options
@click.pass_obj
def serve(obj, host: str | None, port: int | None, auto_migrate: bool) -> None:
    """Run everything in one process: web app, websockets, runtime and jobs."""
    settings = obj.settings
    platform = _prepare(settings, auto_migrate=auto_migrate)
    _run_http(platform, host or settings["http.bind"], port or settings["http.port"],
              host_runtime=True, run_jobs=settings.embedded)


@click.command("web")
@_with_http_options
@click.pass_obj
def web(obj, host: str | None, port: int | None, auto_migrate: bool) -> None:
    """Serve pages, the API and websockets (production; run as many as you like)."""
    settings = obj.settings
    _needs_redis(settings, "web")
    platform = _prepare(settings, auto_migrate=auto_migrate)
    _run_http(platform, host or settings["http.bind"], port or settings["http.port"],
              host_runtime=False, run_jobs=False)


@click.command("runtime")
@click.pass_obj
def runtime(obj) -> None:
    """Run the runtime services: engines and channel listeners (production)."""
    from kefu.platform.runtime_host import RuntimeHost

    settings = obj.settings
    _needs_redis(settings, "runtime")
    platform = _prepare(settings, auto_migrate=False)

    async def main() -> None:
        host = RuntimeHost(platform)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, host.stopping.set)
        await host.run_forever()
        await platform.bus.aclose()

    try:
        asyncio.run(main())
    finally:
        platform.close()


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.pass_obj
def worker(obj, burst: bool) -> None:
    """Run background jobs from Redis (RQ), with the scheduler (production)."""
    from kefu.platform.jobs import run_worker

    settings = obj.settings
    _needs_redis(settings, "worker")
    platform = _prepare(settings, auto_migrate=False)
    with platform:
        run_worker(settings, platform.session_factory, events=platform.bus, burst=burst)

