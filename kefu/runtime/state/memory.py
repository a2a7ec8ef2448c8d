"""In-memory state backend: the embedded default (one process, nothing shared)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from kefu.runtime.acd.agent import ROUTABLE, AgentRecord, AgentSpec, AgentState
from kefu.runtime.state.base import NODE_LOST, Conflict, Contact, Reclaimed, StateBackend

_Key = tuple[int, float, str]


class MemoryState(StateBackend):
    """Queues are sorted lists of ``(-priority, order, contact id)``; agents are indexed by
    skill so that :meth:`candidates` touches only agents who hold the first skill asked for.
    Records handed out are copies: changing them changes nothing until saved."""

    def __init__(self, node_id: str | None = None) -> None:
        self.node_id = node_id
        self._agents: dict[str, AgentRecord] = {}
        self._by_skill: dict[str, set[str]] = {}
        self._queues: dict[str, list[_Key]] = {}
        self._keys: dict[str, _Key] = {}
        self._contacts: dict[str, Contact] = {}
        self._assign: dict[str, str] = {}
        self._last: dict[str, str] = {}
        self._held: dict[str, str] = {}
        self._nodes: dict[str, float] = {}
        self._order = 0.0

    # ---- agents
    def put_agent(self, spec: AgentSpec, now: float) -> AgentRecord:
        rec = self._agents.get(spec.id)
        if rec is None:
            rec = AgentRecord(spec=spec, since=now, idle_since=now)
            self._agents[spec.id] = rec
        else:
            for s in rec.spec.skills:
                self._by_skill.get(s, set()).discard(spec.id)
            rec.spec = spec
        for s in spec.skills:
            self._by_skill.setdefault(s, set()).add(spec.id)
        return rec.clone()

    def get_agent(self, agent_id: str) -> AgentRecord:
        return self._agents[agent_id].clone()

    def agents(self) -> list[AgentRecord]:
        return [a.clone() for a in self._agents.values()]

    def save_agent(self, rec: AgentRecord, expect: AgentState) -> None:
        cur = self._agents[rec.id]
        if cur.state != expect:
            raise Conflict(f"agent {rec.id} is {cur.state.value}, expected {expect.value}")
        cur.state, cur.reason, cur.since = rec.state, rec.reason, rec.since
        cur.idle_since, cur.handled_today = rec.idle_since, rec.handled_today
        cur.offered, cur.offered_at, cur.until = rec.offered, rec.offered_at, rec.until

    def candidates(self, channel: str, skills: Sequence[str]) -> list[AgentRecord]:
        if skills:
            pools = sorted((self._by_skill.get(s, set()) for s in skills), key=len)
            ids: set[str] | list[str] = pools[0].intersection(*pools[1:])
        else:
            ids = list(self._agents)
        out = []
        for i in ids:
            a = self._agents[i]
            if (a.state in ROUTABLE and a.offered is None
                    and a.spec.capacity.get(channel, 0) > a.load.get(channel, 0)):
                out.append(a.clone())
        return out

    # ---- queues
    def _insert(self, contact: Contact, head: bool) -> None:
        q = self._queues.setdefault(contact.queue, [])
        if head:
            order = (q[0][1] - 1.0) if q else self._order
            key: _Key = (-10**9, order, contact.id)  # the very head, above any priority
        else:
            self._order += 1.0
            key = (-contact.priority, self._order, contact.id)
        bisect.insort(q, key)
        self._keys[contact.id] = key

    def enqueue(self, contact: Contact, *, head: bool = False) -> None:
        if contact.id in self._keys or contact.id in self._assign:
            raise ValueError(f"contact {contact.id} is already queued or assigned")
        self._contacts[contact.id] = contact.clone()
        self._insert(contact, head)

    def get_contact(self, contact_id: str) -> Contact | None:
        c = self._contacts.get(contact_id)
        return c.clone() if c else None

    def _take(self, contact_id: str) -> Contact | None:
        key = self._keys.pop(contact_id, None)
        if key is None:
            return None
        c = self._contacts[contact_id]
        q = self._queues[c.queue]
        del q[bisect.bisect_left(q, key)]
        return c

    def update_contact(self, contact: Contact) -> bool:
        old = self._keys.get(contact.id)
        if old is None:
            return False
        prev = self._contacts[contact.id]
        if prev.queue == contact.queue and prev.priority == contact.priority:
            self._contacts[contact.id] = contact.clone()
            return True
        self._take(contact.id)
        self._contacts[contact.id] = contact.clone()
        q = self._queues.setdefault(contact.queue, [])
        key: _Key = (-contact.priority if old[0] != -10**9 else old[0], old[1], contact.id)
        bisect.insort(q, key)
        self._keys[contact.id] = key
        return True

    def remove(self, contact_id: str) -> Contact | None:
        c = self._take(contact_id)
        if c is None:
            return None
        del self._contacts[contact_id]
        return c.clone()

    def waiting(self, queue_id: str, limit: int | None = None) -> list[Contact]:
        q = self._queues.get(queue_id, [])
        keys = q if limit is None else q[:limit]
        return [self._contacts[k[2]].clone() for k in keys]

    def queue_length(self, queue_id: str) -> int:
        return len(self._queues.get(queue_id, ()))

    def position(self, contact_id: str) -> int | None:
        key = self._keys.get(contact_id)
        if key is None:
            return None
        return bisect.bisect_left(self._queues[self._contacts[contact_id].queue], key) + 1

    def queue_ids(self) -> list[str]:
        return [q for q, items in self._queues.items() if items]

    # ---- assignment
    def reserve(self, contact_id: str, agent_id: str, now: float, *,
                node: str | None = None) -> bool:
        a = self._agents.get(agent_id)
        c = self._contacts.get(contact_id)
        if (a is None or c is None or contact_id not in self._keys or a.state not in ROUTABLE
                or a.offered is not None or a.spare(c.channel) <= 0):
            return False
        self._take(contact_id)
        self._assign[contact_id] = agent_id
        holder = node or self.node_id
        if holder:
            self._held[contact_id] = holder
        a.load[c.channel] = a.load.get(c.channel, 0) + 1
        a.state, a.offered, a.offered_at, a.since = AgentState.OFFERED, contact_id, now, now
        return True

    def _free(self, contact_id: str) -> str | None:
        agent_id = self._assign.pop(contact_id, None)
        if agent_id is None:
            return None
        self._held.pop(contact_id, None)
        a = self._agents[agent_id]
        ch = self._contacts[contact_id].channel
        a.load[ch] = max(0, a.load.get(ch, 0) - 1)
        if a.offered == contact_id:
            a.offered = None
        return agent_id

    def release(self, contact_id: str) -> str | None:
        agent_id = self._free(contact_id)
        if agent_id is not None:
            del self._contacts[contact_id]
        return agent_id

    def unassign(self, contact_id: str) -> str | None:
        return self._free(contact_id)

    def assigned(self, contact_id: str) -> str | None:
        return self._assign.get(contact_id)

    def assignments(self) -> dict[str, str]:
        return dict(self._assign)

    def heartbeat(self, node_id: str, now: float, ttl: float) -> None:
        self._nodes[node_id] = now + ttl

    def expired_nodes(self, now: float) -> list[str]:
        return sorted(n for n, until in self._nodes.items() if until <= now)

    def held_by(self, node_id: str) -> list[str]:
        return sorted(c for c, n in self._held.items() if n == node_id)

    def reclaim(self, node_id: str, now: float) -> list[Reclaimed]:
        until = self._nodes.get(node_id)
        if until is None or until > now:
            return []
        del self._nodes[node_id]
        out = []
        for cid in self.held_by(node_id):
            a = self._agents[self._assign[cid]]
            offered = a.offered == cid
            self._free(cid)
            if offered or (a.state == AgentState.BUSY and not a.holding()):
                a.state, a.reason, a.since, a.offered = AgentState.NOT_READY, NODE_LOST, now, None
            c = self._contacts[cid]
            self._insert(c, head=True)
            out.append(Reclaimed(cid, c.queue, a.id, node_id, offered))
        return out

    def set_last_agent(self, customer: str, agent_id: str) -> None:
        self._last[customer] = agent_id

    def last_agent(self, customer: str) -> str | None:
        return self._last.get(customer)
