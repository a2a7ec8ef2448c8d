"""The process kinds as an operator runs them: `kefu serve` on the embedded default (twice
on the same data, as the README's run command does), and `kefu web` + `kefu runtime` sharing
PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kefu.platform.context import Platform
from kefu.platform.settings import load_settings
from tests.integration.servers import free_port, kefu_command, start_kefu, stop, wait_http

pytestmark = pytest.mark.slow


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(values)
    env["KEFU_LOG_FORMAT"] = "text"
    return env


def test_embedded_serve_runs_twice_on_the_same_data(tmp_path: Path) -> None:
    for attempt in (1, 2):
        port = free_port()
        env = _env(KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_HTTP_PORT=str(port))
        for step in (["db", "upgrade"], ["demo", "load"]):
            done = kefu_command(*step, env=env)
            assert done.returncode == 0, done.stderr
        assert ("created" if attempt == 1 else "already there") in done.stdout
        server = start_kefu("serve", env=env)
        try:
            status, body = wait_http(f"http://127.0.0.1:{port}/readyz")
            assert status == 200, body
            assert json.loads(body)["checks"] == {"database": "ok"}
            status, page = wait_http(f"http://127.0.0.1:{port}/login")
            assert status == 200
            assert 'name="password"' in page
        finally:
            output = stop(server)
        assert "Traceback" not in output, output


def test_serve_refuses_an_unmigrated_database_with_advice(tmp_path: Path) -> None:
    done = kefu_command("serve", env=_env(KEFU_DATA_DIR=str(tmp_path), KEFU_HTTP_PORT="0"))
    assert done.returncode != 0
    assert "run `kefu db upgrade` first" in done.stderr


@pytest.mark.parametrize("kind", ["web", "runtime", "worker"])
def test_production_processes_need_redis(kind: str, tmp_path: Path) -> None:
    done = kefu_command(kind, env=_env(KEFU_DATA_DIR=str(tmp_path)))
    assert done.returncode != 0
    assert "set redis.url" in done.stderr


@pytest.fixture
def production_env(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[dict[str, str]]:
    name = f"kefu_proc_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    yield _env(KEFU_DATA_DIR=str(tmp_path), KEFU_DATABASE_URL=url, KEFU_REDIS_URL=redis_url,
               KEFU_SECRET_KEY="shared-by-all-processes")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_web_and_runtime_share_postgres_and_redis(production_env: dict[str, str]) -> None:
    assert kefu_command("db", "upgrade", env=production_env).returncode == 0
    assert kefu_command("demo", "load", env=production_env).returncode == 0
    ports = [free_port(), free_port()]
    webs = [start_kefu("web", "--port", str(port), env=production_env) for port in ports]
    runtime = start_kefu("runtime", env=production_env)
    observer = Platform(load_settings(environ={k: v for k, v in production_env.items()
                                               if k.startswith("KEFU_")}))

    async def heartbeat() -> dict[str, object]:
        try:
            subscription = await observer.bus.subscribe("runtime.heartbeat")
            async with subscription:
                # Other tests' runtimes may beat on the same Redis: wait for ours.
                for _ in range(100):
                    event = await subscription.get(timeout=30)
                    if str(event.data["node"]).endswith(f":{runtime.pid}"):
                        break
            return event.data
        finally:
            # Close the Redis connections on the loop that opened them.
            await observer.bus.aclose()

    try:
        for port in ports:
            status, body = wait_http(f"http://127.0.0.1:{port}/readyz")
            assert status == 200, body
            assert json.loads(body)["checks"] == {"database": "ok", "redis": "ok"}
        beat = asyncio.run(heartbeat())
        assert str(beat["node"]).endswith(f":{runtime.pid}")
    finally:
        outputs = [stop(process) for process in (*webs, runtime)]
        observer.close()
    for output in outputs:
        assert "Traceback" not in output, output
