"""Measured parse, check and compile times of the kefu DSL (figures, never asserts).

    .venv/bin/python benchmarks/dsl.py [--lines 20000]

Prints, for each example tenant and for a generated config of about 20,000 lines: parse time
(Lark LALR + statement tree), check time (schema binding + semantic checks), compile time (IR
and hash), best of 5 runs on one core; then the wall time of `kefu check tenants/demo` as a
fresh process, including interpreter start-up. Target: generated config check+compile ≤ 2 s;
`kefu check` on an example ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kefu.dsl import ir  # noqa: E402
from kefu.dsl.binder import Binder  # noqa: E402
from kefu.dsl.checker import check  # noqa: E402
from kefu.dsl.compiler import Compiler  # noqa: E402
from kefu.dsl.loader import read_sources  # noqa: E402
from kefu.dsl.syntax import get_parser, parse  # noqa: E402


def generate(lines: int) -> str:
    """A valid tenant of roughly ``lines`` lines: many flows, queues, teams, forms."""
    out = ['tenant bench {', '  name "生成的压力测试租户"', "  locales zh_CN",
           '  timezone "Asia/Shanghai"', "  calendar 营业时间", "}",
           "calendar 营业时间 {", "  open 周一..周五 08:00-18:00", "  open 周六 09:00-12:00",
           '  holiday 2025-10-01..2025-10-07 "国庆"', "}", "skill 业务 levels 1..5",
           "team 甲组 {", "  skill 业务 5", "}"]
    i = 0
    while len(out) < lines:
        out += [
            f'channel voice "9{i:06d}" -> 流程{i}',
            f"queue 队列{i} {{", "  strategy longest_idle", "  require 业务 >= 2",
            "  after 60s relax 业务 >= 1", "  max_wait 3m", "}",
            f'form 表单{i} "登记" {{', '  field 号码 account "号码" {', '    pattern "^\\d{8}$"',
            "  }", "}",
            f'flow 流程{i} "第{i}号流程" {{', "  on noinput 3 -> 人工", "  on nomatch 3 -> 人工",
            "  branch 时间 {", "    when open(营业时间) -> 欢迎", "    otherwise -> 留言", "  }",
            f'  say 欢迎 "欢迎致电,这是第{i}号热线。"',
            "  menu 菜单 {", '    prompt "查询请按1,人工请按0。"', '    option 1, "查询" -> 号码',
            '    option 0, "人工" -> 人工', "    on noinput reprompt", "    on nomatch reprompt",
            "  }",
            "  ask 号码 {", '    prompt "请输入8位号码。"', "    dtmf 8",
            f"    validate 表单{i}.号码",
            "    on noinput reprompt", "    on nomatch reprompt", "  }",
            '  say 结果 "您输入的号码是{号码}。" -> 人工',
            f"  enqueue 人工 队列{i} {{", "    on timeout -> 留言", "  }",
            '  voicemail 留言 "请留言。"', "}", ""]
        i += 1
    return "\n".join(out) + "\n"


def best(fn, runs: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Best CPU time of ``runs`` runs (process time: the machine may be shared, and CPU time
    on one core is what the target is about)."""
    result = None
    times = []
    for _ in range(runs):
        t = time.process_time()
        result = fn()
        times.append(time.process_time() - t)
    return min(times), result


def measure(name: str, sources: dict[str, str]) -> None:
    lines = sum(t.count("\n") for t in sources.values())
    t_parse, parsed = best(lambda: [(f, parse(t, f)) for f, t in sources.items()])

    def bind_and_check():  # type: ignore[no-untyped-def]
        binder = Binder()
        for _f, pf in parsed:  # type: ignore[union-attr]
            binder.bind_file(pf.stmts)
        diags = binder.diags + check(binder.config)
        return binder.config, diags

    t_check, (config, diags) = best(bind_and_check)  # type: ignore[misc]
    errors = [d for d in diags if d.is_error]
    assert not errors, errors[:3]
    t_compile, compiled = best(lambda: ir.config_hash(Compiler(config).run()))
    total = t_parse + t_check + t_compile
    print(f"{name:<22} {lines:>7} lines  parse {t_parse * 1000:8.1f} ms  check "
          f"{t_check * 1000:7.1f} ms  compile {t_compile * 1000:7.1f} ms  total "
          f"{total * 1000:8.1f} ms  ({lines / total:,.0f} lines/s)")
    del compiled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=20_000)
    args = ap.parse_args()
    t = time.perf_counter()
    get_parser()
    print(f"parser construction (Lark cache): {(time.perf_counter() - t) * 1000:.1f} ms")
    for tenant in sorted((ROOT / "tenants").iterdir()):
        if (tenant / "tenant.kefu").exists():
            sources, _ = read_sources(tenant)
            measure(tenant.name, sources)
    measure("generated", {"tenant.kefu": generate(args.lines)})
    for label, cmd in (
        ("kefu check (full CLI)", [str(ROOT / ".venv/bin/kefu"), "check",
                                   str(ROOT / "tenants/demo")]),
        ("dsl commands only", [sys.executable, "-m", "kefu.platform.commands.dsl", "check",
                               str(ROOT / "tenants/demo")]),
    ):
        walls = []
        cpus = []
        for _ in range(5):
            t = time.perf_counter()
            before = os.times()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            after = os.times()
            walls.append(time.perf_counter() - t)
            cpus.append((after.children_user - before.children_user)
                        + (after.children_system - before.children_system))
        print(f"{label:<24} wall {min(walls) * 1000:7.1f} ms, CPU {min(cpus) * 1000:7.1f} ms "
              "(best of 5, fresh process)")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
