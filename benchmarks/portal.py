"""Portal and supervisor console: how long /portal/config and /wallboard take, and how long
an agent state change takes to reach a wallboard's /ws/events socket.

Setup: a temporary data directory and SQLite database (or ``--database-url`` /
``--redis-url`` for PostgreSQL + Redis), one tenant with the portal tests' config deployed,
``--agents`` agents logged in, and ``--interactions`` chats of today (half answered, a quarter
abandoned, a quarter waiting). kefu's ASGI app runs on uvicorn on 127.0.0.1 in this process
(one thread); the client calls it over HTTP and a websocket like a browser.

Measured: ``--reads`` GET /portal/config and GET /wallboard (p50/p95/max), then ``--changes``
agent state changes (PUT presence, ready ↔ not ready) timed from the request to the
``agent.state`` event on a supervisor's socket subscribed to ``agent.state`` and ``queue.*``.
The issue asks for wallboard changes within one second.

    .venv/bin/python benchmarks/portal.py [--agents 50] [--interactions 400] [--reads 200]
        [--changes 100] [--database-url URL] [--redis-url URL]

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kefu.platform import migrate
from kefu.platform.configs.services import ConfigService
from kefu.platform.context import Platform
from kefu.platform.identity.models import Role, User
from kefu.platform.identity.services import IdentityService
from kefu.platform.settings import load_settings
from kefu.platform.tenancy.services import TenantService
from kefu.platform.web.asgi import create_app
from tests.functional.portal.portal_desk import CONFIG
from tests.integration.servers import free_port


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})")


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + "/api/v1" + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()!r}") from None


def _token(platform: Platform, user: User, tenant_id: Any) -> str:
    with platform.session() as db:
        secret, _ = IdentityService(db).create_api_token(db.get(User, user.id), tenant_id,
                                                         "bench")
        db.commit()
        return secret


def setup(platform: Platform, agents: int) -> tuple[Any, str, str, list[tuple[str, str]]]:
    """The tenant, an admin token, a supervisor token and (agent id, token) pairs."""
    with platform.session() as db:
        tenant = TenantService(db).create("bench", "Portal benchmark")
        service = IdentityService(db)
        admin = service.create_user("admin@bench.test", "Admin", None)
        service.grant(admin, tenant.id, Role.ADMIN)
        boss = service.create_user("boss@bench.test", "Boss", None)
        service.grant(boss, tenant.id, Role.SUPERVISOR)
        people = []
        for n in range(agents):
            user = service.create_user(f"agent{n}@bench.test", f"Agent {n}", None)
            service.grant(user, tenant.id, Role.AGENT)
            people.append(user)
        db.commit()
    with platform.session(tenant.id) as db:
        configs = ConfigService(db)
        version = configs.store({"tenant.kefu": CONFIG}, "", None)
        configs.deploy(version.id)
        db.commit()
    admin_token = _token(platform, admin, tenant.id)
    boss_token = _token(platform, boss, tenant.id)
    roster = []
    for user in people:
        roster.append((user, _token(platform, user, tenant.id)))
    return tenant, admin_token, boss_token, roster


async def measure_changes(ws_url: str, boss: str, base: str,
                          roster: list[tuple[str, str]], changes: int) -> list[float]:
    latencies: list[float] = []
    async with websockets.connect(ws_url + "/ws/events",
                                  additional_headers={"Authorization": f"Bearer {boss}"}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": ["agent.state", "queue.*"]}))
        await ws.recv()
        for n in range(changes):
            agent_id, token = roster[n % len(roster)]
            # Between two not-ready reasons: a ready agent would be rung for the waiting chats.
            target = {"state": "not_ready", "reason": "training" if n % 2 == 0 else "lunch"}
            started = time.perf_counter()
            await asyncio.to_thread(Client(base, token).call, "PUT",
                                    f"/agents/{agent_id}/presence", target)
            async with asyncio.timeout(10):
                while True:
                    message = json.loads(await ws.recv())
                    if (message.get("topic") == "agent.state"
                            and message["data"]["agent_id"] == agent_id
                            and message["data"]["reason"] == target["reason"]):
                        break
            latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--interactions", type=int, default=400)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kefu-portal-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/kefu.sqlite3"
        migrate.upgrade(url)
        env = {"KEFU_DATA_DIR": tmp, "KEFU_DATABASE_URL": url, "KEFU_LOG_FORMAT": "text",
               "KEFU_LOG_LEVEL": "warning"}
        if args.redis_url:
            env["KEFU_REDIS_URL"] = args.redis_url
        platform = Platform(load_settings(environ=env))
        tenant, admin, boss, people = setup(platform, args.agents)

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(
            create_app(platform, host_runtime=False, run_jobs=False), host="127.0.0.1",
            port=port, lifespan="on", ws="websockets-sansio", log_config=None,
            access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        try:
            admin_client = Client(base, admin)
            roster = []
            for n, (user, token) in enumerate(people):
                agent = admin_client.call("POST", "/agents", {
                    "display_name": f"Agent {n}", "user_id": str(user.id),
                    "skills": [{"skill": "billing", "level": 3}], "capacity": {"chat": 1}})
                Client(base, token).call("PUT", f"/agents/{agent['id']}/presence",
                                         {"state": "not_ready", "reason": "lunch"})
                roster.append((agent["id"], token))
            chats = []
            for n in range(args.interactions):
                chat = admin_client.call("POST", "/interactions",
                                         {"channel": "chat", "direction": "inbound"})
                admin_client.call("POST", f"/interactions/{chat['id']}/queue",
                                  {"queue": "billing"})
                chats.append(chat["id"])
                if n % 4 == 1:
                    admin_client.call("POST", f"/interactions/{chat['id']}/hangup", {})
            # The first agent answers half of them, one after another.
            worker_id, worker_token = roster[0]
            worker = Client(base, worker_token)
            presence = f"/agents/{worker_id}/presence"
            worker.call("PUT", presence, {"state": "ready"})
            for _ in range(args.interactions // 2):
                ringing = worker.call("GET", presence)["offered_interaction_id"]
                if ringing is None:
                    break
                worker.call("POST", f"/interactions/{ringing}/accept")
                worker.call("POST", f"/interactions/{ringing}/hangup", {})
                worker.call("POST", f"/interactions/{ringing}/complete",
                            {"disposition": "resolved"})
            ringing = worker.call("GET", presence)["offered_interaction_id"]
            if ringing is not None:  # declined: it waits on with the rest
                worker.call("POST", f"/interactions/{ringing}/reject")
            worker.call("PUT", presence, {"state": "not_ready", "reason": "lunch"})
            print(f"setup: {args.agents} agents, {args.interactions} chats today "
                  f"({'PostgreSQL + Redis' if args.redis_url else 'SQLite, embedded'})")

            for path, client in (("/portal/config", Client(base, people[0][1])),
                                 ("/wallboard", Client(base, boss))):
                timings = []
                for _ in range(args.reads):
                    started = time.perf_counter()
                    client.call("GET", path)
                    timings.append(time.perf_counter() - started)
                print(f"GET {path:<15} {_percentiles(timings)}")
            changes = asyncio.run(measure_changes(ws_url, boss, base, roster[1:],
                                                  args.changes))
            print(f"agent state → wallboard socket  {_percentiles(changes)}")
            late = sum(1 for t in changes if t > 1.0)
            print(f"changes seen later than 1 s: {late} of {len(changes)}")
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            platform.close()
            del tenant


if __name__ == "__main__":
    main()
