"""``kefu check | fmt | test | simulate | plan``: the analyst's DSL commands.

Everything here is offline and needs no settings or database; ``plan --against`` compares two
sources. (Plan against the deployed version, apply and rollback are wired to the config-version
store by the platform.) Imports of kefu.dsl are lazy so that ``kefu check`` starts fast.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kefu.dsl.compiler import Result
    from kefu.runtime.ivr import Action, Collect, Event, LookupResult, Mode, Simulation

MODES = ("voice", "text", "touch")


def _compile(path: str) -> Result:
    from kefu.dsl.loader import compile_path

    try:
        return compile_path(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("check")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(path: str, as_json: bool, strict: bool) -> None:
    """Check a tenant directory (or one .kefu file) and report every problem."""
    result = _compile(path)
    if as_json:
        import json

        click.echo(json.dumps({"ok": result.ok, "hash": result.hash,
                               "diagnostics": [d.to_dict() for d in result.diagnostics]},
                              ensure_ascii=False, indent=2))
    else:
        if result.diagnostics:
            click.echo(result.render(), err=not result.ok)
        errors = len(result.errors)
        warnings = len(result.diagnostics) - errors
        if result.ok:
            click.echo(f"ok: {len(result.files)} file(s), {warnings} warning(s), "
                       f"{result.hash}")
        else:
            click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    if not result.ok or (strict and result.diagnostics):
        sys.exit(1)


@click.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--check", "check_only", is_flag=True,
              help="Do not write; exit 1 if a file is not formatted.")
@click.option("--diff", is_flag=True, help="Show what would change.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Rewrite .kefu files in the canonical layout (comments are kept)."""
    from kefu.dsl.diagnostics import render_all
    from kefu.dsl.formatter import format_source

    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.kefu")) if p.is_dir() else [p])
    changed = failed = 0
    for file in files:
        text = file.read_text(encoding="utf-8-sig")
        new, diags = format_source(text, str(file))
        if new is None:
            click.echo(render_all(diags, {str(file): text}), err=True)
            failed += 1
            continue
        if new == text:
            continue
        changed += 1
        if diff:
            import difflib

            click.echo("".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                    str(file), str(file))))
        if check_only:
            click.echo(f"would reformat {file}")
        else:
            file.write_text(new, encoding="utf-8")
            click.echo(f"reformatted {file}")
    if failed or (check_only and changed):
        sys.exit(1)


@click.command("test")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("-v", "--verbose", is_flag=True, help="Show the events of every test.")
def test(path: str, verbose: bool) -> None:
    """Run a tenant's flow tests (tests/*.kefu) offline on the IVR interpreter, on a virtual
    clock."""
    from kefu.dsl.diagnostics import render_all
    from kefu.dsl.loader import read_tests
    from kefu.runtime.ivr.flowtests import run_tests

    result = _compile(path)
    if not result.ok:
        click.echo(result.render(), err=True)
        sys.exit(1)
    tests = read_tests(path)
    report = run_tests(result, tests)
    for outcome in report.outcomes:
        click.echo(f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.file}: {outcome.name}")
        if verbose or not outcome.passed:
            for ev in outcome.events:
                if ev.kind != "step":
                    click.echo(f"        {ev}")
        for failure in outcome.failures:
            click.echo(failure.render(tests))
    if report.diagnostics:
        click.echo(render_all(report.diagnostics, tests), err=True)
    passed = sum(o.passed for o in report.outcomes)
    click.echo(f"{passed}/{len(report.outcomes)} tests passed")
    for flow, nodes in sorted(report.unexercised.items()):
        click.echo(f"flow {flow}: never exercised: {', '.join(nodes)}")
    if not report.ok:
        sys.exit(1)


_LABEL = 9  # width of the left column of a simulation transcript


def _line(label: str, text: str = "") -> None:
    click.echo(f"  {label:>{_LABEL}}  {text}".rstrip())


def _caller_event(raw: str, mode: Mode) -> Event | None:
    """What a line typed by the simulated caller means (None: silence, no input)."""
    from kefu.runtime.ivr import CallerHungUp, Digits, Mode, Speech, Text, Touch

    text = raw.strip()
    if text in ("", "silence"):
        return None
    if text == "/hangup":
        return CallerHungUp()
    words = text.removeprefix("say:").strip()
    if mode is Mode.TEXT:
        return Text(words)
    if mode is Mode.TOUCH:
        return Touch(words)
    if text.startswith("say:") or not all(c in "0123456789*#" for c in text):
        return Speech(words)
    return Digits(text)


