"""The IR: frozen, JSON round trip, stable hash, independent of definition order."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kefu.dsl import ir
from kefu.dsl.compiler import compile_sources
from kefu.dsl.loader import compile_path, read_sources


def test_json_round_trip(tenant_dir: Path) -> None:
    config = compile_path(tenant_dir).ir
    assert config is not None
    text = ir.to_json(config)
    back = ir.from_json(text)
    assert back == config
    assert ir.to_json(back) == text
    json.loads(text)  # plain JSON


def test_hash_is_byte_identical_across_compilations(tenant_dir: Path) -> None:
    a = compile_path(tenant_dir)
    b = compile_path(tenant_dir)
    assert a.ir is not None
    assert b.ir is not None
    assert ir.to_json(a.ir).encode() == ir.to_json(b.ir).encode()
    assert a.hash == b.hash
    assert a.hash is not None
    assert a.hash.startswith("sha256:")


def test_reordering_definitions_and_reformatting_keeps_the_hash() -> None:
    sources, _ = read_sources(Path(__file__).parents[3] / "tenants" / "demo")
    original = compile_sources(sources).hash
    people = sources["people.kefu"]
    blocks = people.split("\n\n")
    shuffled = dict(sources, **{"people.kefu": "\n\n".join(reversed(blocks)) + "\n"})
    assert compile_sources(shuffled).hash == original
    changed = dict(sources, **{"people.kefu": people.replace("max_wait 3m", "max_wait 4m")})
    assert compile_sources(changed).hash != original


def test_ir_is_frozen() -> None:
    config = compile_path(Path(__file__).parents[3] / "tenants" / "demo").ir
    assert config is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tenant.id = "other"  # type: ignore[misc]


def test_compiled_flow_makes_fall_through_explicit() -> None:
    config = compile_path(Path(__file__).parents[3] / "tenants" / "demo").ir
    assert config is not None
    main = config.flow("main")
    assert main.start == "hours"
    assert main.node("welcome").next == "main_menu"
    assert main.node("lookup").exits == {"error": "operator", "timeout": "operator"}
    assert main.node("hours").branches[0].when == ("call", "open", ("cal", "office"))
    office = next(c for c in config.calendars if c.id == "office")
    assert office.weekly[0] == ((480, 1080),)
    assert office.weekly[6] == ()


def test_from_json_rejects_other_versions() -> None:
    with pytest.raises(ValueError, match="version"):
        ir.from_json('{"version": 999}')
