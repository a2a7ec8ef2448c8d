"""``webhook`` actions: delivered from a job to allow-listed hosts only, never to a private
address the tenant did not name, with the outcome on the firing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kefu.platform.automation.models import RuleFiring
from kefu.platform.jobs import JobStatus
from tests.functional.automation.conftest import TEST_CONFIG, Tenancy, rows, settle


class Endpoint:
    """A local HTTP server that records what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                endpoint.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(self.rfile.read(length))})
                self.send_response(endpoint.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def _config(host: str, port: int) -> dict[str, str]:
    source = TEST_CONFIG.replace('allow_hosts "127.0.0.1"', f'allow_hosts "{host}"') + f"""
http 工单推送 {{
  post "http://{host}:{port}/hook/{{message.id}}"
  timeout 2s
  retries 0
}}

rule 推送 "传真推送到CRM" {{
  on fax.received
  webhook 工单推送
}}
"""
    return {"tenant.kefu": source}


def _fax(t: Tenancy) -> dict[str, Any]:
    fax = t.api.api("POST", "/interactions", {"channel": "fax", "direction": "inbound",
                                              "from_address": "0756-2600001"}, status=201).json
    return t.api.api("POST", f"/interactions/{fax['id']}/messages",  # type: ignore[no-any-return]
                     {"direction": "inbound", "body_text": "报修传真"}, status=201).json


def _delivered(t: Tenancy, platform: Any) -> RuleFiring:
    settle(platform)
    [firing] = rows(t, RuleFiring)
    job_id = firing.results[0]["job_id"]
    assert platform.jobs.wait(job_id, timeout=60).status == JobStatus.FINISHED
    [firing] = rows(t, RuleFiring)
    return firing


def test_a_webhook_is_delivered_to_an_allow_listed_address(
        tenancy: Any, auto_platform: Any, endpoint: Endpoint) -> None:
    t: Tenancy = tenancy(_config("127.0.0.1", endpoint.port))
    message = _fax(t)
    firing = _delivered(t, auto_platform)
    [request] = endpoint.requests
    assert request["path"] == f"/hook/{message['id']}"
    assert request["body"]["event"]["kind"] == "fax.received"
    assert request["body"]["rule"] == "推送"
    assert request["body"]["data"]["message"]["text"] == "报修传真"
    assert request["headers"]["Idempotency-Key"] == firing.results[0]["job_id"]
    assert (firing.results[0]["delivery"], firing.results[0]["status"], firing.status) == (
        "delivered", 200, "done")


def test_a_failing_endpoint_is_recorded_on_the_firing(
        tenancy: Any, auto_platform: Any, endpoint: Endpoint) -> None:
    endpoint.status = 500
    t: Tenancy = tenancy(_config("127.0.0.1", endpoint.port))
    _fax(t)
    firing = _delivered(t, auto_platform)
    assert len(endpoint.requests) == 1  # retries 0
    assert (firing.results[0]["delivery"], firing.results[0]["status"], firing.status) == (
        "failed", 500, "failed")


def test_a_name_that_resolves_to_a_private_address_is_refused(
        tenancy: Any, auto_platform: Any, endpoint: Endpoint) -> None:
    t: Tenancy = tenancy(_config("localhost", endpoint.port))
    _fax(t)
    firing = _delivered(t, auto_platform)
    assert endpoint.requests == []
    assert firing.results[0]["delivery"] == "refused"
    assert "private address" in firing.results[0]["error"]