def _heard(sim: Simulation, wav: str, obj: Any) -> Event | None:
    """Recognize a recording of the caller's answer as a call would: 8 kHz audio, the step's
    phrases as the grammar, the language of the last prompt (None: nobody spoke)."""
    from kefu.channels.speech.asr import RecognizerError
    from kefu.channels.speech.audio import AudioError, convert_file
    from kefu.platform.settings import load_settings
    from kefu.platform.speech import recognizer_for
    from kefu.runtime.ivr import actions as a

    said = [x for _, x in sim.log if isinstance(x, a.Say)]
    locales = sim.config.tenant.locales
    locale = said[-1].locale if said else (locales[0] if locales else "en")
    phrases = sim.collecting.phrases if sim.collecting is not None else ()
    try:
        recognizer = recognizer_for(obj.settings if obj is not None else load_settings())
        heard = recognizer.recognize(convert_file(wav), locale=locale, phrases=phrases)
    except (AudioError, RecognizerError) as exc:
        raise click.ClickException(f"wav:{wav}: {exc}") from None
    if heard is None:
        _line("heard", "(nothing: silence)")
        return None
    _line("heard", f"{heard.text or '?'} ({heard.kind.value}, confidence "
                   f"{heard.confidence:.2f})")
    return heard.to_ivr_event()


def _mocks(values: tuple[str, ...]) -> dict[str, LookupResult]:
    import json

    from kefu.runtime.ivr import LookupResult

    out: dict[str, LookupResult] = {}
    for value in values:
        name, sep, answer = value.partition("=")
        answer = answer.strip()
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: use HTTP=error, HTTP=timeout or "
                                     "HTTP='{\"field\": value}'", param_hint="--mock")
        if answer in ("ok", "error", "timeout"):
            out[name.strip()] = LookupResult(answer)
            continue
        try:
            record = json.loads(answer)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise click.BadParameter(f"{value!r}: the answer is error, timeout or a JSON "
                                     "object of fields", param_hint="--mock")
        out[name.strip()] = LookupResult("ok", record)
    return out


class _Transcript:
    """Prints a simulation's new actions as a caller-eye transcript."""

    def __init__(self, sim: Simulation, verbose: bool) -> None:
        self.sim = sim
        self.verbose = verbose
        self.shown = 0
        self.clock = sim.now

    def show(self) -> None:
        log = self.sim.log
        for when, action in log[self.shown:]:
            if when != self.clock:
                _line("clock", f"{when:%H:%M:%S} (+{_seconds(when - self.clock)})")
                self.clock = when
            self.action(action)
        self.shown = len(log)

    def action(self, x: Action) -> None:  # noqa: PLR0912 - one branch per action
        from kefu.runtime.ivr import actions as a

        if isinstance(x, a.Step):
            if self.verbose:
                _line("step", f"{x.flow}.{x.node}")
        elif isinstance(x, a.Say):
            _line("say", x.text)
        elif isinstance(x, a.Play):
            _line("play", x.audio)
        elif isinstance(x, a.Collect):
            self.collect(x)
        elif isinstance(x, a.Lookup):
            mocked = self.sim.host.lookups.get(x.http)
            answer = mocked.status if mocked is not None else "error (no --mock)"
            _line("lookup", f"{x.http}: {x.method} {x.url} -> {answer}")
        elif isinstance(x, a.Enqueue):
            hints = [f"priority {x.priority}"] if x.priority is not None else []
            hints += [f"team {x.team}"] if x.team else []
            _line("queue", x.queue + (f" ({', '.join(hints)})" if hints else ""))
        elif isinstance(x, a.Transfer):
            _line("transfer", x.number)
        elif isinstance(x, a.Record):
            _line("voicemail", f"{x.box} (recording after the tone)")
        elif isinstance(x, a.CreateTicket):
            fields = ", ".join(f"{k}={v}" for k, v in x.fields.items())
            _line("ticket", x.workflow + (f" ({fields})" if fields else ""))
        elif isinstance(x, a.SendMessage):
            _line("send", f"{x.channel} to {x.to or '?'}: {x.text}")
        elif isinstance(x, a.ScheduleCallback):
            _line("callback", f"{x.queue} calls back {x.number}")
        elif isinstance(x, a.ReturnToAgent):
            _line("return", x.target)
        elif isinstance(x, a.Hangup):
            _line("hangup")
        elif isinstance(x, a.Ended):
            _line("outcome", x.outcome + (f" ({x.detail})" if x.detail else ""))

    def collect(self, x: Collect) -> None:
        from kefu.runtime.ivr import Mode

        if x.choices:
            for i, line in enumerate(x.text_menu().splitlines()):
                _line("menu" if i == 0 else "", line)
        ways = []
        digits = None
        if x.dtmf is not None:
            lo, hi = x.dtmf
            digits = (f"{lo} digit{'s' if hi > 1 else ''}" if lo == hi
                      else f"{lo}-{hi} digits")
        if x.mode is Mode.VOICE:
            ways += [f"keys ({digits})"] if digits else []
            ways += ["words"] if x.speech else []
        elif x.mode is Mode.TEXT:
            ways.append(f"a reply ({digits})" if digits and not x.choices else "a reply")
        else:
            ways.append("a button" if x.choices else "a typed value")
        _line("answer", f"{' or '.join(ways)}; no input after {x.timeout}s")


