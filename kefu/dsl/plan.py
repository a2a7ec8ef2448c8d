"""Semantic diff between two compiled configs, in words an analyst understands.

``semantic_diff(old, new)`` compares by name, never by text position, so reordering
definitions is not a change. Examples of lines it produces::

    queue repair: strategy round_robin → longest_idle
    menu main_menu (flow main): option 3 removed
    flow billing: now unreachable (no channel or flow leads to it)
    workflow repair: state visited removed (tickets in that state need a migration)

Lines that start with ``BREAKING:`` need care when applying (removed workflow states,
removed flows that channels used).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kefu.dsl import ir


def _fmt(v: Any) -> str:  # noqa: PLR0911 - one case per construct
    if v is None or v in ((), {}):
        return "(none)"
    if isinstance(v, ir.Text):
        return " / ".join(f'"{t}"' for _loc, t in sorted(v.texts.items())) if not v.prompt \
            else f"prompt {v.prompt}"
    if isinstance(v, tuple) and v and isinstance(v[0], str) and v[0] in _EXPR_HEADS:
        return expr_text(v)
    if isinstance(v, tuple):
        return ", ".join(_fmt(x) for x in v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        if isinstance(v, ir.SkillReq):
            return v.skill + (f" >= {v.level}" if v.level is not None else "")
        return " ".join(f"{f.name}={_fmt(getattr(v, f.name))}" for f in dataclasses.fields(v)
                        if getattr(v, f.name) not in (None, (), {}, False))
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


_EXPR_HEADS = {"var", "str", "num", "bool", "dur", "pct", "date", "time", "timerange", "list",
               "not", "call", "cal", "get", "or", "and", "==", "!=", "<", "<=", ">", ">=",
               "in", "+", "..", "="}


def expr_text(e: Any) -> str:  # noqa: PLR0911 - one case per construct
    """Readable text of an IR expression."""
    if e is None:
        return ""
    op = e[0]
    if op == "var":
        return str(e[1])
    if op == "str":
        return f'"{e[1]}"'
    if op in ("num", "date", "cal"):
        return str(e[1])
    if op == "bool":
        return "true" if e[1] else "false"
    if op == "dur":
        return f"{e[1]}s"
    if op == "pct":
        return f"{e[1]:g}%"
    if op == "time":
        return f"{e[1] // 60:02d}:{e[1] % 60:02d}"
    if op == "list":
        return "[" + ", ".join(expr_text(x) for x in e[1:]) + "]"
    if op == "not":
        return f"not {expr_text(e[1])}"
    if op == "call":
        return f"{e[1]}(" + ", ".join(expr_text(x) for x in e[2:]) + ")"
    if op == "get":
        return f"{expr_text(e[1])}.{e[2]}"
    return f"{expr_text(e[1])} {op} {expr_text(e[2])}"


def _fields_diff(label: str, old: Any, new: Any, skip: tuple[str, ...] = ("id",)) -> list[str]:
    out = []
    for f in dataclasses.fields(old):
        if f.name in skip:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if a != b:
            out.append(f"{label}: {f.name.replace('_', ' ')} {_fmt(a)} → {_fmt(b)}")
    return out


def _by_id(items: tuple[Any, ...]) -> dict[str, Any]:
    return {x.id: x for x in items}


def _collection(kind: str, old: tuple[Any, ...], new: tuple[Any, ...],
                detail: Any = None) -> list[str]:
    a, b = _by_id(old), _by_id(new)
    out = []
    for name in sorted(a.keys() - b.keys()):
        out.append(f"{kind} {name} removed")
    for name in sorted(b.keys() - a.keys()):
        out.append(f"{kind} {name} added")
    for name in sorted(a.keys() & b.keys()):
        if a[name] != b[name]:
            out.extend(detail(a[name], b[name]) if detail else
                       _fields_diff(f"{kind} {name}", a[name], b[name]))
    return out


def _flow_diff(old: ir.Flow, new: ir.Flow) -> list[str]:
    out = []
    label = f"flow {old.id}"
    if old.start != new.start:
        out.append(f"{label}: starts at {new.start} instead of {old.start}")
    a, b = _by_id(old.nodes), _by_id(new.nodes)
    for name in sorted(a.keys() - b.keys()):
        out.append(f"{label}: step {name} ({a[name].kind}) removed")
    for name in sorted(b.keys() - a.keys()):
        out.append(f"{label}: step {name} ({b[name].kind}) added")
    for name in sorted(a.keys() & b.keys()):
        x, y = a[name], b[name]
        if x == y:
            continue
        step = f"{x.kind} {name} (flow {old.id})"
        if x.kind != y.kind:
            out.append(f"{step}: is now a {y.kind}")
            continue
        if x.options != y.options:
            ox = {"/".join(o.keys + o.phrases): o for o in x.options}
            oy = {"/".join(o.keys + o.phrases): o for o in y.options}
            for k in ox.keys() - oy.keys():
                out.append(f"{step}: option {k} removed")
            for k in oy.keys() - ox.keys():
                out.append(f"{step}: option {k} added (→ {oy[k].target})")
            for k in ox.keys() & oy.keys():
                if ox[k].target != oy[k].target:
                    out.append(f"{step}: option {k} now goes to {oy[k].target} instead of "
                               f"{ox[k].target}")
        out.extend(_fields_diff(step, dataclasses.replace(x, options=()),
                                dataclasses.replace(y, options=())))
    return out


def _reachable_flows(config: ir.Config) -> set[str]:
    flows = _by_id(config.flows)
    todo = [c.flow for c in config.channels if c.flow]
    seen: set[str] = set()
    while todo:
        f = todo.pop()
        if f in seen or f not in flows:
            continue
        seen.add(f)
        todo.extend(n.ref for n in flows[f].nodes if n.kind == "call" and n.ref)
    return seen


def _reachable_nodes(flow: ir.Flow) -> set[str]:
    nodes = _by_id(flow.nodes)
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        n = todo.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        node = nodes[n]
        todo.extend(t for t in (node.next, node.otherwise) if t)
        todo.extend(node.exits.values())
        todo.extend(o.target for o in node.options)
        todo.extend(b.target for b in node.branches)
        todo.extend(h.target for h in (*node.handlers, *flow.handlers) if h.target)
    return seen


def _workflow_diff(old: ir.Workflow, new: ir.Workflow) -> list[str]:
    label = f"workflow {old.id}"
    out = []
    for s in old.states:
        if s not in new.states:
            out.append(f"BREAKING: {label}: state {s} removed (tickets in that state need a "
                       "migration)")
    out.extend(f"{label}: state {s} added" for s in new.states if s not in old.states)
    out.extend(_collection(f"{label}: transition", old.transitions, new.transitions))
    out.extend(_collection(f"{label}: SLA", old.slas, new.slas))
    out.extend(_collection(f"{label}: follow-up", old.followups, new.followups))
    out.extend(_fields_diff(label, dataclasses.replace(old, states=(), transitions=(), slas=(),
                                                       followups=()),
                            dataclasses.replace(new, states=(), transitions=(), slas=(),
                                                followups=())))
    return out


def _tts_diff(old: tuple[ir.TtsChoice, ...], new: tuple[ir.TtsChoice, ...]) -> list[str]:
    """``speech for zh_CN: edge "zh-CN-XiaoxiaoNeural" → espeak``."""
    def say(choice: ir.TtsChoice | None) -> str:
        if choice is None:
            return "(the default)"
        return choice.engine + (f' "{choice.voice}"' if choice.voice else "")

    was = {c.locale: c for c in old}
    now = {c.locale: c for c in new}
    out = []
    for locale in sorted(was.keys() | now.keys(), key=lambda x: x or ""):
        if was.get(locale) != now.get(locale):
            where = f"speech for {locale}" if locale else "speech for every locale"
            out.append(f"{where}: {say(was.get(locale))} → {say(now.get(locale))}")
    return out


def semantic_diff(old: ir.Config, new: ir.Config) -> list[str]:
    """What changes from ``old`` to ``new``, one sentence per change.

    Args:
        old: the deployed (or previous) compiled config.
        new: the candidate.

    Returns:
        Sentences in a stable order; empty when the configs mean the same thing.
    """
    out: list[str] = []
    out.extend(_fields_diff("tenant", old.tenant, new.tenant, skip=()))
    out.extend(_collection("calendar", old.calendars, new.calendars))
    ch_old = {(c.kind, c.address): c for c in old.channels}
    ch_new = {(c.kind, c.address): c for c in new.channels}
    for key in sorted(ch_old.keys() - ch_new.keys()):
        out.append(f"channel {key[0]} {key[1]} removed")
    for key in sorted(ch_new.keys() - ch_old.keys()):
        out.append(f"channel {key[0]} {key[1]} added (→ {ch_new[key].flow or 'no flow'})")
    for key in sorted(ch_old.keys() & ch_new.keys()):
        was_ch, now_ch = ch_old[key], ch_new[key]
        if was_ch.flow != now_ch.flow:
            out.append(f"channel {key[0]} {key[1]}: no longer leads to a flow (was {was_ch.flow})"
                       if now_ch.flow is None else
                       f"channel {key[0]} {key[1]}: now goes to flow {now_ch.flow} instead of "
                       f"{was_ch.flow or 'no flow'}")
        if was_ch.locale != now_ch.locale:
            out.append(f"channel {key[0]} {key[1]}: locale {_fmt(was_ch.locale)} → "
                       f"{_fmt(now_ch.locale)}")
    out.extend(_collection("prompt", old.prompts, new.prompts))
    for kind, a, b in (("skill", old.skills, new.skills),
                       ("department", old.departments, new.departments),
                       ("role", old.roles, new.roles),
                       ("disposition", old.dispositions, new.dispositions),
                       ("not-ready reason", old.not_ready, new.not_ready),
                       ("team", old.teams, new.teams), ("queue", old.queues, new.queues),
                       ("http lookup", old.https, new.https), ("form", old.forms, new.forms),
                       ("rule", old.rules, new.rules), ("KPI", old.kpis, new.kpis)):
        out.extend(_collection(kind, a, b))
    out.extend(_tts_diff(old.tts, new.tts))
    out.extend(_collection("workflow", old.workflows, new.workflows, _workflow_diff))
    out.extend(_collection("flow", old.flows, new.flows, _flow_diff))
    was, now = _reachable_flows(old), _reachable_flows(new)
    for flow_id in sorted((was - now) & {x.id for x in new.flows}):
        out.append(f"flow {flow_id}: now unreachable (no channel or flow leads to it)")
    old_flows = _by_id(old.flows)
    for flow in new.flows:
        if flow.id in old_flows:
            before = _reachable_nodes(old_flows[flow.id])
            after = _reachable_nodes(flow)
            for n in sorted((before - after) & {x.id for x in flow.nodes}):
                out.append(f"flow {flow.id}: step {n} now unreachable")
    return out
