"""The `kefu check | fmt | test | simulate | plan` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from kefu.platform.commands import dsl as commands

DEMO = Path(__file__).parents[3] / "tenants" / "demo"


def test_check_ok_and_json() -> None:
    result = CliRunner().invoke(commands.check, [str(DEMO)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 3 file(s), 0 warning(s), sha256:")
    data = json.loads(CliRunner().invoke(commands.check, [str(DEMO), "--json"]).output)
    assert data["ok"] is True
    assert data["diagnostics"] == []


def test_check_reports_errors_with_carets(tmp_path: Path) -> None:
    bad = tmp_path / "tenant.kefu"
    bad.write_text("tenant t {\n  locales zh_CN\n}\nqueue q {\n  stratgy round_robin\n}\n",
                   encoding="utf-8")
    result = CliRunner().invoke(commands.check, [str(tmp_path)])
    assert result.exit_code == 1
    assert "tenant.kefu:5:3: error[E001]" in result.output
    assert "did you mean `strategy`?" in result.output
    assert "^^^^^^^" in result.output


def test_fmt_check_and_write(tmp_path: Path) -> None:
    file = tmp_path / "x.kefu"
    file.write_text("tenant   t { locales zh_CN }  # 注释\n", encoding="utf-8")
    assert CliRunner().invoke(commands.fmt, ["--check", str(file)]).exit_code == 1
    assert CliRunner().invoke(commands.fmt, [str(file)]).exit_code == 0
    assert file.read_text(encoding="utf-8") == "tenant t {\n  locales zh_CN  # 注释\n}\n"
    assert CliRunner().invoke(commands.fmt, ["--check", str(file)]).exit_code == 0


def test_flow_tests_and_coverage(tmp_path: Path) -> None:
    result = CliRunner().invoke(commands.test, [str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "10/10 tests passed" in result.output
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy)
    (copy / "tests" / "main.kefu").write_text(
        'test "only one" {\n  flow main\n  at 2025-03-03 22:00\n  expect hangup\n}\n',
        encoding="utf-8")
    result = CliRunner().invoke(commands.test, [str(copy)])
    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "0/1 tests passed" in result.output
    assert "flow main: never exercised: " in result.output


def test_simulate_prints_what_the_caller_hears() -> None:
    result = CliRunner().invoke(commands.simulate, [str(DEMO), "--input", "2"])
    assert result.exit_code == 0, result.output
    assert "Welcome to Acme Gas." in result.output
    assert "queue  emergency_q" in result.output


def test_plan_against_another_version(tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy)
    people = copy / "people.kefu"
    people.write_text(people.read_text(encoding="utf-8").replace("max_wait 3m", "max_wait 5m"),
                      encoding="utf-8")
    result = CliRunner().invoke(commands.plan, [str(copy), "--against", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "queue general_q: max wait 180 → 300" in result.output
    assert "1 change(s)" in result.output
