"""Shared helpers for the DSL tests."""

from __future__ import annotations

from pathlib import Path

import pytest

TENANTS_DIR = Path(__file__).parents[3] / "tenants"
TENANT_DIRS = sorted(p for p in TENANTS_DIR.iterdir() if (p / "tenant.kefu").exists())


@pytest.fixture(params=TENANT_DIRS, ids=lambda p: p.name)
def tenant_dir(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path
