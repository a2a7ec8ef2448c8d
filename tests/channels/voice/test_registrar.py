"""The registrar (RFC 3261 §10.3), sans-IO: digest challenges, bindings, expiry, bans."""

from __future__ import annotations

from kefu.channels.voice.sip.auth import (
    AuthLimiter,
    DigestServer,
    answer_challenge,
    password_lookup,
)
from kefu.channels.voice.sip.message import Request, Response, parse_message
from kefu.channels.voice.sip.registrar import Registrar

SOURCE = ("192.0.2.10", 5062)


def register(user: str = "8001", *, expires: str | None = "600", contact: str | None = None,
             authorization: str | None = None, cseq: int = 1) -> Request:
    lines = ["REGISTER sip:kefu.test SIP/2.0",
             "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKr1",
             f"From: <sip:{user}@kefu.test>;tag=a", f"To: <sip:{user}@kefu.test>",
             "Call-ID: reg@192.0.2.10", f"CSeq: {cseq} REGISTER",
             f"Contact: {contact or '<sip:' + user + '@192.0.2.10:5062>'}"]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if authorization:
        lines.append(f"Authorization: {authorization}")
    msg = parse_message(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode())
    assert isinstance(msg, Request)
    return msg


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make(max_failures: int = 3) -> tuple[Registrar, Clock]:
    clock = Clock()
    digest = DigestServer("kefu.test", b"k", clock)
    registrar = Registrar(digest, password_lookup("kefu.test", {"8001": "pw-8001-x"}),
                          limiter=AuthLimiter(max_failures=max_failures, window=60,
                                              ban_seconds=300))
    return registrar, clock


def authorized(registrar: Registrar, password: str, now: float, user: str = "8001",
               **kwargs: str) -> Response | None:
    """REGISTER, answer the challenge with ``password``, REGISTER again with credentials."""
    challenge = registrar.handle(register(user, **kwargs), SOURCE, now)
    assert challenge is not None
    assert challenge.status == 401
    auth = answer_challenge(challenge.headers.get("WWW-Authenticate") or "", method="REGISTER",
                            uri="sip:kefu.test", username=user, password=password)
    return registrar.handle(register(user, authorization=auth, **kwargs), SOURCE, now)


def test_register_binds_the_contact_and_expires() -> None:
    registrar, clock = make()
    changes: list[tuple[str, object]] = []
    registrar.on_change = lambda user, binding: changes.append((user, binding))
    ok = authorized(registrar, "pw-8001-x", clock.now)
    assert ok is not None
    assert ok.status == 200
    assert ok.headers.get("Contact") == "<sip:8001@192.0.2.10:5062>;expires=600"
    binding = registrar.find("8001", clock.now + 599)
    assert binding is not None
    assert (binding.source, str(binding.contact)) == (SOURCE, "sip:8001@192.0.2.10:5062")
    assert registrar.find("8001", clock.now + 600) is None
    assert [user for user, _ in changes] == ["8001", "8001"]  # bound, then lapsed


def test_expires_zero_and_star_unregister_and_short_intervals_get_423() -> None:
    registrar, clock = make()
    authorized(registrar, "pw-8001-x", clock.now)
    gone = authorized(registrar, "pw-8001-x", clock.now, expires="0")
    assert gone is not None
    assert gone.status == 200
    assert registrar.find("8001", clock.now) is None
    authorized(registrar, "pw-8001-x", clock.now)
    star = authorized(registrar, "pw-8001-x", clock.now, contact="*", expires="0")
    assert star is not None
    assert star.status == 200
    assert registrar.find("8001", clock.now) is None
    brief = authorized(registrar, "pw-8001-x", clock.now, expires="10")
    assert brief is not None
    assert brief.status == 423
    assert brief.headers.get("Min-Expires") == "60"


def test_unknown_user_and_wrong_password_look_the_same_then_the_source_is_banned() -> None:
    registrar, clock = make(max_failures=3)
    wrong = authorized(registrar, "nope", clock.now)
    unknown = authorized(registrar, "whatever", clock.now, user="9999")
    assert wrong is not None
    assert unknown is not None
    assert (wrong.status, unknown.status) == (401, 401)
    assert wrong.headers.get("WWW-Authenticate") is not None
    assert authorized(registrar, "nope", clock.now) is None  # third: banned
    # banned: even the right password gets no answer, until the ban ends
    assert registrar.handle(register(), SOURCE, clock.now + 299) is None
    later = clock.now + 301
    clock.now = later
    ok = authorized(registrar, "pw-8001-x", later)
    assert ok is not None
    assert ok.status == 200


def test_registering_someone_else_is_forbidden() -> None:
    registrar, clock = make()
    challenge = registrar.handle(register("8002"), SOURCE, clock.now)
    assert challenge is not None
    auth = answer_challenge(challenge.headers.get("WWW-Authenticate") or "", method="REGISTER",
                            uri="sip:kefu.test", username="8001", password="pw-8001-x")
    refused = registrar.handle(register("8002", authorization=auth), SOURCE, clock.now)
    assert refused is not None
    assert refused.status == 403
