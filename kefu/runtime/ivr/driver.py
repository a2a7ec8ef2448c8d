"""Hosts for the interpreter on a virtual clock, for flow tests, ``kefu simulate`` and tests.

:class:`Simulation` plays one contact step by step: the caller's input comes one event at a
time; everything the host would do (play prompts, call lookups, queue, transfer, record,
create tickets) is answered at once from canned :class:`Host` answers; time only moves when
something waits — a caller's silence runs the clock to the no-input timeout, a queue that
times out runs it to the queue's ``max_wait``, a lookup that times out to the lookup's
timeout — by firing the interpreter's own timers, so a timer due earlier (the tenant's IVR
time limit) fires first, exactly as on a real channel. :func:`run_script` feeds a simulation
a list of inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.runtime.ivr import actions as a
from kefu.runtime.ivr import events as e
from kefu.runtime.ivr.interpreter import DEFAULT_TIMEOUT, Interpreter, State

MAX_ROUNDS = 1_000
MAX_EXCHANGES = 100_000

#: Outcomes a test or a simulation may force on a step (``Host.outcomes``), per step kind.
QUEUE_OUTCOMES = ("answered", "timeout", "no_agents")
TRANSFER_OUTCOMES = ("transferred", "failed")


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
        lookups: http id -> the LookupResult to answer with (default: an ``error``). A
            ``timeout`` result is delivered by letting the lookup's timer run out.
        agents: ``ready`` (an agent answers), ``busy`` (the queue times out, after its
            ``max_wait`` on the virtual clock) or ``none`` (no agents).
        transfer_fails: answer transfers with TransferFailed.
        outcomes: step id -> the outcome forced on that step: ``answered``, ``timeout`` or
            ``no_agents`` for an enqueue step, ``transferred`` or ``failed`` for a transfer.
        tickets: how many tickets were created; they are answered as T0001, T0002…
    """

    lookups: Mapping[str, e.LookupResult] = field(default_factory=dict)
    agents: str = "ready"
    transfer_fails: bool = False
    outcomes: Mapping[str, str] = field(default_factory=dict)
    tickets: int = 0

    def lookup(self, action: a.Lookup, node: str | None) -> e.LookupResult:
        """The canned result of a lookup (override to refuse unmocked lookups).

        Args:
            action: the Lookup action.
            node: the fetch step that asked.

        Returns:
            The result to feed back.
        """
        found = self.lookups.get(action.http, e.LookupResult("error"))
        return e.LookupResult(found.status, dict(found.record), action.request_id)

    def answer(self, action: a.Action, mode: a.Mode,  # noqa: PLR0911 - one per action
               node: str | None = None) -> e.Event | None:
        """The event that performing ``action`` produces, if any.

        Args:
            action: the action.
            mode: the presentation mode (only voice prompts report PromptFinished).
            node: the step the session is at (for forced ``outcomes``).

        Returns:
            The event, or None.

        Raises:
            ValueError: a forced outcome does not fit the step.
        """
        forced = self.outcomes.get(node) if node is not None else None
        if isinstance(action, a.Say | a.Play):
            return e.PromptFinished() if mode is a.Mode.VOICE else None
        if isinstance(action, a.Lookup):
            return self.lookup(action, node)
        if isinstance(action, a.Enqueue):
            wanted = forced or {"ready": "answered", "none": "no_agents"}.get(self.agents,
                                                                             "timeout")
            if wanted == "answered":
                return e.AgentAnswered("agent")
            if wanted == "no_agents":
                return e.NoAgents()
            if wanted == "timeout":
                return e.QueueTimeout()
            raise ValueError(f"step `{node}` is a queue: its outcome is one of "
                             f"{', '.join(QUEUE_OUTCOMES)}, not `{wanted}`")
        if isinstance(action, a.Transfer):
            if forced is None:
                return e.TransferFailed("busy") if self.transfer_fails else e.Transferred()
            if forced in ("transferred", "connected"):
                return e.Transferred()
            if forced == "failed":
                return e.TransferFailed(forced)
            raise ValueError(f"step `{node}` is a transfer: its outcome is one of "
                             f"{', '.join(TRANSFER_OUTCOMES)}, not `{forced}`")
        if isinstance(action, a.Record):
            return e.RecordingDone("voicemail.wav")
        if isinstance(action, a.CreateTicket):
            self.tickets += 1
            return e.TicketCreated(f"T{self.tickets:04d}", action.request_id)
        return None


