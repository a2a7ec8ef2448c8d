"""Where a ``webhook`` may go: allow-listed hosts only, resolved once, and never a private
address the tenant did not name itself (no server-side request forgery)."""

from __future__ import annotations

import pytest

from kefu.platform.automation.webhooks import WebhookRefused, check_target


@pytest.mark.parametrize(("url", "allow", "why"), [
    ("http://crm.example.cn/x", (), "allow_hosts"),
    ("ftp://127.0.0.1/x", ("127.0.0.1",), "allow_hosts"),
    ("http://localhost:8080/x", ("localhost",), "private address"),
    ("http://10.1.2.3/x", ("*.example.cn",), "allow_hosts"),
    ("http://169.254.169.254/latest/meta-data", ("169.254.169.254",), "never called"),
    ("http://[::1]:8080/x", ("localhost",), "allow_hosts"),
])
def test_forbidden_targets(url: str, allow: tuple[str, ...], why: str) -> None:
    with pytest.raises(WebhookRefused, match=why):
        check_target(url, allow)


def test_allowed_targets() -> None:
    target = check_target("http://127.0.0.1:8080/hook?a=1", ("127.0.0.1",))
    assert (target.address, target.port, target.path) == ("127.0.0.1", 8080, "/hook?a=1")
    assert check_target("http://[::1]/x", ("::1",)).address == "::1"
