"""Every flow of every example tenant runs on the interpreter: driven to an end by silence in
each presentation mode, and driven by the tenant's own flow tests (``kefu test``), which must
all pass and together reach every step."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.dsl.binder import Binder
from kefu.dsl.loader import compile_path, read_tests
from kefu.dsl.syntax import parse
from kefu.runtime.ivr import Host, Mode, run_script
from kefu.runtime.ivr.flowtests import run_tests

from .conftest import MONDAY_10, TENANT_DIRS, tenant

FLOWS = [(d.name, f.id) for d in TENANT_DIRS for f in tenant(d.name).flows]


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.value)
@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=[f"{n}-{f}" for n, f in FLOWS])
def test_every_flow_ends_when_the_caller_stays_silent(name: str, flow: str, mode: Mode) -> None:
    for agents in ("ready", "busy"):
        t = run_script(tenant(name), flow, [], MONDAY_10, mode=mode, until_end=True,
                       host=Host(agents=agents))
        assert t.outcome in {"completed", "answered", "transferred", "voicemail", "error"}


def test_every_tenant_ships_flow_tests() -> None:
    for d in TENANT_DIRS:
        tests = read_tests(d)
        binder = Binder()
        for file, text in tests.items():
            binder.bind_file(tuple(s for s in parse(text, file).stmts if s.keyword == "test"))
        assert len(binder.config.tests) >= 10, d.name


@pytest.mark.parametrize("tenant_dir", TENANT_DIRS, ids=lambda p: p.name)
def test_tenant_flow_tests_pass_and_cover_every_step(tenant_dir: Path) -> None:
    result = compile_path(tenant_dir)
    tests = read_tests(tenant_dir)
    report = run_tests(result, tests)
    assert report.diagnostics == []
    failed = [f.render(tests) for o in report.outcomes for f in o.failures]
    assert not failed, "\n".join(failed)
    assert len(report.outcomes) >= 10
    assert report.unexercised == {}
