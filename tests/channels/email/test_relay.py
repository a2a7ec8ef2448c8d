"""Sending through the configured relay, with an aiosmtpd server as the relay."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kefu.channels.email.compose import compose_email
from kefu.channels.email.mime import EmailAddress, parse_email
from kefu.channels.email.relay import RelayError, RelaySettings, send_via_relay
from kefu.channels.email.tls import Security
from tests.channels.email.peers import SmtpSink, free_port, run, self_signed_certificate

pytestmark = pytest.mark.slow
SERVICE = EmailAddress("service@kefu.test", "燃气客服")


def outgoing(*to: str) -> tuple[bytes, tuple[str, ...], str]:
    sent = compose_email(sender=SERVICE, to=[EmailAddress(a) for a in to],
                         subject="您的账单", text="账单已更正。", message_id_domain="mail.kefu.test")
    return sent.raw, sent.recipients, sent.message_id


def plain(port: int, **options: object) -> RelaySettings:
    return RelaySettings(host="127.0.0.1", port=port, security=Security.NONE, timeout=10,
                         **options)  # type: ignore[arg-type]


def test_message_reaches_the_relay_intact_and_its_queue_id_comes_back() -> None:
    raw, recipients, message_id = outgoing("zhu.rong@example.cn", "li.lei@example.cn")

    async def scenario() -> None:
        async with SmtpSink() as sink:
            result = await send_via_relay(plain(sink.port), envelope_from="service@kefu.test",
                                          recipients=recipients, raw=raw)
        assert result.queued_id == "SINK1"
        assert result.response == "250 2.0.0 Ok: queued as SINK1"
        (received,) = sink.received
        assert received.envelope_from == "service@kefu.test"
        assert received.rcpt_tos == ("zhu.rong@example.cn", "li.lei@example.cn")
        assert received.raw == raw
        parsed = parse_email(received.raw)
        assert (parsed.subject, parsed.text, parsed.message_id) == ("您的账单", "账单已更正。",
                                                                    message_id)

    run(scenario())


def test_automatic_answers_go_out_with_the_null_reverse_path() -> None:
    raw, recipients, _ = outgoing("a@example.cn")

    async def scenario() -> None:
        async with SmtpSink() as sink:
            await send_via_relay(plain(sink.port), envelope_from="", recipients=recipients,
                                 raw=raw)
        assert sink.received[0].envelope_from == ""

    run(scenario())


@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
def test_starttls_with_authentication(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    raw, recipients, _ = outgoing("a@example.cn")

    async def scenario() -> None:
        async with SmtpSink(tls_context=server_context,
                            credentials=("kefu", "relay-pass")) as sink:
            settings = RelaySettings(host="127.0.0.1", port=sink.port,
                                     security=Security.STARTTLS, username="kefu",
                                     password="relay-pass", tls_context=client_context,
                                     timeout=10)
            await send_via_relay(settings, envelope_from="service@kefu.test",
                                 recipients=recipients, raw=raw)
            wrong = RelaySettings(host="127.0.0.1", port=sink.port, security=Security.STARTTLS,
                                  username="kefu", password="wrong",
                                  tls_context=client_context, timeout=10)
            with pytest.raises(RelayError) as refused:
                await send_via_relay(wrong, envelope_from="service@kefu.test",
                                     recipients=recipients, raw=raw)
            untrusted = RelaySettings(host="127.0.0.1", port=sink.port,
                                      security=Security.STARTTLS, username="kefu",
                                      password="relay-pass", timeout=10)
            with pytest.raises(RelayError) as unverified:
                await send_via_relay(untrusted, envelope_from="service@kefu.test",
                                     recipients=recipients, raw=raw)
        (received,) = sink.received
        assert received.login == "kefu"
        assert received.raw == raw
        assert not refused.value.transient
        assert refused.value.code == 535
        assert str(refused.value).startswith("relay 127.0.0.1 rejected the credentials: 535")
        assert not unverified.value.transient
        assert "TLS with relay 127.0.0.1" in str(unverified.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(unverified.value)

    run(scenario())


def test_refused_recipients_are_reported_and_all_refused_is_an_error() -> None:
    raw, _, _ = outgoing("a@example.cn")

    async def scenario() -> None:
        async with SmtpSink() as sink:
            sink.refuse = {"gone@example.cn"}
            partial = await send_via_relay(plain(sink.port), envelope_from="service@kefu.test",
                                           recipients=["a@example.cn", "gone@example.cn"],
                                           raw=raw)
            with pytest.raises(RelayError) as failed:
                await send_via_relay(plain(sink.port), envelope_from="service@kefu.test",
                                     recipients=["gone@example.cn"], raw=raw)
        assert partial.refused == {"gone@example.cn": "550 5.1.1 mailbox unavailable"}
        assert sink.received[0].rcpt_tos == ("a@example.cn",)
        assert len(sink.received) == 1
        assert str(failed.value) == ("relay refused every recipient (gone@example.cn): "
                                     "550 5.1.1 mailbox unavailable")
        assert not failed.value.transient

    run(scenario())


def test_unreachable_relay_is_a_transient_error() -> None:
    raw, recipients, _ = outgoing("a@example.cn")
    port = free_port()  # nothing listens there

    async def scenario() -> None:
        with pytest.raises(RelayError) as failed:
            await send_via_relay(plain(port), envelope_from="service@kefu.test",
                                 recipients=recipients, raw=raw)
        assert failed.value.transient
        assert str(failed.value).startswith(f"cannot reach relay 127.0.0.1:{port}:")

    run(scenario())


def test_credentials_never_travel_unencrypted_to_another_host() -> None:
    raw, recipients, _ = outgoing("a@example.cn")
    settings = RelaySettings(host="relay.example.cn", port=25, security=Security.NONE,
                             username="kefu", password="secret", timeout=1)

    async def scenario() -> None:
        with pytest.raises(RelayError) as refused:
            await send_via_relay(settings, envelope_from="service@kefu.test",
                                 recipients=recipients, raw=raw)
        assert str(refused.value) == (
            "refusing to send relay credentials over an unencrypted connection to "
            "relay.example.cn; use security=starttls or ssl")
        assert not refused.value.transient

    run(scenario())


def test_credentials_may_go_in_the_clear_to_a_relay_on_this_machine() -> None:
    raw, recipients, _ = outgoing("a@example.cn")

    async def scenario() -> None:
        async with SmtpSink() as sink:
            # The sink offers no AUTH without TLS, so the login is attempted and refused by
            # the server: proof that kefu itself did not block it.
            with pytest.raises(RelayError) as failed:
                await send_via_relay(plain(sink.port, username="kefu", password="x"),
                                     envelope_from="service@kefu.test",
                                     recipients=recipients, raw=raw)
        assert "refusing" not in str(failed.value)

    run(scenario())
