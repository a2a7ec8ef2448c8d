"""``kefu check | fmt | test | simulate | plan``: the analyst's DSL commands.

Everything here is offline and needs no settings or database; ``plan --against`` compares two
sources. (Plan against the deployed version, apply and rollback are wired to the config-version
store by the platform.) Imports of kefu.dsl are lazy so that ``kefu check`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kefu.dsl.compiler import Result


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
    """Run a tenant's flow tests (tests/*.kefu) offline on a virtual clock."""
    from kefu.dsl.diagnostics import render_all
    from kefu.dsl.flowtest import run_tests
    from kefu.dsl.loader import read_tests

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


@click.command("simulate")
@click.argument("path", type=click.Path(exists=True))
@click.option("--flow", "flow_id", help="Flow to run (default: the first voice channel's).")
@click.option("--at", "at", default="2025-03-03T10:00", show_default=True,
              help="Virtual clock start (local time of the tenant).")
@click.option("--input", "inputs", multiple=True,
              help="Scripted inputs: a digit string, 'say:<words>' or 'silence'.")
def simulate(path: str, flow_id: str | None, at: str, inputs: tuple[str, ...]) -> None:
    """Walk through a flow as a caller would, printing what the caller hears."""
    import datetime as dt

    from kefu.dsl.flowtest import Session, _Fail

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
    session = Session(config, config.flow(flow_id), dt.datetime.fromisoformat(at),
                      config.tenant.locales[0] if config.tenant.locales else "")
    session.vars["caller"] = {"number": "10000000000", "vip": False}
    session.strict_mocks = False  # offline: unmocked lookups take their `error` outcome
    shown = 0
    try:
        session.start()
        for raw in [*inputs, None]:
            for ev in session.events[shown:]:
                if ev.kind != "step":
                    click.echo(f"  {ev.kind:>9}  {ev.value}")
            shown = len(session.events)
            if raw is None or session.ended:
                break
            click.echo(f"  {'caller':>9}  {raw}")
            if raw == "silence":
                session.feed("noinput")
            elif raw.startswith("say:"):
                session.feed("speech", raw[4:])
            else:
                session.feed("dtmf", raw)
    except _Fail as fail:
        raise click.ClickException(fail.message) from None
    if session.waiting is not None:
        click.echo(f"  (waiting for input at {session.waiting.id})")


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