def _seconds(delta: dt.timedelta) -> str:
    total = int(delta.total_seconds())
    minutes, seconds = divmod(total, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@click.command("simulate")
@click.argument("path", type=click.Path(exists=True))
@click.option("--flow", "flow_id", help="Flow to run (default: the first voice channel's).")
@click.option("--at", "at", default="2025-03-03T10:00", show_default=True,
              help="Virtual clock start (local time of the tenant).")
@click.option("--mode", type=click.Choice(MODES), default="voice",
              show_default=True,
              help="voice: keys and speech; text: chat messages; touch: kiosk buttons.")
@click.option("--caller", default="10000000000", show_default=True,
              help="The caller's number (caller.number).")
@click.option("--agents", type=click.Choice(["ready", "busy", "none"]), default="ready",
              show_default=True,
              help="Queues: an agent answers, the queue times out, or nobody is logged in.")
@click.option("--mock", "mocks", multiple=True, metavar="HTTP=ANSWER",
              help="Answer a lookup offline: HTTP=error, HTTP=timeout or "
                   "HTTP='{\"field\": value}'. Lookups without one fail.")
@click.option("--input", "inputs", multiple=True,
              help="Scripted inputs, used before standard input: keys, 'say:<words>', "
                   "'wav:<file>' (a recording of the caller's answer, recognized with the "
                   "step's phrases) or 'silence'.")
@click.option("-v", "--verbose", is_flag=True, help="Also show every step entered.")
@click.pass_obj
def simulate(obj: Any, path: str, flow_id: str | None, at: str, mode: str,  # noqa: PLR0917
             caller: str, agents: str, mocks: tuple[str, ...], inputs: tuple[str, ...],
             verbose: bool) -> None:
    """Walk through a flow as a caller would, on the IVR interpreter and a virtual clock.

    Prints what the caller hears and the menu choices, then reads the caller's answers: one
    line each from --input, then from standard input (keys such as 1 or 12345678, or words;
    wav:FILE for a recording of the answer, recognized by the speech models of the settings;
    an empty line is silence, so the clock runs to the no-input timeout; /hangup or the end
    of input hangs up). Ends with the flow's outcome.
    """
    from kefu.runtime.ivr import Host, Mode, Simulation

    result = _compile(path)
    if result.ir is None:
        click.echo(result.render(), err=True)
        sys.exit(1)
    config = result.ir
    if flow_id is None:
        flow_id = next((c.flow for c in config.channels if c.kind == "voice" and c.flow),
                       config.flows[0].id if config.flows else None)
    if flow_id is None or flow_id not in {f.id for f in config.flows}:
        raise click.ClickException(f"no flow {flow_id!r}")
    try:
        start = dt.datetime.fromisoformat(at)
    except ValueError:
        raise click.BadParameter(f"{at!r} is not a date and time such as 2025-03-03T10:00",
                                 param_hint="--at") from None
    host = Host(lookups=_mocks(mocks), agents=agents)
    sim = Simulation(config, flow_id, start, mode=Mode(mode), host=host, trace=True)
    _line("flow", f"{flow_id} ({mode}), virtual clock {start:%a %Y-%m-%d %H:%M}")
    transcript = _Transcript(sim, verbose)
    sim.start(variables={"caller": {"number": caller}})
    transcript.show()
    _converse(sim, transcript, list(inputs), obj)
    if not sim.ended:
        _line("", "(the flow waits for something the simulator cannot answer)")


def _converse(sim: Simulation, transcript: _Transcript, scripted: list[str],
              obj: Any = None) -> None:
    """Feed the caller's lines (``scripted`` first, then standard input) until the end."""
    from kefu.runtime.ivr import CallerHungUp

    stdin = sys.stdin
    typing = stdin.isatty()
    if typing:
        click.echo("  (type keys or words; an empty line is silence; /hangup or Ctrl-D "
                   "hangs up)")
    while not sim.ended and sim.collecting is not None:
        echo = bool(scripted) or not typing
        if scripted:
            raw: str | None = scripted.pop(0)
        else:
            if typing:
                click.echo(f"  {'caller':>{_LABEL}}> ", nl=False)
            line = stdin.readline()
            raw = line.rstrip("\r\n") if line else None
        if echo:
            _line("caller", "(hangs up)" if raw is None else raw.strip() or "(silence)")
        if raw is not None and raw.strip().startswith("wav:"):
            event = _heard(sim, raw.strip().removeprefix("wav:").strip(), obj)
        else:
            event = CallerHungUp() if raw is None else _caller_event(raw, sim.mode)
        if event is None:
            sim.silence()
        else:
            sim.input(event)
        transcript.show()


@click.command("plan")
@click.argument("path", type=click.Path(exists=True))
@click.option("--against", "against", type=click.Path(exists=True),
              help="The other version (directory, file or IR .json) to compare with.")
@click.option("--tenant", "tenant_slug",
              help="Compare with the version deployed for this tenant (needs the database).")
@click.pass_context
def plan(ctx: click.Context, path: str, against: str | None, tenant_slug: str | None) -> None:
    """Show what changes between two versions of a tenant, in plain words."""
    from kefu.dsl import ir
    from kefu.dsl.plan import semantic_diff

    if (against is None) == (tenant_slug is None):
        raise click.UsageError("give either --against OTHER or --tenant SLUG")
    if tenant_slug is not None:
        _plan_against_deployed(ctx.obj.settings, path, tenant_slug)
        return
    assert against is not None

    def load(p: str) -> ir.Config:
        if p.endswith(".json"):
            return ir.from_json(Path(p).read_text(encoding="utf-8"))
        result = _compile(p)
        if result.ir is None:
            click.echo(result.render(), err=True)
            sys.exit(1)
        return result.ir

    old, new = load(against), load(path)
    changes = semantic_diff(old, new)
    if not changes:
        click.echo("no changes")
        return
    for line in changes:
        click.echo(f"  {line}")
    click.echo(f"{len(changes)} change(s): {ir.config_hash(old)} → {ir.config_hash(new)}")


def _plan_against_deployed(settings: object, path: str, slug: str) -> None:
    from kefu.dsl.loader import read_sources
    from kefu.platform.commands.configs import _tenant_session
    from kefu.platform.configs.services import ConfigService
    from kefu.platform.context import Platform

    files, _entry = read_sources(path)
    with Platform(settings) as platform:  # type: ignore[arg-type]
        db, _tenant = _tenant_session(platform, slug)
        with db:
            result, changes = ConfigService(db).plan(files)
    if result.diagnostics and result.status.value == "invalid":
        for d in result.diagnostics:
            click.echo(f"{d['file']}:{d['line']}:{d['column']}: {d['severity']}: "
                       f"{d['message']}", err=True)
        sys.exit(1)
    for line in changes:
        click.echo(f"  {line}")
    click.echo(f"{len(changes)} change(s) against {slug}'s deployed version"
               if changes else "no changes")


commands = [check, fmt, test, simulate, plan]


def main() -> None:  # pragma: no cover - `python -m kefu.platform.commands.dsl check …`
    group = click.Group("kefu-dsl", commands={c.name: c for c in commands if c.name})
    group()


if __name__ == "__main__":  # pragma: no cover
    main()
