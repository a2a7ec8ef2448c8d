"""Web chat capacity: concurrent chat sessions one kefu process holds, and the customer
message -> ack round trip at a steady message rate with all of them open.

Setup: a temporary data directory, a tenant ``bench`` whose config binds the widget key
``bench-widget`` to a pre-chat form and a queue (no flow: every message is stored and waits
for an agent, like a busy contact center; nothing in the way blocks). One ``kefu serve``
process (web app, websockets and runtime services in one event loop) on SQLite by default,
or on PostgreSQL + Redis with ``--production``.

Client: ``--clients`` processes (asyncio + websockets) open ``--sessions`` chat sockets in
total at ``--ramp`` per second; each sends ``hello`` and ``start`` with the form's fields and
waits for ``started``. With every session held, they send text messages, spread over all
sessions, at ``--rate`` per second in total for ``--duration`` seconds, and time each
``message`` -> ``ack``. The client processes share the machine's cores with the server; their
CPU is printed too, so a client-bound run shows as such.

    .venv/bin/python benchmarks/webchat.py [--sessions 5000] [--rate 500] [--duration 20]
        [--clients 2] [--production] [--database-url URL] [--redis-url URL] [--profile FILE]

Targets (issue 5): >= 5,000 concurrent sessions and p99 <= 50 ms at 500 messages/s on the
project's 2-core machine. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

KEY = "bench-widget"
CONFIG = """\
tenant bench {
  name "Web chat benchmark"
  locales en
  timezone "UTC"
}

skill chat "Chat" levels 1..5

team desk "Chat desk" {
  members 10
  skill chat 3
}

queue web "Web chat" {
  require chat >= 1
  max_wait 1h
}

form chat_start "Before we start" {
  field name text "Your name" {
    required "Please tell us your name."
    length 1..80
  }
  field email email "Email"
}

channel webchat "bench-widget" {
  form chat_start
  queue web
}
"""


# --- the server --------------------------------------------------------------------------------
def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kefu(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "kefu.platform.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"kefu {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def create_postgres_database(url: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    name = f"kefu_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db_url = sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return db_url, drop


def describe_log_line(line: str) -> str:
    """A server log line in short: its message and the last line of its traceback."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line
    exc = str(entry.get("exc") or "").strip().splitlines()
    return f"{entry.get('logger')}: {entry.get('msg')}" + (f" -- {exc[-1]}" if exc else "")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"kefu serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not become ready in {timeout:.0f} s")


