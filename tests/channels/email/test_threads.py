"""Threading a message into its conversation, and counting a message delivered twice once."""

from __future__ import annotations

from kefu.channels.email.ids import new_message_id, normalize_message_id, parse_message_ids
from kefu.channels.email.mime import parse_email
from kefu.channels.email.threads import delivery_key, find_thread, thread_candidates
from tests.channels.email.peers import fixture


def message(headers: str) -> bytes:
    return f"From: Customer <c@example.cn>\r\n{headers}Subject: x\r\n\r\nbody\r\n".encode()


def test_in_reply_to_decides_before_references() -> None:
    parsed = parse_email(message("In-Reply-To: <b@x>\r\nReferences: <a@x> <b@x> <c@x>\r\n"))
    conversations = {"a@x": "conv-old", "b@x": "conv-b", "c@x": "conv-c"}
    match = find_thread(parsed, conversations.get)
    assert match is not None
    assert (match.conversation, match.matched_message_id, match.via) == ("conv-b", "b@x",
                                                                         "in-reply-to")


def test_references_are_tried_newest_first() -> None:
    parsed = parse_email(message("In-Reply-To: <unknown@x>\r\nReferences: <a@x> <b@x> <c@x>\r\n"))
    assert [mid for mid, _ in thread_candidates(parsed)] == ["unknown@x", "c@x", "b@x", "a@x"]
    match = find_thread(parsed, {"a@x": 1, "b@x": 2}.get)
    assert match is not None
    assert (match.conversation, match.via) == (2, "references")


def test_unknown_ids_start_a_new_conversation() -> None:
    parsed = parse_email(message("In-Reply-To: <nope@x>\r\n"))
    assert find_thread(parsed, {}.get) is None
    assert find_thread(parse_email(message("")), {"a@x": 1}.get) is None


def test_message_id_normalization_tolerates_real_world_forms() -> None:
    assert normalize_message_id(" <abc@example.cn> (comment)") == "abc@example.cn"
    assert normalize_message_id("abc@example.cn") == "abc@example.cn"  # brackets missing
    assert normalize_message_id("<abc@exa\r\n mple.cn>") == "abc@example.cn"  # folded
    assert normalize_message_id("") is None
    assert parse_message_ids("<a@x>,<b@x> <a@x>") == ("a@x", "b@x")
    many = " ".join(f"<m{i}@x>" for i in range(200))
    ids = parse_message_ids(many)
    assert len(ids) == 50
    assert ids[0] == "m0@x"
    assert ids[-1] == "m199@x"


def test_new_message_ids_are_unique_and_ours() -> None:
    ids = {new_message_id("Mail.Kefu.Test") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("kefu.") and i.endswith("@mail.kefu.test") for i in ids)


def test_the_same_message_via_smtp_and_imap_has_one_key() -> None:
    raw = fixture("gbk_subject_foxmail.eml")
    via_imap = (b"Return-Path: <zhu.rong@example.cn>\r\nDelivered-To: service@kefu.test\r\n"
                b"Received: from mx by imap; Mon, 3 Jun 2024 09:15:05 +0800\r\n" + raw)
    assert delivery_key(parse_email(raw), raw) == delivery_key(parse_email(via_imap), via_imap)
    assert delivery_key(parse_email(raw), raw) == (
        "mid:202406030915012345678@example.cn from:zhu.rong@example.cn")


def test_without_message_id_the_content_decides() -> None:
    raw = fixture("defects_tolerated.eml")
    relayed = b"Received: from a by b; Mon, 3 Jun 2024 09:15:05 +0800\r\n" + raw
    other = raw.replace(b"second part", b"another part")
    assert delivery_key(parse_email(raw), raw).startswith("sha256:")
    assert delivery_key(parse_email(raw), raw) == delivery_key(parse_email(relayed), relayed)
    assert delivery_key(parse_email(raw), raw) != delivery_key(parse_email(other), other)


def test_a_forged_message_id_does_not_hide_another_senders_mail() -> None:
    mine = parse_email(message("Message-ID: <same@x>\r\n"))
    forged_raw = message("Message-ID: <same@x>\r\n").replace(b"c@example.cn", b"evil@x.cn")
    forged = parse_email(forged_raw)
    assert delivery_key(mine, b"") != delivery_key(forged, b"")
