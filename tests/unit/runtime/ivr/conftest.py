"""Shared configs for the IVR interpreter tests: the lab tenant beside this file and the
example tenants."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pytest

from kefu.dsl import ir
from kefu.dsl.compiler import compile_sources
from kefu.dsl.loader import compile_path

HERE = Path(__file__).parent
TENANTS_DIR = Path(__file__).parents[4] / "tenants"
TENANT_DIRS = sorted(p for p in TENANTS_DIR.iterdir() if (p / "tenant.kefu").exists())


def local(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    """A naive datetime: the interpreter reads it as the tenant's local wall-clock time."""
    return dt.datetime(year, month, day, hour, minute)  # noqa: DTZ001 - naive on purpose


MONDAY_10 = local(2025, 3, 3, 10, 0)  # the office is open
SUNDAY_10 = local(2025, 3, 2, 10, 0)  # closed


@functools.cache
def tenant(name: str) -> ir.Config:
    """The compiled example tenant ``name`` (cached)."""
    result = compile_path(TENANTS_DIR / name)
    assert result.ir is not None
    return result.ir


@functools.cache
def lab_config() -> ir.Config:
    result = compile_sources({"tenant.kefu": (HERE / "lab.kefu").read_text(encoding="utf-8")})
    assert result.ir is not None, result.diagnostics
    return result.ir


@pytest.fixture
def lab() -> ir.Config:
    return lab_config()
