"""Redis state backend: several runtime processes share queues, agents and assignments.

Every change that must be atomic is one Lua script, so Redis runs it without interleaving:
:meth:`RedisState.reserve` checks that the contact is still queued and unassigned and that the
agent is routable, has no pending offer and has spare capacity, then dequeues, assigns and
counts capacity in one step. Keys all start with ``prefix`` (one tenant or test each):

``agents`` (set), ``a:<id>`` (hash: spec, state, reason, times, ``load:<ch>``, ``cap:<ch>``),
``sk:<skill>`` (set of agents), ``q:<queue>`` (sorted set, score ``-priority·1e9 + seq``;
re-queued heads below ``-1e15``), ``queues`` (set), ``c:<id>`` (contact JSON), ``ord`` (hash
contact → seq), ``assign`` (hash contact → agent), ``last`` (hash customer → agent), ``seq``,
``nodes`` (sorted set node → heartbeat expiry), ``held`` (hash contact → node) and
``held:<node>`` (set of contacts). Reclaiming a dead node's work is one script too, which
removes the node from ``nodes`` as it re-queues: of several reconcilers, one does it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

from kefu.runtime.acd.agent import AgentRecord, AgentSpec, AgentState
from kefu.runtime.state.base import (
    NODE_LOST,
    Conflict,
    Contact,
    Reclaimed,
    StateBackend,
    spec_from_json,
    spec_to_json,
)

_ENQUEUE = """
local p, cid = ARGV[1], ARGV[2]
local ck = p..'c:'..cid
local old = redis.call('GET', ck)
if old then
  local o = cjson.decode(old)
  if redis.call('ZSCORE', p..'q:'..o.queue, cid) then return 0 end
end
if redis.call('HEXISTS', p..'assign', cid) == 1 then return 0 end
local qk = p..'q:'..ARGV[4]
redis.call('SET', ck, ARGV[3])
local score
if ARGV[6] == '1' then
  score = -1e15
  local first = redis.call('ZRANGE', qk, 0, 0, 'WITHSCORES')
  if first[2] and tonumber(first[2]) < -1e14 then score = tonumber(first[2]) - 1 end
else
  local n = redis.call('INCR', p..'seq')
  redis.call('HSET', p..'ord', cid, n)
  score = -tonumber(ARGV[5]) * 1e9 + n
end
redis.call('ZADD', qk, score, cid)
redis.call('SADD', p..'queues', ARGV[4])
return 1
"""

_UPDATE = """
local p, cid = ARGV[1], ARGV[2]
local ck = p..'c:'..cid
local old = redis.call('GET', ck)
if not old then return 0 end
local o = cjson.decode(old)
local sc = redis.call('ZSCORE', p..'q:'..o.queue, cid)
if not sc then return 0 end
sc = tonumber(sc)
if sc >= -1e14 then
  sc = -tonumber(ARGV[5]) * 1e9 + tonumber(redis.call('HGET', p..'ord', cid) or '0')
end
redis.call('ZREM', p..'q:'..o.queue, cid)
redis.call('ZADD', p..'q:'..ARGV[4], sc, cid)
redis.call('SADD', p..'queues', ARGV[4])
redis.call('SET', ck, ARGV[3])
return 1
"""

_REMOVE = """
local p, cid = ARGV[1], ARGV[2]
local ck = p..'c:'..cid
local old = redis.call('GET', ck)
if not old then return false end
local o = cjson.decode(old)
if redis.call('ZREM', p..'q:'..o.queue, cid) == 0 then return false end
redis.call('DEL', ck)
redis.call('HDEL', p..'ord', cid)
return old
"""

_HEADS = """
local p, limit = ARGV[1], tonumber(ARGV[2])
local agent = '[]'
local first = 3
if ARGV[3] == '+agent' then
  local h = redis.call('HGETALL', p..'a:'..ARGV[4])
  if #h > 0 then agent = cjson.encode(h) end
  first = 5
