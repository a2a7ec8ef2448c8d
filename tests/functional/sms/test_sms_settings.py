"""Reading ``sms.smpp_url`` and ``sms.kannel_sendsms_url``: every mistake names the setting."""

from __future__ import annotations

import pytest

from kefu.platform.messaging.sms_host import SmsSettingsError, parse_kannel_url, parse_smpp_url


def test_an_smpp_url_carries_the_account_and_any_client_setting() -> None:
    settings = parse_smpp_url("smpp://kefu01:p%40ss@smsc.example.cn:2776?system_type=VMA"
                              "&default_sender=10690756&window=20&registered_delivery=false"
                              "&enquire_link_interval=15")
    assert (settings.host, settings.port, settings.system_id, settings.password) == (
        "smsc.example.cn", 2776, "kefu01", "p@ss")
    assert (settings.system_type, settings.default_sender, settings.window) == (
        "VMA", "10690756", 20)
    assert settings.registered_delivery is False
    assert settings.enquire_link_interval == 15.0
    assert parse_smpp_url("smpp://kefu@127.0.0.1").port == 2775


@pytest.mark.parametrize(("url", "message"), [
    ("http://kefu:pw@smsc:2775", "sms.smpp_url must start with smpp://, got http"),
    ("smpp://smsc.example:2775", "sms.smpp_url needs system_id and host"),
    ("smpp://kefu:pw@smsc:2775?source_ton=1", "unknown parameter 'source_ton'; known: "),
    ("smpp://kefu:pw@smsc:2775?window=many", "parameter 'window' must be a int, got 'many'"),
    ("smpp://kefu:far-too-long@smsc:2775", "password must be at most 8 characters"),
])
def test_a_bad_smpp_url_names_the_problem(url: str, message: str) -> None:
    with pytest.raises(SmsSettingsError, match=message):
        parse_smpp_url(url)


def test_a_kannel_url_gives_the_login_sender_and_route_and_the_dlr_callback() -> None:
    settings = parse_kannel_url(
        "http://127.0.0.1:13013/cgi-bin/sendsms?username=kefu&password=pw&from=10690756"
        "&smsc=cmcc", callback_url="https://kefu.example.cn/", secret="s3")
    assert settings.sendsms_url == "http://127.0.0.1:13013/cgi-bin/sendsms"
    assert (settings.username, settings.password, settings.default_sender, settings.smsc_id) == (
        "kefu", "pw", "10690756", "cmcc")
    assert settings.dlr_url == "https://kefu.example.cn/channels/kannel/dlr"
    assert settings.callback_secret == "s3"
    # Without a secret Kannel's callbacks are refused, so no delivery reports are asked for.
    assert parse_kannel_url("http://k/cgi-bin/sendsms?username=u", callback_url="http://x",
                            secret="").dlr_url is None


@pytest.mark.parametrize(("url", "message"), [
    ("http://k:13013/cgi-bin/sendsms?password=pw", "needs username= and password="),
    ("http://k:13013/cgi-bin/sendsms?username=u&coding=2", "unknown parameter 'coding'"),
    ("ftp://k/cgi-bin/sendsms?username=u", "sendsms_url must be an http"),
])
def test_a_bad_kannel_url_names_the_problem(url: str, message: str) -> None:
    with pytest.raises(SmsSettingsError, match=message):
        parse_kannel_url(url, callback_url="http://127.0.0.1:8000", secret="s")
