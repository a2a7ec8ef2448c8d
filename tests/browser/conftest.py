"""Fixtures for the browser tests: kefu on a real uvicorn server with its runtime services,
the demo tenant's config deployed through the API, a customer's web site on another origin
that embeds the chat widget with one <script> tag, and headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kefu.platform.context import Platform
from kefu.platform.identity.models import Role
from tests.integration.servers import ThreadedServer

CHROMIUM = "/usr/bin/chromium"
DEMO_DIR = Path(__file__).resolve().parents[2] / "tenants" / "demo"
# The demo flow sends customers to a voicemail outside office hours; tests must not depend on
# the clock, so the office is open around the clock in the deployed variant.
_OFFICE = re.compile(r'calendar office "Office hours" \{.*?\n\}', re.S)


class ApiError(AssertionError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status


class Api:
    """A machine client of kefu's JSON API over real HTTP (bearer token, no cookies)."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + "/api/v1" + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, exc.read().decode(errors="replace")) from None


def demo_files() -> dict[str, str]:
    """tenants/demo as config files, its office calendar made ``always`` open."""
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(DEMO_DIR.glob("*.kefu"))}
    opened, count = _OFFICE.subn('calendar office "Office hours" {\n  always\n}',
                                 files["tenant.kefu"])
    assert count == 1, "tenants/demo/tenant.kefu no longer declares the office calendar"
    files["tenant.kefu"] = opened
    return files


@dataclass
class Kefu:
    """The running kefu, and the demo tenant's admin on its API."""

    server: ThreadedServer
    tenant: Any
    admin: Api
    factory: Any

    @property
    def http(self) -> str:
        return self.server.http

    @property
    def ws(self) -> str:
        return self.server.ws

    def agent(self, name: str) -> tuple[dict[str, Any], Api, str]:
        """A new agent user who may take general_q's chats: (agent record, API, token)."""
        user = self.factory.user(self.tenant, Role.AGENT)
        token = self.factory.token(user, self.tenant)
        record = self.admin("POST", "/agents", {
            "display_name": name, "user_id": str(user.id),
            "skills": [{"skill": "billing", "level": 3}]})
        return record, Api(self.http, token), token

    def agent_user(self, name: str, *roles: Role) -> tuple[dict[str, Any], Any]:
        """A new agent (as :meth:`agent`) whose user can log in to the portal in a browser:
        (agent record, user)."""
        user = self.factory.user(self.tenant, *(roles or (Role.AGENT,)))
        record = self.admin("POST", "/agents", {
            "display_name": name, "user_id": str(user.id),
            "skills": [{"skill": "billing", "level": 3}]})
        return record, user


def log_in(browser: Any, base: str, email: str, path: str, *, locale: str = "en-GB") -> Any:
    """A new 1024×768 browser context logged in as ``email`` (the factory's password) on the
    login page, showing ``path``; page errors are collected in ``page.problems``."""
    from tests.factories import Factory

    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale=locale)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))
    page.goto(f"{base}/login?next={path}")
    page.fill("#email", email)
    page.fill("#password", Factory.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}*")
    if path in ("/agent", "/supervisor"):
        # The portal's scripts mark the page ready once it has drawn the tenant's config.
        page.wait_for_selector("main[data-ready=true]", timeout=20_000)
    return page


#: Attachments over this many bytes are refused (small, so the test's big file stays small).
UPLOAD_LIMIT = 64 * 1024


@pytest.fixture
def kefu(settings: Any, factory: Any) -> Iterator[Kefu]:
    platform = Platform(dataclasses.replace(settings, values={
        **settings.values, "messaging.max_attachment_bytes": UPLOAD_LIMIT}))
    with ThreadedServer(platform, host_runtime=True) as server:
        tenant = factory.tenant()
        admin_user = factory.user(tenant, Role.ADMIN, Role.SUPERVISOR)
        admin = Api(server.http, factory.token(admin_user, tenant))
        version = admin("POST", "/configs", {"files": demo_files(), "message": "demo, open"})
        assert version["status"] == "valid", version.get("diagnostics")
        admin("POST", f"/configs/{version['id']}/deploy")
        yield Kefu(server, tenant, admin, factory)
    platform.close()


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class CustomerSite:
    """A tenant's web site (its own origin) with the widget's script tag on its pages."""

    base: str
    root: Path

    def page(self, name: str, script_src: str, key: str = "demo-widget",
             locale: str | None = None) -> str:
        lang = f' data-locale="{locale}"' if locale else ""
        (self.root / name).write_text(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Acme Gas</title>"
            # Host page styles that would wreck an unisolated widget.
            "<style>*{font-size:40px!important;color:red!important}"
            "button{display:none!important}</style></head>"
            "<body><h1>Acme Gas</h1><p>Welcome to our web site.</p>"
            f'<script src="{script_src}" data-key="{key}"{lang} async></script>'
            "</body></html>", encoding="utf-8")
        return f"{self.base}/{name}"


@pytest.fixture
def customer_site(tmp_path: Path) -> Iterator[CustomerSite]:
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Site, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield CustomerSite(f"http://127.0.0.1:{server.server_address[1]}", root)
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def artifacts(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where screenshots go: $KEFU_ARTIFACTS_DIR/<test> when set, else the test's tmp dir."""
    base = os.environ.get("KEFU_ARTIFACTS_DIR")
    directory = Path(base) / request.node.name if base else tmp_path / "artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()
