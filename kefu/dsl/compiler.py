"""Compile a checked :class:`~kefu.dsl.model.Config` into the runtime IR (:mod:`kefu.dsl.ir`).

Also the pipeline entry points: :func:`compile_sources` (text in, IR and diagnostics out) and
:func:`check_sources`. Nothing here reads files: give it ``{file name: text}``
(:mod:`kefu.dsl.loader` reads a tenant directory into that shape).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.dsl import ir as ir_module
from kefu.dsl import model as m
from kefu.dsl.checker import step_edges
from kefu.dsl.diagnostics import Diagnostic, DslError, Span
from kefu.dsl.syntax import (
    Assign,
    Binary,
    Call,
    Expr,
    ListExpr,
    Literal,
    Member,
    Name,
    ParsedFile,
    Seq,
    Unary,
    parse,
)


def expr_ir(e: Expr | None) -> ir.Expr:  # noqa: PLR0911 - one case per construct
    """The S-expression of a syntax expression (see :mod:`kefu.dsl.ir`)."""
    if e is None:
        return None
    if isinstance(e, Name):
        if e.value in ("true", "false"):
            return ("bool", e.value == "true")
        return ("var", e.value)
    if isinstance(e, Member):
        path = _path(e)
        return ("var", path) if path is not None else ("get", expr_ir(e.obj), e.name)
    if isinstance(e, Literal):
        return _literal(e)
    if isinstance(e, Call):
        if e.func in ("open", "holiday") and len(e.args) == 1 and isinstance(e.args[0], Name):
            return ("call", e.func, ("cal", e.args[0].value))
        return ("call", e.func, *(expr_ir(a) for a in e.args))
    if isinstance(e, Unary):
        return ("not", expr_ir(e.operand))
    if isinstance(e, Binary):
        return (e.op, expr_ir(e.left), expr_ir(e.right))
    if isinstance(e, ListExpr | Seq):
        return ("list", *(expr_ir(a) for a in e.items))
    if isinstance(e, Assign):
        return ("=", expr_ir(e.target), expr_ir(e.value))
    raise TypeError(type(e).__name__)  # pragma: no cover - closed union


def _path(e: Expr) -> str | None:
    if isinstance(e, Name):
        return e.value
    if isinstance(e, Member):
        head = _path(e.obj)
        return f"{head}.{e.name}" if head is not None else None
    return None


def _literal(e: Literal) -> ir.Expr:  # noqa: PLR0911 - one case per construct
    raw = e.raw
    if e.kind == "STRING":
        return ("str", e.text)
    if e.kind == "NUMBER":
        return ("num", float(raw) if "." in raw else int(raw))
    if e.kind == "DURATION":
        from kefu.dsl.binder import _dur_ms

        ms = _dur_ms(raw)
        return ("dur", ms / 1000 if ms % 1000 else ms // 1000)
    if e.kind == "PERCENT":
        return ("pct", float(raw[:-1]))
    if e.kind == "DATE":
        return ("date", raw)
    if e.kind == "TIME":
        h, mi = raw.split(":")
        return ("time", int(h) * 60 + int(mi))
    if e.kind == "TIMERANGE":
        a, b = raw.split("-")
        return ("timerange", *(int(x.split(":")[0]) * 60 + int(x.split(":")[1]) for x in (a, b)))
    raise TypeError(e.kind)  # pragma: no cover


class Compiler:
    def __init__(self, config: m.Config) -> None:
        self.c = config
        self.prompts = {p.name.value: p for p in config.prompts}
        self.default_locale = (config.tenant.locales[0].value
                               if config.tenant and config.tenant.locales else "")
        self.source_map: dict[str, str] = {}

    def where(self, key: str, span: Span) -> None:
        self.source_map[key] = str(span)

    def text(self, t: m.Text | None) -> ir.Text | None:
        if t is None:
            return None
        if t.ref is not None:
            p = self.prompts.get(t.ref.value)
            texts = {} if p is None else {
                (loc or self.default_locale): s for loc, (s, _sp) in p.texts.items()}
            return ir.Text(texts, t.ref.value)
        return ir.Text({self.default_locale: t.literal or ""})

    def run(self) -> ir.Config:
        c = self.c
        assert c.tenant is not None  # checked before compiling
        t = c.tenant
        tz = t.timezone
        tenant = ir.Tenant(t.name.value, t.title, tuple(n.value for n in t.locales), tz,
                           t.calendar.value if t.calendar else None,
                           tuple(sorted(set(t.allow_hosts))), t.max_ivr_seconds,
                           t.customer_form.value if t.customer_form else None)
        simples: dict[str, list[ir.Named]] = {}
        for s in c.simples:
            simples.setdefault(s.kind, []).append(ir.Named(s.name.value, s.title, s.levels))
            self.where(f"{s.kind}/{s.name.value}", s.span)

        def by_id(items: list[Any]) -> tuple[Any, ...]:
            return tuple(sorted(items, key=lambda x: x.id))

        return ir.Config(
            version=ir.IR_VERSION,
            tenant=tenant,
            calendars=by_id([self.calendar(x, tz) for x in c.calendars]),
            channels=tuple(sorted((ir.Channel(ch.kind, ch.address,
                                              ch.flow.value if ch.flow else None,
                                              ch.locale.value if ch.locale else None,
                                              ch.queue.value if ch.queue else None,
                                              ch.form.value if ch.form else None)
                                   for ch in c.channels), key=lambda x: (x.kind, x.address))),
            prompts=by_id([ir.Prompt(p.name.value, p.kind,
                                     {(loc or self.default_locale): s
                                      for loc, (s, _sp) in p.texts.items()},
                                     {(loc or self.default_locale): s
                                      for loc, s in p.subject.items()})
                           for p in c.prompts]),
            skills=by_id(simples.get("skill", [])),
            departments=by_id(simples.get("department", [])),
            roles=by_id(simples.get("role", [])),
            dispositions=by_id(simples.get("disposition", [])),
            not_ready=by_id(simples.get("not_ready", [])),
            teams=by_id([self.team(x) for x in c.teams]),
            queues=by_id([self.queue(x) for x in c.queues]),
            https=by_id([ir.Http(h.name.value, h.method, h.url, h.timeout_ms, h.retries,
                                 tuple(h.headers), dict(h.returns)) for h in c.https]),
            forms=by_id([self.form(x) for x in c.forms]),
            workflows=by_id([self.workflow(x) for x in c.workflows]),
            rules=by_id([self.rule(x) for x in c.rules]),
            kpis=by_id([ir.Kpi(k.name.value, k.title, k.service_level, k.threshold,
                               k.short_abandon, k.answered_late,
                               tuple(sorted(q.value for q in k.queues))) for k in c.kpis]),
            flows=by_id([self.flow(x) for x in c.flows]),
            scripts=by_id([self.script(x) for x in c.scripts]),
            tts=tuple(sorted((ir.TtsChoice(loc.value if loc else None, tts.engine.value,
                                           tts.voice)
                              for tts in (c.speech.tts if c.speech else [])
                              for loc in ((*tts.locales,) or (None,))),
                             key=lambda x: (x.locale or "", x.engine))),
        )

    def calendar(self, cal: m.Calendar, tz: str) -> ir.Calendar:
        self.where(f"calendar/{cal.name.value}", cal.span)
        days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for w in cal.weekly:
            for d in w.days:
                days[d].extend(w.ranges)
        weekly = tuple(tuple(_merge(d)) for d in days)

        def rule(r: m.DateRule) -> ir.DateRule:
            return ir.DateRule(r.first, r.last, tuple(_merge(r.ranges)), r.label)

        return ir.Calendar(cal.name.value, cal.title, cal.timezone or tz, cal.always, weekly,
                           tuple(sorted((rule(r) for r in cal.closed), key=lambda r: r.first)),
                           tuple(sorted((rule(r) for r in cal.workdays), key=lambda r: r.first)))

    def team(self, t: m.Team) -> ir.Team:
        self.where(f"team/{t.name.value}", t.span)
        return ir.Team(t.name.value, t.title, t.department.value if t.department else None,
                       tuple(sorted((ir.SkillReq(s.skill.value, s.level) for s in t.skills),
                                    key=lambda s: s.skill)), t.members)

    def queue(self, q: m.Queue) -> ir.Queue:
        self.where(f"queue/{q.name.value}", q.span)

        def req(items: list[m.SkillLevel]) -> tuple[ir.SkillReq, ...]:
            return tuple(sorted((ir.SkillReq(s.skill.value, s.level) for s in items),
                                key=lambda s: s.skill))

        return ir.Queue(
            q.name.value, q.title, q.strategy, req(q.require), req(q.prefer),
            tuple(ir.Conditional(expr_ir(cond), priority=p) for p, cond, _s in q.priorities),
            tuple(ir.Conditional(expr_ir(cond), team=t.value) for t, cond, _s in q.dedicated),
            tuple(sorted((ir.QueueStep(s.after, s.action,
                                       ir.SkillReq(s.skill.skill.value, s.skill.level)
                                       if s.skill else None,
                                       s.queue.value if s.queue else None, s.priority)
                          for s in q.steps), key=lambda s: (s.after, s.action))),
            q.max_wait, q.wrap_up, q.announce[0] if q.announce else None,
            self.text(q.announce[1]) if q.announce else None,
            q.calendar.value if q.calendar else None, tuple(sorted(t.value for t in q.teams)))

    def script(self, sc: m.Script) -> ir.Script:
        self.where(f"script/{sc.name.value}", sc.span)
        steps = []
        for i, st in enumerate(sc.steps):
            follows = (sc.steps[i + 1].name.value,) if i + 1 < len(sc.steps) else ()
            steps.append(ir.ScriptStep(
                st.name.value, st.title, self.text(st.text), st.form.value if st.form else None,
                tuple(n.value for n in st.next) or follows))
        return ir.Script(sc.name.value, sc.title, tuple(steps))

    def form(self, f: m.Form) -> ir.Form:
        self.where(f"form/{f.name.value}", f.span)
        return ir.Form(f.name.value, f.title, tuple(f.sections), tuple(
            ir.Field(fl.name.value, fl.type, fl.label, fl.section,
                     tuple(ir.FieldRule(r.kind, tuple(r.value) if isinstance(r.value, tuple)
                                        else r.value, self.text(r.message)) for r in fl.rules),
                     tuple(fl.choices), expr_ir(fl.when))
            for fl in f.fields))

    def workflow(self, w: m.Workflow) -> ir.Workflow:
        self.where(f"workflow/{w.name.value}", w.span)
        return ir.Workflow(
            w.name.value, w.title, w.form.value if w.form else None,
            tuple(s.value for s in w.states), w.initial.value if w.initial else "",
            tuple(f.value for f in w.finals),
            tuple(sorted((ir.Transition(t.name.value, tuple(s.value for s in t.sources),
                                        t.target.value, tuple(r.value for r in t.roles),
                                        t.auto_after, t.assign.value if t.assign else None,
                                        tuple(n.value for n in t.notify))
                          for t in w.transitions), key=lambda t: t.id)),
            tuple(sorted((ir.Sla(s.name.value, s.start.value, s.stop.value, s.within,
                                 s.calendar.value if s.calendar else None,
                                 s.warn[0] if s.warn else None,
                                 tuple(n.value for n in s.warn[1]) if s.warn else (),
                                 tuple(n.value for n in s.breach),
                                 tuple(ir.Escalation(a, tuple(n.value for n in ns))
                                       for a, ns in sorted(s.escalations,
                                                           key=lambda e: e[0])))
                          for s in w.slas), key=lambda s: s.id)),
            tuple(sorted((ir.Followup(f.name.value, f.state.value, f.within,
                                      f.target.value if f.target else None,
                                      f.form.value if f.form else None)
                          for f in w.followups), key=lambda f: f.id)))

    def rule(self, r: m.Rule) -> ir.Rule:
        self.where(f"rule/{r.name.value}", r.span)
        actions = []
        for a in r.actions:
            var = value = None
            if a.assign is not None:
                var = _path(a.assign[0])
                value = expr_ir(a.assign[1])
            actions.append(ir.Action(a.kind, a.channel, self.text(a.template), expr_ir(a.to),
                                     a.target.value if a.target else None, var, value,
                                     a.min_score))
        return ir.Rule(r.name.value, r.title, r.event, tuple(expr_ir(w) for w in r.when),
                       tuple(actions))

    def handlers(self, hs: list[m.Handler]) -> tuple[ir.Handler, ...]:
        return tuple(sorted((ir.Handler(tuple(h.events), h.count,
                                        "reprompt" if h.reprompt else "goto",
                                        h.target.value if h.target else None, self.text(h.text))
                             for h in hs), key=lambda h: (h.events, h.count)))

    def flow(self, f: m.Flow) -> ir.Flow:
        self.where(f"flow/{f.name.value}", f.span)
        nodes = []
        for i, st in enumerate(f.steps):
            self.where(f"flow/{f.name.value}/{st.name.value}", st.span)
            edges = dict(step_edges(f, i))
            nxt = edges.get("next")
            var = value = None
            if st.assign is not None:
                var, value = _path(st.assign[0]), expr_ir(st.assign[1])
            nodes.append(ir.Node(
                id=st.name.value, kind=st.kind, next=nxt.value if nxt else None,
                prompt=self.text(st.prompt),
                exits={k: v[0].value for k, v in sorted(st.exits.items())
                       if k not in ("ok", "done")},
                handlers=self.handlers(st.handlers),
                options=tuple(ir.Option(tuple(o.keys), tuple(o.phrases), o.target.value)
                              for o in st.options),
                branches=tuple(ir.Branch(expr_ir(c), t.value) for c, t, _s in st.branches),
                otherwise=st.otherwise.value if st.otherwise else None,
                ref=st.ref.value if st.ref else None, into=st.into.value if st.into else None,
                number=st.number, channel=st.channel, to=expr_ir(st.to), var=var, value=value,
                dtmf=st.dtmf, speech=st.speech, text_input=st.text_input, timeout=st.timeout,
                validate=(st.validate[0].value, st.validate[1].value) if st.validate else None,
                sets=tuple((_path(t) or "", expr_ir(v)) for t, v in st.sets),
                audio=st.audio))
        return ir.Flow(f.name.value, f.title, f.steps[0].name.value,
                       tuple(sorted(nodes, key=lambda n: n.id)), self.handlers(f.handlers))


def _merge(ranges: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


# ---------------------------------------------------------------------------- pipeline


@dataclass
class Result:
    """What :func:`compile_sources` returns.

    Attributes:
        ir: the compiled config, or None when there are errors.
        diagnostics: every error and warning, sorted by file and position.
        sources: the texts that were read, for rendering caret excerpts.
        source_map: ``"flow/<id>/<step>"`` → ``"file:line:col"``, for the designer and traces.
        model: the typed AST (used by flow tests and plans).
        files: file names in the order they were included.
    """

    ir: ir_module.Config | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]
    source_map: dict[str, str] = field(default_factory=dict)
    model: m.Config | None = None
    files: list[str] = field(default_factory=list)
    parsed: dict[str, ParsedFile] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def hash(self) -> str | None:
        return ir.config_hash(self.ir) if self.ir is not None else None

    def render(self) -> str:
        from kefu.dsl.diagnostics import render_all

        return render_all(self.diagnostics, self.sources)

    def raise_for_errors(self) -> ir_module.Config:
        if self.ir is None:
            raise DslError(self.errors, self.sources)
        return self.ir


DEFAULT_ENTRY = "tenant.kefu"


def _entry(sources: dict[str, str], entry: str | None) -> list[str]:
    if entry is not None:
        return [entry]
    if DEFAULT_ENTRY in sources:
        return [DEFAULT_ENTRY]
    return sorted(sources)


def analyse(sources: dict[str, str], entry: str | None = None) -> Result:
    """Parse, bind and check; the IR is not built. See :func:`compile_sources`."""
    from kefu.dsl.binder import Binder
    from kefu.dsl.checker import check

    diags: list[Diagnostic] = []
    parsed: dict[str, ParsedFile] = {}
    order: list[str] = []
    pending: list[tuple[str, Span | None]] = [
        (name, None) for name in reversed(_entry(sources, entry))]
    binder = Binder()
    while pending:
        name, span = pending.pop()
        if name in parsed:
            continue
        text = sources.get(name)
        if text is None:
            diags.append(Diagnostic("E008", f"included file `{name}` does not exist",
                                    span or Span.point(name, 1, 1)))
            continue
        pf = parse(text, name)
        parsed[name] = pf
        order.append(name)
        diags.extend(pf.diagnostics)
        before = len(binder.config.includes)
        binder.bind_file(pf.stmts)
        new = binder.config.includes[before:]
        base = posixpath.dirname(name)
        for path, inc_span in reversed(new):
            pending.append((posixpath.normpath(posixpath.join(base, path)), inc_span))
    diags.extend(binder.diags)
    config = binder.config
    if not any(d.code.startswith("S") for d in diags):
        diags.extend(check(config))
    diags.sort(key=Diagnostic.sort_key)
    return Result(None, diags, dict(sources), model=config, files=order, parsed=parsed)


def compile_sources(sources: dict[str, str], entry: str | None = None) -> Result:
    """Compile a tenant from its source texts.

    Args:
        sources: ``{file name: text}``; include paths resolve relative to the including file.
        entry: the file to start from; defaults to ``tenant.kefu`` when present, else all files.

    Returns:
        A :class:`Result`; ``result.ir`` is None when any error was found (warnings do not
        block). Never raises for bad input.
    """
    result = analyse(sources, entry)
    if result.ok and result.model is not None:
        compiler = Compiler(result.model)
        result.ir = compiler.run()
        result.source_map = compiler.source_map
    return result


def check_sources(sources: dict[str, str], entry: str | None = None) -> list[Diagnostic]:
    """All diagnostics for a tenant's sources (parse, schema and semantic checks)."""
    return analyse(sources, entry).diagnostics
