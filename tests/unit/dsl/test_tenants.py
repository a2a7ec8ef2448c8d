"""Every example tenant checks with no diagnostics and compiles. (Their flow tests run on the
IVR interpreter: ``tests/unit/runtime/ivr/test_tenants.py``.)"""

from __future__ import annotations

from pathlib import Path

from kefu.dsl.loader import compile_path, read_sources

TENANTS_DIR = Path(__file__).parents[3] / "tenants"
TENANT_DIRS = sorted(p for p in TENANTS_DIR.iterdir() if (p / "tenant.kefu").exists())


def test_there_are_five_example_tenants() -> None:
    assert {p.name for p in TENANT_DIRS} == {"demo", "gas", "property", "power95598", "telecom"}


def test_tenant_checks_clean_and_compiles(tenant_dir: Path) -> None:
    result = compile_path(tenant_dir)
    assert result.diagnostics == [], result.render()
    assert result.ir is not None
    sources, _entry = read_sources(tenant_dir)
    assert sorted(result.files) == sorted(sources), "every file is included from tenant.kefu"


def test_demo_is_english_and_the_others_chinese() -> None:
    demo = compile_path(TENANTS_DIR / "demo").ir
    assert demo is not None
    assert demo.tenant.locales == ("en",)
    for name in ("gas", "property", "power95598", "telecom"):
        config = compile_path(TENANTS_DIR / name).ir
        assert config is not None
        assert config.tenant.locales[0] == "zh_CN"
        assert any("\u4e00" <= ch <= "\u9fff" for f in config.flows for ch in f.id)
