"""The kefu DSL: one text source of truth for a tenant's whole contact center.

Pure pipeline (no I/O except :mod:`kefu.dsl.loader`, no database, nothing from the rest of
kefu)::

    text ──syntax.parse──▶ statements + comments (lossless) ──binder──▶ typed model
         ──checker──▶ diagnostics ──compiler──▶ ir.Config (frozen, versioned, JSON, hashed)

Public API (import the submodules; this package imports nothing heavy at start-up):

* ``kefu.dsl.compiler.compile_sources({file: text}) -> Result`` (``.ir``, ``.diagnostics``,
  ``.hash``, ``.render()``); ``check_sources`` for diagnostics only;
* ``kefu.dsl.loader.read_sources(dir)`` / ``compile_path(dir)``;
* ``kefu.dsl.ir.to_json`` / ``from_json`` / ``config_hash``;
* ``kefu.dsl.formatter.format_source(text)``;
* ``kefu.dsl.plan.semantic_diff(old_ir, new_ir) -> list[str]``;
* ``kefu.dsl.lossless`` for surgical edits (the designer).
"""
