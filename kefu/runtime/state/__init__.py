"""Runtime state backends: one interface (:class:`StateBackend`), in memory and in Redis."""

from kefu.runtime.state.base import Conflict, Contact, StateBackend
from kefu.runtime.state.memory import MemoryState

__all__ = ["Conflict", "Contact", "MemoryState", "StateBackend"]
