"""Fixtures: every state backend, so that one contract suite runs on each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from kefu.runtime.state.base import StateBackend
from kefu.runtime.state.memory import MemoryState
from kefu.runtime.state.redis import RedisState

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_state() -> Iterator[RedisState]:
    st = RedisState(redis.Redis.from_url(REDIS_URL), prefix=f"test:acd:{uuid.uuid4().hex}:")
    try:
        yield st
    finally:
        st.clear()
        st.r.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> StateBackend:
    if request.param == "memory":
        return MemoryState()
    st: RedisState = request.getfixturevalue("redis_state")
    return st
