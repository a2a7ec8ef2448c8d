"""The IVR / flow interpreter: runs compiled flows as sans-I/O state machines.

``Interpreter(config, flow_id, mode=...)``; ``start(now)`` and ``feed(event, now)`` return
actions for the host. ``Simulation`` and ``run_script`` drive a flow on a virtual clock with
canned host answers; ``flowtests.run_tests`` runs a tenant's flow tests (``kefu test``) on
them. See ``docs/ivr.md``.
"""

from kefu.runtime.ivr.actions import (
    Action,
    Choice,
    Collect,
    CreateTicket,
    Ended,
    Enqueue,
    Hangup,
    Lookup,
    Mode,
    Play,
    Record,
    ReturnToAgent,
    Say,
    ScheduleCallback,
    SendMessage,
    StartTimer,
    Step,
    StopPrompts,
    Transfer,
)
from kefu.runtime.ivr.driver import Host, Simulation, Transcript, run_script
from kefu.runtime.ivr.events import (
    AgentAnswered,
    CallerHungUp,
    Digits,
    Event,
    LookupResult,
    NoAgents,
    NoInput,
    PromptFinished,
    QueueTimeout,
    RecordingDone,
    Speech,
    Text,
    TicketCreated,
    Timer,
    Touch,
    TransferFailed,
    Transferred,
)
from kefu.runtime.ivr.interpreter import (
    Interpreter,
    InvalidEvent,
    IvrError,
    State,
    host_allowed,
)

__all__ = [
    "Action", "AgentAnswered", "CallerHungUp", "Choice", "Collect", "CreateTicket", "Digits",
    "Ended", "Enqueue", "Event", "Hangup", "Host", "Interpreter", "InvalidEvent", "IvrError",
    "Lookup", "LookupResult", "Mode", "NoAgents", "NoInput", "Play", "PromptFinished",
    "QueueTimeout", "Record", "RecordingDone", "ReturnToAgent", "Say", "ScheduleCallback",
    "SendMessage", "Simulation", "Speech", "StartTimer", "State", "Step", "StopPrompts", "Text",
    "TicketCreated", "Timer", "Touch", "Transcript", "Transfer", "TransferFailed",
    "Transferred", "host_allowed", "run_script",
]
