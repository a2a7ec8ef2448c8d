"""/api/v1/configs: the tenant's config versions (DSL sources), numbered, immutable, one of
them deployed."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints
from pyramid.request import Request

from kefu.platform.api.context import audit_change
from kefu.platform.api.errors import Conflict, NotFound
from kefu.platform.api.framework import api
from kefu.platform.api.schemas import Body, Out, Query
from kefu.platform.configs.models import ConfigStatus
from kefu.platform.configs.services import ConfigError, ConfigService
from kefu.platform.identity.permissions import Permission

_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


def _filename(name: str) -> str:
    if len(name) > 200 or not _FILENAME.match(name) or ".." in name.split("/"):
        raise ValueError("a file name is a relative path of letters, digits, '_', '-', '.' "
                         "and '/', at most 200 characters")
    return name


Filename = Annotated[str, AfterValidator(_filename)]


class ConfigCreate(Body):
    # Sources are stored byte for byte: no stripping of their leading or trailing whitespace.
    model_config = ConfigDict(**{**Body.model_config, "str_strip_whitespace": False})

    files: dict[Filename, Annotated[str, Field(max_length=1_000_000)]] = Field(
        min_length=1, max_length=500,
        description='every file of the config: {"tenant.kefu": "...", "flows/a.kefu": "..."}')
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = Field(
        "", description="what changed, like a commit message")


class ConfigVersionOut(Out):
    """A version without its sources (lists)."""

    id: uuid.UUID
    version: int
    source_hash: str
    compiled_hash: str | None
    status: ConfigStatus
    message: str
    author_user_id: uuid.UUID | None
    created_at: datetime
    deployed_at: datetime | None


class ConfigVersionDetailOut(ConfigVersionOut):
    source: dict[str, str]
    diagnostics: list[Any]


class ConfigPlan(Body):
    model_config = ConfigDict(**{**Body.model_config, "str_strip_whitespace": False})

    files: dict[Filename, Annotated[str, Field(max_length=1_000_000)]] = Field(
        min_length=1, max_length=500, description="the config to compare with the deployed one")


class PlanOut(Out):
    ok: bool = Field(description="false when the files have errors (see diagnostics)")
    compiled_hash: str | None
    changes: list[str] = Field(description="what deploying would change, in plain words")
    diagnostics: list[Any]


class ConfigQuery(Query):
    status: ConfigStatus | None = None


def _load(request: Request, config_id: uuid.UUID) -> Any:
    version = ConfigService(request.db).get(config_id)
    if version is None:
        raise NotFound("config version")
    return version


@api("/configs", "GET", permission=Permission.CONFIGS_READ, tag="configs",
     summary="Config versions, newest first", query=ConfigQuery, response=ConfigVersionOut,
     list_response=True)
def list_configs(request: Request, query: ConfigQuery) -> Any:
    items, total = ConfigService(request.db).list(
        status=query.status, limit=query.limit, offset=query.offset)
    return [ConfigVersionOut.model_validate(v) for v in items], total


@api("/configs", "POST", permission=Permission.CONFIGS_WRITE, tag="configs",
     summary="Store a new config version (checked, not deployed)", body=ConfigCreate,
     response=ConfigVersionDetailOut, status=201)
def create_config(request: Request, body: ConfigCreate) -> ConfigVersionDetailOut:
    version = ConfigService(request.db).store(body.files, body.message,
                                              request.identity.user_id)
    audit_change(request, "config.store", version, version=version.version,
                 source_hash=version.source_hash, status=version.status.value)
    return ConfigVersionDetailOut.model_validate(version)


# Declared before /configs/{config_id} so that "plan" is not taken for a version id.
@api("/configs/plan", "POST", permission=Permission.CONFIGS_WRITE, tag="configs",
     summary="What deploying these files would change (stores nothing)", body=ConfigPlan,
     response=PlanOut)
def plan_config(request: Request, body: ConfigPlan) -> PlanOut:
    result, changes = ConfigService(request.db).plan(dict(body.files))
    return PlanOut(ok=result.status == ConfigStatus.VALID, compiled_hash=result.compiled_hash,
                   changes=changes, diagnostics=result.diagnostics)


@api("/configs/{config_id}", "GET", permission=Permission.CONFIGS_READ, tag="configs",
     summary="Get a config version with its sources and diagnostics",
     response=ConfigVersionDetailOut)
def get_config(request: Request, config_id: uuid.UUID) -> ConfigVersionDetailOut:
    return ConfigVersionDetailOut.model_validate(_load(request, config_id))


@api("/configs/{config_id}/deploy", "POST", permission=Permission.CONFIGS_DEPLOY,
     tag="configs", summary="Deploy a config version (the deployed one is superseded)",
     response=ConfigVersionOut)
def deploy_config(request: Request, config_id: uuid.UUID) -> ConfigVersionOut:
    try:
        result = ConfigService(request.db).deploy(config_id, jobs=request.platform.jobs)
    except ConfigError as exc:
        raise Conflict(str(exc), exc.field) from None
    if result is None:
        raise NotFound("config version")
    version, superseded = result
    audit_change(request, "config.deploy", version, version=version.version,
                 superseded=superseded)
    return ConfigVersionOut.model_validate(version)
