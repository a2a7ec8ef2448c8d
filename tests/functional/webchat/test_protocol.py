"""The sans-I/O half of the chat protocol: frames, visitor tokens, the pre-chat form and the
transcript, without sockets."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from kefu.channels.webchat import protocol as p
from kefu.dsl.loader import compile_path

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
SECRET = "s3cret-for-tests"


def test_frames_parse_into_typed_objects() -> None:
    assert p.parse_frame('{"type":"hello","token":null,"since":null,"locale":"zh_CN"}') == \
        p.Hello(None, None, "zh_CN")
    assert p.parse_frame('{"type":"message","client_id":"c-1","text":"你好"}') == \
        p.SendText("c-1", "你好")
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    assert p.parse_frame(f'{{"type":"received","ids":["{ids[0]}","{ids[1]}"]}}') == \
        p.Received(tuple(uuid.UUID(i) for i in ids))
    assert p.parse_frame('{"type":"end","transcript_to":null}') == p.End(None)


@pytest.mark.parametrize(("raw", "code", "words"), [
    ('{"type":"message","client_id":"bad id!","text":"x"}', "bad_message", "client_id"),
    ('{"type":"message","client_id":"c","text":"   "}', "bad_message", "must not be empty"),
    ('{"type":"message","client_id":"c","text":"a\\u0000b"}', "bad_message", "NUL"),
    ('{"type":"hello","locale":"fr"}', "bad_message", "hello.locale"),
    ('{"type":"received","ids":[]}', "bad_message", "received.ids"),
    ('{"type":"end","transcript_to":"nobody"}', "bad_message", "transcript_to"),
    ('{"type":"start","fields":{"name":["x"]}}', "bad_message", "start.fields.name"),
    ('{"no":"type"}', "bad_message", "unknown frame type None"),
])
def test_bad_frames_name_the_field(raw: str, code: str, words: str) -> None:
    with pytest.raises(p.FrameError) as error:
        p.parse_frame(raw)
    assert error.value.code == code
    assert words in str(error.value)


def test_visitor_tokens_resist_tampering_and_expire() -> None:
    tenant = uuid.uuid4()
    token = p.sign_token(SECRET, p.VisitorToken(tenant, "v-1", "chat-1"), NOW)
    assert p.verify_token(SECRET, token, NOW) == p.VisitorToken(tenant, "v-1", "chat-1")
    _body, signature = token.split(".")
    forged = p.sign_token("other-secret", p.VisitorToken(tenant, "v-2", "chat-1"), NOW)
    for bad in (forged, forged.split(".")[0] + "." + signature, "junk", ""):
        with pytest.raises(p.TokenInvalid):
            p.verify_token(SECRET, bad, NOW)
    with pytest.raises(p.TokenExpired):
        p.verify_token(SECRET, token, NOW + dt.timedelta(days=31))


def test_the_pre_chat_form_uses_the_dsl_rules_in_both_languages(repo_root: object) -> None:
    config = compile_path("tenants/demo").ir
    assert config is not None
    form = next(f for f in config.forms if f.id == "chat_start")
    clean, errors = p.validate_form(form, {"name": "", "email": "x", "extra": "1"}, "zh_CN")
    assert clean == {}
    assert errors["name"] == "Please tell us your name."  # the DSL's own message
    assert errors["extra"] == "表单中没有字段 extra。"
    clean, errors = p.validate_form(form, {"name": "王芳", "email": "wang@example.com"}, "en")
    assert (clean, errors) == ({"name": "王芳", "email": "wang@example.com"}, {})
    assert p.contact_details(form, clean) == ("王芳", "wang@example.com", None)


def test_the_transcript_is_labelled_in_the_visitors_language() -> None:
    lines = [p.TranscriptLine(NOW, "customer", None, "你好"),
             p.TranscriptLine(NOW, "agent", "Li Na", "Hello!\nHow can I help?", ("a.png",))]
    subject, body = p.transcript(lines, "zh_CN", "Acme")
    assert subject == "您的聊天记录 — Acme"
    assert "[2026-03-01 09:30:00 UTC] 您:\n  你好" in body
    assert "客服 Li Na:\n  Hello!\n  How can I help?\n  (附件: a.png)" in body
    assert "You:" in p.transcript(lines, "en")[1]
