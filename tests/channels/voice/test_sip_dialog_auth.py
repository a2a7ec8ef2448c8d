"""Dialogs (RFC 3261 §12) and digest authentication with failed-auth bans."""

from __future__ import annotations

from kefu.channels.voice.sip.auth import (
    AuthLimiter,
    DigestServer,
    Rejected,
    Verified,
    answer_challenge,
    parse_auth_header,
    password_lookup,
)
from kefu.channels.voice.sip.dialog import Dialog, new_request
from kefu.channels.voice.sip.message import Address, Request, Uri, make_response, parse_message

from .messages import invite


def uas_dialog() -> tuple[Dialog, Request]:
    inv = parse_message(invite())
    assert isinstance(inv, Request)
    contact = Address(Uri("sip", "kefu", "127.0.0.1", 5070))
    return Dialog.from_uas(inv, "ourtag", contact, via_transport="UDP",
                           via_sent_by="127.0.0.1:5070"), inv


def test_uas_dialog_sends_bye_to_the_contact_through_the_route_set() -> None:
    dialog, _ = uas_dialog()
    bye = parse_message(bytes(dialog.request("BYE")))
    assert isinstance(bye, Request)
    assert str(bye.uri) == "sip:alice@127.0.0.1:5062;transport=udp"
    assert [str(r.uri) for r in bye.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert bye.from_.tag == "ourtag"
    assert bye.to.tag == "1928301774"
    assert bye.cseq.number == 1
    assert parse_message(bytes(dialog.request("INFO"))).cseq.number == 2


def test_uac_dialog_reverses_the_record_route_and_acks_the_invite_cseq() -> None:
    inv = parse_message(invite())
    assert isinstance(inv, Request)
    ok = make_response(inv, 200, to_tag="remote",
                       headers=[("Contact", "<sip:agent@127.0.0.1:5090>")])
    ok.headers.add("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    dialog = Dialog.from_uac(inv, parse_message(bytes(ok)))  # type: ignore[arg-type]
    ack = dialog.ack()
    assert ack.cseq.number == 314159
    assert ack.cseq.method == "ACK"
    assert [r.uri.host for r in ack.routes] == ["p2.example.com", "p1.example.com"]
    assert str(ack.uri) == "sip:agent@127.0.0.1:5090"
    assert ack.top_via.branch != inv.top_via.branch
    reinvite = dialog.request("INVITE")
    assert reinvite.cseq.number == 314160
    assert dialog.ack().cseq.number == 314160


def test_strict_router_goes_in_the_request_uri() -> None:
    dialog, _ = uas_dialog()
    dialog.route_set = [Address(Uri("sip", None, "strict.example.com"))]
    bye = dialog.request("BYE")
    assert bye.uri.host == "strict.example.com"
    assert [r.uri.user for r in bye.routes] == ["alice"]


def test_remote_cseq_must_increase() -> None:
    dialog, _inv = uas_dialog()
    bye = dialog.request("BYE")  # reuse a request shape for the peer's in-dialog requests
    bye.headers.set("CSeq", "314160 INFO")
    assert dialog.accept_remote(bye)
    bye.headers.set("CSeq", "314160 INFO")
    assert not dialog.accept_remote(bye)
    bye.headers.set("CSeq", "1 INFO")
    assert not dialog.accept_remote(bye)


def test_out_of_dialog_request_has_mandatory_headers() -> None:
    req = new_request("OPTIONS", Uri("sip", "agent", "127.0.0.1", 5090),
                      from_=Address(Uri("sip", "kefu", "h"), params={"tag": "f"}),
                      to=Address(Uri("sip", "agent", "h")), call_id="c@h", cseq=1,
                      via_transport="UDP", via_sent_by="127.0.0.1:5070")
    parsed = parse_message(bytes(req))
    assert parsed.top_via.branch.startswith("z9hG4bK")
    assert parsed.headers.get("Max-Forwards") == "70"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_digest_md5_and_sha256_verify_and_wrong_passwords_fail() -> None:
    clock = Clock()
    server = DigestServer("kefu.test", b"secret", clock, algorithms=("SHA-256", "MD5"))
    assert ["SHA-256" in c for c in server.challenges()] == [True, False]
    assert len(DigestServer("kefu.test", b"secret", clock).challenges()) == 1  # MD5 only
    users = password_lookup("kefu.test", {"1001": "pw1001"})
    for challenge in server.challenges():
        auth = answer_challenge(challenge, method="REGISTER", uri="sip:kefu.test",
                                username="1001", password="pw1001")
        assert server.verify(auth, "REGISTER", users) == Verified("1001")
        wrong = answer_challenge(challenge, method="REGISTER", uri="sip:kefu.test",
                                 username="1001", password="nope")
        assert isinstance(server.verify(wrong, "REGISTER", users), Rejected)
        unknown = answer_challenge(challenge, method="REGISTER", uri="sip:kefu.test",
                                   username="9999", password="x")
        result = server.verify(unknown, "REGISTER", users)
        assert isinstance(result, Rejected)
        assert not result.stale


def test_forged_and_expired_nonces_are_refused() -> None:
    clock = Clock()
    server = DigestServer("kefu.test", b"secret", clock)
    other = DigestServer("kefu.test", b"another-secret", clock)
    challenge = other.challenges()[0]
    auth = answer_challenge(challenge, method="REGISTER", uri="sip:kefu.test",
                            username="1001", password="pw")
    assert server.verify(auth, "REGISTER", password_lookup("kefu.test", {"1001": "pw"})) == Rejected(
        "nonce not issued here")
    good = answer_challenge(server.challenges()[0], method="REGISTER", uri="sip:kefu.test",
                            username="1001", password="pw")
    clock.now += 301
    result = server.verify(good, "REGISTER", password_lookup("kefu.test", {"1001": "pw"}))
    assert isinstance(result, Rejected)
    assert result.stale


def test_auth_header_parser_handles_quotes_and_commas() -> None:
    scheme, params = parse_auth_header(
        'Digest username="a,b", realm="r", nonce="n", uri="sip:x", response="abc", qop=auth')
    assert scheme == "Digest"
    assert params["username"] == "a,b"
    assert params["qop"] == "auth"


def test_limiter_bans_after_repeated_failures_and_the_ban_expires() -> None:
    limiter = AuthLimiter(max_failures=3, window=10, ban_seconds=60)
    assert not limiter.failed("10.0.0.9", 0)
    assert not limiter.failed("10.0.0.9", 1)
    assert limiter.failed("10.0.0.9", 2)
    assert limiter.banned("10.0.0.9", 30)
    assert not limiter.banned("10.0.0.8", 30)  # other sources are not affected
    assert not limiter.banned("10.0.0.9", 62)
    # failures spread wider than the window do not ban
    for t in (100, 111, 122, 133):
        assert not limiter.failed("10.0.0.7", t)
