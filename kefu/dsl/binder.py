"""The schema: what every keyword means, where it may appear and what it takes.

``bind(files)`` walks the generic statement trees of all of a tenant's files and builds the
typed :class:`~kefu.dsl.model.Config`, reporting every statement it cannot understand
(unknown keyword with a did-you-mean hint, missing or extra arguments, malformed durations,
times and dates) without stopping. Cross references are resolved later, by the checker.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from kefu.dsl import model as m
from kefu.dsl.diagnostics import Diagnostic, Span, did_you_mean
from kefu.dsl.syntax import Assign, Binary, Expr, ListExpr, Literal, Member, Name, Seq, Stmt

DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
        "周一": 0, "周二": 1, "周三": 2, "周四": 3, "周五": 4, "周六": 5, "周日": 6, "周天": 6,
        "星期一": 0, "星期二": 1, "星期三": 2, "星期四": 3, "星期五": 4, "星期六": 5,
        "星期日": 6, "星期天": 6}
DAY_GROUPS = {"daily": list(range(7)), "每天": list(range(7)), "weekdays": list(range(5)),
              "工作日": list(range(5)), "weekends": [5, 6], "周末": [5, 6]}
CHANNEL_KINDS = ("voice", "sms", "email", "webchat", "fax", "kiosk")
STRATEGIES = ("round_robin", "longest_idle", "least_calls", "skills_based", "ring_all",
              "last_agent", "random")
FIELD_TYPES = ("text", "number", "phone", "email", "date", "time", "choice", "address",
               "account", "pin", "boolean", "money", "id_card")
EVENTS = ("call.received", "call.answered", "call.ended", "call.abandoned", "voicemail.received",
          "sms.received", "email.received", "fax.received", "chat.started", "chat.ended",
          "callback.requested", "ticket.created", "ticket.changed", "ticket.closed",
          "ticket.sla_warning", "ticket.sla_breached", "followup.due", "outage.announced",
          "customer.created", "daily")
# which events each rule action emits (for the "rules that trigger each other" check)
ACTION_EMITS = {"create": ("ticket.created",), "callback": ("callback.requested",),
                "set": ("ticket.changed",)}
# the events whose message `answer faq` can answer
FAQ_EVENTS = ("email.received", "sms.received")
STEP_KINDS = ("say", "play", "ask", "menu", "set", "branch", "fetch", "call", "enqueue",
              "transfer", "voicemail", "callback", "ticket", "send", "hangup", "return")
TERMINAL_STEPS = ("enqueue", "transfer", "voicemail", "hangup", "return")
STEP_EXITS: dict[str, tuple[str, ...]] = {
    "fetch": ("ok", "error", "timeout"),
    "enqueue": ("timeout", "no_agents"),
    "transfer": ("failed",),
    "callback": ("accepted", "declined"),
    "call": ("done",),
    "ticket": ("error",),
}
INPUT_EVENTS = ("noinput", "nomatch", "error")
TTS_ENGINES = ("edge", "espeak", "piper")


def _dur_ms(raw: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    for unit in ("ms", "s", "m", "h", "d"):
        if raw.endswith(unit) and raw[: -len(unit)].isdigit():
            return int(raw[: -len(unit)]) * units[unit]
    raise ValueError(raw)


class Binder:
    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []
        self.config = m.Config()

    # ---------------------------------------------------------------- reporting helpers
    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span, hint=hint))

    def unknown(self, stmt: Stmt, allowed: Any, where: str) -> None:
        self.error("E001", f"`{stmt.keyword}` is not something {where} understands",
                   stmt.keyword_span, hint=did_you_mean(stmt.keyword, allowed)
                   or "allowed here: " + ", ".join(f"`{a}`" for a in sorted(allowed)))

    # ---------------------------------------------------------------- argument readers
    def name(self, stmt: Stmt, args: list[Expr], what: str) -> Name | None:
        if not args:
            self.error("E002", f"`{stmt.keyword}` needs {what}", stmt.keyword_span)
            return None
        arg = args.pop(0)
        if isinstance(arg, Name):
            return arg
        if isinstance(arg, Literal) and arg.kind == "STRING":
            self.error("E004", f"{what} is a name, not text in quotes", arg.span,
                       hint=f"write {arg.text.strip() or 'a_name'} without quotes")
            return Name(arg.text, arg.span)
        self.error("E004", f"`{stmt.keyword}` needs {what} here", arg.span)
        return None

    def names(self, stmt: Stmt, args: list[Expr], what: str) -> list[Name]:
        out: list[Name] = []
        while args:
            arg = args.pop(0)
            for item in (arg.items if isinstance(arg, Seq | ListExpr) else (arg,)):
                if isinstance(item, Name):
                    out.append(item)
                else:
                    self.error("E004", f"`{stmt.keyword}` takes {what}", item.span)
        if not out:
            self.error("E002", f"`{stmt.keyword}` needs {what}", stmt.keyword_span)
        return out

    def title(self, args: list[Expr]) -> str | None:
        if args and isinstance(args[0], Literal) and args[0].kind == "STRING":
            return args.pop(0).text  # type: ignore[union-attr]
        return None

    def literal(self, stmt: Stmt, args: list[Expr], kinds: tuple[str, ...],
                what: str) -> Literal | None:
        if not args:
            self.error("E002", f"`{stmt.keyword}` needs {what}", stmt.keyword_span)
            return None
        arg = args.pop(0)
        if isinstance(arg, Literal) and arg.kind in kinds:
            return arg
        self.error("E004", f"`{stmt.keyword}` needs {what}", arg.span)
        return None

    def string(self, stmt: Stmt, args: list[Expr], what: str) -> str | None:
        lit = self.literal(stmt, args, ("STRING",), what)
        return lit.text if lit else None

    def duration(self, stmt: Stmt, args: list[Expr], what: str = "a duration such as 30s",
                 ms: bool = False) -> int | None:
        lit = self.literal(stmt, args, ("DURATION", "NUMBER"), what)
        if lit is None:
            return None
        if lit.kind == "NUMBER":
            self.error("E005", f"`{lit.raw}` needs a unit", lit.span,
                       hint=f"write {lit.raw}s for seconds, {lit.raw}m for minutes")
            return None
        value = _dur_ms(lit.raw)
        return value if ms else value // 1000

    def integer(self, stmt: Stmt, args: list[Expr], what: str = "a whole number") -> int | None:
        lit = self.literal(stmt, args, ("NUMBER",), what)
        if lit is None:
            return None
        if "." in lit.raw:
            self.error("E005", f"{what} cannot have decimals", lit.span)
            return None
        return int(lit.raw)

    def percent(self, stmt: Stmt, args: list[Expr]) -> float | None:
        lit = self.literal(stmt, args, ("PERCENT",), "a percentage such as 80%")
        if lit is None:
            return None
        value = float(lit.raw[:-1])
        if not 0 <= value <= 100:
            self.error("E005", f"{lit.raw} is not between 0% and 100%", lit.span)
            return None
        return value

    def text(self, stmt: Stmt, args: list[Expr], what: str = "text") -> m.Text | None:
        if not args:
            self.error("E002", f"`{stmt.keyword}` needs {what}: \"…\" or a prompt name",
                       stmt.keyword_span)
            return None
        arg = args.pop(0)
        if isinstance(arg, Literal) and arg.kind == "STRING":
            return m.Text(literal=arg.text, span=arg.span)
        if isinstance(arg, Name):
            return m.Text(ref=arg, span=arg.span)
        self.error("E004", f"`{stmt.keyword}` needs {what}: \"…\" or a prompt name", arg.span)
        return None

    def level_range(self, stmt: Stmt, arg: Expr | None) -> tuple[int, int] | None:
        if (isinstance(arg, Binary) and arg.op == ".." and isinstance(arg.left, Literal)
                and isinstance(arg.right, Literal) and arg.left.kind == arg.right.kind == "NUMBER"):
            lo, hi = int(float(arg.left.raw)), int(float(arg.right.raw))
            if lo > hi:
                self.error("E005", f"the range {lo}..{hi} is upside down", arg.span,
                           hint=f"write {hi}..{lo}")
                return None
            return lo, hi
        if isinstance(arg, Literal) and arg.kind == "NUMBER":
            n = int(float(arg.raw))
            return n, n
        self.error("E004", f"`{stmt.keyword}` needs a range such as 1..5",
                   arg.span if arg is not None else stmt.keyword_span)
        return None

    def done(self, stmt: Stmt, args: list[Expr]) -> None:
        if args:
            self.error("E003", f"`{stmt.keyword}` does not take `{_show(args[0])}` here",
                       args[0].span)

    def no_arrow(self, stmt: Stmt) -> None:
        if stmt.arrow is not None:
            self.error("E007", f"`{stmt.keyword}` does not go anywhere: remove the `->`",
                       stmt.arrow[0].span)

    def no_block(self, stmt: Stmt) -> None:
        if stmt.block is not None:
            self.error("E007", f"`{stmt.keyword}` does not take a `{{ … }}` block",
                       stmt.span)

    def arrow_name(self, stmt: Stmt, required: bool = True) -> Name | None:
        if stmt.arrow is None:
            if required:
                self.error("E002", f"`{stmt.keyword}` needs `-> where to go`", stmt.span)
            return None
        first = stmt.arrow[0]
        if len(stmt.arrow) > 1:
            self.error("E003", "`->` takes one target", stmt.arrow[1].span)
        if isinstance(first, Name):
            return first
        self.error("E004", "`->` must be followed by a name", first.span)
        return None

    def skill_level(self, stmt: Stmt, arg: Expr) -> m.SkillLevel | None:
        if isinstance(arg, Name):
            return m.SkillLevel(arg, None, arg.span)
        if (isinstance(arg, Binary) and arg.op == ">=" and isinstance(arg.left, Name)
                and isinstance(arg.right, Literal) and arg.right.kind == "NUMBER"):
            return m.SkillLevel(arg.left, int(float(arg.right.raw)), arg.span)
        self.error("E004", f"`{stmt.keyword}` needs a skill, optionally with a level: "
                           "`报修 >= 3`", arg.span)
        return None

    def children(self, stmt: Stmt, table: dict[str, Callable[[Stmt], None]], where: str) -> None:
        for child in stmt.block or ():
            handler = table.get(child.keyword)
            if handler is None:
                self.unknown(child, table, where)
            else:
                handler(child)

    # ---------------------------------------------------------------- top level
    def bind_file(self, stmts: tuple[Stmt, ...]) -> None:
        table: dict[str, Callable[[Stmt], None]] = {
            "include": self.include, "tenant": self.tenant, "calendar": self.calendar,
            "channel": self.channel, "prompt": self.prompt, "template": self.prompt,
            "skill": self.simple, "department": self.simple, "role": self.simple,
            "disposition": self.simple, "not_ready": self.simple, "team": self.team,
            "queue": self.queue, "http": self.http, "form": self.form,
            "workflow": self.workflow, "rule": self.rule, "kpi": self.kpi, "flow": self.flow,
            "script": self.script,
            "test": self.test, "speech": self.speech,
        }
        for stmt in stmts:
            handler = table.get(stmt.keyword)
            if handler is None:
                if stmt.keyword in STEP_KINDS:
                    self.error("E001", f"`{stmt.keyword}` is a flow step and belongs inside a "
                                       "`flow … { }`", stmt.keyword_span)
                else:
                    self.unknown(stmt, table, "the top level of a config")
            else:
                handler(stmt)

    def include(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        path = self.string(stmt, args, "a file name in quotes")
        self.done(stmt, args)
        self.no_block(stmt)
        if path:
            self.config.includes.append((path, stmt.span))

    def tenant(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "the tenant's id")
        self.done(stmt, args)
        if name is None:
            return
        t = m.Tenant(name, span=stmt.span)
        if self.config.tenant is not None:
            self.error("E102", "a config has one `tenant`; this is the second", stmt.keyword_span,
                       hint=f"the first is at {self.config.tenant.span}")
        else:
            self.config.tenant = t

        def name_(s: Stmt) -> None:
            a = list(s.args)
            t.title = self.string(s, a, "the display name in quotes")
            self.done(s, a)

        def locales(s: Stmt) -> None:
            t.locales = self.names(s, list(s.args), "locale names such as zh_CN, en_US")

        def timezone(s: Stmt) -> None:
            a = list(s.args)
            tz = self.string(s, a, 'a time zone such as "Asia/Shanghai"')
            self.done(s, a)
            if tz:
                t.timezone = tz

        def calendar(s: Stmt) -> None:
            a = list(s.args)
            t.calendar = self.name(s, a, "a calendar name")
            self.done(s, a)

        def allow(s: Stmt) -> None:
            for arg in s.args:
                for item in arg.items if isinstance(arg, Seq) else (arg,):
                    if isinstance(item, Literal) and item.kind == "STRING":
                        t.allow_hosts.append(item.text)
                    else:
                        self.error("E004", "`allow_hosts` takes host names in quotes", item.span)

        def max_ivr(s: Stmt) -> None:
            a = list(s.args)
            t.max_ivr_seconds = self.duration(s, a)
            self.done(s, a)

        def customer_form(s: Stmt) -> None:
            a = list(s.args)
            t.customer_form = self.name(s, a, "a form name")
            self.done(s, a)

        self.children(stmt, {"name": name_, "locales": locales, "timezone": timezone,
                             "calendar": calendar, "allow_hosts": allow,
                             "max_ivr_time": max_ivr, "customer_form": customer_form},
                      "`tenant`")

    # ---------------------------------------------------------------- calendars
    def time_of(self, lit: Literal, raw: str) -> int | None:
        hh, mm = raw.split(":")
        h, mi = int(hh), int(mm)
        if h > 24 or mi > 59 or (h == 24 and mi):
            self.error("E005", f"`{raw}` is not a time of day", lit.span,
                       hint="times go from 00:00 to 24:00")
            return None
        return h * 60 + mi

    def ranges(self, stmt: Stmt, args: list[Expr]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        items: list[Expr] = []
        for arg in args:
            items.extend(arg.items if isinstance(arg, Seq) else (arg,))
        args.clear()
        for item in items:
            if not (isinstance(item, Literal) and item.kind == "TIMERANGE"):
                self.error("E004", "expected opening hours such as 08:00-18:00", item.span)
                continue
            a, b = item.raw.split("-")
            lo = self.time_of(item, a)
            hi = self.time_of(item, b) if lo is not None else None
            if lo is None or hi is None:
                continue
            if lo >= hi:
                self.error("E005", f"`{item.raw}` ends before it starts", item.span,
                           hint="split a range over midnight into two, e.g. 22:00-24:00 and "
                                "00:00-06:00")
                continue
            out.append((lo, hi))
        return out

    def days(self, stmt: Stmt, arg: Expr) -> list[int]:  # noqa: PLR0911 - one case per construct
        if isinstance(arg, Seq):
            out: list[int] = []
            for item in arg.items:
                out.extend(self.days(stmt, item))
            return out
        if isinstance(arg, Name):
            if arg.value in DAY_GROUPS:
                return DAY_GROUPS[arg.value]
            if arg.value in DAYS:
                return [DAYS[arg.value]]
            self.error("E005", f"`{arg.value}` is not a day of the week", arg.span,
                       hint=did_you_mean(arg.value, [*DAYS, *DAY_GROUPS]) or "use mon..sun, "
                       "周一..周日, daily, weekdays or weekends")
            return []
        if isinstance(arg, Binary) and arg.op == ".." and isinstance(arg.left, Name) \
                and isinstance(arg.right, Name):
            lo, hi = DAYS.get(arg.left.value), DAYS.get(arg.right.value)
            if lo is None or hi is None:
                bad = arg.left if lo is None else arg.right
                self.error("E005", f"`{bad.value}` is not a day of the week", bad.span,
                           hint=did_you_mean(bad.value, DAYS))
                return []
            return list(range(lo, hi + 1)) if lo <= hi else [*range(lo, 7), *range(hi + 1)]
        self.error("E004", "expected days such as mon..fri or 周一..周五", arg.span)
        return []

    def date_range(self, stmt: Stmt, args: list[Expr]) -> tuple[str, str] | None:
        if not args:
            self.error("E002", f"`{stmt.keyword}` needs a date such as 2025-10-01",
                       stmt.keyword_span)
            return None
        arg = args.pop(0)
        ends = [arg.left, arg.right] if isinstance(arg, Binary) and arg.op == ".." else [arg]
        dates: list[str] = []
        for e in ends:
            if not (isinstance(e, Literal) and e.kind == "DATE"):
                self.error("E004", f"`{stmt.keyword}` needs a date such as 2025-10-01", e.span)
                return None
            try:
                _dt.date.fromisoformat(e.raw)
            except ValueError:
                self.error("E005", f"`{e.raw}` is not a real date", e.span)
                return None
            dates.append(e.raw)
        if dates[-1] < dates[0]:
            self.error("E005", "this date range ends before it starts", arg.span)
            return None
        return dates[0], dates[-1]

    def calendar(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a calendar name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        cal = m.Calendar(name, title, span=stmt.span)
        self.config.calendars.append(cal)

        def open_(s: Stmt) -> None:
            a = list(s.args)
            if not a:
                self.error("E002", "`open` needs days and hours: `open mon..fri 08:00-18:00`",
                           s.keyword_span)
                return
            days = self.days(s, a.pop(0))
            if not a:
                self.error("E002", "`open` needs opening hours such as 08:00-18:00", s.span)
            rng = self.ranges(s, a)
            cal.weekly.append(m.Weekly(days, rng, s.span))

        def closed(s: Stmt) -> None:
            a = list(s.args)
            dr = self.date_range(s, a)
            label = self.title(a)
            self.done(s, a)
            if dr:
                cal.closed.append(m.DateRule(dr[0], dr[1], [], label, s.span))

        def workday(s: Stmt) -> None:
            a = list(s.args)
            dr = self.date_range(s, a)
            label = None
            if a and isinstance(a[-1], Literal) and a[-1].kind == "STRING":
                label = a.pop().text  # type: ignore[union-attr]
            rng = self.ranges(s, a)
            if dr:
                cal.workdays.append(m.DateRule(dr[0], dr[1], rng, label, s.span))

        def tz(s: Stmt) -> None:
            a = list(s.args)
            cal.timezone = self.string(s, a, 'a time zone such as "Asia/Shanghai"')
            self.done(s, a)

        def always(s: Stmt) -> None:
            self.done(s, list(s.args))
            cal.always = True

        self.children(stmt, {"open": open_, "closed": closed, "holiday": closed,
                             "workday": workday, "timezone": tz, "always": always},
                      "`calendar`")

    # ---------------------------------------------------------------- resources
    def channel(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        kind = self.name(stmt, args, "a channel kind (" + ", ".join(CHANNEL_KINDS) + ")")
        if kind is not None and kind.value not in CHANNEL_KINDS:
            self.error("E005", f"`{kind.value}` is not a channel kind", kind.span,
                       hint=did_you_mean(kind.value, CHANNEL_KINDS)
                       or "use one of " + ", ".join(CHANNEL_KINDS))
            kind = None
        address = self.string(stmt, args, 'the number, address or widget key in quotes')
        self.done(stmt, args)
        flow = self.arrow_name(stmt, required=False)
        if kind is None or address is None:
            return
        ch = m.Channel(kind.value, address, flow, span=stmt.span)

        def locale(s: Stmt) -> None:
            a = list(s.args)
            ch.locale = self.name(s, a, "a locale")
            self.done(s, a)

        def queue(s: Stmt) -> None:
            a = list(s.args)
            ch.queue = self.name(s, a, "a queue")
            self.done(s, a)

        def form(s: Stmt) -> None:
            a = list(s.args)
            ch.form = self.name(s, a, "a form")
            self.done(s, a)

        self.children(stmt, {"locale": locale, "queue": queue, "form": form}, "`channel`")
        self.config.channels.append(ch)

    def prompt(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, f"a {stmt.keyword} name")
        if name is None:
            return
        p = m.Prompt(name, stmt.keyword, span=stmt.span)
        if args:
            text = self.string(stmt, args, "text in quotes")
            if text is not None:
                p.texts[""] = (text, stmt.args[-1].span)
        self.done(stmt, args)
        self.no_arrow(stmt)
        for child in stmt.block or ():
            a = list(child.args)
            if child.keyword == "subject" and stmt.keyword == "template":
                loc = self.name(child, a, "a locale") if len(a) > 1 else None
                subj = self.string(child, a, "the subject in quotes")
                if subj is not None:
                    p.subject[loc.value if loc else ""] = subj
                self.done(child, a)
                continue
            text = self.string(child, a, "the text for this locale in quotes")
            self.done(child, a)
            if text is not None:
                if child.keyword in p.texts:
                    self.error("E006", f"locale `{child.keyword}` is given twice",
                               child.keyword_span)
                p.texts[child.keyword] = (text, child.span)
        if not p.texts:
            self.error("E002", f"{stmt.keyword} `{name.value}` has no text",
                       stmt.keyword_span, hint=f'e.g. {stmt.keyword} {name.value} {{ zh_CN "…" }}')
        self.config.prompts.append(p)

    def simple(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, f"a {stmt.keyword} name")
        title = self.title(args)
        levels = None
        if args and isinstance(args[0], Name) and args[0].value == "levels" \
                and stmt.keyword == "skill":
            args.pop(0)
            levels = self.level_range(stmt, args.pop(0) if args else None)
        self.done(stmt, args)
        self.no_block(stmt)
        self.no_arrow(stmt)
        if name is not None:
            self.config.simples.append(m.Simple(stmt.keyword, name, title, levels, stmt.span))

    def team(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a team name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        t = m.Team(name, title, span=stmt.span)

        def skill(s: Stmt) -> None:
            a = list(s.args)
            sk = self.name(s, a, "a skill name")
            level = self.integer(s, a, "a level") if a else None
            self.done(s, a)
            if sk is not None:
                t.skills.append(m.SkillLevel(sk, level, s.span))

        def department(s: Stmt) -> None:
            a = list(s.args)
            t.department = self.name(s, a, "a department name")
            self.done(s, a)

        def members(s: Stmt) -> None:
            a = list(s.args)
            t.members = self.integer(s, a, "the number of agents")
            self.done(s, a)

        self.children(stmt, {"skill": skill, "department": department, "members": members},
                      "`team`")
        self.config.teams.append(t)

    def queue(self, stmt: Stmt) -> None:  # noqa: PLR0915 - one case per construct
        args = list(stmt.args)
        name = self.name(stmt, args, "a queue name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        q = m.Queue(name, title, span=stmt.span)

        def strategy(s: Stmt) -> None:
            a = list(s.args)
            st = self.name(s, a, "a strategy")
            self.done(s, a)
            if st is None:
                return
            if st.value not in STRATEGIES:
                self.error("E005", f"`{st.value}` is not a routing strategy", st.span,
                           hint=did_you_mean(st.value, STRATEGIES)
                           or "use one of " + ", ".join(STRATEGIES))
                return
            q.strategy, q.strategy_span = st.value, st.span

        def req(target: list[m.SkillLevel]) -> Callable[[Stmt], None]:
            def inner(s: Stmt) -> None:
                if not s.args:
                    self.error("E002", f"`{s.keyword}` needs a skill", s.keyword_span)
                for arg in s.args:
                    for item in arg.items if isinstance(arg, Seq) else (arg,):
                        sl = self.skill_level(s, item)
                        if sl:
                            target.append(sl)
            return inner

        def priority(s: Stmt) -> None:
            a = list(s.args)
            value = self.integer(s, a, "a priority number")
            cond = self._when(s, a)
            if value is not None and cond is not None:
                q.priorities.append((value, cond, s.span))

        def dedicated(s: Stmt) -> None:
            a = list(s.args)
            team = self.name(s, a, "a team")
            cond = self._when(s, a)
            if team is not None and cond is not None:
                q.dedicated.append((team, cond, s.span))

        def after(s: Stmt) -> None:
            a = list(s.args)
            secs = self.duration(s, a)
            if not a:
                self.error("E002", "`after` needs what happens: relax, overflow or priority",
                           s.span)
                return
            verb = a.pop(0)
            action = verb.value if isinstance(verb, Name) else ""
            step = m.QueueStep(secs or 0, action, span=s.span)
            if action == "relax":
                step.skill = self.skill_level(s, a.pop(0)) if a else None
                if step.skill is None:
                    self.error("E002", "`relax` needs a skill level: `relax 报修 >= 1`", s.span)
            elif action == "overflow":
                step.queue = self.name(s, a, "the queue to overflow to")
            elif action == "priority":
                step.priority = self.integer(s, a, "the new priority")
            else:
                self.error("E005", f"`{_show(verb)}` is not a queue step", verb.span,
                           hint=did_you_mean(action, ("relax", "overflow", "priority"))
                           or "use relax, overflow or priority")
                return
            self.done(s, a)
            if secs is not None:
                q.steps.append(step)

        def seconds(attr: str) -> Callable[[Stmt], None]:
            def inner(s: Stmt) -> None:
                a = list(s.args)
                setattr(q, attr, self.duration(s, a))
                self.done(s, a)
            return inner

        def announce(s: Stmt) -> None:
            a = list(s.args)
            if a and isinstance(a[0], Name) and a[0].value == "every":
                a.pop(0)
            every = self.duration(s, a)
            text = self.text(s, a)
            self.done(s, a)
            if every is not None and text is not None:
                q.announce = (every, text)

        def calendar(s: Stmt) -> None:
            a = list(s.args)
            q.calendar = self.name(s, a, "a calendar")
            self.done(s, a)

        def teams(s: Stmt) -> None:
            q.teams.extend(self.names(s, list(s.args), "team names"))

        self.children(stmt, {"strategy": strategy, "require": req(q.require),
                             "prefer": req(q.prefer), "priority": priority,
                             "dedicated": dedicated, "after": after,
                             "max_wait": seconds("max_wait"), "wrap_up": seconds("wrap_up"),
                             "announce": announce, "calendar": calendar, "teams": teams},
                      "`queue`")
        self.config.queues.append(q)

    def _when(self, s: Stmt, a: list[Expr]) -> Expr | None:
        if not a or not (isinstance(a[0], Name) and a[0].value == "when"):
            self.error("E002", f"`{s.keyword}` needs `when <condition>`", s.span)
            return None
        a.pop(0)
        if not a:
            self.error("E002", "`when` needs a condition", s.span)
            return None
        cond = a.pop(0)
        self.done(s, a)
        return cond

    def http(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a name for this lookup")
        self.done(stmt, args)
        if name is None:
            return
        h = m.Http(name, span=stmt.span)

        def method(s: Stmt) -> None:
            a = list(s.args)
            lit = self.literal(s, a, ("STRING",), "the URL in quotes")
            self.done(s, a)
            if lit is not None:
                h.method, h.url, h.url_span = s.keyword, lit.text, lit.span

        def timeout(s: Stmt) -> None:
            a = list(s.args)
            h.timeout_ms = self.duration(s, a, ms=True) or h.timeout_ms
            self.done(s, a)

        def retries(s: Stmt) -> None:
            a = list(s.args)
            h.retries = self.integer(s, a) or 0
            self.done(s, a)

        def header(s: Stmt) -> None:
            a = list(s.args)
            k = self.string(s, a, "the header name in quotes")
            v = self.string(s, a, "the header value in quotes")
            self.done(s, a)
            if k and v is not None:
                h.headers.append((k, v))

        def returns(s: Stmt) -> None:
            self.done(s, list(s.args))
            for child in s.block or ():
                a = list(child.args)
                typ = self.name(child, a, "a type (text, number, boolean, date)")
                self.done(child, a)
                if typ is not None:
                    if typ.value not in ("text", "number", "boolean", "date", "list"):
                        self.error("E005", f"`{typ.value}` is not a type", typ.span,
                                   hint=did_you_mean(typ.value, ("text", "number", "boolean",
                                                                 "date", "list")))
                    h.returns[child.keyword] = typ.value

        self.children(stmt, {"get": method, "post": method, "timeout": timeout,
                             "retries": retries, "header": header, "returns": returns},
                      "`http`")
        if not h.url:
            self.error("E002", f"http `{name.value}` needs `get \"https://…\"` or `post …`",
                       stmt.keyword_span)
        self.config.https.append(h)

    # ---------------------------------------------------------------- forms
    def form(self, stmt: Stmt) -> None:  # noqa: PLR0915 - one case per construct
        args = list(stmt.args)
        name = self.name(stmt, args, "a form name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        f = m.Form(name, title, span=stmt.span)

        def field_(s: Stmt, section: str | None = None) -> None:  # noqa: PLR0912 - one case per construct
            a = list(s.args)
            fname = self.name(s, a, "a field name")
            typ = self.name(s, a, "a field type (" + ", ".join(FIELD_TYPES) + ")")
            label = self.title(a)
            self.done(s, a)
            if fname is None or typ is None:
                return
            if typ.value not in FIELD_TYPES:
                self.error("E005", f"`{typ.value}` is not a field type", typ.span,
                           hint=did_you_mean(typ.value, FIELD_TYPES)
                           or "use one of " + ", ".join(FIELD_TYPES))
            fld = m.Field(fname, typ.value, typ.span, label, section, span=s.span)
            for c in s.block or ():
                ca = list(c.args)
                if c.keyword == "required":
                    msg = self.text(c, ca, "a message") if ca else None
                    fld.rules.append(m.Rule_("required", True, msg, c.span))
                elif c.keyword == "pattern":
                    pat = self.string(c, ca, "a pattern in quotes")
                    msg = self.text(c, ca, "a message") if ca else None
                    fld.rules.append(m.Rule_("pattern", pat, msg, c.span))
                elif c.keyword in ("range", "length"):
                    rng = self.level_range(c, ca.pop(0) if ca else None)
                    msg = self.text(c, ca, "a message") if ca else None
                    if rng:
                        fld.rules.append(m.Rule_(c.keyword, rng, msg, c.span))
                elif c.keyword == "choices":
                    for arg in ca:
                        for item in arg.items if isinstance(arg, Seq) else (arg,):
                            if isinstance(item, Name):
                                fld.choices.append(item.value)
                            elif isinstance(item, Literal) and item.kind == "STRING":
                                fld.choices.append(item.text)
                            else:
                                self.error("E004", "choices are names or text", item.span)
                    ca = []
                elif c.keyword == "when":
                    fld.when = ca.pop(0) if ca else None
                    if fld.when is None:
                        self.error("E002", "`when` needs a condition", c.span)
                else:
                    self.unknown(c, ("required", "pattern", "range", "length", "choices",
                                     "when"), "a form field")
                    continue
                self.done(c, ca)
            if fld.type == "choice" and not fld.choices:
                self.error("E002", f"choice field `{fname.value}` needs `choices a, b, …`",
                           s.span)
            f.fields.append(fld)

        def section(s: Stmt) -> None:
            a = list(s.args)
            sname = self.name(s, a, "a section name")
            stitle = self.title(a)
            self.done(s, a)
            if sname is None:
                return
            f.sections.append((sname.value, stitle))
            for c in s.block or ():
                if c.keyword == "field":
                    field_(c, sname.value)
                else:
                    self.unknown(c, ("field",), "a form section")

        self.children(stmt, {"field": field_, "section": section}, "`form`")
        self.config.forms.append(f)

    # ---------------------------------------------------------------- workflows
    def workflow(self, stmt: Stmt) -> None:  # noqa: PLR0915 - one case per construct
        args = list(stmt.args)
        name = self.name(stmt, args, "a workflow name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        w = m.Workflow(name, title, span=stmt.span)

        def form(s: Stmt) -> None:
            a = list(s.args)
            w.form = self.name(s, a, "a form name")
            self.done(s, a)

        def states(s: Stmt) -> None:
            w.states.extend(self.names(s, list(s.args), "state names"))

        def initial(s: Stmt) -> None:
            a = list(s.args)
            w.initial = self.name(s, a, "the first state")
            self.done(s, a)

        def final(s: Stmt) -> None:
            w.finals.extend(self.names(s, list(s.args), "state names"))

        def transition(s: Stmt) -> None:
            a = list(s.args)
            tname = self.name(s, a, "a transition name")
            sources = self.names(s, a, "the state(s) it leaves from") if a else []
            if not sources:
                self.error("E002", "`transition` needs the state it leaves from: "
                                   "`transition 派工 受理 -> 已派工`", s.span)
            target = self.arrow_name(s)
            if tname is None or target is None:
                return
            t = m.Transition(tname, sources, target, span=s.span)
            for c in s.block or ():
                ca = list(c.args)
                if c.keyword == "roles":
                    t.roles.extend(self.names(c, ca, "role names"))
                elif c.keyword == "auto":
                    if ca and isinstance(ca[0], Name) and ca[0].value == "after":
                        ca.pop(0)
                    t.auto_after = self.duration(c, ca)
                    self.done(c, ca)
                elif c.keyword == "assign":
                    t.assign = self.name(c, ca, "a team or department")
                    self.done(c, ca)
                elif c.keyword == "notify":
                    t.notify.extend(self.names(c, ca, "roles or teams"))
                else:
                    self.unknown(c, ("roles", "auto", "assign", "notify"), "a transition")
            w.transitions.append(t)

        def sla(s: Stmt) -> None:
            a = list(s.args)
            sname = self.name(s, a, "an SLA name")
            opts = self._options(s, a, {"from": "name", "until": "name", "within": "duration",
                                        "calendar": "name"})
            if sname is None:
                return
            for key in ("from", "until", "within"):
                if key not in opts:
                    self.error("E002", f"sla `{sname.value}` needs `{key} …`", s.span,
                               hint="e.g. sla 派工时限 from 受理 until 已派工 within 2h "
                                    "calendar 工作时间")
                    return
            sl = m.Sla(sname, opts["from"], opts["until"], opts["within"],
                       opts.get("calendar"), span=s.span)
            for c in s.block or ():
                ca = list(c.args)
                if c.keyword == "warn":
                    pct = self.percent(c, ca)
                    targets = self._notify_targets(c, ca)
                    if pct is not None:
                        sl.warn = (pct, targets)
                elif c.keyword == "breach":
                    sl.breach = self._notify_targets(c, ca)
                elif c.keyword == "escalate":
                    if ca and isinstance(ca[0], Name) and ca[0].value == "after":
                        ca.pop(0)
                    after_s = self.duration(c, ca)
                    targets = self._notify_targets(c, ca)
                    if after_s is not None:
                        sl.escalations.append((after_s, targets))
                else:
                    self.unknown(c, ("warn", "breach", "escalate"), "an `sla`")
            w.slas.append(sl)

        def followup(s: Stmt) -> None:
            a = list(s.args)
            fname = self.name(s, a, "a name for the follow-up")
            opts = self._options(s, a, {"when": "name", "within": "duration", "form": "name"})
            if fname is None:
                return
            if "when" not in opts or "within" not in opts:
                self.error("E002", "`followup` needs `when STATE within DURATION`", s.span,
                           hint="e.g. followup 回访 when 已完成 within 2d -> 已回访")
                return
            w.followups.append(m.Followup(fname, opts["when"], opts["within"],
                                          self.arrow_name(s, required=False), opts.get("form"),
                                          s.span))

        self.children(stmt, {"form": form, "states": states, "initial": initial,
                             "final": final, "transition": transition, "sla": sla,
                             "followup": followup}, "`workflow`")
        self.config.workflows.append(w)

    def speech(self, stmt: Stmt) -> None:
        """``speech { tts ENGINE ["voice"] [for LOCALE, …] … }``."""
        self.done(stmt, list(stmt.args))
        self.no_arrow(stmt)
        sp = m.Speech(span=stmt.span)
        if self.config.speech is not None:
            self.error("E102", "a config has one `speech` block; this is the second",
                       stmt.keyword_span, hint=f"the first is at {self.config.speech.span}")
        else:
            self.config.speech = sp

        def tts(s: Stmt) -> None:
            a = list(s.args)
            engine = self.name(s, a, "an engine: edge, espeak or piper")
            if engine is None:
                return
            if engine.value not in TTS_ENGINES:
                self.error("E004", f"`{engine.value}` is not a speech engine", engine.span,
                           hint=did_you_mean(engine.value.replace("-", "_"), TTS_ENGINES)
                           or "engines: " + ", ".join(TTS_ENGINES))
                return
            choice = m.TtsChoice(engine, span=s.span)
            if a and isinstance(a[0], Literal) and a[0].kind == "STRING":
                choice.voice = a.pop(0).text  # type: ignore[union-attr]
            if a and isinstance(a[0], Name) and a[0].value == "for":
                keyword = a.pop(0)
                if not a:
                    self.error("E002", "`for` needs the locales this voice speaks",
                               keyword.span, hint="e.g. for zh_CN, en_US")
                choice.locales = self.names(s, a, "locales such as zh_CN") if a else []
            self.done(s, a)
            self.no_block(s)
            sp.tts.append(choice)

        self.children(stmt, {"tts": tts}, "`speech`")

    def _notify_targets(self, s: Stmt, a: list[Expr]) -> list[Name]:
        if a and isinstance(a[0], Name) and a[0].value == "notify":
            a.pop(0)
            return self.names(s, a, "roles or teams to notify")
        self.done(s, a)
        return []

    def _options(self, s: Stmt, a: list[Expr], spec: dict[str, str]) -> dict[str, Any]:
        """Read ``keyword value`` pairs (``from 受理 until 已派工 within 2h``)."""
        out: dict[str, Any] = {}
        while a:
            key = a.pop(0)
            if not isinstance(key, Name) or key.value not in spec:
                self.error("E003", f"`{s.keyword}` does not take `{_show(key)}` here", key.span,
                           hint=did_you_mean(_show(key), spec) or "allowed: "
                           + ", ".join(spec))
                return out
            if key.value in out:
                self.error("E006", f"`{key.value}` is given twice", key.span)
            kind = spec[key.value]
            value: Any
            if kind == "name":
                value = self.name(s, a, f"a name after `{key.value}`")
            else:
                value = self.duration(s, a)
            if value is not None:
                out[key.value] = value
        return out

    # ---------------------------------------------------------------- rules and KPIs
    def rule(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a rule name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        r = m.Rule(name, title, span=stmt.span)
        for c in stmt.block or ():
            ca = list(c.args)
            if c.keyword == "on":
                if not ca:
                    self.error("E002", "`on` needs an event such as sms.received", c.span)
                    continue
                ev = ca.pop(0)
                r.event, r.event_span = _dotted(ev), ev.span
                if r.event not in EVENTS:
                    self.error("E005", f"`{r.event}` is not an event kefu knows", ev.span,
                               hint=did_you_mean(r.event, EVENTS)
                               or "events: " + ", ".join(EVENTS))
                self.done(c, ca)
            elif c.keyword == "when":
                if not ca:
                    self.error("E002", "`when` needs a condition", c.span)
                    continue
                r.when.append(ca.pop(0))
                self.done(c, ca)
            else:
                action = self.action(c)
                if action is not None:
                    r.actions.append(action)
        if not r.event:
            self.error("E002", f"rule `{name.value}` needs `on <event>`", stmt.keyword_span)
        if not r.actions:
            self.error("E002", f"rule `{name.value}` does nothing: add an action such as "
                               "`send sms 模板 to customer.phone`", stmt.keyword_span)
        self.config.rules.append(r)

    def action(self, c: Stmt) -> m.Action | None:
        ca = list(c.args)
        if c.keyword in ("send", "reply"):
            act = m.Action(c.keyword, span=c.span)
            if c.keyword == "send":
                ch = self.name(c, ca, "a channel (sms, email, fax)")
                if ch is not None and ch.value not in ("sms", "email", "fax", "webchat"):
                    self.error("E005", f"cannot send by `{ch.value}`", ch.span,
                               hint=did_you_mean(ch.value, ("sms", "email", "fax", "webchat")))
                act.channel = ch.value if ch else None
            act.template = self.text(c, ca, "a template")
            if ca and isinstance(ca[0], Name) and ca[0].value == "to":
                ca.pop(0)
                act.to = ca.pop(0) if ca else None
            elif c.keyword == "send":
                self.error("E002", "`send` needs `to <who>`, e.g. `to customer.phone`", c.span)
            self.done(c, ca)
            return act
        if c.keyword in ("notify", "create", "webhook", "assign", "callback"):
            act = m.Action(c.keyword, span=c.span)
            if c.keyword == "callback":
                act.target = self.name(c, ca, "a queue")
            else:
                act.target = self.name(c, ca, {"notify": "a role or team",
                                               "create": "a workflow", "webhook": "an http",
                                               "assign": "a team"}[c.keyword])
            if c.keyword == "notify" and ca:
                act.template = self.text(c, ca, "a template")
            self.done(c, ca)
            return act
        if c.keyword == "set":
            if len(ca) != 1 or not isinstance(ca[0], Assign):
                self.error("E004", "`set` needs `name = value`", c.span)
                return None
            return m.Action("set", assign=(ca[0].target, ca[0].value), span=c.span)
        if c.keyword == "answer":
            return self.answer(c, ca)
        self.unknown(c, ("on", "when", "send", "reply", "notify", "create", "webhook",
                         "assign", "callback", "set", "answer"), "a `rule`")
        return None

    def answer(self, c: Stmt, ca: list[Expr]) -> m.Action | None:
        """``answer faq [above N%]``: reply with the best knowledge-base article, when one
        scores at least the threshold."""
        source = self.name(c, ca, "`faq` (answer from the knowledge base)")
        if source is None:
            return None
        if source.value != "faq":
            self.error("E005", f"cannot answer from `{source.value}`", source.span,
                       hint="write `answer faq` (the knowledge base)")
            return None
        act = m.Action("faq", span=c.span)
        if ca and isinstance(ca[0], Name) and ca[0].value == "above":
            ca.pop(0)
            score = self.percent(c, ca)
            act.min_score = score / 100 if score is not None else None
        self.done(c, ca)
        return act

    # ---------------------------------------------------------------- guided scripts
    def script(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a script name")
        title = self.title(args)
        self.done(stmt, args)
        self.no_arrow(stmt)
        if name is None:
            return
        sc = m.Script(name, title, span=stmt.span)

        def step(s: Stmt) -> None:
            a = list(s.args)
            sname = self.name(s, a, "a step name")
            stitle = self.title(a)
            self.done(s, a)
            if sname is None:
                return
            st = m.ScriptStep(sname, stitle, span=s.span)
            target = self.arrow_name(s, required=False)
            if target is not None:
                st.next.append(target)
            for c in s.block or ():
                ca = list(c.args)
                if c.keyword == "say":
                    st.text = self.text(c, ca, "what the agent says or does")
                    self.done(c, ca)
                elif c.keyword == "form":
                    st.form = self.name(c, ca, "a form name")
                    self.done(c, ca)
                elif c.keyword == "next":
                    st.next.extend(self.names(c, ca, "the steps that may follow"))
                else:
                    self.unknown(c, ("say", "form", "next"), "a script step")
            sc.steps.append(st)

        self.children(stmt, {"step": step}, "`script`")
        if not sc.steps:
            self.error("E002", f"script `{name.value}` needs at least one `step`", stmt.span)
        self.config.scripts.append(sc)

    def kpi(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a KPI name")
        title = self.title(args)
        self.done(stmt, args)
        if name is None:
            return
        k = m.Kpi(name, title, span=stmt.span)

        def service_level(s: Stmt) -> None:
            a = list(s.args)
            k.service_level = self.percent(s, a)
            if a and isinstance(a[0], Name) and a[0].value == "within":
                a.pop(0)
                k.threshold = self.duration(s, a)
            else:
                self.error("E002", "`service_level` needs `within <seconds>`: "
                                   "`service_level 80% within 20s`", s.span)
            self.done(s, a)

        def secs(attr: str) -> Callable[[Stmt], None]:
            def inner(s: Stmt) -> None:
                a = list(s.args)
                setattr(k, attr, self.duration(s, a))
                self.done(s, a)
            return inner

        def queues(s: Stmt) -> None:
            k.queues.extend(self.names(s, list(s.args), "queue names"))

        self.children(stmt, {"service_level": service_level,
                             "short_abandon": secs("short_abandon"),
                             "answered_late": secs("answered_late"), "queues": queues},
                      "`kpi`")
        self.config.kpis.append(k)

    # ---------------------------------------------------------------- flows
    def handler(self, s: Stmt) -> m.Handler | None:
        a = list(s.args)
        if not a:
            self.error("E002", "`on` needs an event: noinput, nomatch or error", s.span)
            return None
        ev = a.pop(0)
        events: list[str] = []
        for item in ev.items if isinstance(ev, Seq) else (ev,):
            word = item.value if isinstance(item, Name) else _show(item)
            if word not in INPUT_EVENTS:
                self.error("E005", f"`{word}` is not an input event", item.span,
                           hint=did_you_mean(word, INPUT_EVENTS)
                           or "use noinput, nomatch or error")
                return None
            events.append(word)
        count = 1
        if a and isinstance(a[0], Literal) and a[0].kind == "NUMBER":
            count = int(float(a.pop(0).raw))  # type: ignore[union-attr]
            if count < 1:
                self.error("E005", "counts start at 1", s.span)
        reprompt = False
        text = None
        if a and isinstance(a[0], Name) and a[0].value == "reprompt":
            a.pop(0)
            reprompt = True
            if a:
                text = self.text(s, a)
        self.done(s, a)
        target = self.arrow_name(s, required=False)
        if reprompt and target is not None:
            self.error("E004", "`reprompt` asks again; it cannot also go somewhere",
                       s.arrow[0].span if s.arrow else s.span)
            reprompt = False  # keep the target, so that checks do not pile up on this mistake
        if not reprompt and target is None:
            self.error("E002", "`on` needs `-> where to go` or `reprompt`", s.span,
                       hint="e.g. `on noinput 3 -> 转人工` or `on nomatch reprompt \"请重新输入\"`")
            return None
        return m.Handler(events, count, target, reprompt, text, s.span)

    def flow(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.name(stmt, args, "a flow name")
        title = self.title(args)
        self.done(stmt, args)
        self.no_arrow(stmt)
        if name is None:
            return
        f = m.Flow(name, title, span=stmt.span)
        for c in stmt.block or ():
            if c.keyword == "on":
                h = self.handler(c)
                if h is not None:
                    f.handlers.append(h)
            elif c.keyword in STEP_KINDS:
                step = self.step(c)
                if step is not None:
                    f.steps.append(step)
            else:
                self.unknown(c, (*STEP_KINDS, "on"), "a `flow`")
        if not f.steps:
            self.error("E002", f"flow `{name.value}` has no steps", stmt.keyword_span,
                       hint='start with e.g. `say 欢迎 "您好"`')
        self.config.flows.append(f)

    def step(self, s: Stmt) -> m.Step | None:  # noqa: PLR0912, PLR0915 - one schema table
        a = list(s.args)
        sid = self.name(s, a, "a step name (every step has one, e.g. `say 欢迎 \"…\"`)")
        if sid is None:
            return None
        st = m.Step(s.keyword, sid, span=s.span)
        kind = s.keyword
        if s.arrow is not None:
            if kind in (*TERMINAL_STEPS, "branch", "menu"):
                self.error("E007", f"`{kind}` does not continue with `->`: "
                           + ("it ends the call" if kind in TERMINAL_STEPS
                              else "its choices say where to go"), s.arrow[0].span)
            else:
                st.next = self.arrow_name(s)
        block_table: dict[str, Callable[[Stmt], None]] = {}

        def prompt(c: Stmt) -> None:
            ca = list(c.args)
            st.prompt = self.text(c, ca, "the prompt")
            self.done(c, ca)

        def on(c: Stmt) -> None:
            ca = list(c.args)
            exits = STEP_EXITS.get(kind, ())
            if kind in ("ask", "menu"):
                h = self.handler(c)
                if h is not None:
                    st.handlers.append(h)
                return
            ev = ca.pop(0) if ca else None
            names = [i for i in (ev.items if isinstance(ev, Seq) else (ev,)) if i is not None]
            target = self.arrow_name(c)
            if not names:
                self.error("E002", "`on` needs an outcome such as " + ", ".join(exits), c.span)
            for item in names:
                word = item.value if isinstance(item, Name) else _show(item)
                if word not in exits:
                    self.error("E005", f"`{kind}` has no outcome `{word}`", item.span,
                               hint=did_you_mean(word, exits)
                               or "its outcomes are " + ", ".join(exits))
                elif word in st.exits:
                    self.error("E006", f"outcome `{word}` is handled twice", item.span)
                elif target is not None:
                    st.exits[word] = (target, c.span)
            self.done(c, ca)

        def timeout(c: Stmt) -> None:
            ca = list(c.args)
            st.timeout = self.duration(c, ca)
            self.done(c, ca)

        if kind in ("say", "hangup", "voicemail"):
            if a or kind == "say":
                st.prompt = self.text(s, a, "what to say")
            if kind == "voicemail":
                block_table["prompt"] = prompt
        elif kind == "play":
            st.audio = self.string(s, a, "an audio file name in quotes")
        elif kind == "ask":
            block_table.update(prompt=prompt, on=on, timeout=timeout)

            def dtmf(c: Stmt) -> None:
                ca = list(c.args)
                st.dtmf = self.level_range(c, ca.pop(0) if ca else None)
                self.done(c, ca)

            def flag(attr: str) -> Callable[[Stmt], None]:
                def inner(c: Stmt) -> None:
                    self.done(c, list(c.args))
                    setattr(st, attr, True)
                return inner

            def validate(c: Stmt) -> None:
                ca = list(c.args)
                arg = ca.pop(0) if ca else None
                if isinstance(arg, Member) and isinstance(arg.obj, Name):
                    st.validate = (arg.obj, Name(arg.name, arg.span))
                else:
                    self.error("E004", "`validate` needs form.field, e.g. `validate 开户.手机`",
                               arg.span if arg else c.span)
                self.done(c, ca)

            block_table.update(dtmf=dtmf, speech=flag("speech"), text=flag("text_input"),
                               validate=validate)
        elif kind == "menu":
            block_table.update(prompt=prompt, on=on, timeout=timeout)

            def option(c: Stmt) -> None:
                ca = list(c.args)
                keys: list[str] = []
                phrases: list[str] = []
                for arg in ca:
                    for item in arg.items if isinstance(arg, Seq) else (arg,):
                        if isinstance(item, Literal) and item.kind == "NUMBER":
                            keys.append(item.raw)
                        elif isinstance(item, Literal) and item.kind == "STRING":
                            (keys if item.text in ("*", "#") else phrases).append(item.text)
                        else:
                            self.error("E004", "an option is a key (1, 2, \"#\") and/or words "
                                               "in quotes", item.span)
                target = self.arrow_name(c)
                if not keys and not phrases:
                    self.error("E002", "`option` needs a key or words", c.span)
                if target is not None:
                    st.options.append(m.Option(keys, phrases, target, c.span))

            block_table["option"] = option
        elif kind == "set":
            if len(a) == 1 and isinstance(a[0], Assign):
                st.assign = (a[0].target, a[0].value)
                a.clear()
            else:
                self.error("E004", "`set` needs `name = value`: `set 标记 vip = true`", s.span)
                a.clear()
        elif kind == "branch":
            def when(c: Stmt) -> None:
                ca = list(c.args)
                target = self.arrow_name(c)
                if not ca:
                    self.error("E002", "`when` needs a condition", c.span)
                    return
                cond = ca.pop(0)
                self.done(c, ca)
                if target is not None:
                    st.branches.append((cond, target, c.span))

            def otherwise(c: Stmt) -> None:
                self.done(c, list(c.args))
                st.otherwise = self.arrow_name(c)

            block_table.update(when=when, otherwise=otherwise)
        elif kind in ("fetch", "enqueue", "call", "ticket"):
            st.ref = self.name(s, a, {"fetch": "an http lookup", "enqueue": "a queue",
                                      "call": "a flow", "ticket": "a workflow"}[kind])
            if kind == "fetch" and a and isinstance(a[0], Name) and a[0].value == "into":
                a.pop(0)
                st.into = self.name(s, a, "a variable name")
            block_table["on"] = on
            if kind == "ticket":
                def set_(c: Stmt) -> None:
                    ca = list(c.args)
                    if len(ca) == 1 and isinstance(ca[0], Assign):
                        st.sets.append((ca[0].target, ca[0].value))
                    else:
                        self.error("E004", "`set` needs `field = value`", c.span)
                block_table["set"] = set_
            if kind == "enqueue":
                block_table["prompt"] = prompt
        elif kind == "transfer":
            st.number = self.string(s, a, "a phone number in quotes")
            block_table["on"] = on
        elif kind == "callback":
            st.ref = self.name(s, a, "the queue that will call back")
            block_table.update(prompt=prompt, on=on)
        elif kind == "send":
            ch = self.name(s, a, "a channel (sms, email)")
            st.channel = ch.value if ch else None
            st.prompt = self.text(s, a, "a template")
            if a and isinstance(a[0], Name) and a[0].value == "to":
                a.pop(0)
                st.to = a.pop(0) if a else None
        self.done(s, a)
        if s.block is not None:
            if not block_table:
                self.error("E007", f"`{kind}` does not take a `{{ … }}` block", s.span)
            else:
                self.children(s, block_table, f"`{kind}`")
        if kind in ("ask", "menu") and st.prompt is None:
            self.error("E002", f"`{kind} {sid.value}` needs a `prompt`", s.keyword_span)
        if kind == "branch" and st.otherwise is None:
            self.error("E023", f"branch `{sid.value}` needs `otherwise -> …` for when no "
                               "condition holds", s.keyword_span)
        if kind == "ask" and not (st.dtmf or st.speech or st.text_input):
            st.dtmf = (1, 32)
        return st

    # ---------------------------------------------------------------- tests
    def test(self, stmt: Stmt) -> None:
        args = list(stmt.args)
        name = self.string(stmt, args, "a test name in quotes")
        self.done(stmt, args)
        if name is None:
            return
        flow = None
        body: list[Stmt] = []
        for c in stmt.block or ():
            if c.keyword == "flow":
                ca = list(c.args)
                flow = self.name(c, ca, "a flow name")
                self.done(c, ca)
            else:
                body.append(c)
        if flow is None:
            self.error("E002", f"test \"{name}\" needs `flow <name>`", stmt.keyword_span)
        self.config.tests.append(m.TestCase(name, flow, body, stmt.span))


def _dotted(e: Expr) -> str:
    if isinstance(e, Name):
        return e.value
    if isinstance(e, Member):
        return f"{_dotted(e.obj)}.{e.name}"
    return _show(e)


def _show(e: Expr) -> str:
    from kefu.dsl.formatter import format_expr

    return format_expr(e)


def bind(parsed: list[tuple[str, tuple[Stmt, ...]]]) -> tuple[m.Config, list[Diagnostic]]:
    """Build the typed model from parsed files.

    Args:
        parsed: ``(file name, statements)`` for every file of the tenant.

    Returns:
        The :class:`~kefu.dsl.model.Config` and the diagnostics found while binding.
    """
    binder = Binder()
    for _file, stmts in parsed:
        binder.bind_file(stmts)
    return binder.config, binder.diags