class Simulation:
    """One contact on a virtual clock, driven one caller input at a time.

    Args:
        config: the compiled config.
        flow_id: the flow to run.
        now: the virtual start time (naive: the tenant's local time).
        mode: the channel's presentation mode.
        host: canned answers to actions; default: agents answer, lookups fail.
        locale: the prompt locale.
        trace: emit :class:`~kefu.runtime.ivr.actions.Step` actions (for tests and coverage).

    Raises:
        IvrError: unknown flow.
    """

    def __init__(self, config: ir.Config, flow_id: str, now: dt.datetime, *,
                 mode: a.Mode = a.Mode.VOICE, host: Host | None = None,
                 locale: str | None = None, trace: bool = False) -> None:
        self.config = config
        self.mode = mode
        self.host = host or Host()
        self.now = now
        self.interpreter = Interpreter(config, flow_id, mode=mode, locale=locale, trace=trace)
        #: every action with the virtual time it was emitted at
        self.log: list[tuple[dt.datetime, a.Action]] = []

    # ------------------------------------------------------------------ state
    @property
    def actions(self) -> list[a.Action]:
        """Every action so far, in order."""
        return [x for _, x in self.log]

    @property
    def ended(self) -> bool:
        """Has the session ended?"""
        return self.interpreter.state is State.ENDED

    @property
    def outcome(self) -> str | None:
        """The Ended outcome, None while the session runs."""
        return self.interpreter.outcome

    @property
    def collecting(self) -> a.Collect | None:
        """The Collect the session waits on for the caller's answer, if it does."""
        if self.interpreter.state is not State.COLLECTING:
            return None
        return next((x for _, x in reversed(self.log) if isinstance(x, a.Collect)), None)

    def transcript(self) -> Transcript:
        """The run so far as a :class:`Transcript`."""
        return Transcript(self.actions, self.interpreter.outcome, self.interpreter.variables,
                          self.interpreter, self.now)

    # ------------------------------------------------------------------ driving
    def start(self, *, node: str | None = None, variables: dict[str, Any] | None = None,
              return_to: str | None = None) -> list[a.Action]:
        """Start the flow and run it until it waits for the caller or ends.

        Args:
            node: enter the flow at this node (agent transfer into a flow).
            variables: initial session variables.
            return_to: who gets the contact back when the flow returns.

        Returns:
            The actions this produced.
        """
        mark = len(self.log)
        self._settle(self.interpreter.start(self.now, node=node, variables=variables,
                                            return_to=return_to))
        return self.actions[mark:]

    def input(self, event: e.Event, *, after: float = 0) -> list[a.Action]:
        """The caller does something: ``Digits``, ``Speech``, ``Text``, ``Touch``,
        ``CallerHungUp``; ``NoInput`` is :meth:`silence`.

        Args:
            event: the caller's event.
            after: seconds the clock moves first.

        Returns:
            The actions this produced.
        """
        if isinstance(event, e.NoInput):
            return self.silence()
        mark = len(self.log)
        self.now += dt.timedelta(seconds=after)
        self._settle(self.interpreter.feed(event, self.now))
        return self.actions[mark:]

    def silence(self) -> list[a.Action]:
        """The caller says nothing: the clock runs to the no-input timeout.

        Returns:
            The actions this produced.
        """
        mark = len(self.log)
        noinput = next((n for n in self.interpreter.timers if n.startswith("noinput:")), None)
        if noinput is not None:
            self._settle(self._run_clock_to(noinput))
        else:  # no timer running (nothing collects): the host measures the silence itself
            collect = self.collecting
            self.now += dt.timedelta(seconds=collect.timeout if collect else DEFAULT_TIMEOUT)
            self._settle(self.interpreter.feed(e.NoInput(), self.now))
        return self.actions[mark:]

    def hang_up(self) -> list[a.Action]:
        """The caller hangs up.

        Returns:
            The actions this produced.
        """
        return self.input(e.CallerHungUp())

    # ------------------------------------------------------------------ internals
    def _run_clock_to(self, name: str) -> list[a.Action]:
        """Move the clock to live timer ``name`` and fire it — or the live timer due first."""
        timers = self.interpreter.timers
        first = min(timers, key=lambda n: (timers[n], n != name))
        self.now = max(self.now, timers[first])
        return self.interpreter.feed(e.Timer(first), self.now)

    def _deliver(self, reply: e.Event) -> list[a.Action]:
        purpose = None
        if isinstance(reply, e.QueueTimeout):
            purpose = "queue:"
        elif isinstance(reply, e.LookupResult) and reply.status == "timeout":
            purpose = "lookup:"
        timer = next((n for n in self.interpreter.timers if purpose and n.startswith(purpose)),
                     None)
        if timer is not None:  # a timeout happens when its timer runs out
            return self._run_clock_to(timer)
        return self.interpreter.feed(reply, self.now)

    def _settle(self, batch: list[a.Action]) -> None:
        """Log ``batch``, answer it from the host, and repeat until nothing is answered."""
        for _ in range(MAX_EXCHANGES):
            if not batch:
                return
            node = self.interpreter.node
            self.log.extend((self.now, x) for x in batch)
            replies = [r for r in (self.host.answer(x, self.mode, node) for x in batch)
                       if r is not None]
            batch = []
            for reply in replies:
                if self.interpreter.state is State.ENDED:
                    break
                batch.extend(self._deliver(reply))
        raise RuntimeError(f"the flow and the host exchanged {MAX_EXCHANGES} messages "
                           "without waiting for the caller")


def run_script(config: ir.Config, flow_id: str, inputs: Sequence[e.Event], now: dt.datetime,
               *, mode: a.Mode = a.Mode.VOICE, host: Host | None = None,
               variables: dict[str, Any] | None = None, until_end: bool = False,
               locale: str | None = None, node: str | None = None,
               return_to: str | None = None, trace: bool = False) -> Transcript:
    """Run a flow with scripted caller inputs and a canned host (a :class:`Simulation`).

    Each prompt finishes before the next input (no barge-in; drive
    :class:`~kefu.runtime.ivr.interpreter.Interpreter` directly to test barge-in). Every
    input moves the clock one second; a NoInput runs it to the no-input timeout.

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
        trace: include :class:`~kefu.runtime.ivr.actions.Step` actions.

    Returns:
        The transcript.

    Raises:
        IvrError: unknown flow or node.
        RuntimeError: the flow kept collecting input for more than 1,000 rounds.
    """
    sim = Simulation(config, flow_id, now, mode=mode, host=host, locale=locale, trace=trace)
    sim.start(node=node, variables=variables, return_to=return_to)
    todo = list(inputs)
    for _ in range(MAX_ROUNDS):
        if sim.collecting is None:
            break
        if todo:
            event = todo.pop(0)
        elif until_end:
            event = e.NoInput()
        else:
            break
        sim.input(event, after=1)
    else:
        raise RuntimeError(f"flow `{flow_id}` did not finish in {MAX_ROUNDS} rounds")
    return sim.transcript()

