"""Logging in and out, CSRF, sessions, tenant switching and the admin page."""

from __future__ import annotations

import sqlalchemy as sa

from kefu.platform.audit.models import AuditEntry
from kefu.platform.identity.models import LoginSession, Role, User
from kefu.platform.tenancy.scope import cross_tenant
from tests.factories import Factory


def test_login_page_then_home(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant("acme", "ACME 公司")
    user = factory.user(tenant, Role.AGENT, email="li@acme.test")
    client = web()
    page = client.get("/login")
    assert "Log in" in page.text
    assert page.forms[0]["csrf_token"].value == client.cookies["kefu_csrf"]
    form = page.forms[0]
    form["email"], form["password"] = "LI@acme.test", Factory.PASSWORD
    response = form.submit(status=303)
    cookie = next(h for k, h in response.headerlist
                  if k == "Set-Cookie" and h.startswith("kefu_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    home = client.get("/")
    assert "ACME 公司" in home.text
    assert "agent" in home.text
    with factory.session() as db:
        stored = db.scalar(sa.select(User.password_hash).where(User.id == user.id))
        assert stored.startswith("$argon2id$")
        token_hashes = db.scalars(sa.select(LoginSession.token_hash)).all()
    # The cookie value itself is never stored, only its hash.
    assert client.cookies["kefu_session"] not in token_hashes


def test_wrong_password_gets_an_error_and_no_session(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web()
    form = client.get("/login").forms[0]
    form["email"], form["password"] = user.email, "not the password"
    page = form.submit(status=400)
    assert "Wrong email or password" in page.text
    assert "kefu_session" not in client.cookies
    unknown = client.get("/login").forms[0]
    unknown["email"], unknown["password"] = "nobody@example.test", "whatever1"
    assert "Wrong email or password" in unknown.submit(status=400).text
    with factory.session() as db:
        actions = db.scalars(sa.select(AuditEntry.action)).all()
    assert actions.count("login.failed") == 2


def test_login_form_without_csrf_token_is_refused(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web()
    response = client.post("/login", {"email": user.email, "password": Factory.PASSWORD},
                           status=400)
    assert "kefu_session" not in client.cookies
    assert response.status_int == 400


def test_logout_revokes_the_session_server_side(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web(user)
    stolen = client.cookies["kefu_session"]
    client.post("/logout", {"csrf_token": client.cookies["kefu_csrf"]}, status=303)
    assert client.get("/", status=303).location.endswith("/login?next=%2F")
    # A copy of the old cookie is worthless after logout.
    thief = web()
    thief.set_cookie("kefu_session", stolen)
    thief.get("/", status=303)
    thief.api("GET", "/customers", status=401)


def test_next_parameter_cannot_redirect_off_site(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web()
    form = client.get("/login?next=//evil.example/phish").forms[0]
    form["email"], form["password"] = user.email, Factory.PASSWORD
    assert form.submit(status=303).location == "http://localhost/"
    client2 = web()
    form = client2.get("/login?next=/admin").forms[0]
    form["email"], form["password"] = user.email, Factory.PASSWORD
    assert form.submit(status=303).location == "http://localhost/admin"


def test_anonymous_pages_redirect_to_login(web) -> None:  # type: ignore[no-untyped-def]
    client = web()
    assert "/login?next=%2Fadmin" in client.get("/admin", status=303).location


def test_admin_page_lists_own_tenant_users_only(factory, web) -> None:  # type: ignore[no-untyped-def]
    acme, other = factory.tenant("acme", "ACME"), factory.tenant("other", "Other Co")
    admin = factory.user(acme, Role.ADMIN, email="boss@acme.test")
    factory.user(acme, Role.AGENT, Role.SUPERVISOR, email="sue@acme.test")
    factory.user(other, Role.ADMIN, email="secret@other.test")
    page = web(admin).get("/admin")
    assert "sue@acme.test" in page.text
    assert "agent, supervisor" in page.text
    assert "secret@other.test" not in page.text
    assert "Other Co" not in page.text


def test_platform_operator_sees_every_tenant(factory, web) -> None:  # type: ignore[no-untyped-def]
    factory.tenant("acme", "ACME")
    factory.tenant("other", "Other Co")
    operator = factory.user(None, email="root@kefu.test", superuser=True)
    page = web(operator).get("/admin")
    assert "ACME" in page.text
    assert "Other Co" in page.text


def test_agent_may_not_open_admin_page(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    agent = factory.user(tenant, Role.AGENT)
    page = web(agent).get("/admin", status=403)
    assert "Not allowed" in page.text


def test_member_of_two_tenants_switches_between_them(factory, web) -> None:  # type: ignore[no-untyped-def]
    acme, other, third = factory.tenant("acme", "ACME"), factory.tenant("other", "Other Co"), \
        factory.tenant("third", "Third")
    user = factory.user(acme, Role.AGENT)
    with factory.session() as db, cross_tenant(db):
        from kefu.platform.identity.services import IdentityService

        IdentityService(db).grant(db.get(User, user.id), other.id, Role.SUPERVISOR)
        db.commit()
    client = web(user)
    assert "Third" not in client.get("/").text
    csrf = client.cookies["kefu_csrf"]
    client.post("/switch-tenant", {"csrf_token": csrf, "tenant_id": str(other.id)}, status=303)
    assert "supervisor" in client.get("/").text
    # Not a member of "third": refused, and the session stays where it was.
    client.post("/switch-tenant", {"csrf_token": csrf, "tenant_id": str(third.id)}, status=400)
    client.post("/switch-tenant", {"csrf_token": csrf, "tenant_id": "garbage"}, status=400)
    assert "Other Co" in client.get("/").text


def test_deactivated_user_loses_access_at_once(factory, web) -> None:  # type: ignore[no-untyped-def]
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web(user)
    client.get("/")
    with factory.session() as db:
        db.get(User, user.id).is_active = False
        db.commit()
    client.get("/", status=303)


def test_password_guessing_is_throttled_per_account(factory, web, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kefu.platform.identity import views

    monkeypatch.setattr(views, "MAX_LOGIN_FAILURES", 3)
    tenant = factory.tenant()
    user = factory.user(tenant)
    client = web()

    def attempt(password: str, status: int) -> str:
        form = client.get("/login").forms[0]
        form["email"], form["password"] = user.email, password
        return form.submit(status=status).text

    for guess in ("guess-one", "guess-two", "guess-three"):
        assert "Wrong email or password" in attempt(guess, 400)
    # Even the right password is refused while the account is throttled.
    assert "Too many failed attempts" in attempt(Factory.PASSWORD, 429)
    assert "kefu_session" not in client.cookies
    # Other accounts are not affected.
    other = factory.user(tenant)
    form = client.get("/login").forms[0]
    form["email"], form["password"] = other.email, Factory.PASSWORD
    form.submit(status=303)
