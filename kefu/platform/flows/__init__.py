"""Hosting tenant flows for text interactions (web chat, SMS, email bots, kiosk touch).

:class:`FlowHost` runs the sans-I/O interpreter (:mod:`kefu.runtime.ivr`) for one
interaction at a time, with the session kept in ``flow_sessions`` between the customer's
messages, on the config version the session started on. Timers are fired by the runtime
service :func:`~kefu.platform.flows.sweep.run_flow_timers`, HTTP lookups by a job
(:mod:`kefu.platform.flows.lookups`), and the ACD reports back through
:func:`notify_routing`. See ``docs/ivr.md``, "Running flows for text channels".
"""

from __future__ import annotations

from typing import Any

from kefu.platform.flows.models import FlowSession, FlowStatus

__all__ = [
    "TEXT_NO_INPUT_SECONDS", "FlowError", "FlowHost", "FlowRunning", "FlowSession",
    "FlowStatus", "NoFlow", "NoSession", "Turn", "notify_routing",
]


def __getattr__(name: str) -> Any:
    # The service is imported on first use: ``kefu.platform.models`` imports the model from
    # this package while the platform's other modules are still loading.
    if name in __all__:
        from kefu.platform.flows import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
