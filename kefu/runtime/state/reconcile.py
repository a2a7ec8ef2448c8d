"""Heartbeats and reconciliation: nothing is lost when a runtime process dies.

Every runtime node beats (``StateBackend.heartbeat(node_id, now, ttl)``) more often than
``ttl``; contacts it reserves are recorded as held by it. Any live node runs
:meth:`Reconciler.run` periodically: the work held by nodes whose heartbeat expired is put back
at the head of its queue (like RONA) and the agents it was ringing go ``not_ready``
(``node_lost``). Each dead node is reclaimed by one atomic backend call, so reconcilers racing
on several nodes re-queue every contact once. Sans-I/O: the host supplies ``now`` and the
timer, and logs or publishes what :meth:`Reconciler.run` returns.

With ``ttl`` = 30 s and a reconcile every 10 s (the defaults), work held by a dead node is
back in its queue within 40 s of its last heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass

from kefu.runtime.state.base import Reclaimed, StateBackend

__all__ = ["Reclaimed", "Reconciler", "reconcile"]


def reconcile(state: StateBackend, now: float) -> list[Reclaimed]:
    """Re-queue the work of every node whose heartbeat expired at ``now``; returns it."""
    out: list[Reclaimed] = []
    for node in state.expired_nodes(now):
        out += state.reclaim(node, now)
    return out


@dataclass
class Reconciler:
    """One node's side: :meth:`beat` and :meth:`run` when due (:meth:`tick` does both).

    ``ttl`` is how long a heartbeat counts; ``beat_every`` and ``run_every`` how often the
    node beats and reconciles (``beat_every`` must stay well below ``ttl``)."""

    state: StateBackend
    node_id: str
    ttl: float = 30.0
    beat_every: float = 5.0
    run_every: float = 10.0
    _next_beat: float = float("-inf")
    _next_run: float = float("-inf")

    def __post_init__(self) -> None:
        if self.beat_every >= self.ttl:
            raise ValueError("beat_every must be shorter than ttl")

    def beat(self, now: float) -> None:
        self.state.heartbeat(self.node_id, now, self.ttl)
        self._next_beat = now + self.beat_every

    def run(self, now: float) -> list[Reclaimed]:
        self._next_run = now + self.run_every
        return reconcile(self.state, now)

    def beat_if_due(self, now: float) -> None:
        if now >= self._next_beat:
            self.beat(now)

    def run_if_due(self, now: float) -> list[Reclaimed]:
        return self.run(now) if now >= self._next_run else []

    def tick(self, now: float) -> list[Reclaimed]:
        """Beat and reconcile if due (call about once a second); returns what was re-queued."""
        self.beat_if_due(now)
        return self.run_if_due(now)
