"""The ACD across real processes: `kefu web` takes agents' and contacts' requests, two
`kefu runtime` processes share the timers through PostgreSQL and Redis. Killing the runtime
that fires them (SIGKILL, no goodbye) loses nothing: the other takes over, and contacts still
waiting are still there."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.functional.api.test_routing import CONFIG
from tests.integration.servers import free_port, kefu_command, start_kefu, stop, wait_http
from tests.integration.test_processes import production_env  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + "/api/v1" + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()!r}") from None


def _wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _leader(redis_url: str, processes: list[Any]) -> Any:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        holders = {value.decode() for key in client.scan_iter(match="kefu:acd:*:ticker")
                   if (value := client.get(key)) is not None}
    finally:
        client.close()
    leaders = [p for p in processes if any(h.endswith(f":{p.pid}") for h in holders)]
    assert len(leaders) == 1, (holders, [p.pid for p in processes])
    return leaders[0]


def _setup(env: dict[str, str]) -> str:
    assert kefu_command("db", "upgrade", env=env).returncode == 0
    for args in (["tenant", "add", "acme", "--name", "Acme"],
                 ["user", "add", "boss@acme.example", "--name", "Boss", "--tenant", "acme",
                  "--role", "admin", "--role", "supervisor"]):
        done = kefu_command(*args, env=env)
        assert done.returncode == 0, done.stderr
    done = kefu_command("token", "add", "boss@acme.example", "--tenant", "acme", env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split()[-1]


def test_timers_survive_killing_the_runtime_that_fires_them(
        production_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    env = {**production_env, "KEFU_ACD_RING_TIMEOUT": "2"}
    token = _setup(env)
    port = free_port()
    web = start_kefu("web", "--port", str(port), env=env)
    runtimes = [start_kefu("runtime", env=env) for _ in range(2)]
    outputs: list[str] = []
    try:
        assert wait_http(f"http://127.0.0.1:{port}/readyz")[0] == 200
        api = Api(f"http://127.0.0.1:{port}", token)
        config = api("POST", "/configs", {"files": {"tenant.kefu": CONFIG}, "message": "acd"})
        api("POST", f"/configs/{config['id']}/deploy")
        agent = api("POST", "/agents", {"display_name": "Li Na",
                                        "skills": [{"skill": "billing", "level": 4}]})
        api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
        first = api("POST", "/interactions", {"channel": "chat", "direction": "inbound"})
        waiting = api("POST", "/interactions", {"channel": "chat", "direction": "inbound"})
        assert api("POST", f"/interactions/{first['id']}/queue",
                   {"queue": "billing"})["status"] == "offered"
        assert api("POST", f"/interactions/{waiting['id']}/queue",
                   {"queue": "billing"})["position"] == 1

        # Nobody answers: a runtime fires ring-no-answer after 2 s.
        def rona_fired() -> bool:
            presence = api("GET", f"/agents/{agent['id']}/presence")
            return presence["state"] == "not_ready" and presence["reason"] == "rona"

        assert _wait_for(rona_fired)
        assert api("GET", f"/interactions/{first['id']}")["state"] == "queued"

        # Kill the runtime that fires the timers (the holder of the tenant's lease); the
        # survivor takes over within the 3 s lease.
        leader = _leader(env["KEFU_REDIS_URL"], runtimes)
        leader.kill()
        leader.wait(timeout=10)
        api("PUT", f"/agents/{agent['id']}/presence", {"state": "ready"})
        assert api("GET", f"/interactions/{first['id']}")["state"] == "offered"
        assert _wait_for(rona_fired), "the surviving runtime did not take over the timers"

        # Both contacts are still in the queue, in order, after all of that.
        places = [api("GET", f"/interactions/{c['id']}/queue") for c in (first, waiting)]
        assert [p["position"] for p in places] == [1, 2]
        queues = {q["id"]: q for q in api("GET", "/queues")["items"]}
        assert queues["billing"]["waiting"] == 2
    finally:
        outputs = [stop(process) for process in (web, *runtimes)]
    for output in outputs:
        assert "Traceback" not in output, output
