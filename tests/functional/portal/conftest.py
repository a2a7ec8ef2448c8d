"""Fixtures of the portal tests: API actors (from the API tests), a deployed contact center
(``desk``), a real kefu server for websocket tests (``server``) and the mail system of the
email tests (``system``, ``mail_tenant``: kefu's SMTP listener and relay with a sink)."""

from tests.functional.api.conftest import _cheap_password_hashing, actor  # noqa: F401
from tests.functional.automation.conftest import (  # noqa: F401 - for the FAQ answer tests
    auto_app,
    auto_platform,
    tenancy,
)
from tests.functional.email.conftest import mail, mail_tenant, system  # noqa: F401
from tests.functional.portal.live import server  # noqa: F401
from tests.functional.portal.portal_desk import desk  # noqa: F401
