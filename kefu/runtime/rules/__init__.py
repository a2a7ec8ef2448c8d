"""Rules engine: event → conditions → actions, compiled from the DSL's rules, loop-free by
construction (see :mod:`.engine`); expression evaluation and templates in :mod:`.expressions`."""

from kefu.runtime.expressions import evaluate, fill, holds
from kefu.runtime.rules.engine import (
    DEFAULT_MAX_DEPTH,
    Dispatch,
    Event,
    Firing,
    RuleAction,
    RulesEngine,
    Skip,
)
from kefu.runtime.rules.expressions import Scope

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Dispatch",
    "Event",
    "Firing",
    "RuleAction",
    "RulesEngine",
    "Scope",
    "Skip",
    "evaluate",
    "fill",
    "holds",
]
