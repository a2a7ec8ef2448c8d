"""``/portal/config``: everything the agent portal renders, generated from the tenant's deployed
compiled config — forms (with the DSL's validation rules in a shape the browser checks with
the same rules), ticket workflows with the transitions the caller's roles allow, dispositions,
not-ready reasons, templates, queues, guided scripts and each channel's capabilities.

The deployed version is read from the database on every call (one indexed row), so a deploy
shows in the next call without a restart; the compiled IR of that version comes from the
config cache (versions are immutable).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.dsl import ir
from kefu.platform.configs.cache import ConfigCache, LoadedConfig
from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.runtime.capabilities import all_capabilities
from kefu.runtime.forms import pick_text

#: Operators a field's ``visible_when`` may use; the browser evaluates exactly these.
BROWSER_OPERATORS = frozenset({"var", "str", "num", "bool", "list", "not", "and", "or",
                               "==", "!=", "<", "<=", ">", ">=", "in"})


def deployed_now(db: Session, configs: ConfigCache, tenant_id: uuid.UUID) -> LoadedConfig | None:
    """The tenant's deployed config as the database says this moment (not as cached)."""
    version_id = db.scalar(sa.select(ConfigVersion.id).where(
        ConfigVersion.status == ConfigStatus.DEPLOYED)
        .order_by(ConfigVersion.version.desc()).limit(1))
    if version_id is None:
        return None
    return configs.for_version(tenant_id, version_id)


def texts(text: ir.Text | None) -> dict[str, str] | None:
    """A DSL text as ``{locale: text}`` (``""`` for text without a locale)."""
    return dict(text.texts) if text is not None else None


def condition(expr: Any) -> Any:
    """An IR condition as JSON (nested lists), or None. Raises ValueError for an operator
    outside :data:`BROWSER_OPERATORS` (the checker refuses those in a field's ``when``)."""
    if expr is None:
        return None
    if not isinstance(expr, tuple | list) or not expr:
        raise ValueError(f"not a condition: {expr!r}")
    op = expr[0]
    if op not in BROWSER_OPERATORS:
        raise ValueError(f"operator {op!r} cannot be evaluated in the browser")
    if op in ("var", "str", "num", "bool"):
        return [op, expr[1]]
    return [op, *(condition(e) for e in expr[1:])]


def field_out(fld: ir.Field, locale: str | None) -> dict[str, Any]:
    """One form field with its rules flattened for the browser.

    ``min``/``max`` bound a number (``range``), ``min_length``/``max_length`` the text
    (``length``); ``pattern`` is the DSL's regular expression; ``messages`` holds each rule's
    own message per locale and ``message`` the first of them in ``locale``.
    """
    out: dict[str, Any] = {
        "name": fld.id, "label": fld.label or fld.id, "type": fld.type,
        "section": fld.section, "required": False,
        "options": list(fld.choices) or None, "min": None, "max": None,
        "min_length": None, "max_length": None, "pattern": None,
        "messages": {}, "message": None, "visible_when": condition(fld.when),
    }
    for rule in fld.rules:
        if rule.kind == "required":
            out["required"] = bool(rule.value)
        elif rule.kind == "pattern":
            out["pattern"] = rule.value
        elif rule.kind == "range":
            out["min"], out["max"] = rule.value[0], rule.value[1]
        elif rule.kind == "length":
            out["min_length"], out["max_length"] = int(rule.value[0]), int(rule.value[1])
        if rule.message is not None:
            out["messages"][rule.kind] = texts(rule.message)
            if out["message"] is None:
                out["message"] = pick_text(rule.message, locale)
    return out


def form_out(form: ir.Form, locale: str | None) -> dict[str, Any]:
    """A form as sections of fields, in source order; fields outside any section come in a
    first section without a title."""
    titles = dict(form.sections)
    sections: list[dict[str, Any]] = []
    by_name: dict[str | None, dict[str, Any]] = {}
    for fld in form.fields:
        section = by_name.get(fld.section)
        if section is None:
            section = {"name": fld.section, "title": titles.get(fld.section or "") or None,
                       "fields": []}
            by_name[fld.section] = section
            sections.append(section)
        section["fields"].append(field_out(fld, locale))
    return {"name": form.id, "title": form.title or form.id, "sections": sections}


def workflow_out(wf: ir.Workflow, roles: frozenset[str]) -> dict[str, Any]:
    return {
        "name": wf.id, "title": wf.title or wf.id, "form": wf.form,
        "states": list(wf.states), "initial": wf.initial, "final": list(wf.finals),
        "transitions": [{
            "name": t.id, "from": list(t.sources), "to": t.target, "roles": list(t.roles),
            "auto_after_seconds": t.auto_after,
            "allowed_for_me": not t.roles or bool(roles & set(t.roles)),
        } for t in wf.transitions],
        "slas": [{"name": s.id, "from": s.start, "until": s.stop, "within_seconds": s.within}
                 for s in wf.slas],
    }


def named(items: tuple[ir.Named, ...]) -> list[dict[str, Any]]:
    return [{"code": n.id, "label": n.title or n.id} for n in items]


def script_out(script: ir.Script, locale: str | None) -> dict[str, Any]:
    return {
        "name": script.id, "title": script.title or script.id,
        "steps": [{"name": step.id, "title": step.title or step.id,
                   "text": pick_text(step.text, locale), "texts": texts(step.text),
                   "form": step.form, "next": list(step.next)} for step in script.steps],
    }


def portal_config(loaded: LoadedConfig | None, *, me: dict[str, Any], roles: frozenset[str],
                  locale: str | None = None) -> dict[str, Any]:
    """The ``/portal/config`` document for a caller with ``roles`` (platform roles and the
    config roles they hold), texts picked in ``locale`` (default: the tenant's first)."""
    capabilities = all_capabilities()
    if loaded is None:
        return {"tenant": None, "me": me, "forms": {}, "workflows": {}, "dispositions": [],
                "not_ready_reasons": [], "templates": [], "queues": [], "flows": [],
                "scripts": [],
                "customer_form": None, "capabilities": capabilities, "version": None,
                "version_number": None}
    config = loaded.config
    locale = locale or (config.tenant.locales[0] if config.tenant.locales else None)
    return {
        "tenant": {"id": config.tenant.id, "name": config.tenant.name or config.tenant.id,
                   "locales": list(config.tenant.locales), "timezone": config.tenant.timezone},
        "me": me,
        "forms": {f.id: form_out(f, locale) for f in config.forms},
        "workflows": {w.id: workflow_out(w, roles) for w in config.workflows},
        "dispositions": named(config.dispositions),
        "not_ready_reasons": named(config.not_ready),
        "templates": [{"name": p.id, "text": pick_text(ir.Text(p.texts), locale) or "",
                       "texts": dict(p.texts), "subject": dict(p.subject) or None}
                      for p in config.prompts if p.kind == "template"],
        "queues": [{"id": q.id, "title": q.title or q.id, "wrap_up_seconds": q.wrap_up or 0}
                   for q in config.queues],
        "flows": [{"id": f.id, "title": f.title or f.id} for f in config.flows],
        "scripts": [script_out(s, locale) for s in config.scripts],
        "customer_form": config.tenant.customer_form,
        "capabilities": capabilities,
        "version": str(loaded.version_id),
        "version_number": loaded.version,
    }
