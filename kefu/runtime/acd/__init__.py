"""The ACD: agent states, queue strategies and a sans-I/O router (see ``docs/acd.md``)."""

from typing import Any

from kefu.runtime.acd.agent import (
    AgentRecord,
    AgentSpec,
    AgentState,
    InvalidTransition,
    Trigger,
)
from kefu.runtime.acd.config import (
    QueueConfig,
    RouterConfig,
    Step,
    agents_from_teams,
    build_router_config,
)


def __getattr__(name: str) -> Any:
    # The router imports the state backends, which import agent records from this package:
    # load it on first use so that either side can be imported first.
    if name in ("Action", "Router", "UnknownQueue"):
        from kefu.runtime.acd import router

        return getattr(router, name)
    raise AttributeError(name)


__all__ = ["Action", "AgentRecord", "AgentSpec", "AgentState", "InvalidTransition",
           "QueueConfig", "Router", "RouterConfig", "Step", "Trigger", "UnknownQueue",
           "agents_from_teams", "build_router_config"]
