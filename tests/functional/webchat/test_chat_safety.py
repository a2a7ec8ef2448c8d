"""Web chat against bad input and other tenants, on a real server: garbage frames get errors
and the server keeps serving others; uploads are limited by size and type; a tenant's widget
key, visitor tokens and attachments never reach another tenant."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.functional.webchat.conftest import (
    MAX_ATTACHMENT,
    Shop,
    Widget,
    connect,
    http,
    multipart,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


async def _started(shop: Shop, ws: Any) -> tuple[Widget, dict[str, Any]]:
    widget = Widget(ws)
    await widget.hello()
    started = await widget.start()
    await widget.messages(2)
    return widget, started


def test_garbage_frames_get_errors_and_other_chats_carry_on(shop: Shop,
                                                            caplog: Any) -> None:
    caplog.set_level(logging.INFO, "kefu.webchat")

    async def scenario() -> None:
        async with connect(shop.server, shop.key) as bad_ws, \
                connect(shop.server, shop.key) as good_ws:
            good, _ = await _started(shop, good_ws)
            bad = Widget(bad_ws)
            await bad.send(type="message", client_id="x", text="too early")
            assert (await bad.next("error"))["code"] == "hello_first"
            await bad.hello()
            cases: list[tuple[Any, str, str]] = [
                ("not json at all", "bad_message", "not valid JSON"),
                (b"\x00\x01binary", "bad_message", "not binary"),
                ("[1, 2]", "bad_message", "JSON object"),
                (json.dumps({"type": "teleport"}), "bad_message", "unknown frame type"),
                (json.dumps({"type": "message", "client_id": "c", "text": 5}), "bad_message",
                 "message.text: must be a string"),
                (json.dumps({"type": "typing", "active": "yes"}), "bad_message",
                 "typing.active"),
                (json.dumps({"type": "read", "upto": "nope"}), "bad_message", "read.upto"),
                (json.dumps({"type": "message", "client_id": "c", "text": "x" * 70_000}),
                 "too_large", "larger than 65536"),
                (json.dumps({"type": "hello", "token": None}), "bad_message",
                 "already said hello"),
            ]
            for raw, code, words in cases:
                await bad.ws.send(raw)
                error = await bad.next("error")
                assert (error["code"], words in error["message"]) == (code, True), error
            # Still open, and the other visitor's chat goes on.
            await bad.send(type="ping")
            assert (await bad.next("pong"))["type"] == "pong"
            ack = await good.say("1")
            assert (await good.next("message"))["text"] == "We are open 9 to 5."
            assert ack["id"]
            # Enough garbage closes the socket (4400).
            async def spam_garbage() -> None:
                for _ in range(30):
                    await bad.ws.send("garbage")
                    await bad.next("error")

            with pytest.raises(ConnectionClosed) as closed:
                await spam_garbage()
            assert closed.value.rcvd.code == 4400
        assert any("bad frame" in r.getMessage() and "not valid JSON" in r.getMessage()
                   for r in caplog.records)

    asyncio.run(scenario())


def test_a_flooding_socket_is_closed_and_others_are_served(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as flood_ws, \
                connect(shop.server, shop.key) as calm_ws:
            calm = Widget(calm_ws)
            await calm.hello()
            flood = Widget(flood_ws)
            await flood.hello()
            async def flood_pings() -> None:
                for _ in range(400):
                    await flood.send(type="ping")
                while True:
                    await flood.next(timeout=5)

            with pytest.raises(ConnectionClosed) as closed:
                await flood_pings()
            assert closed.value.rcvd.code == 4429
            assert any(f["type"] == "error" and f["code"] == "rate_limited"
                       for f in flood.seen)
            await calm.send(type="ping")
            assert (await calm.next("pong"))["type"] == "pong"

    asyncio.run(scenario())


def test_an_unknown_widget_key_is_closed_with_4404(shop: Shop) -> None:
    async def scenario() -> None:
        for key in ("no-such-widget", ""):
            async with connect(shop.server, key) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 4404

    asyncio.run(scenario())


def _upload(shop: Shop, token: str, filename: str, content_type: str, data: bytes,
            key: str | None = None, **fields: str) -> tuple[int, dict[str, Any]]:
    body, kind = multipart({"file": (filename, content_type, data)}, fields)
    status, _headers, raw = http("POST", f"{shop.server.http}/chat/upload?key={key or shop.key}",
                                 body, {"Content-Type": kind, "X-Kefu-Chat-Token": token})
    return status, json.loads(raw)


def test_uploads_are_limited_and_files_reach_only_their_own_chat(shop: Shop,
                                                                 shop_maker: Any) -> None:
    rival = shop_maker("Rival Gas")

    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws, \
                connect(shop.server, shop.key) as other_ws, \
                connect(shop.server, rival.key) as rival_ws:
            widget, started = await _started(shop, ws)
            token = started["token"]
            _, other = await _started(shop, other_ws)
            _, theirs = await _started(rival, rival_ws)

            status, body = _upload(shop, token, "big.png", "image/png",
                                   b"x" * (MAX_ATTACHMENT + 1))
            assert (status, body["error"]["code"]) == (413, "too_large")
            assert "big.png" in body["error"]["message"]
            status, body = _upload(shop, token, "run.exe", "application/x-msdownload", b"MZ")
            assert (status, body["error"]["code"]) == (415, "unsupported_type")
            assert "application/x-msdownload" in body["error"]["message"]
            status, body = _upload(shop, token, "meter.png", "image/png", PNG,
                                   text="照片 photo", client_id="up-1")
            assert status == 201
            (attachment,) = body["attachments"]
            assert (attachment["filename"], attachment["size"]) == ("meter.png", len(PNG))

            # The file reaches the visitor's socket as their own message.
            pushed = await widget.next("message")
            while pushed["id"] != body["id"]:  # the flow may answer the text first
                pushed = await widget.next("message")
            assert (pushed["id"], pushed["from"], pushed["text"]) == (
                body["id"], "customer", "照片 photo")
            url = pushed["attachments"][0]["url"]
            assert url.startswith(shop.server.http + "/chat/attachments/")

            status, headers, data = http("GET", url)
            assert (status, data) == (200, PNG)
            assert headers["Content-Disposition"].startswith("attachment;")
            assert headers["X-Content-Type-Options"] == "nosniff"
            bare = url.split("?")[0]
            assert http("GET", bare)[0] == 401
            # Another visitor of the same tenant, and a visitor of another tenant: not found.
            assert http("GET", f"{bare}?token={other['token']}")[0] == 404
            assert http("GET", f"{bare}?token={theirs['token']}")[0] == 404
            assert http("GET", f"{bare}?token=forged.token")[0] == 401

            # A visitor token of one tenant cannot upload through another's key.
            status, body = _upload(shop, theirs["token"], "a.png", "image/png", PNG)
            assert (status, body["error"]["code"]) == (403, "bad_token")

    asyncio.run(scenario())


def test_a_token_of_another_tenant_is_refused(shop: Shop, shop_maker: Any) -> None:
    rival = shop_maker("Rival Gas")

    async def scenario() -> None:
        async with connect(shop.server, rival.key) as ws:
            _, theirs = await _started(rival, ws)
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            await widget.send(type="hello", token=theirs["token"], since=None, locale="en")
            error = await widget.next("error")
            assert error["code"] == "bad_token"
            with pytest.raises(ConnectionClosed) as closed:
                await widget.next()
            assert closed.value.rcvd.code == 4403
        async with connect(shop.server, shop.key) as ws:
            widget = Widget(ws)
            await widget.send(type="hello", token=theirs["token"][:-4] + "AAAA", since=None)
            assert (await widget.next("error"))["code"] == "bad_token"

    asyncio.run(scenario())


def test_agents_cannot_type_or_read_into_another_tenants_chat(shop: Shop,
                                                               shop_maker: Any) -> None:
    rival = shop_maker("Rival Gas")

    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ours_ws, \
                connect(shop.server, rival.key) as rival_ws:
            ours, _ = await _started(shop, ours_ws)
            theirs, started = await _started(rival, rival_ws)
            mine = await theirs.say("secret")
            assert "Sorry, that is not an option." in [f.get("text") for f in await theirs.drain()]
            chat = started["session"]["id"]
            response = shop.admin.api("POST", f"/interactions/{chat}/typing", {"active": True},
                                      status=404)
            assert response.json["error"]["code"] == "not_found"
            shop.admin.api("POST", f"/interactions/{chat}/read", {"upto": mine["id"]},
                           status=404)
            await theirs.silent()
            # Their own admin may: the visitor of that tenant sees it, ours does not.
            rival.admin.api("POST", f"/interactions/{chat}/typing", {"active": True},
                            status=204)
            assert (await theirs.next("typing"))["active"] is True
            await ours.silent()

    asyncio.run(scenario())


def test_the_widget_script_is_served_for_other_sites(shop: Shop) -> None:
    status, headers, body = http("GET", f"{shop.server.http}/chat/widget.js")
    assert status == 200
    assert headers["Content-Type"].startswith("application/javascript")
    assert "max-age=" in headers["Cache-Control"]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert body
    again = http("GET", f"{shop.server.http}/chat/widget.js",
                 headers={"If-None-Match": headers["ETag"]})
    assert again[0] == 304


def test_chat_upload_preflight_allows_the_token_header(shop: Shop) -> None:
    status, headers, _ = http("OPTIONS", f"{shop.server.http}/chat/upload?key={shop.key}",
                              headers={"Origin": "https://shop.example",
                                       "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert "X-Kefu-Chat-Token" in headers["Access-Control-Allow-Headers"]


def test_an_upload_without_a_chat_is_refused(shop: Shop) -> None:
    async def scenario() -> None:
        async with connect(shop.server, shop.key) as ws:
            welcome = await Widget(ws).hello()
        status, body = _upload(shop, welcome["token"], "a.png", "image/png", PNG)
        assert (status, body["error"]["code"]) == (409, "no_session")
        status, body = _upload(shop, welcome["token"], "a.png", "image/png", PNG,
                               key=f"nope-{uuid.uuid4().hex[:6]}")
        assert (status, body["error"]["code"]) == (404, "unknown_key")

    asyncio.run(scenario())


def test_websockets_library_is_the_client(shop: Shop) -> None:
    """The widget's handshake carries an Origin of another site: no cookie, still served."""
    async def scenario() -> None:
        async with websockets.connect(f"{shop.server.ws}/ws/chat?key={shop.key}",
                                      origin="https://www.acme-gas.example") as ws:
            welcome = await Widget(ws).hello(locale="zh_CN")
            assert welcome["form"]["fields"][0]["name"] == "name"

    asyncio.run(scenario())