end
local queues = {}
for i = first, #ARGV do
  local ids = redis.call('ZRANGE', p..'q:'..ARGV[i], 0, limit - 1)
  local items = {}
  if #ids > 0 then
    local keys = {}
    for j, id in ipairs(ids) do keys[j] = p..'c:'..id end
    for _, v in ipairs(redis.call('MGET', unpack(keys))) do
      if v then items[#items + 1] = v end
    end
  end
  queues[#queues + 1] = '['..table.concat(items, ',')..']'
end
return '{"a":'..agent..',"q":['..table.concat(queues, ',')..']}'
"""

_RESERVE = """
local p, cid, aid = ARGV[1], ARGV[2], ARGV[3]
local cj = redis.call('GET', p..'c:'..cid)
if not cj then return 0 end
if redis.call('HEXISTS', p..'assign', cid) == 1 then return 0 end
local c = cjson.decode(cj)
if not redis.call('ZSCORE', p..'q:'..c.queue, cid) then return 0 end
local ak = p..'a:'..aid
local h = redis.call('HMGET', ak, 'state', 'offered', 'load:'..c.channel, 'cap:'..c.channel)
if h[1] ~= 'ready' and h[1] ~= 'busy' then return 0 end
if h[2] and h[2] ~= '' then return 0 end
if tonumber(h[3] or '0') >= tonumber(h[4] or '0') then return 0 end
redis.call('ZREM', p..'q:'..c.queue, cid)
redis.call('HSET', p..'assign', cid, aid)
redis.call('HINCRBY', ak, 'load:'..c.channel, 1)
redis.call('HSET', ak, 'state', 'offered', 'offered', cid, 'offered_at', ARGV[4],
           'since', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', p..'held', cid, ARGV[5])
  redis.call('SADD', p..'held:'..ARGV[5], cid)
end
return 1
"""

# Lua functions shared by the scripts that end an assignment (prepended to each script:
# EVAL has no imports).
_ASSIGNMENT_LUA = """
local function unhold(p, cid)
  local node = redis.call('HGET', p..'held', cid)
  if node then
    redis.call('HDEL', p..'held', cid)
    redis.call('SREM', p..'held:'..node, cid)
  end
end
local function unload(p, aid, channel)
  local ak = p..'a:'..aid
  if redis.call('HINCRBY', ak, 'load:'..channel, -1) < 0 then
    redis.call('HSET', ak, 'load:'..channel, 0)
  end
  return ak
end
"""

_FREE = _ASSIGNMENT_LUA + """
local p, cid = ARGV[1], ARGV[2]
local aid = redis.call('HGET', p..'assign', cid)
if not aid then return false end
redis.call('HDEL', p..'assign', cid)
unhold(p, cid)
local c = cjson.decode(redis.call('GET', p..'c:'..cid))
local ak = unload(p, aid, c.channel)
if redis.call('HGET', ak, 'offered') == cid then redis.call('HSET', ak, 'offered', '') end
if ARGV[3] == '1' then
  redis.call('DEL', p..'c:'..cid)
  redis.call('HDEL', p..'ord', cid)
end
return aid
"""

_FINISH = _ASSIGNMENT_LUA + """
local p, cid = ARGV[1], ARGV[2]
local aid = redis.call('HGET', p..'assign', cid)
if not aid then return false end
local cj = redis.call('GET', p..'c:'..cid)
redis.call('HDEL', p..'assign', cid)
unhold(p, cid)
local c = cjson.decode(cj)
local ak = unload(p, aid, c.channel)
if redis.call('HGET', ak, 'offered') == cid then redis.call('HSET', ak, 'offered', '') end
redis.call('DEL', p..'c:'..cid)
redis.call('HDEL', p..'ord', cid)
return {cj, redis.call('HGETALL', ak)}
"""

_RECLAIM = _ASSIGNMENT_LUA + """
local p, node, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local exp = redis.call('ZSCORE', p..'nodes', node)
if not exp or tonumber(exp) > now then return {} end
redis.call('ZREM', p..'nodes', node)
local hk = p..'held:'..node
local ids = redis.call('SMEMBERS', hk)
table.sort(ids)
local out = {}
for _, cid in ipairs(ids) do
  local aid = redis.call('HGET', p..'assign', cid)
  local cj = redis.call('GET', p..'c:'..cid)
  if aid and cj and redis.call('HGET', p..'held', cid) == node then
    local c = cjson.decode(cj)
    redis.call('HDEL', p..'assign', cid)
    redis.call('HDEL', p..'held', cid)  -- the whole held:<node> set is deleted below
    local ak = unload(p, aid, c.channel)
    local offered = redis.call('HGET', ak, 'offered') == cid
    local lost = offered
    if not lost and redis.call('HGET', ak, 'state') == 'busy' then
      lost = true
      local h = redis.call('HGETALL', ak)
      for i = 1, #h, 2 do
        if string.sub(h[i], 1, 5) == 'load:' and tonumber(h[i + 1]) > 0 then lost = false end
      end
    end
    if lost then
      redis.call('HSET', ak, 'state', 'not_ready', 'reason', ARGV[4], 'since', ARGV[3],
                 'offered', '')
    end
    local qk = p..'q:'..c.queue
    local score = -1e15
    local first = redis.call('ZRANGE', qk, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) < -1e14 then score = tonumber(first[2]) - 1 end
    redis.call('ZADD', qk, score, cid)
    redis.call('SADD', p..'queues', c.queue)
    out[#out + 1] = {cid, c.queue, aid, offered and 1 or 0}
  end
end
redis.call('DEL', hk)
return out
"""

_SAVE = """
local ak = ARGV[1]..'a:'..ARGV[2]
local st = redis.call('HGET', ak, 'state')
if not st then return -1 end
if st ~= ARGV[3] then return 0 end
redis.call('HSET', ak, 'state', ARGV[4], 'reason', ARGV[5], 'since', ARGV[6],
           'idle_since', ARGV[7], 'today', ARGV[8], 'offered', ARGV[9], 'offered_at', ARGV[10],
           'until', ARGV[11])
return 1
"""

_CANDIDATES = """
local p, ch = ARGV[1], ARGV[2]
local ids
if #ARGV > 2 then
  local keys = {}
  for i = 3, #ARGV do keys[#keys + 1] = p..'sk:'..ARGV[i] end
  ids = redis.call('SINTER', unpack(keys))
else
  ids = redis.call('SMEMBERS', p..'agents')
end
local out = {}
for _, id in ipairs(ids) do
  local ak = p..'a:'..id
  local h = redis.call('HMGET', ak, 'state', 'offered', 'load:'..ch, 'cap:'..ch)
  if (h[1] == 'ready' or h[1] == 'busy') and (not h[2] or h[2] == '')
     and tonumber(h[3] or '0') < tonumber(h[4] or '0') then
    out[#out + 1] = redis.call('HGETALL', ak)
  end
end
return out
"""


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class RedisState(StateBackend):
    """State in Redis under ``prefix``. Takes a redis-py client (or a URL). Raises redis-py's
    ``ConnectionError`` when Redis cannot be reached."""

    def __init__(self, client: redis.Redis | str, prefix: str = "kefu:acd:",
                 node_id: str | None = None) -> None:
        self.node_id = node_id
        self.r: redis.Redis = (redis.Redis.from_url(client) if isinstance(client, str)
                               else client)
        self.p = prefix
        self._specs: dict[str, AgentSpec] = {}
        self._enqueue = self.r.register_script(_ENQUEUE)
        self._update = self.r.register_script(_UPDATE)
        self._remove = self.r.register_script(_REMOVE)
        self._heads = self.r.register_script(_HEADS)
        self._reserve = self.r.register_script(_RESERVE)
        self._freescript = self.r.register_script(_FREE)
        self._save = self.r.register_script(_SAVE)
        self._finish = self.r.register_script(_FINISH)
        self._cands = self.r.register_script(_CANDIDATES)
        self._reclaim = self.r.register_script(_RECLAIM)

    def clear(self) -> None:
        """Delete every key under the prefix (tests, tenant removal)."""
        keys = list(self.r.scan_iter(match=self.p + "*", count=1000))
        for i in range(0, len(keys), 500):
            self.r.delete(*keys[i:i + 500])

    # ---- agents
    def _record(self, flat: Any) -> AgentRecord:
        if isinstance(flat, dict):
            h = {_s(k): _s(v) for k, v in flat.items()}
        else:
            h = {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}
        text = h["spec"]
        spec = self._specs.get(text)
        if spec is None:
            spec = self._specs[text] = spec_from_json(text)
        load = {k[5:]: int(v) for k, v in h.items() if k.startswith("load:")}
        return AgentRecord(spec=spec, state=AgentState(h["state"]), reason=h["reason"] or None,
                           since=float(h["since"]), idle_since=float(h["idle_since"]),
                           handled_today=int(h["today"]), load=load,
                           offered=h["offered"] or None, offered_at=float(h["offered_at"]),
                           until=float(h["until"]))

    def put_agent(self, spec: AgentSpec, now: float) -> AgentRecord:
        ak = f"{self.p}a:{spec.id}"
        old = self.r.hget(ak, "spec")
        pipe = self.r.pipeline(transaction=True)
        if old is not None:
            for s in spec_from_json(old).skills:
                pipe.srem(f"{self.p}sk:{s}", spec.id)
        defaults: dict[str, str | float] = {
            "state": AgentState.LOGGED_OUT.value, "reason": "", "since": now,
            "idle_since": now, "today": 0, "offered": "", "offered_at": 0, "until": 0}
        for k, v in defaults.items():
            pipe.hsetnx(ak, k, v)
        for ch in spec.capacity:
            pipe.hsetnx(ak, f"load:{ch}", 0)
        pipe.hset(ak, mapping={"spec": spec_to_json(spec),
                               **{f"cap:{ch}": n for ch, n in spec.capacity.items()}})
        pipe.sadd(f"{self.p}agents", spec.id)
        for s in spec.skills:
            pipe.sadd(f"{self.p}sk:{s}", spec.id)
        pipe.execute()
        return self.get_agent(spec.id)

    def get_agent(self, agent_id: str) -> AgentRecord:
        h = self.r.hgetall(f"{self.p}a:{agent_id}")
        if not h:
            raise KeyError(agent_id)
        return self._record(h)

    def agents(self) -> list[AgentRecord]:
        ids = sorted(_s(i) for i in self.r.smembers(f"{self.p}agents"))
        pipe = self.r.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(f"{self.p}a:{i}")
        return [self._record(h) for h in pipe.execute() if h]

    def save_agent(self, rec: AgentRecord, expect: AgentState) -> None:
        res = self._save(args=[self.p, rec.id, expect.value, rec.state.value, rec.reason or "",
                               rec.since, rec.idle_since, rec.handled_today, rec.offered or "",
                               rec.offered_at, rec.until])
        if res == -1:
            raise KeyError(rec.id)
        if res == 0:
            raise Conflict(f"agent {rec.id} is no longer {expect.value}")

    def candidates(self, channel: str, skills: Sequence[str]) -> list[AgentRecord]:
        return [self._record(h) for h in self._cands(args=[self.p, channel, *skills])]

    # ---- queues
    def enqueue(self, contact: Contact, *, head: bool = False) -> None:
        ok = self._enqueue(args=[self.p, contact.id, contact.to_json(), contact.queue,
                                 contact.priority, "1" if head else "0"])
        if not ok:
            raise ValueError(f"contact {contact.id} is already queued or assigned")

    def get_contact(self, contact_id: str) -> Contact | None:
        text = self.r.get(f"{self.p}c:{contact_id}")
        return Contact.from_json(text) if text is not None else None

    def update_contact(self, contact: Contact) -> bool:
        return bool(self._update(args=[self.p, contact.id, contact.to_json(), contact.queue,
                                       contact.priority]))

    def remove(self, contact_id: str) -> Contact | None:
        text = self._remove(args=[self.p, contact_id])
        return Contact.from_json(text) if text else None

    def waiting(self, queue_id: str, limit: int | None = None) -> list[Contact]:
        n = limit if limit is not None else max(self.queue_length(queue_id), 1)
        return self.heads([queue_id], n).get(queue_id, [])

    def heads(self, queue_ids: Sequence[str], limit: int) -> dict[str, list[Contact]]:
        if not queue_ids:
            return {}
        data = json.loads(self._heads(args=[self.p, limit, *queue_ids]))
        return {q: [Contact(**d) for d in items]
                for q, items in zip(queue_ids, data["q"], strict=True) if items}

    def agent_and_heads(self, agent_id: str, queue_ids: Sequence[str], limit: int
                        ) -> tuple[AgentRecord, dict[str, list[Contact]]]:
        data = json.loads(self._heads(args=[self.p, limit, "+agent", agent_id, *queue_ids]))
        if not data["a"]:
            raise KeyError(agent_id)
        heads = {q: [Contact(**d) for d in items]
                 for q, items in zip(queue_ids, data["q"], strict=True) if items}
        return self._record(data["a"]), heads

    def queue_length(self, queue_id: str) -> int:
        return int(self.r.zcard(f"{self.p}q:{queue_id}"))

    def position(self, contact_id: str) -> int | None:
        c = self.get_contact(contact_id)
        if c is None:
            return None
        rank = self.r.zrank(f"{self.p}q:{c.queue}", contact_id)
        return None if rank is None else int(rank) + 1  # type: ignore[arg-type]

    def queue_ids(self) -> list[str]:
        ids = sorted(_s(q) for q in self.r.smembers(f"{self.p}queues"))
        pipe = self.r.pipeline(transaction=False)
        for q in ids:
            pipe.zcard(f"{self.p}q:{q}")
        return [q for q, n in zip(ids, pipe.execute(), strict=True) if n]

    # ---- assignment
    def reserve(self, contact_id: str, agent_id: str, now: float, *,
                node: str | None = None) -> bool:
        holder = node or self.node_id or ""
        return bool(self._reserve(args=[self.p, contact_id, agent_id, now, holder]))

    def release(self, contact_id: str) -> str | None:
        res = self._freescript(args=[self.p, contact_id, "1"])
        return _s(res) if res else None

    def finish(self, contact_id: str) -> tuple[Contact, AgentRecord] | None:
        res = self._finish(args=[self.p, contact_id])
        if not res:
            return None
        return Contact.from_json(res[0]), self._record(res[1])

    def unassign(self, contact_id: str) -> str | None:
        res = self._freescript(args=[self.p, contact_id, "0"])
        return _s(res) if res else None

    def assigned(self, contact_id: str) -> str | None:
        res = self.r.hget(f"{self.p}assign", contact_id)
        return _s(res) if res is not None else None

    def assignments(self) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self.r.hgetall(f"{self.p}assign").items()}

    def heartbeat(self, node_id: str, now: float, ttl: float) -> None:
        self.r.zadd(f"{self.p}nodes", {node_id: now + ttl})

    def expired_nodes(self, now: float) -> list[str]:
        return sorted(_s(n) for n in self.r.zrangebyscore(f"{self.p}nodes", "-inf", now))

    def held_by(self, node_id: str) -> list[str]:
        return sorted(_s(c) for c in self.r.smembers(f"{self.p}held:{node_id}"))

    def reclaim(self, node_id: str, now: float) -> list[Reclaimed]:
        res = self._reclaim(args=[self.p, node_id, repr(float(now)), NODE_LOST])
        return [Reclaimed(_s(cid), _s(q), _s(aid), node_id, bool(int(off)))
                for cid, q, aid, off in res]

    def set_last_agent(self, customer: str, agent_id: str) -> None:
        self.r.hset(f"{self.p}last", customer, agent_id)

    def last_agent(self, customer: str) -> str | None:
        res = self.r.hget(f"{self.p}last", customer)
        return _s(res) if res is not None else None
