"""Building router config from real tenant configs (tenants/demo, tenants/telecom)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kefu.dsl import ir
from kefu.dsl.loader import compile_path
from kefu.runtime.acd import AgentSpec, Router, agents_from_teams, build_router_config
from kefu.runtime.acd.config import Step
from kefu.runtime.state import Contact

ROOT = Path(__file__).resolve().parents[4]


def compiled(name: str) -> ir.Config:
    result = compile_path(ROOT / "tenants" / name)
    assert result.ir is not None, result.diagnostics
    return result.ir


def test_demo_queues_become_router_queues() -> None:
    cfg = build_router_config(compiled("demo"))
    general = cfg.queues["general_q"]
    assert general.strategy == "longest_idle"
    assert general.require == {"billing": 2}
    assert general.steps == (Step(60.0, "relax", skill="billing", level=1),)
    assert general.max_wait == 180
    assert general.wrap_up == 30
    priority = cfg.queues["priority_q"]
    assert priority.strategy == "last_agent"
    assert priority.priorities == ((("var", "caller.vip"), 10),)
    assert priority.steps[0].action == "overflow"
    assert priority.steps[0].queue == "general_q"
    assert cfg.queues["emergency_q"].teams == ("field_team", "front_desk")


def test_telecom_queue_with_chinese_names_routes_by_its_skills() -> None:
    config = compiled("telecom")
    cfg = build_router_config(config)
    mobile = cfg.queues["移动业务"]
    assert mobile.require == {"移动业务": 1, "普通话": 2}
    assert mobile.prefer == {"移动业务": (3, 1.0)}
    r = Router(cfg)
    agents = agents_from_teams(config)
    assert len(agents) == 40 + 20 + 8 + 4 + sum(
        (t.members or 1) for t in config.teams if t.id not in ("综合组", "宽带组", "粤语组", "英语组"))
    for a in agents:
        r.add_agent(a, 0)
        r.login(a.id, 0)
    r.ready("英语组-1", 1)  # 英语 3, 移动业务 2, but no 普通话: cannot take 移动业务
    r.ready("综合组-1", 2)
    acts = r.enqueue(Contact("call-1", "移动业务"), 3)
    assert [(a.kind, a.agent_id) for a in acts if a.kind == "offer"] == [("offer", "综合组-1")]


def at(config: ir.Config, text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(
        tzinfo=ZoneInfo(config.tenant.timezone)).timestamp()


def test_demo_queues_are_closed_outside_business_hours() -> None:
    config = compiled("demo")
    r = Router(build_router_config(config))
    sunday_night = at(config, "2025-11-16T23:00")
    acts = r.enqueue(Contact("late", "general_q"), sunday_night)
    assert [a.kind for a in acts] == ["closed"]
    assert r.position("late") is None


def test_demo_vip_caller_jumps_the_priority_queue() -> None:
    config = compiled("demo")
    r = Router(build_router_config(config))
    r.add_agent(AgentSpec("amy", {"billing": 5}), 0)
    r.login("amy", 0)
    t0 = at(config, "2025-11-12T10:00")  # a Wednesday morning: open
    r.enqueue(Contact("normal", "priority_q", attrs={"caller": {"vip": False}}), t0 + 1)
    r.enqueue(Contact("vip", "priority_q", attrs={"caller": {"vip": True}}), t0 + 2)
    assert r.position("vip") == 1
    acts = r.tick(t0 + 32)  # after 30 s both overflow to general_q
    assert {a.contact_id for a in acts if a.kind == "overflow"} == {"normal", "vip"}


def test_overflow_to_a_missing_queue_is_refused() -> None:
    base = compiled("demo")
    bad = ir.Queue(id="x", title=None, strategy="round_robin",
                   steps=(ir.QueueStep(after=10, action="overflow", queue="nowhere"),))
    with pytest.raises(ValueError, match="nowhere"):
        build_router_config(ir.Config(version=1, tenant=base.tenant, queues=(bad,)))
