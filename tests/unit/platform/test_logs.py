"""Structured logs carry the tenant and interaction ids of what is being handled."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from kefu.platform.logs import configure_logging, log_context


@pytest.fixture(autouse=True)
def _restore_root_logger():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_context_ids() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log = logging.getLogger("kefu.test")
    with log_context(tenant_id="t-1", interaction_id="i-9"):
        log.info("call answered by %s", "李伟")
        with log_context(request_id="r-5"):
            log.warning("nested")
    log.info("outside")
    first, nested, outside = _lines(stream)
    assert first["msg"] == "call answered by 李伟"
    assert first["tenant_id"] == "t-1"
    assert first["interaction_id"] == "i-9"
    assert first["level"] == "info"
    assert nested["request_id"] == "r-5"
    assert nested["tenant_id"] == "t-1"
    assert "tenant_id" not in outside


def test_context_follows_asyncio_tasks_without_leaking_between_them() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    log = logging.getLogger("kefu.test")

    async def handle(interaction: str) -> None:
        with log_context(interaction_id=interaction):
            await asyncio.sleep(0.01)
            log.info("done")

    async def main() -> None:
        await asyncio.gather(handle("a"), handle("b"))

    asyncio.run(main())
    assert sorted(str(line["interaction_id"]) for line in _lines(stream)) == ["a", "b"]


def test_exceptions_are_logged_in_one_line() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        raise ValueError("bad SIP header")
    except ValueError:
        logging.getLogger("kefu.test").exception("parse failed")
    (entry,) = _lines(stream)
    assert "ValueError: bad SIP header" in str(entry["exc"])


def test_text_format_for_people() -> None:
    stream = io.StringIO()
    configure_logging("debug", "text", stream=stream)
    with log_context(tenant_id="t-1"):
        logging.getLogger("kefu.test").debug("hello")
    assert stream.getvalue().rstrip().endswith("hello [tenant_id=t-1]")
