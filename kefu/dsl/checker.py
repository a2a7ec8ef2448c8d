"""Semantic checks: every problem in a tenant's config, all at once.

``check(config)`` returns a list of diagnostics and never stops at the first. Codes:

====== ==============================================================================
E101   undefined name (with did-you-mean)        E102  duplicate definition
E103   the same number/address bound twice       E104  a name of the wrong kind
E201   unreachable step                          E202  loop with no input or no exit
E203   an ask/menu that can repeat forever       E204  menu choices that collide
E205   a DTMF key that cannot be pressed         E206  an outcome nobody handles
E207   a step with nothing after it              E210  unknown variable
E211   unknown function or wrong arity           E212  field not returned by an http lookup
E301   text missing for a declared locale        E302  a pattern that does not compile
E303   a form field condition a browser cannot evaluate
E401   queue requires skills no team has         E402  queue reachable outside business hours
E403   overflow loop between queues              E404  skill level outside the skill's range
E501   workflow state problems                   E502  SLA on a calendar with no working time
E503   trap state (no way out, not final)        E504  SLA that can never stop
E601   rules that trigger each other             E701  http host not allow-listed
W901   defined but never used                    W902  calendar with overlapping hours
====== ==============================================================================
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from kefu.dsl import model as m
from kefu.dsl.binder import ACTION_EMITS, FAQ_EVENTS, STEP_EXITS, TERMINAL_STEPS
from kefu.dsl.diagnostics import Diagnostic, Severity, Span, did_you_mean
from kefu.dsl.syntax import Binary, Call, Expr, ListExpr, Literal, Member, Name, Seq, Unary

BUILTIN_ROLES = ("admin", "analyst", "designer", "supervisor", "agent")
FUNCTIONS = {"open": 1, "holiday": 1, "len": 1, "contains": 2, "matches": 2,
             "starts_with": 2, "lower": 1}
# `form`: the web chat's pre-chat answers; `message`: the text message that opened an SMS or
# email conversation (both empty on other channels).
FLOW_ROOTS = ("caller", "call", "channel", "now", "today", "true", "false", "locale", "form",
              "message")
RULE_ROOTS = ("ticket", "message", "customer", "caller", "call", "event", "now", "today",
              "true", "false", "outage", "followup")
WAITING = ("ask", "menu", "callback", "enqueue")
KIND_WORDS = {"calendar": "calendar", "prompt": "prompt", "template": "template",
              "skill": "skill", "department": "department", "role": "role",
              "disposition": "disposition", "not_ready": "not-ready reason", "team": "team",
              "queue": "queue", "http": "http lookup", "form": "form", "workflow": "workflow",
              "rule": "rule", "kpi": "KPI", "flow": "flow", "script": "script"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def step_edges(flow: m.Flow, index: int) -> list[tuple[str, Name]]:
    """Where a step can go next: ``(exit label, target name)``; fall-through is resolved to the
    following step (labelled ``next``)."""
    step = flow.steps[index]
    out: list[tuple[str, Name]] = []
    follows = flow.steps[index + 1].name if index + 1 < len(flow.steps) else None
    nxt = step.next or follows
    if step.kind in ("say", "play", "set", "send", "ask", "ticket", "call", "fetch"):
        ok = step.exits.get("ok") or step.exits.get("done")
        target = ok[0] if ok else nxt
        if target is not None:
            out.append(("next", target))
    for label, (target, _span) in step.exits.items():
        if label not in ("ok", "done"):
            out.append((label, target))
    for i, (_cond, target, _span) in enumerate(step.branches):
        out.append((f"when{i + 1}", target))
    if step.otherwise is not None:
        out.append(("otherwise", step.otherwise))
    for opt in step.options:
        out.append((f"option {'/'.join(opt.keys + opt.phrases)}", opt.target))
    handlers = list(step.handlers)
    if step.kind in ("ask", "menu"):
        handlers += flow.handlers
    elif step.kind in ("fetch", "transfer", "ticket"):
        handlers += [h for h in flow.handlers if "error" in h.events]
    for h in handlers:
        if h.target is not None:
            out.append((f"on {','.join(h.events)} {h.count}", h.target))
    return out


def falls_off(flow: m.Flow, index: int) -> bool:
    step = flow.steps[index]
    if step.kind in TERMINAL_STEPS or step.kind in ("branch", "menu", "callback"):
        return False
    if step.next is not None or ("ok" in step.exits) or ("done" in step.exits):
        return False
    return index + 1 >= len(flow.steps)


class Checker:
    def __init__(self, config: m.Config) -> None:
        self.c = config
        self.diags: list[Diagnostic] = []
        self.symbols: dict[str, dict[str, object]] = defaultdict(dict)
        self.used: set[tuple[str, str]] = set()
        self.locales = [n.value for n in (config.tenant.locales if config.tenant else [])]

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, hint=hint))

    def warn(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, Severity.WARNING, hint))

    # ------------------------------------------------------------------ symbols
    def declare(self, kind: str, name: Name, obj: object) -> None:
        table = self.symbols[kind]
        if name.value in table:
            first = getattr(table[name.value], "span", None)
            self.error("E102", f"{KIND_WORDS[kind]} `{name.value}` is defined twice", name.span,
                       hint=f"the first definition is at {first}" if first else None)
            return
        table[name.value] = obj

    def ref(self, kinds: str | tuple[str, ...], name: Name | None) -> object | None:
        """Resolve a reference, reporting undefined names and names of the wrong kind."""
        if name is None:
            return None
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        for kind in kinds:
            obj = self.symbols[kind].get(name.value)
            if obj is not None:
                self.used.add((kind, name.value))
                return obj
        wanted = " or ".join(KIND_WORDS[k] for k in kinds)
        for other, table in self.symbols.items():
            if name.value in table:
                self.error("E104", f"`{name.value}` is a {KIND_WORDS[other]}, not a {wanted}",
                           name.span)
                return None
        candidates = [n for k in kinds for n in self.symbols[k]]
        self.error("E101", f"{wanted} `{name.value}` is not defined", name.span,
                   hint=did_you_mean(name.value, candidates))
        return None

    def build_symbols(self) -> None:
        c = self.c
        for cal in c.calendars:
            self.declare("calendar", cal.name, cal)
        for p in c.prompts:
            self.declare(p.kind, p.name, p)
        for s in c.simples:
            self.declare(s.kind, s.name, s)
        for kind, items in (("team", c.teams), ("queue", c.queues), ("http", c.https),
                            ("form", c.forms), ("workflow", c.workflows), ("rule", c.rules),
                            ("kpi", c.kpis), ("flow", c.flows), ("script", c.scripts)):
            for item in items:
                self.declare(kind, item.name, item)
        for role in BUILTIN_ROLES:
            self.symbols["role"].setdefault(role, m.Simple("role", Name(role)))
            self.used.add(("role", role))

    # ------------------------------------------------------------------ texts
    def text(self, t: m.Text | None, roots: Iterable[str] | None = None,
             kinds: tuple[str, ...] = ("prompt",)) -> None:
        if t is None:
            return
        if t.ref is not None:
            target = self.ref(kinds, t.ref)
            if isinstance(target, m.Prompt) and roots is not None:
                # the placeholders of a shared text must be known where it is used
                for text, span in target.texts.values():
                    self.placeholders(text, span, set(roots), used_at=t.span)
            return
        if len(self.locales) > 1:
            self.error("E301", f"this text is only in one language, but the tenant speaks "
                               f"{', '.join(self.locales)}", t.span,
                       hint="define a `prompt` with one line per locale and use its name here")
        if roots is not None and t.literal is not None:
            self.placeholders(t.literal, t.span, set(roots))

    def placeholders(self, text: str, span: Span, roots: set[str],
                     used_at: Span | None = None) -> None:
        for match in _PLACEHOLDER.finditer(text.replace("{{", "").replace("}}", "")):
            root = match.group(1).strip().split(".")[0]
            if root not in roots:
                where = f" where it is used at {used_at}" if used_at else ""
                self.error("E210", f"`{{{match.group(1)}}}` in this text is not a known "
                                   f"value{where}", span, hint=did_you_mean(root, roots))

    # ------------------------------------------------------------------ expressions
    def expr(self, e: Expr, roots: set[str], returns: dict[str, dict[str, str]]) -> None:  # noqa: PLR0912 - one case per construct
        if isinstance(e, Name):
            if e.value not in roots:
                self.error("E210", f"`{e.value}` is not a known value here", e.span,
                           hint=did_you_mean(e.value, roots)
                           or "values come from ask steps, set, fetch … into, and caller.*")
        elif isinstance(e, Member):
            root = e.obj
            if isinstance(root, Name) and root.value in returns:
                fields = returns[root.value]
                if fields and e.name not in fields:
                    self.error("E212", f"`{root.value}` has no field `{e.name}`", e.span,
                               hint=did_you_mean(e.name, fields)
                               or "fields: " + ", ".join(fields))
            self.expr(root, roots, returns)
        elif isinstance(e, Call):
            arity = FUNCTIONS.get(e.func)
            if arity is None:
                self.error("E211", f"there is no function `{e.func}`", e.span,
                           hint=did_you_mean(e.func, FUNCTIONS))
                return
            if len(e.args) != arity:
                self.error("E211", f"`{e.func}` takes {arity} value(s), not {len(e.args)}",
                           e.span)
                return
            if e.func in ("open", "holiday"):
                arg = e.args[0]
                if isinstance(arg, Name):
                    self.ref("calendar", arg)
                else:
                    self.error("E211", f"`{e.func}` needs a calendar name", arg.span)
                return
            if e.func == "matches":
                self.pattern(e.args[1])
            for a in e.args:
                self.expr(a, roots, returns)
        elif isinstance(e, Unary):
            self.expr(e.operand, roots, returns)
        elif isinstance(e, Binary):
            self.expr(e.left, roots, returns)
            self.expr(e.right, roots, returns)
        elif isinstance(e, ListExpr | Seq):
            for a in e.items:
                self.expr(a, roots, returns)
        elif isinstance(e, Literal) and e.kind == "STRING":
            self.placeholders(e.text, e.span, roots)

    def pattern(self, e: Expr) -> None:
        if isinstance(e, Literal) and e.kind == "STRING":
            try:
                re.compile(e.text)
            except re.error as exc:
                self.error("E302", f"this pattern does not compile: {exc.msg}", e.span)

    # ------------------------------------------------------------------ run
    def run(self) -> list[Diagnostic]:
        c = self.c
        self.build_symbols()
        if c.tenant is None:
            self.error("E002", "the config has no `tenant { … }` block",
                       Span.point(_first_file(c), 1, 1),
                       hint='add e.g. tenant demo { name "Demo"; locales en }')
        else:
            if not c.tenant.locales:
                self.error("E002", "the tenant needs `locales …`", c.tenant.span)
            self.ref("calendar", c.tenant.calendar)
            self.ref("form", c.tenant.customer_form)
        self.check_calendars()
        self.check_prompts()
        self.check_channels()
        self.check_teams_queues()
        self.check_https()
        self.check_forms()
        self.check_workflows()
        self.check_rules()
        self.check_speech()
        self.check_scripts()
        for k in c.kpis:
            for q in k.queues:
                self.ref("queue", q)
        for flow in c.flows:
            self.check_flow(flow)
        self.check_hours()
        self.check_unused()
        unique: dict[tuple[str, str, Span], Diagnostic] = {}
        for d in self.diags:
            unique.setdefault((d.code, d.message, d.span), d)
        return list(unique.values())

    def check_calendars(self) -> None:
        for cal in self.c.calendars:
            per_day: dict[int, list[tuple[int, int, Span]]] = defaultdict(list)
            for w in cal.weekly:
                for d in w.days:
                    for lo, hi in w.ranges:
                        for olo, ohi, ospan in per_day[d]:
                            if lo < ohi and olo < hi:
                                self.warn("W902", "these opening hours overlap hours given "
                                                  f"at line {ospan.line}", w.span)
                        per_day[d].append((lo, hi, w.span))

    def calendar_has_time(self, cal: m.Calendar) -> bool:
        return cal.always or any(w.days and w.ranges for w in cal.weekly) \
            or any(d.ranges for d in cal.workdays)

    def check_prompts(self) -> None:
        for p in self.c.prompts:
            if "" in p.texts and len(self.locales) > 1:
                self.error("E301", f"{p.kind} `{p.name.value}` has one text but the tenant "
                                   f"speaks {', '.join(self.locales)}", p.span,
                           hint="give one line per locale: " + "; ".join(
                               f'{loc} "…"' for loc in self.locales))
                continue
            if "" in p.texts:
                continue
            for loc, (_t, span) in p.texts.items():
                if self.locales and loc not in self.locales:
                    self.error("E101", f"locale `{loc}` is not one of the tenant's locales",
                               span, hint=did_you_mean(loc, self.locales)
                               or "declared: " + ", ".join(self.locales))
            for loc in self.locales:
                if loc not in p.texts:
                    self.error("E301", f"{p.kind} `{p.name.value}` has no {loc} text",
                               p.name.span, hint=f'add `{loc} "…"`')

    def check_channels(self) -> None:
        seen: dict[tuple[str, str], Span] = {}
        for ch in self.c.channels:
            key = (ch.kind, ch.address)
            if key in seen:
                self.error("E103", f"{ch.kind} `{ch.address}` is bound twice", ch.span,
                           hint=f"the first binding is at {seen[key]}")
            seen[key] = ch.span
            self.ref("flow", ch.flow)
            self.ref("queue", ch.queue)
            self.ref("form", ch.form)
            if ch.form is not None and ch.kind != "webchat":
                self.error("E105", f"only a webchat channel has a pre-chat form, not {ch.kind}",
                           ch.form.span, hint="remove `form`, or bind it on `channel webchat`")
            if ch.locale is not None and ch.locale.value not in self.locales:
                self.error("E101", f"locale `{ch.locale.value}` is not declared", ch.locale.span,
                           hint=did_you_mean(ch.locale.value, self.locales))

    def check_speech(self) -> None:
        """Each locale has at most one `tts`, one `tts` without `for` is the default, and the
        locales are the tenant's (or their language, e.g. `zh` for zh_CN and zh_HK)."""
        if self.c.speech is None:
            return
        languages = {loc.split("_")[0] for loc in self.locales}
        seen: dict[str | None, Span] = {}
        for choice in self.c.speech.tts:
            for loc in (*choice.locales,) or (None,):
                key = loc.value if loc is not None else None
                span = loc.span if loc is not None else choice.span
                if key in seen:
                    what = f"locale `{key}`" if key else "every locale (no `for`)"
                    self.error("E102", f"`tts` for {what} is given twice", span,
                               hint=f"the first is at {seen[key]}")
                    continue
                seen[key] = span
                if (loc is not None and self.locales and loc.value not in self.locales
                        and loc.value not in languages):
                    self.error("E101", f"locale `{loc.value}` is not one of the tenant's "
                                       "locales", loc.span,
                               hint=did_you_mean(loc.value, self.locales)
                               or "declared: " + ", ".join(self.locales))

    def check_teams_queues(self) -> None:  # noqa: PLR0912 - one case per construct
        skills = self.symbols["skill"]
        for t in self.c.teams:
            self.ref("department", t.department)
            for sl in t.skills:
                self.skill_level(sl, skills)
        for q in self.c.queues:
            for sl in (*q.require, *q.prefer):
                self.skill_level(sl, skills)
            for _p, cond, _s in q.priorities:
                self.expr(cond, set(FLOW_ROOTS) | {"customer"}, {})
            for team, cond, _s in q.dedicated:
                self.ref("team", team)
                self.expr(cond, set(FLOW_ROOTS) | {"customer"}, {})
            for team in q.teams:
                self.ref("team", team)
            self.ref("calendar", q.calendar)
            if q.announce:
                self.text(q.announce[1])
            last = -1
            for st in q.steps:
                if st.after < last:
                    self.warn("W403", "queue steps should be in time order", st.span)
                last = st.after
                if st.skill:
                    self.skill_level(st.skill, skills)
                if st.queue is not None:
                    self.ref("queue", st.queue)
                    if st.queue.value == q.name.value:
                        self.error("E403", f"queue `{q.name.value}` overflows into itself",
                                   st.queue.span)
            # skills no team has
            candidates = [t for t in self.c.teams
                          if not q.teams or t.name.value in {n.value for n in q.teams}]
            for sl in q.require:
                if sl.skill.value not in skills:
                    continue
                ok = any(ts.skill.value == sl.skill.value
                         and (sl.level is None or (ts.level or 0) >= sl.level)
                         for t in candidates for ts in t.skills)
                if not ok:
                    need = f" at level {sl.level} or more" if sl.level else ""
                    self.error("E401", f"queue `{q.name.value}` requires `{sl.skill.value}`"
                                       f"{need}, but no team has it", sl.span,
                               hint="add `skill …` to a team, or relax the requirement")
        # overflow cycles
        graph = {q.name.value: [s.queue.value for s in q.steps if s.queue is not None]
                 for q in self.c.queues}
        for comp in _sccs(graph):
            if len(comp) > 1:
                first = next(q for q in self.c.queues if q.name.value == comp[0])
                self.error("E403", "queues overflow into each other in a circle: "
                           + " → ".join([*comp, comp[0]]), first.name.span,
                           hint="a caller could bounce between these queues forever")

    def skill_level(self, sl: m.SkillLevel, skills: dict[str, object]) -> None:
        skill = self.ref("skill", sl.skill)
        if isinstance(skill, m.Simple) and skill.levels and sl.level is not None:
            lo, hi = skill.levels
            if not lo <= sl.level <= hi:
                self.error("E404", f"level {sl.level} is outside `{sl.skill.value}`'s levels "
                                   f"{lo}..{hi}", sl.span)
        del skills

    def check_https(self) -> None:
        allow = self.c.tenant.allow_hosts if self.c.tenant else []
        for h in self.c.https:
            parts = urlsplit(h.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                self.error("E005", f"`{h.url}` is not a web address", h.url_span,
                           hint='e.g. "https://crm.example.cn/api/customers/{caller.number}"')
                continue
            if parts.hostname not in allow:
                self.error("E701", f"host `{parts.hostname}` is not on the tenant's allow list",
                           h.url_span, hint=f'add allow_hosts "{parts.hostname}" to `tenant`')
            if h.timeout_ms > 10_000:
                self.warn("W028", "callers wait in silence during a lookup; keep timeouts "
                                  "under 10s", h.span)

    def check_forms(self) -> None:
        for f in self.c.forms:
            names: dict[str, Span] = {}
            for fld in f.fields:
                if fld.name.value in names:
                    self.error("E102", f"field `{fld.name.value}` is defined twice",
                               fld.name.span, hint=f"first at {names[fld.name.value]}")
                names[fld.name.value] = fld.span
            for fld in f.fields:
                for rule in fld.rules:
                    self.text(rule.message)
                    if rule.kind == "pattern" and rule.value is not None:
                        try:
                            re.compile(rule.value)
                        except re.error as exc:
                            self.error("E302", f"this pattern does not compile: {exc.msg}",
                                       rule.span)
                if fld.when is not None:
                    self.expr(fld.when, set(names) | {"true", "false"}, {})
                    self.portable(fld.when)

    def portable(self, e: Expr) -> None:
        """A form field's ``when`` is evaluated in the portal's browser too: only names of
        fields, text, numbers, lists, comparisons, ``in``, ``and``, ``or`` and ``not``."""
        if isinstance(e, Name) or (isinstance(e, Literal) and e.kind in ("STRING", "NUMBER")):
            return
        if isinstance(e, ListExpr):
            for item in e.items:
                self.portable(item)
            return
        if isinstance(e, Unary) and e.op == "not":
            self.portable(e.operand)
            return
        if isinstance(e, Binary) and e.op in ("==", "!=", "<", "<=", ">", ">=", "in", "and",
                                              "or"):
            self.portable(e.left)
            self.portable(e.right)
            return
        self.error("E303", "a field's `when` may only compare fields with text, numbers and "
                           "lists (==, !=, <, <=, >, >=, in, and, or, not)", e.span,
                   hint="the portal checks this condition in the browser as well")

    def check_scripts(self) -> None:
        for sc in self.c.scripts:
            steps: dict[str, Span] = {}
            for st in sc.steps:
                if st.name.value in steps:
                    self.error("E102", f"step `{st.name.value}` is defined twice in script "
                                       f"`{sc.name.value}`", st.name.span,
                               hint=f"first at {steps[st.name.value]}")
                steps[st.name.value] = st.span
            for st in sc.steps:
                self.text(st.text)
                self.ref("form", st.form)
                for n in st.next:
                    if n.value not in steps:
                        self.error("E101", f"script `{sc.name.value}` has no step `{n.value}`",
                                   n.span, hint=did_you_mean(n.value, steps)
                                   or "steps: " + ", ".join(steps))

    def check_workflows(self) -> None:  # noqa: PLR0912, PLR0915 - one case per construct
        for w in self.c.workflows:
            self.ref("form", w.form)
            states: dict[str, Span] = {}
            for s in w.states:
                if s.value in states:
                    self.error("E102", f"state `{s.value}` is listed twice", s.span)
                states[s.value] = s.span
            if not states:
                self.error("E501", f"workflow `{w.name.value}` has no `states`", w.span)
                continue

            def state(n: Name | None, _states: dict[str, Span] = states,
                      _w: m.Workflow = w) -> bool:
                if n is None:
                    return False
                if n.value not in _states:
                    self.error("E501", f"workflow `{_w.name.value}` has no state `{n.value}`",
                               n.span, hint=did_you_mean(n.value, _states))
                    return False
                return True

            if w.initial is None:
                self.error("E501", f"workflow `{w.name.value}` needs `initial <state>`", w.span)
            else:
                state(w.initial)
            for f in w.finals:
                state(f)
            graph: dict[str, list[str]] = defaultdict(list)
            tnames: set[str] = set()
            broken = False
            for t in w.transitions:
                if t.name.value in tnames:
                    self.error("E102", f"transition `{t.name.value}` is defined twice",
                               t.name.span)
                tnames.add(t.name.value)
                ok_target = state(t.target)
                ok_sources = [state(src) for src in t.sources]
                broken = broken or not ok_target or not all(ok_sources)
                for src, ok in zip(t.sources, ok_sources, strict=True):
                    if ok and ok_target:
                        graph[src.value].append(t.target.value)
                for r in t.roles:
                    self.ref("role", r)
                self.ref(("team", "department"), t.assign)
                for n in t.notify:
                    self.ref(("role", "team", "department"), n)
            finals = {f.value for f in w.finals}
            if broken:
                continue  # the graph is incomplete: reachability would only repeat the error
            if not finals:
                self.error("E501", f"workflow `{w.name.value}` needs `final <state>`", w.span)
            for name, span in states.items():
                if name not in finals and not graph.get(name):
                    self.error("E503", f"state `{name}` is a dead end: no transition leaves it "
                                       "and it is not final", span,
                               hint="add a transition out of it or list it in `final`")
            if w.initial is not None and w.initial.value in states:
                reach = _reach(graph, w.initial.value)
                for name, span in states.items():
                    if name not in reach:
                        self.error("E501", f"state `{name}` can never be reached from "
                                           f"`{w.initial.value}`", span)
            for sla in w.slas:
                if state(sla.start) and state(sla.stop) and \
                        sla.stop.value not in _reach(graph, sla.start.value) - {sla.start.value}:
                        self.error("E504", f"SLA `{sla.name.value}` can never stop: "
                                           f"`{sla.stop.value}` cannot follow "
                                           f"`{sla.start.value}`", sla.span)
                cal = self.ref("calendar", sla.calendar)
                if isinstance(cal, m.Calendar) and not self.calendar_has_time(cal):
                    self.error("E502", f"SLA `{sla.name.value}` runs on calendar "
                                       f"`{cal.name.value}`, which has no working time, so "
                                       "its clock would never move", sla.calendar.span
                               if sla.calendar else sla.span)
                for n in [*(sla.warn[1] if sla.warn else []), *sla.breach,
                          *(x for _a, ts in sla.escalations for x in ts)]:
                    self.ref(("role", "team", "department"), n)
            for fu in w.followups:
                state(fu.state)
                state(fu.target)
                self.ref("form", fu.form)

    def check_rules(self) -> None:  # noqa: PLR0912 - one case per construct
        emits: dict[str, set[str]] = {}
        for r in self.c.rules:
            roots = set(RULE_ROOTS)
            for cond in r.when:
                self.expr(cond, roots, {})
            out: set[str] = set()
            for a in r.actions:
                if a.kind in ("send", "reply"):
                    self.text(a.template, roots, ("template", "prompt"))
                    if a.kind == "send":
                        out.add(f"{a.channel}.sent")
                    else:
                        out.add({"sms.received": "sms.sent", "email.received": "email.sent"}
                                .get(r.event, "message.sent"))
                    if a.to is not None:
                        self.expr(a.to, roots, {})
                elif a.kind == "notify":
                    self.ref(("role", "team", "department"), a.target)
                    self.text(a.template, roots, ("template", "prompt"))
                elif a.kind == "create":
                    self.ref("workflow", a.target)
                elif a.kind == "webhook":
                    self.ref("http", a.target)
                elif a.kind == "assign":
                    self.ref(("team", "department"), a.target)
                elif a.kind == "callback":
                    self.ref("queue", a.target)
                elif a.kind == "set" and a.assign is not None:
                    self.expr(a.assign[1], roots, {})
                elif a.kind == "faq" and r.event not in FAQ_EVENTS:
                    self.error("E005", f"`answer faq` answers a customer's message; rule "
                                       f"`{r.name.value}` runs on `{r.event}`", a.span,
                               hint="use it in a rule `on " + "` or `on ".join(FAQ_EVENTS) + "`")
                out.update(ACTION_EMITS.get(a.kind, ()))
            emits[r.name.value] = out
        by_event: dict[str, list[str]] = defaultdict(list)
        for r in self.c.rules:
            by_event[r.event].append(r.name.value)
        graph = {name: sorted({t for ev in evs for t in by_event.get(ev, [])})
                 for name, evs in emits.items()}
        for comp in _sccs(graph):
            if len(comp) > 1 or comp[0] in graph.get(comp[0], []):
                first = next(r for r in self.c.rules if r.name.value == comp[0])
                chain = " → ".join([*comp, comp[0]])
                self.error("E601", f"these rules could trigger each other forever: {chain}",
                           first.name.span, hint="narrow a `when` condition so that the chain "
                                                 "stops")

    # ------------------------------------------------------------------ flows
    def flow_vars(self, flow: m.Flow) -> tuple[set[str], dict[str, dict[str, str]]]:
        roots = set(FLOW_ROOTS)
        returns: dict[str, dict[str, str]] = {}
        for st in flow.steps:
            if st.kind in ("ask", "menu", "callback"):
                roots.add(st.name.value)
            if st.kind == "set" and st.assign and isinstance(st.assign[0], Name):
                roots.add(st.assign[0].value)
            if st.kind == "fetch" and st.into is not None:
                roots.add(st.into.value)
                http = self.symbols["http"].get(st.ref.value) if st.ref else None
                returns[st.into.value] = dict(http.returns) if isinstance(http, m.Http) else {}
            if st.kind == "ticket":
                roots.add(st.name.value)
        return roots, returns

    def check_flow(self, flow: m.Flow) -> None:  # noqa: PLR0912 - one case per construct
        steps: dict[str, int] = {}
        for i, st in enumerate(flow.steps):
            if st.name.value in steps:
                self.error("E102", f"step `{st.name.value}` is defined twice in flow "
                                   f"`{flow.name.value}`", st.name.span)
            else:
                steps[st.name.value] = i
        roots, returns = self.flow_vars(flow)
        for h in flow.handlers:
            self.text(h.text, roots)
            self.step_target(flow, steps, h.target)
        graph: dict[str, list[str]] = {}
        dangling = False
        for i, st in enumerate(flow.steps):
            self.check_step(flow, st, roots, returns)
            edges = step_edges(flow, i)
            graph[st.name.value] = []
            for _label, target in edges:
                if self.step_target(flow, steps, target):
                    graph[st.name.value].append(target.value)
                else:
                    dangling = True
            if falls_off(flow, i):
                self.error("E207", f"after `{st.kind} {st.name.value}` the flow has nothing "
                                   "left to do", st.name.span,
                           hint="end with hangup, enqueue, transfer, voicemail or return, or "
                                "add `-> next step`")
        if not flow.steps:
            return
        if not dangling:
            self.check_assigned(flow, steps, roots)
        start = flow.steps[0].name.value
        reach = _reach(graph, start)
        for st in flow.steps:
            if st.name.value not in reach and not dangling:
                self.error("E201", f"step `{st.name.value}` can never be reached", st.name.span,
                           hint="nothing leads here; link it from a menu option, a branch or "
                                "`-> " + st.name.value + "`")
        kinds = {st.name.value: st.kind for st in flow.steps}
        for comp in _sccs(graph):
            cyclic = len(comp) > 1 or comp[0] in graph.get(comp[0], [])
            if not cyclic or comp[0] not in reach:
                continue
            first = flow.steps[min(steps[n] for n in comp)]
            if not any(kinds[n] in WAITING for n in comp):
                self.error("E202", "these steps loop forever without waiting for the caller: "
                           + " → ".join([*comp, comp[0]]), first.name.span,
                           hint="put an ask or menu in the loop, or give it a way out")
                continue
            members = set(comp)
            leaves = any(t not in members for n in comp for t in graph[n]) or any(
                kinds[n] in TERMINAL_STEPS for n in comp)
            if not leaves:
                self.error("E202", "callers can never leave this loop: "
                           + " → ".join([*comp, comp[0]]), first.name.span,
                           hint="add a way out, e.g. `on noinput 3 -> 转人工`")

    def check_assigned(  # noqa: PLR0912 - a small dataflow pass
            self, flow: m.Flow, steps: dict[str, int], roots: set[str]) -> None:
        """W029: a value used where some path reaches the step without assigning it (e.g. a
        lookup's fields after its `error` outcome). Forward must-analysis over the flow."""
        local = roots - set(FLOW_ROOTS)
        if not local or not flow.steps:
            return
        assigns: dict[str, str | None] = {}
        for st in flow.steps:
            name: str | None = None
            if st.kind in ("ask", "menu", "callback", "ticket"):
                name = st.name.value
            elif st.kind == "fetch" and st.into is not None:
                name = st.into.value
            elif st.kind == "set" and st.assign and isinstance(st.assign[0], Name):
                name = st.assign[0].value
            assigns[st.name.value] = name
        edges = {st.name.value: step_edges(flow, i) for i, st in enumerate(flow.steps)}
        everything = frozenset(local)
        into: dict[str, frozenset[str]] = {st.name.value: everything for st in flow.steps}
        start = flow.steps[0].name.value
        into[start] = frozenset()
        work = [start]
        seen = {start}
        while work:
            node = work.pop()
            for label, target in edges[node]:
                if target.value not in steps:
                    continue
                out = into[node]
                var = assigns[node]
                chosen = label.startswith("option") and flow.steps[steps[node]].kind == "menu"
                if var is not None and (label == "next" or chosen):
                    out = out | {var}
                new = into[target.value] & out if target.value in seen else out
                if target.value not in seen or new != into[target.value]:
                    into[target.value] = new
                    seen.add(target.value)
                    work.append(target.value)
        for st in flow.steps:
            if st.name.value not in seen:
                continue
            available = into[st.name.value]
            used = self._used_roots(st)
            for root, span in used:
                if root in local and root not in available and root != assigns[st.name.value]:
                    self.warn("W029", f"`{root}` may not be set when `{st.kind} "
                                      f"{st.name.value}` runs", span,
                              hint="some path reaches this step without assigning it (for "
                                   "example after a lookup's `error` outcome)")

    def _used_roots(self, st: m.Step) -> list[tuple[str, Span]]:
        out: list[tuple[str, Span]] = []

        def visit(e: Expr) -> None:
            if isinstance(e, Name):
                out.append((e.value, e.span))
            elif isinstance(e, Member):
                visit(e.obj)
            elif isinstance(e, Call):
                if e.func not in ("open", "holiday"):
                    for a in e.args:
                        visit(a)
            elif isinstance(e, Unary):
                visit(e.operand)
            elif isinstance(e, Binary):
                visit(e.left)
                visit(e.right)
            elif isinstance(e, ListExpr | Seq):
                for a in e.items:
                    visit(a)

        for cond, _t, _s in st.branches:
            visit(cond)
        if st.assign is not None:
            visit(st.assign[1])
        for _target, value in st.sets:
            visit(value)
        if st.to is not None:
            visit(st.to)
        texts = [st.prompt] + [h.text for h in st.handlers]
        for t in texts:
            if t is not None and t.literal is not None:
                for match in _PLACEHOLDER.finditer(t.literal):
                    out.append((match.group(1).strip().split(".")[0], t.span))
            elif t is not None and t.ref is not None:
                prompt = self.symbols["prompt"].get(t.ref.value) or \
                    self.symbols["template"].get(t.ref.value)
                if isinstance(prompt, m.Prompt):
                    for text, _span in prompt.texts.values():
                        for match in _PLACEHOLDER.finditer(text):
                            out.append((match.group(1).strip().split(".")[0], t.span))
        return out

    def step_target(self, flow: m.Flow, steps: dict[str, int], target: Name | None) -> bool:
        if target is None:
            return False
        if target.value in steps:
            return True
        self.error("E101", f"flow `{flow.name.value}` has no step `{target.value}`",
                   target.span, hint=did_you_mean(target.value, steps))
        return False

    def check_step(self, flow: m.Flow, st: m.Step, roots: set[str],  # noqa: PLR0912 - one case per construct
                   returns: dict[str, dict[str, str]]) -> None:
        self.text(st.prompt, roots, ("template", "prompt") if st.kind == "send" else ("prompt",))
        for h in st.handlers:
            self.text(h.text, roots)
        for cond, _t, _s in st.branches:
            self.expr(cond, roots, returns)
        if st.assign is not None:
            self.expr(st.assign[1], roots, returns)
        for _target, value in st.sets:
            self.expr(value, roots, returns)
        if st.to is not None:
            self.expr(st.to, roots, returns)
        kind = st.kind
        if kind == "fetch":
            self.ref("http", st.ref)
        elif kind in {"enqueue", "callback"}:
            self.ref("queue", st.ref)
        elif kind == "call":
            sub = self.ref("flow", st.ref)
            if isinstance(sub, m.Flow) and sub.name.value == flow.name.value:
                self.error("E202", f"flow `{flow.name.value}` calls itself", st.ref.span
                           if st.ref else st.span)
        elif kind == "ticket":
            wf = self.ref("workflow", st.ref)
            if isinstance(wf, m.Workflow) and wf.form is not None:
                form = self.symbols["form"].get(wf.form.value)
                fields = {f.name.value for f in form.fields} if isinstance(form, m.Form) else set()
                for target, _v in st.sets:
                    if isinstance(target, Name) and fields and target.value not in fields:
                        self.error("E101", f"form `{wf.form.value}` has no field "
                                           f"`{target.value}`", target.span,
                                   hint=did_you_mean(target.value, fields))
        if st.validate is not None:
            form_name, field_name = st.validate
            form = self.ref("form", form_name)
            if isinstance(form, m.Form):
                fields = {f.name.value for f in form.fields}
                if field_name.value not in fields:
                    self.error("E101", f"form `{form_name.value}` has no field "
                                       f"`{field_name.value}`", field_name.span,
                               hint=did_you_mean(field_name.value, fields))
        # unhandled outcomes
        flow_error = any("error" in h.events and h.target for h in flow.handlers)
        for exit_name in STEP_EXITS.get(kind, ()):
            if exit_name in ("ok", "done", "no_agents") or exit_name in st.exits:
                continue
            if kind == "ticket":
                continue
            if flow_error and exit_name in ("error", "timeout", "failed"):
                continue
            self.error("E206", f"`{kind} {st.name.value}` does not say what happens on "
                               f"`{exit_name}`", st.name.span,
                       hint=f"add `on {exit_name} -> …` inside the step, or a flow-level "
                            "`on error -> …`")
        if kind in ("ask", "menu"):
            self.check_input(flow, st)
        if kind == "menu":
            self.check_menu(st)

    def check_input(self, flow: m.Flow, st: m.Step) -> None:
        for event in ("noinput", "nomatch"):
            local = [h for h in st.handlers if event in h.events]
            inherited = [h for h in flow.handlers if event in h.events]
            by_count: dict[int, m.Handler] = {h.count: h for h in inherited}
            by_count.update({h.count: h for h in local})
            seen: set[int] = set()
            for h in local:
                if h.count in seen:
                    self.error("E006", f"two `on {event} {h.count}` handlers", h.span)
                seen.add(h.count)
            if not by_count:
                self.error("E206", f"`{st.kind} {st.name.value}` does not say what happens on "
                                   f"`{event}`", st.name.span,
                           hint=f"add `on {event} reprompt` and `on {event} 3 -> …`, or a "
                                f"flow-level `on {event} 3 -> …`")
                continue
            top = by_count[max(by_count)]
            if top.reprompt:
                self.error("E203", f"`{st.kind} {st.name.value}` can repeat forever on "
                                   f"`{event}`: the last handler only reprompts", top.span,
                           hint=f"add e.g. `on {event} 3 -> 转人工` so callers get out")

    def check_menu(self, st: m.Step) -> None:
        keys: dict[str, Span] = {}
        phrases: dict[str, Span] = {}
        for opt in st.options:
            for k in opt.keys:
                if k in keys:
                    self.error("E204", f"key {k} is used by two options of menu "
                                       f"`{st.name.value}`", opt.span,
                               hint=f"the other one is at line {keys[k].line}")
                keys[k] = opt.span
                if not (len(k) == 1 and (k.isdigit() or k in "*#")):
                    self.error("E205", f"`{k}` cannot be pressed with one key", opt.span,
                               hint="menu keys are 0-9, * and #")
            for p in opt.phrases:
                norm = p.strip().lower()
                if norm in phrases:
                    self.error("E204", f"the words \"{p}\" lead to two options", opt.span)
                phrases[norm] = opt.span

    # ------------------------------------------------------------------ hours
    def check_hours(self) -> None:  # noqa: PLR0912 - one case per construct
        """A flow bound to a channel must not reach a queue without checking business hours,
        unless the queue has a calendar of its own (open(…) is then checked by the router)."""
        if not self.c.calendars:
            return
        tenant_cal = self.symbols["calendar"].get(self.c.tenant.calendar.value) if (
            self.c.tenant and self.c.tenant.calendar) else None
        if isinstance(tenant_cal, m.Calendar) and tenant_cal.always:
            return  # a 24-hour tenant has no closed hours
        flows = {f.name.value: f for f in self.c.flows}
        queues = {q.name.value: q for q in self.c.queues}
        entries = {ch.flow.value for ch in self.c.channels
                   if ch.flow is not None and ch.kind in ("voice", "webchat")}
        for entry in sorted(entries):
            flow = flows.get(entry)
            if flow is None or not flow.steps:
                continue
            reported: set[str] = set()
            seen: set[tuple[str, str, str]] = set()
            work = [(flow, 0, "unknown")]
            while work:
                fl, idx, state = work.pop()
                st = fl.steps[idx]
                key = (fl.name.value, st.name.value, state)
                if key in seen:
                    continue
                seen.add(key)
                if st.kind == "enqueue" and st.ref is not None and state == "unknown":
                    q = queues.get(st.ref.value)
                    if q is not None and q.calendar is None and st.name.value not in reported:
                        reported.add(st.name.value)
                        self.error("E402", f"callers of flow `{entry}` can reach queue "
                                           f"`{st.ref.value}` outside business hours",
                                   st.name.span,
                                   hint="add a branch `when open(<calendar>) -> …` with an "
                                        "`otherwise` for closed hours before this step, or "
                                        "give the queue a `calendar`")
                index = {s.name.value: i for i, s in enumerate(fl.steps)}
                # a branch's conditions are tried in order: once `when open(C)` has failed,
                # every later edge knows the calendar is closed (and vice versa)
                implied = state
                edge_state: dict[str, str] = {}
                for i, (cond, _t, _s) in enumerate(st.branches):
                    known = _hours_state(cond)
                    edge_state[f"when{i + 1}"] = known or implied
                    if known is not None:
                        implied = "closed" if known == "open" else "open"
                edge_state["otherwise"] = implied
                for label, target in step_edges(fl, idx):
                    nstate = edge_state.get(label, state)
                    if target.value in index:
                        work.append((fl, index[target.value], nstate))
                if st.kind == "call" and st.ref is not None and st.ref.value in flows:
                    sub = flows[st.ref.value]
                    if sub.steps:
                        work.append((sub, 0, state))

    def check_unused(self) -> None:
        used = self.used
        # Templates are never unused: the agent portal offers every one as a reply text.
        for kind, label in (("queue", "queue"), ("prompt", "prompt"),
                            ("http", "http lookup"), ("form", "form"),
                            ("calendar", "calendar"), ("skill", "skill")):
            for name, obj in self.symbols[kind].items():
                if (kind, name) not in used:
                    self.warn("W901", f"{label} `{name}` is never used",
                              getattr(obj, "name", Name(name)).span)
        for flow in self.c.flows:
            if ("flow", flow.name.value) not in used:
                self.warn("W901", f"flow `{flow.name.value}` is not bound to a channel or "
                                  "called", flow.name.span)


def _hours_state(cond: Expr) -> str | None:
    if isinstance(cond, Call) and cond.func == "open":
        return "open"
    if isinstance(cond, Unary) and isinstance(cond.operand, Call) and cond.operand.func == "open":
        return "closed"
    if isinstance(cond, Call) and cond.func == "holiday":
        return "closed"
    return None


def _reach(graph: dict[str, list[str]], start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _sccs(graph: dict[str, list[str]]) -> Iterator[list[str]]:
    """Strongly connected components (Tarjan, iterative), members in discovery order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                yield sorted(comp, key=lambda n: index[n])


def _first_file(config: m.Config) -> str:
    for items in (config.flows, config.queues, config.calendars):
        for item in items:
            return item.span.file
    return "<config>"


def check(config: m.Config) -> list[Diagnostic]:
    """Run every semantic check.

    Args:
        config: the bound model of one tenant.

    Returns:
        All diagnostics (errors and warnings), in no particular order.
    """
    return Checker(config).run()
