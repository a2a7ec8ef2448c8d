"""What an agent can do with an interaction of each channel: the portal shows one button per
declared action, and the API refuses an action the channel does not declare.

Each channel declares its own actions with :func:`declare` when its package is imported: the
text channels below, the voice channel its call controls (``hold``, ``consult``,
``conference``, ``monitor``, ``whisper``, ``barge``) once its host carries them out. Nothing
here performs an action; it is the one list the portal and the API agree on.
"""

from __future__ import annotations

import threading

#: Actions a channel may declare, with what each means for the agent or supervisor.
ACTIONS: dict[str, str] = {
    "reply": "write to the customer on the interaction's channel",
    "transfer": "blind transfer to an agent, a queue or back into a flow",
    "wrap_up": "after-contact work with a disposition, timed by the queue",
    "hold": "put the customer on hold",
    "consult": "talk to the transfer target before handing the customer over",
    "conference": "bring a third party into the conversation",
    "monitor": "a supervisor listens without being heard",
    "whisper": "a supervisor talks to the agent only",
    "barge": "a supervisor joins the conversation",
}

_lock = threading.Lock()
_declared: dict[str, tuple[str, ...]] = {}


def declare(channel: str, *actions: str) -> None:
    """Add ``actions`` to what ``channel`` supports (declaring twice is harmless).

    Raises:
        ValueError: an action that is not one of :data:`ACTIONS`.
    """
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown channel action(s) {', '.join(unknown)}; "
                         f"known: {', '.join(ACTIONS)}")
    with _lock:
        current = _declared.get(channel, ())
        _declared[channel] = current + tuple(a for a in actions if a not in current)


def capabilities(channel: str) -> tuple[str, ...]:
    """The actions ``channel`` declares, in declaration order (empty for an unknown one)."""
    with _lock:
        return _declared.get(channel, ())


def all_capabilities() -> dict[str, list[str]]:
    """Every channel with its declared actions."""
    with _lock:
        return {channel: list(actions) for channel, actions in sorted(_declared.items())}


def supports(channel: str, action: str) -> bool:
    return action in capabilities(channel)


# The text channels: their messages are stored and sent by kefu/platform/messaging, their
# contacts routed by the ACD, so every host already carries these out.
for _text_channel in ("chat", "email", "sms"):
    declare(_text_channel, "reply", "transfer", "wrap_up")
