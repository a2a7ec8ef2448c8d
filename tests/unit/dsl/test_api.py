"""The platform-facing API: build, load_ir, plan."""

from __future__ import annotations

from pathlib import Path

from kefu.dsl import api
from kefu.dsl.loader import read_sources

DEMO = Path(__file__).parents[3] / "tenants" / "demo"


def test_build_store_and_reload() -> None:
    sources, _ = read_sources(DEMO)
    built = api.build(sources)
    assert built.ok
    assert built.ir_json is not None
    assert built.hash is not None
    assert api.load_ir(built.ir_json) == built.ir
    assert built.source_map["flow/main/welcome"].startswith("tenant.kefu:")


def test_build_reports_errors_without_raising() -> None:
    built = api.build({"tenant.kefu": "tenant t {\n  locales zh_CN\n}\nqueue q {\n  x 1\n}\n"})
    assert not built.ok
    assert built.ir is None
    assert [d["code"] for d in built.diagnostics if d["severity"] == "error"] == ["E001"]
    assert "tenant.kefu:5:3" in built.report


def test_plan_against_a_stored_version() -> None:
    sources, _ = read_sources(DEMO)
    deployed = api.build(sources).ir_json
    changed = dict(sources)
    changed["people.kefu"] = changed["people.kefu"].replace("wrap_up 30s", "wrap_up 45s")
    _build, changes = api.plan(deployed, changed)
    assert changes == ["queue general_q: wrap up 30 → 45"]
    _build, first = api.plan(None, sources)
    assert first == ["first version: everything is new"]
