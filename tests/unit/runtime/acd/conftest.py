"""Router tests run on every state backend."""

from __future__ import annotations

from tests.unit.runtime.state.conftest import backend, redis_state

__all__ = ["backend", "redis_state"]
