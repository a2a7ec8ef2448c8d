"""Wallboard liveness: how long after an agent's state change (the API call returns) the
supervisor console in a browser shows it.

Setup: a temporary data directory with the demo tenant (``kefu demo load``), one ``kefu serve``
process on SQLite, or on PostgreSQL + Redis with ``--production``. A headless Chromium
(Debian's /usr/bin/chromium, Playwright) logs in as the demo supervisor and opens
``/supervisor``; a MutationObserver in the page notes the wall-clock time at which the demo
agent's row changes state. The benchmark flips the agent ready / not ready (``PUT
/agents/{id}/presence`` with the agent's API token) ``--changes`` times, one at a time, and
times each from the moment the call returned to the moment the row changed (same machine,
same clock).

    .venv/bin/python benchmarks/wallboard.py [--changes 50] [--production]
        [--database-url URL] [--redis-url URL]

Target (issue 6): every change on the wallboard within one second. Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from webchat import create_postgres_database, free_port, kefu, percentile, wait_ready

from kefu.platform.demo import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
SUPERVISOR = "supervisor@demo.example"
AGENT = "agent1@demo.example"

WATCH_ROW = """(agentId) => {
    window.changes = [];
    const row = () => document.querySelector(`#agents tr[data-agent='${agentId}']`);
    new MutationObserver(() => {
        const current = row();
        const state = current && current.dataset.state;
        if (state && state !== window.lastState) {
            window.lastState = state;
            window.changes.push({state, at: Date.now()});
        }
    }).observe(document.querySelector("#agents tbody"),
               {subtree: true, childList: true, attributes: true});
    window.lastState = row() && row().dataset.state;
}"""


def call(base: str, token: str, method: str, path: str, body: object = None) -> object:
    request = urllib.request.Request(
        f"{base}/api/v1{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--production", action="store_true")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="kefu-wallboard-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update({"KEFU_DATA_DIR": str(workdir / "data"), "KEFU_LOG_LEVEL": "warning"})
    drop_database = None
    if args.production:
        env["KEFU_DATABASE_URL"], drop_database = create_postgres_database(args.database_url)
        env["KEFU_REDIS_URL"] = args.redis_url
    else:
        env["KEFU_DATABASE_URL"] = f"sqlite:///{workdir / 'kefu.sqlite3'}"
    server = None
    try:
        kefu("db", "upgrade", env=env)
        kefu("demo", "load", env=env)
        token = kefu("token", "add", AGENT, "--tenant", "demo", env=env).strip()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with (workdir / "server.log").open("wb") as log_file:
            server = subprocess.Popen(
                [sys.executable, "-m", "kefu.platform.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT)
        wait_ready(f"{base}/readyz", server)
        agents = call(base, token, "GET", "/agents?limit=100")
        (agent,) = [a for a in agents["items"]  # type: ignore[index]
                    if a["display_name"].startswith("Li Wei")]

        delays: list[float] = []
        totals: list[float] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
            page.goto(f"{base}/login?next=/supervisor")
            page.fill("#email", SUPERVISOR)
            page.fill("#password", DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("main[data-ready=true]", timeout=30_000)
            page.wait_for_selector("#live-indicator[data-live=true]", timeout=30_000)
            # Logged in first (logging in passes through not ready), so each call below is
            # one change of state.
            call(base, token, "PUT", f"/agents/{agent['id']}/presence",
                 {"state": "not_ready", "reason": "lunch"})
            page.wait_for_selector(f"#agents tr[data-agent='{agent['id']}'][data-state=not_ready]")
            page.evaluate(WATCH_ROW, agent["id"])
            states = ["ready", "not_ready"]
            for index in range(args.changes):
                state = states[index % 2]
                body = {"state": state, **({"reason": "lunch"} if state == "not_ready" else {})}
                seen = page.evaluate("window.changes.length")
                started = time.time() * 1000
                call(base, token, "PUT", f"/agents/{agent['id']}/presence", body)
                returned = time.time() * 1000
                page.wait_for_function(f"window.changes.length > {seen}", timeout=10_000)
                change = page.evaluate(f"window.changes[{seen}]")
                if change["state"] != state:
                    raise SystemExit(f"the wallboard showed {change['state']}, not {state}")
                # The event often beats the HTTP answer to the client: then 0 after return.
                delays.append(max(0.0, change["at"] - returned))
                totals.append(change["at"] - started)
            browser.close()

        backend = "PostgreSQL + Redis" if args.production else "SQLite (embedded)"
        print(f"wallboard on {backend}: {len(delays)} agent state changes, API return -> row "
              "changed in the supervisor's browser")
        for label, values in (("after the call returned", delays),
                              ("from the call's start (request, commit, event, drawing)",
                               totals)):
            print(f"  {label}: median {statistics.median(values):.0f} ms, p95 "
                  f"{percentile(values, 0.95):.0f} ms, max {max(values):.0f} ms; within 1 s: "
                  f"{sum(v <= 1000 for v in values)}/{len(values)}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if drop_database is not None:
            drop_database()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
