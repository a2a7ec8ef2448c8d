"""Tenant flows running for text interactions: a web chat goes through the greeting, a
numbered menu, no-match and no-input handling on the stretched text timeout, an HTTP lookup
against a real server, the ACD and back, with the session in the database between messages,
on the config version it started on, and out of other tenants' reach."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kefu.platform.db import utcnow
from kefu.platform.flows.models import FlowSession, FlowStatus
from kefu.platform.flows.service import TEXT_NO_INPUT_SECONDS, FlowHost, NoSession
from kefu.platform.flows.sweep import run_flow_timers, sweep
from kefu.platform.interactions.lifecycle import InteractionLifecycle
from kefu.platform.interactions.models import Channel, Direction, Interaction, MessageStatus
from kefu.platform.jobs import RQJobQueue
from kefu.platform.jobs.testing import WorkerProcess, purge_queue
from kefu.platform.routing.host import AcdTicker
from kefu.platform.settings import load_settings
from kefu.platform.tickets.models import Ticket
from kefu.runtime.ivr import Mode
from tests.functional.flows.conftest import MENU_LINES, DataSource, Shop, config

MENU = "What can we do for you?\n" + MENU_LINES


def presence(client: Any, agent: dict[str, Any], state: str) -> Any:
    return client.api("PUT", f"/agents/{agent['id']}/presence", {"state": state})


def test_a_chat_starts_with_the_greeting_and_a_numbered_menu(shop: Shop) -> None:
    chat = shop.chat()
    before = utcnow()

    assert shop.start(chat) == ["Welcome to Shop.", MENU]

    row = shop.interaction(chat)
    assert (row.state, row.flow, row.config_version_id) == ("in_flow", "main", shop.versions[0])
    messages = shop.messages(chat)
    assert all(m.direction == Direction.OUTBOUND and m.status == MessageStatus.QUEUED
               and m.channel == Channel.CHAT and m.recipients == ["visitor-1"]
               for m in messages)
    session = shop.session(chat)
    assert (session.status, session.flow, session.mode, session.node) == (
        FlowStatus.RUNNING, "main", Mode.TEXT, "main_menu")
    # The menu's 5 s no-input timeout is stretched for people who type.
    assert session.next_due_at is not None
    assert session.next_due_at - before >= timedelta(seconds=TEXT_NO_INPUT_SECONDS)


def test_an_answer_follows_its_branch_and_the_chat_ends_self_served(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)

    assert shop.say(chat, "2") == ["We are open 9 to 5.", "Thank you, goodbye."]

    session = shop.session(chat)
    assert (session.status, session.outcome, session.next_due_at) == (
        FlowStatus.ENDED, "completed", None)
    row = shop.interaction(chat)
    assert (row.state, row.outcome) == ("ended", "self_service")
    # Later messages go nowhere: the flow is over.
    assert shop.say(chat, "hello?") == []


def test_a_menu_answer_may_be_its_words(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)
    assert shop.say(chat, "opening hours")[0] == "We are open 9 to 5."


def test_a_bad_answer_gets_the_no_match_prompt(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)

    assert shop.say(chat, "7") == ["Sorry, that is not an option.", MENU]
    assert shop.session(chat).status is FlowStatus.RUNNING


def test_silence_reprompts_after_the_stretched_timeout_then_goes_to_an_agent(
        shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)

    assert shop.due(after=60) == 0  # the flow says 5 s; a typing customer gets 120 s
    assert shop.shown(chat) == ["Welcome to Shop.", MENU]

    assert shop.due(after=TEXT_NO_INPUT_SECONDS + 1) == 1
    assert shop.shown(chat)[2:] == ["Are you still there?", MENU]
    assert shop.due(after=TEXT_NO_INPUT_SECONDS + 1) == 0  # the next one starts from now
    assert shop.due(after=2 * TEXT_NO_INPUT_SECONDS + 2) == 1
    assert shop.shown(chat)[4:] == ["Are you still there?", MENU]

    # The third silence leaves the menu: the flow's `on noinput 3 -> operator`.
    assert shop.due(after=3 * TEXT_NO_INPUT_SECONDS + 3) == 1
    assert shop.shown(chat)[6:] == ["Connecting you to an agent."]
    row = shop.interaction(chat)
    assert (row.state, row.queue) == ("queued", "general")
    # Waiting for an agent, the session has no timer: the ACD measures the wait.
    assert shop.session(chat).next_due_at is None


def test_the_runtime_sweep_fires_timers_of_every_tenant(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)

    assert sweep(shop.platform, utcnow() + timedelta(seconds=10)) == 0
    assert sweep(shop.platform, utcnow() + timedelta(seconds=TEXT_NO_INPUT_SECONDS + 1)) == 1
    assert shop.shown(chat)[2:] == ["Are you still there?", MENU]


def test_the_runtime_service_sweeps_about_once_a_second(shop: Shop) -> None:
    chat = shop.chat()
    # Started 200 s ago: its no-input timer is overdue.
    shop.run(lambda host: host.start(chat), clock=lambda: utcnow() - timedelta(seconds=200))

    async def run_for_a_while() -> None:
        stopping = asyncio.Event()
        service = asyncio.create_task(run_flow_timers(shop.platform, stopping))
        for _ in range(50):
            await asyncio.sleep(0.1)
            if len(await asyncio.to_thread(shop.shown, chat)) > 2:
                break
        stopping.set()
        await asyncio.wait_for(service, 5)

    asyncio.run(run_for_a_while())
    assert shop.shown(chat)[2:] == ["Are you still there?", MENU]


def test_choosing_an_agent_queues_the_chat_and_the_answer_reaches_the_flow(
        shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)

    assert shop.say(chat, "0") == ["Connecting you to an agent."]
    row = shop.interaction(chat)
    assert (row.state, row.queue) == ("queued", "general")
    # The agent sees what the customer went through.
    assert row.data["flow"]["id"] == "main"
    assert row.data["flow"]["variables"]["main_menu"] == "0"

    agent, li = shop.agent("Li Na")
    presence(li, agent, "ready")
    assert shop.interaction(chat).state == "offered"
    assert shop.session(chat).status is FlowStatus.RUNNING
    li.api("POST", f"/interactions/{chat}/accept")

    session = shop.session(chat)
    assert (session.status, session.outcome) == (FlowStatus.ENDED, "answered")
    row = shop.interaction(chat)
    assert (row.state, str(row.agent_id)) == ("connected", agent["id"])  # the ACD's now
    assert shop.say(chat, "hello") == []  # the agent gets the conversation


def test_a_long_wait_returns_the_chat_to_its_flow(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)
    shop.say(chat, "0")

    AcdTicker(shop.platform).tick_tenant(shop.tenant_id, time.time() + 121)  # max_wait 2m

    with shop.factory.session(shop.owner.tenant) as db:
        ticket = db.scalar(sa.select(Ticket).where(Ticket.interaction_id == chat))
        assert ticket is not None
        assert (ticket.type, ticket.data) == ("issue", {"topic": "chat waited too long"})
    assert shop.shown(chat)[-2:] == [
        f"Nobody is free; we logged your request {ticket.number}.", "Thank you, goodbye."]
    row = shop.interaction(chat)
    assert (row.state, row.outcome) == ("ended", "self_service")
    with shop.factory.session(shop.owner.tenant) as db:
        triggers = [e.trigger for e in InteractionLifecycle(db, None).history(chat)]
    assert triggers == ["enter_flow", "enqueue", "return_to_flow", "end"]


def test_an_http_lookup_feeds_its_result_into_the_flow(shop: Shop,
                                                       data_source: DataSource) -> None:
    shop.deploy(config(port=data_source.port))
    chat = shop.chat()
    shop.start(chat)

    assert shop.say(chat, "1") == ["Please type your six digit account number."]
    assert shop.say(chat, "12345") == ["That was not six digits.",
                                       "Please type your six digit account number."]
    assert shop.say(chat, "123456") == []  # looking it up
    assert shop.session(chat).snapshot["state"] == "fetching"
    assert data_source.requests == []  # only once the answer is committed

    [result] = shop.jobs.run_lookups()

    assert result == {"status": "ok", "fed": True, "detail": ""}
    assert data_source.requests == ["/accounts/123456"]
    assert shop.shown(chat)[-2:] == ["Hello Wang Fang, your balance is 42.",
                                     "Thank you, goodbye."]
    session = shop.session(chat)
    assert session.outcome == "completed"
    # Only the fields the http definition declares are kept.
    assert session.snapshot["vars"]["customer"] == {"name": "Wang Fang", "balance": 42}


@pytest.mark.parametrize("port", ["silent_port", "refused_port"])
def test_a_lookup_to_a_source_that_does_not_answer_takes_the_fallback(
        shop: Shop, port: str, request: pytest.FixtureRequest) -> None:
    shop.deploy(config(port=request.getfixturevalue(port)))
    chat = shop.chat()
    shop.start(chat)
    shop.say(chat, "1")
    shop.say(chat, "123456")

    [result] = shop.jobs.run_lookups()

    assert result["status"] == ("timeout" if port == "silent_port" else "error")
    assert shop.shown(chat)[-2:] == ["Our account system is not answering.",
                                     "Connecting you to an agent."]
    assert shop.interaction(chat).state == "queued"


def test_a_lookup_whose_job_never_reports_times_out_by_its_timer(
        shop: Shop, data_source: DataSource) -> None:
    shop.deploy(config(port=data_source.port))
    chat = shop.chat()
    shop.start(chat)
    shop.say(chat, "1")
    shop.say(chat, "123456")

    assert shop.due(after=2) == 0  # the job gets a grace period beyond the 1 s timeout
    assert shop.due(after=7) == 1
    assert shop.shown(chat)[-2:] == ["Our account system is not answering.",
                                     "Connecting you to an agent."]
    # The late job finds the session moved on and changes nothing.
    [result] = shop.jobs.run_lookups()
    assert result["fed"] is False
    assert shop.shown(chat)[-1] == "Connecting you to an agent."


def test_a_lookup_job_calls_only_allow_listed_hosts(shop: Shop,
                                                    data_source: DataSource) -> None:
    """The checker refuses a config whose http hosts are not allow-listed and the interpreter
    refuses a filled-in URL whose host is not; the job checks again what it is handed."""
    shop.deploy(config(port=data_source.port))
    chat = shop.chat()
    shop.start(chat)
    shop.say(chat, "1")
    shop.say(chat, "123456")
    _func, args, _options = shop.jobs.calls[-1]
    lookup = args[2]
    assert lookup["url"] == f"http://127.0.0.1:{data_source.port}/accounts/123456"
    lookup["url"] = lookup["url"].replace("127.0.0.1", "localhost")

    [result] = shop.jobs.run_lookups()

    assert result["status"] == "error"
    assert "allow_hosts" in result["detail"]
    assert data_source.requests == []
    assert shop.shown(chat)[-2:] == ["Our account system is not answering.",
                                     "Connecting you to an agent."]


def test_a_running_session_keeps_its_version_after_a_deploy(shop: Shop) -> None:
    first = shop.chat()
    assert shop.start(first)[0] == "Welcome to Shop."
    # A chat its channel took before the deploy (recording the version) is not in its flow yet.
    early = shop.chat(sender="visitor-0", version=shop.versions[0])

    v2 = shop.deploy(config(welcome="Welcome to the new Shop.", menu="How can we help?"))

    second = shop.chat(sender="visitor-2")
    assert shop.start(second) == ["Welcome to the new Shop.", "How can we help?\n" + MENU_LINES]
    assert shop.session(second).config_version_id == v2
    assert shop.interaction(second).config_version_id == v2
    # The first chat carries on with the version it started on.
    assert shop.say(first, "9") == ["Sorry, that is not an option.", MENU]
    assert shop.session(first).config_version_id == shop.versions[0]
    assert shop.start(early)[0] == "Welcome to Shop."


def test_another_tenant_cannot_feed_or_read_a_session(shop: Shop, bob: Any) -> None:
    chat = shop.chat()
    shop.start(chat)
    before = shop.session(chat)
    with shop.factory.session(bob.tenant) as db:
        host = FlowHost(shop.platform, db, bob.tenant.id)
        assert host.session(chat) is None
        with pytest.raises(NoSession):
            host.feed_text(chat, "2")
        with pytest.raises(NoSession):
            host.start(chat)
        with pytest.raises(NoSession):
            host.hang_up(chat)
        # Its sweep does not reach the first tenant's timers either.
        assert host.due(utcnow() + timedelta(days=1)) == 0
        assert db.scalars(sa.select(FlowSession)).all() == []
        db.rollback()

    after = shop.session(chat)
    assert (after.snapshot, after.updated_at) == (before.snapshot, before.updated_at)
    assert shop.shown(chat) == ["Welcome to Shop.", MENU]


def test_a_kiosk_shows_choices_as_buttons(shop: Shop) -> None:
    kiosk = shop.chat(Channel.KIOSK, to="lobby", sender="kiosk-3")

    shop.run(lambda host: host.start(kiosk, mode=Mode.TOUCH))

    welcome, menu = shop.messages(kiosk)
    assert welcome.body_text == "Welcome to Shop."
    assert menu.body_text == "What can we do for you?"
    assert menu.headers["choices"] == [
        {"key": "1", "label": "Billing"}, {"key": "2", "label": "Opening hours"},
        {"key": "0", "label": "Agent"}]
    # A kiosk's no-input timeout is the flow's own.
    session = shop.session(kiosk)
    assert session.next_due_at is not None
    assert session.next_due_at - utcnow() < timedelta(seconds=10)
    assert shop.touch(kiosk, "2") == ["We are open 9 to 5.", "Thank you, goodbye."]


def test_text_channels_cannot_transfer_and_take_a_message_instead(shop: Shop) -> None:
    chat = shop.chat(sender="+8613900000000")

    assert shop.start(chat, flow_id="closed_chat") == [
        "[audio: jingle.wav]", "We got your chat and will answer by SMS.",
        "Please leave us a message."]

    jingle, sms, box = shop.messages(chat)
    assert jingle.headers["audio"] == "jingle.wav"
    assert (sms.channel, sms.recipients, sms.sender) == (
        Channel.SMS, ["+8613900000000"], "+8610000000")
    assert box.channel == Channel.CHAT
    session = shop.session(chat)
    assert (session.status, session.outcome) == (FlowStatus.ENDED, "voicemail")
    row = shop.interaction(chat)
    assert (row.state, row.outcome, row.flow) == ("ended", "voicemail", "closed_chat")


def test_an_accepted_callback_queues_a_call_back_task(shop: Shop) -> None:
    chat = shop.chat(sender="+8613900000000")
    assert shop.start(chat, flow_id="later") == ["Shall we call you back?\n1. Yes\n2. No"]

    assert shop.say(chat, "yes") == ["Goodbye."]

    row = shop.interaction(chat)
    assert (row.state, row.outcome) == ("ended", "callback")
    with shop.factory.session(shop.owner.tenant) as db:
        task = db.scalar(sa.select(Interaction).where(Interaction.subject == "callback"))
        assert task is not None
        assert (task.channel, task.direction, task.state, task.to_address) == (
            Channel.VOICE, Direction.OUTBOUND, "queued", "+8613900000000")


def test_the_customer_leaving_ends_the_flow_and_the_wait(shop: Shop) -> None:
    chat = shop.chat()
    shop.start(chat)
    shop.say(chat, "0")

    shop.run(lambda host: host.hang_up(chat))

    session = shop.session(chat)
    assert (session.status, session.outcome) == (FlowStatus.ENDED, "abandoned")
    row = shop.interaction(chat)
    assert (row.state, row.outcome) == ("ended", "abandoned")


def test_a_session_starts_once_and_needs_a_flow(shop: Shop) -> None:
    from kefu.platform.flows.service import FlowRunning, NoFlow

    chat = shop.chat()
    shop.start(chat)
    with pytest.raises(FlowRunning):
        shop.start(chat)
    unknown = shop.chat(Channel.EMAIL, to="help@shop.example")
    with pytest.raises(NoFlow):
        shop.start(unknown)  # email has no channel declaration with a flow
    with pytest.raises(NoFlow):
        shop.start(unknown, flow_id="nope")
    with pytest.raises(NoSession):
        shop.say(uuid.uuid4(), "hi")
    assert shop.interaction(unknown).state == "created"


@pytest.mark.slow
def test_a_kefu_worker_process_runs_the_lookup(shop: Shop, data_source: DataSource,
                                               database_url: str,
                                               redis_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With RQ the lookup job runs in another process: it builds its platform from its settings
    and carries the flow on with the shared database (SQLite or PostgreSQL)."""
    env = {"KEFU_DATA_DIR": str(tmp_path / "var"), "KEFU_DATABASE_URL": database_url,
           "KEFU_REDIS_URL": redis_url, "KEFU_JOBS_QUEUE": f"flows-{uuid.uuid4().hex[:12]}",
           "KEFU_LOG_FORMAT": "text"}
    settings = load_settings(environ=env)
    queue = RQJobQueue(settings, result_ttl=60, failure_ttl=600)
    monkeypatch.setattr(shop.platform, "jobs", queue)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        shop.deploy(config(port=data_source.port))
        chat = shop.chat()
        shop.start(chat)
        shop.say(chat, "1")
        shop.say(chat, "123456")
        deadline = time.monotonic() + 30
        while shop.shown(chat)[-1] != "Thank you, goodbye." and time.monotonic() < deadline:
            time.sleep(0.2)
        assert shop.shown(chat)[-2:] == ["Hello Wang Fang, your balance is 42.",
                                         "Thank you, goodbye."], worker.output()
        assert shop.session(chat).outcome == "completed"
    finally:
        worker.stop()
        purge_queue(queue.connection, str(settings["jobs.queue"]))
        queue.close()
