"""A scripted host for the interpreter: performs actions from canned answers and feeds the
caller's scripted inputs, on a virtual clock. For tests, ``kefu simulate`` and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.interpreter import Interpreter, State

MAX_ROUNDS = 1_000


@dataclass
class Transcript:
    """What happened in a scripted run.

    Attributes:
        actions: every action in order.
        outcome: the Ended outcome, or None when the script ran out while the flow waited.
        variables: the session variables at the end.
        interpreter: the interpreter, for its state and history.
        now: the virtual clock at the end.
    """

    actions: list[a.Action]
    outcome: str | None
    variables: dict[str, Any]
    interpreter: Interpreter
    now: dt.datetime

    @property
    def said(self) -> list[str]:
        """The texts of every Say action, in order."""
        return [x.text for x in self.actions if isinstance(x, a.Say)]

    def of(self, kind: type) -> list[Any]:
        """The actions of one type, in order.

        Args:
            kind: an action class, e.g. ``Enqueue``.

        Returns:
            The matching actions.
        """
        return [x for x in self.actions if isinstance(x, kind)]


@dataclass
class Host:
    """Canned answers to the interpreter's actions.

    Attributes:
        lookups: http id -> the LookupResult to answer with (default: an ``error``).
        agents: ``ready`` (an agent answers), ``busy`` (queue timeout) or ``none``.
        transfer_fails: answer transfers with TransferFailed.
        tickets: how many tickets were created; they are answered as T0001, T0002…
    """

    lookups: Mapping[str, e.LookupResult] = field(default_factory=dict)
    agents: str = "ready"
    transfer_fails: bool = False
    tickets: int = 0

    def answer(self, action: a.Action, mode: a.Mode) -> e.Event | None:  # noqa: PLR0911 - one per action
        """The event that performing ``action`` produces, if any.

        Args:
            action: the action.
            mode: the presentation mode (only voice prompts report PromptFinished).

        Returns:
            The event, or None.
        """
        if isinstance(action, a.Say | a.Play):
            return e.PromptFinished() if mode is a.Mode.VOICE else None
        if isinstance(action, a.Lookup):
            found = self.lookups.get(action.http, e.LookupResult("error"))
            return e.LookupResult(found.status, dict(found.record), action.request_id)
        if isinstance(action, a.Enqueue):
            if self.agents == "ready":
                return e.AgentAnswered("agent")
            return e.NoAgents() if self.agents == "none" else e.QueueTimeout()
        if isinstance(action, a.Transfer):
            return e.TransferFailed("busy") if self.transfer_fails else e.Transferred()
        if isinstance(action, a.Record):
            return e.RecordingDone("voicemail.wav")
        if isinstance(action, a.CreateTicket):
            self.tickets += 1
            return e.TicketCreated(f"T{self.tickets:04d}", action.request_id)
        return None


def run_script(config: ir.Config, flow_id: str, inputs: Sequence[e.Event], now: dt.datetime,
               *, mode: a.Mode = a.Mode.VOICE, host: Host | None = None,
               variables: dict[str, Any] | None = None, until_end: bool = False,
               locale: str | None = None, node: str | None = None,
               return_to: str | None = None) -> Transcript:
    """Run a flow with scripted caller inputs and a canned host.

    Each prompt finishes before the next input (no barge-in; drive
    :class:`~kefu.runtime.ivr.interpreter.Interpreter` directly to test barge-in). Every
    input moves the clock one second, a NoInput by the collection's timeout.

    Args:
        config: the compiled config.
        flow_id: the flow to run.
        inputs: caller events fed whenever the flow collects input.
        now: the virtual start time.
        mode: the channel's presentation mode.
        host: canned answers to actions; default: agents answer, lookups fail.
        variables: initial session variables.
        until_end: when the inputs run out, keep feeding NoInput until the flow ends.
        locale: the prompt locale.
        node: enter the flow at this node (agent transfer into a flow).
        return_to: who gets the contact back when the flow returns.

    Returns:
        The transcript.

    Raises:
        IvrError: unknown flow or node.
        RuntimeError: the flow kept collecting input for more than 1,000 rounds.
    """
    host = host or Host()
    interp = Interpreter(config, flow_id, mode=mode, locale=locale)
    todo = list(inputs)
    log: list[a.Action] = []
    batch = interp.start(now, node=node, variables=variables, return_to=return_to)
    for _ in range(MAX_ROUNDS):
        log.extend(batch)
        replies = [r for r in (host.answer(x, mode) for x in batch) if r is not None]
        batch = []
        for reply in replies:
            if interp.state is State.ENDED:
                break
            batch.extend(interp.feed(reply, now))
        if batch:
            continue
        if interp.state is not State.COLLECTING:
            break
        if todo:
            event = todo.pop(0)
        elif until_end:
            event = e.NoInput()
        else:
            break
        collect = next((x for x in reversed(log) if isinstance(x, a.Collect)), None)
        step = collect.timeout if isinstance(event, e.NoInput) and collect else 1
        now += dt.timedelta(seconds=step)
        batch = interp.feed(event, now)
    else:
        raise RuntimeError(f"flow `{flow_id}` did not finish in {MAX_ROUNDS} rounds")
    return Transcript(log, interp.outcome, interp.variables, interp, now)
