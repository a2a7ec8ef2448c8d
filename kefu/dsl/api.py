"""The small, stable surface the platform (plan/apply/rollback, the JSON API, `kefu serve`)
calls. Everything here is pure: sources in, values out.

* :func:`build` — compile ``{file: text}``; gives the IR, its canonical JSON, its hash and the
  diagnostics as dicts and as rendered text. Store ``sources``, ``ir_json`` and ``hash`` with a
  config version; :func:`load_ir` turns stored JSON back into the runtime IR.
* :func:`plan` — the analyst-language diff between a stored version and candidate sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kefu.dsl import ir
from kefu.dsl.compiler import compile_sources
from kefu.dsl.plan import semantic_diff


@dataclass(frozen=True)
class Build:
    """The outcome of compiling one tenant's sources."""

    ok: bool
    ir: ir.Config | None
    ir_json: str | None
    hash: str | None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    report: str = ""
    source_map: dict[str, str] = field(default_factory=dict)


def build(sources: dict[str, str], entry: str | None = None) -> Build:
    """Compile a tenant.

    Args:
        sources: ``{file name: text}``; the entry is ``tenant.kefu`` when present.
        entry: another entry file name, if any.

    Returns:
        A :class:`Build`; ``ok`` is False (and ``ir`` None) when there are errors. Never raises
        for bad input.
    """
    result = compile_sources(sources, entry)
    return Build(
        ok=result.ok,
        ir=result.ir,
        ir_json=ir.to_json(result.ir) if result.ir is not None else None,
        hash=result.hash,
        diagnostics=[d.to_dict() for d in result.diagnostics],
        report=result.render(),
        source_map=result.source_map,
    )


def load_ir(ir_json: str) -> ir.Config:
    """The runtime IR from stored JSON. Raises ValueError for another IR version."""
    return ir.from_json(ir_json)


def plan(deployed_ir_json: str | None, sources: dict[str, str]) -> tuple[Build, list[str]]:
    """What applying ``sources`` would change compared with the deployed version.

    Returns:
        ``(build, changes)``; ``changes`` is empty when the build failed or nothing changes.
        Lines starting with ``BREAKING:`` need care (e.g. a removed workflow state).
    """
    new = build(sources)
    if new.ir is None:
        return new, []
    if deployed_ir_json is None:
        return new, ["first version: everything is new"]
    return new, semantic_diff(load_ir(deployed_ir_json), new.ir)