class ProcessStats:
    """RSS and CPU time of a process, from /proc."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.TICKS  # utime + stime

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))


# --- the clients -------------------------------------------------------------------------------
class Session:
    __slots__ = ("acked", "sent", "ws")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.sent: dict[str, float] = {}
        self.acked = 0


async def open_session(url: str, index: int, results: dict[str, Any]) -> Session | None:
    from websockets.asyncio.client import connect

    try:
        ws = await asyncio.wait_for(connect(url, max_size=2**16, open_timeout=60,
                                            ping_interval=None, compression=None), 90)
        await ws.send(json.dumps({"type": "hello", "token": None, "since": None,
                                  "locale": "en"}))
        await expect(ws, "welcome")
        await ws.send(json.dumps({"type": "start", "fields": {
            "name": f"Visitor {index}", "email": f"visitor{index}@example.com"}}))
        await expect(ws, "started")
        return Session(ws)
    except Exception as exc:
        reason = getattr(exc, "code", None) or getattr(
            getattr(exc, "rcvd", None), "code", None) or type(exc).__name__
        results["failures"][str(reason)] += 1
        return None


async def expect(ws: Any, kind: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if frame.get("type") == kind:
            return frame  # type: ignore[no-any-return]
        if frame.get("type") == "error":
            raise RuntimeError(f"{frame.get('code')}: {frame.get('message')}")


async def reader(session: Session, latencies: list[float], results: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        async for raw in session.ws:
            frame = json.loads(raw)
            if frame.get("type") == "ack":
                started = session.sent.pop(frame.get("client_id"), None)
                if started is not None:
                    latencies.append(time.perf_counter() - started)
                    session.acked += 1
            elif frame.get("type") == "error":
                results["errors"][str(frame.get("code"))] += 1
    results["closed_during_run"] += 1


async def client_main(url: str, count: int, first: int, ramp: float, rate: float,
                      duration: float, go: Any, ready: Any, out: Any) -> None:
    results: dict[str, Any] = {"failures": collections.Counter(), "errors": collections.Counter(),
                               "closed_during_run": 0}
    opening: list[asyncio.Task[Session | None]] = []
    t0 = time.perf_counter()
    for i in range(count):  # a steady ramp: the server sees arrivals, not a stampede
        opening.append(asyncio.create_task(open_session(url, first + i, results)))
        delay = t0 + (i + 1) / ramp - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    sessions = [s for s in await asyncio.gather(*opening) if s is not None]
    open_seconds = time.perf_counter() - t0
    ready.put(len(sessions))
    while not go.is_set():  # all clients start sending together
        await asyncio.sleep(0.05)
    latencies: list[float] = []
    readers = [asyncio.create_task(reader(s, latencies, results)) for s in sessions]
    sent = 0
    send_errors = 0
    t1 = time.perf_counter()
    if sessions:
        interval = 1.0 / rate
        next_at = t1
        while time.perf_counter() - t1 < duration:
            session = sessions[sent % len(sessions)]
            client_id = str(uuid.uuid4())
            session.sent[client_id] = time.perf_counter()
            try:
                await session.ws.send(json.dumps({"type": "message", "client_id": client_id,
                                                  "text": f"message {sent} 你好"}))
            except Exception:
                send_errors += 1
            sent += 1
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    send_seconds = time.perf_counter() - t1
    drain_until = time.perf_counter() + 10  # acks still in flight
    while time.perf_counter() < drain_until and len(latencies) < sent - send_errors:
        await asyncio.sleep(0.05)
    held_after = sum(1 for s in sessions if s.ws.state.name == "OPEN")
    for task in readers:
        task.cancel()
    await asyncio.gather(*(s.ws.close() for s in sessions), return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put({"opened": len(sessions), "open_seconds": open_seconds, "sent": sent,
             "send_errors": send_errors, "send_seconds": send_seconds, "latencies": latencies,
             "held_after": held_after, "failures": dict(results["failures"]),
             "errors": dict(results["errors"]), "cpu": usage.ru_utime + usage.ru_stime})


def client_process(*args: Any) -> None:
    raise_fd_limit(65536)
    asyncio.run(client_main(*args))


# --- the run -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second, total")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--ramp", type=float, default=500.0, help="sessions opened per second")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--production", action="store_true",
                        help="PostgreSQL + Redis instead of SQLite and in-process bus/jobs")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the server with py-spy while messages flow; "
                             "raw stacks to FILE")
    args = parser.parse_args()

    fd_limit = raise_fd_limit(args.sessions * 2 + 4096)  # the server inherits it
    workdir = Path(tempfile.mkdtemp(prefix="kefu-webchat-bench-"))
    drop_database = None
    backend = "PostgreSQL + Redis" if args.production else "SQLite (embedded)"
    env = {**os.environ, "KEFU_DATA_DIR": str(workdir / "data"), "KEFU_LOG_LEVEL": "warning",
           "KEFU_WEBCHAT_MAX_SESSIONS": str(args.sessions + 1000)}
    for name in [n for n in env if n.startswith("KEFU_") and n not in (
            "KEFU_DATA_DIR", "KEFU_LOG_LEVEL", "KEFU_WEBCHAT_MAX_SESSIONS")]:
        del env[name]  # the caller's kefu settings must not leak into the benchmark
    if args.production:
        db_url, drop_database = create_postgres_database(args.database_url)
        env["KEFU_DATABASE_URL"] = db_url
        env["KEFU_REDIS_URL"] = args.redis_url
    else:
        env["KEFU_DATABASE_URL"] = f"sqlite:///{workdir / 'kefu.sqlite3'}"
    server = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        kefu("db", "upgrade", env=env)
        kefu("tenant", "add", "bench", "--name", "Bench", env=env)
        tenant_dir = workdir / "bench"
        tenant_dir.mkdir()
        (tenant_dir / "tenant.kefu").write_text(CONFIG, encoding="utf-8")
        kefu("apply", str(tenant_dir), "--tenant", "bench", "-m", "bench", env=env)
        port = free_port()
        command = [sys.executable, "-m", "kefu.platform.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
        log_path = workdir / "server.log"
        with log_path.open("wb") as log_file:
            server = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        stats = ProcessStats(server.pid)
        rss_idle = stats.rss_mb()
        url = f"ws://127.0.0.1:{port}/ws/chat?key={KEY}"

        ctx = mp.get_context("spawn")
        go, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
        share = [args.sessions // args.clients + (1 if i < args.sessions % args.clients else 0)
                 for i in range(args.clients)]
        workers = []
        first = 0
        for count in share:
            workers.append(ctx.Process(target=client_process, args=(
                url, count, first, args.ramp / args.clients, args.rate / args.clients,
                args.duration, go, ready, out), daemon=True))
            first += count
        print(f"kefu serve pid {server.pid} on {backend}; fd limit {fd_limit}; opening "
              f"{args.sessions} sessions with {args.clients} "
              f"client processes at {args.ramp:.0f}/s ...", flush=True)
        cpu_open0 = stats.cpu_seconds()
        t_open = time.perf_counter()
        for worker in workers:
            worker.start()
        opened = sum(ready.get(timeout=args.sessions / args.ramp + 300) for _ in workers)
        open_wall = time.perf_counter() - t_open
        cpu_open = stats.cpu_seconds() - cpu_open0
        rss_held = stats.rss_mb()
        threads_held = stats.threads()
        print(f"held {opened} sessions after {open_wall:.1f} s; server RSS {rss_held:.0f} MB "
              f"({rss_idle:.0f} MB idle), {threads_held} threads; sending {args.rate:.0f} "
              f"messages/s for {args.duration:.0f} s ...", flush=True)

        cpu0 = stats.cpu_seconds()
        t0 = time.perf_counter()
        go.set()
        if args.profile:  # samples every thread of the server while the messages flow
            profiler = subprocess.Popen(
                [shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                 "record", "-p", str(server.pid), "-d",
                 str(int(args.duration)), "-r", "100", "-f", "raw", "-o", args.profile,
                 "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        reports = [out.get(timeout=args.duration + 120) for _ in workers]
        wall = time.perf_counter() - t0
        cpu = stats.cpu_seconds() - cpu0
        rss_after = stats.rss_mb()
        for worker in workers:
            worker.join(timeout=30)
        if profiler is not None:
            profiler.wait(timeout=args.duration + 60)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if drop_database is not None:
            with contextlib.suppress(Exception):
                drop_database()
    server_errors = [line for line in (workdir / "server.log").read_text(
        errors="replace").splitlines()
        if '"level": "error"' in line or " ERROR " in line or line.startswith("Traceback")]
    shutil.rmtree(workdir, ignore_errors=True)

    latencies = [x for r in reports for x in r["latencies"]]
    sent = sum(r["sent"] for r in reports)
    send_seconds = max(r["send_seconds"] for r in reports)
    failures: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for r in reports:
        failures.update(r["failures"])
        errors.update(r["errors"])
    ms = [x * 1000 for x in latencies]
    print()
    print(f"backend                 {backend}")
    print(f"sessions requested      {args.sessions}")
    print(f"sessions opened/held    {opened} opened, "
          f"{sum(r['held_after'] for r in reports)} still open after the run")
    print(f"open failures           {sum(failures.values())} {dict(failures) or ''}")
    print(f"opening                 {open_wall:.1f} s ({opened / open_wall:.0f}/s), "
          f"server CPU {cpu_open:.1f} s")
    print(f"messages sent / acked   {sent} / {len(latencies)} "
          f"(send errors {sum(r['send_errors'] for r in reports)}, "
          f"error frames {dict(errors) or 0})")
    print(f"achieved rate           {sent / send_seconds:.0f} sent/s, "
          f"{len(latencies) / wall:.0f} acked/s")
    if ms:
        print(f"round trip (ack) ms     p50 {statistics.median(ms):.1f}  "
              f"p95 {percentile(ms, .95):.1f}  p99 {percentile(ms, .99):.1f}  max {max(ms):.1f}")
    print(f"server RSS MB           idle {rss_idle:.0f}, holding {rss_held:.0f} "
          f"({(rss_held - rss_idle) * 1024 / max(opened, 1):.1f} KB/session), after run "
          f"{rss_after:.0f}")
    print(f"server CPU under load   {cpu / wall * 100:.0f}% of one core "
          f"({cpu:.1f} s in {wall:.1f} s)")
    print(f"client CPU              {sum(r['cpu'] for r in reports):.1f} s in "
          f"{len(reports)} processes")
    print(f"machine                 {os.cpu_count()} cores")
    print(f"server errors logged    {len(server_errors)}")
    for line in server_errors[:5]:
        print(f"    {describe_log_line(line)[:300]}")
    if args.profile:
        print(f"profile                 {args.profile} (py-spy raw stacks: one line per stack)")


if __name__ == "__main__":
    main()
