"""Tenant config versions: storing DSL sources as numbered versions and deploying one.

Every version is immutable once stored; deploying one makes it the version new interactions
run on and supersedes the one deployed before (one deployed version per tenant)."""

from __future__ import annotations

import builtins
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.platform.configs.models import ConfigStatus, ConfigVersion
from kefu.platform.db import paginate, utcnow
from kefu.platform.jobs.api import JobQueue
from kefu.platform.tenancy.scope import current_tenant_id
from kefu.platform.tenancy.sequences import lock_in_tenant, next_in_tenant


class ConfigError(ValueError):
    """A request on config versions that cannot be carried out (the message says why)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def source_hash(files: dict[str, str]) -> str:
    """SHA-256 of the canonical JSON of the files (sorted keys, no spaces, UTF-8): the same
    files give the same hash whatever order they were sent in."""
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CheckResult:
    """What checking a config's sources decided: its status and what goes with it."""

    status: ConfigStatus
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    compiled: dict[str, Any] | None = None
    compiled_hash: str | None = None


# Deployable statuses: checked and compiled ones; a superseded version may be deployed again
# (rolling back).
_DEPLOYABLE = {ConfigStatus.VALID, ConfigStatus.SUPERSEDED, ConfigStatus.DEPLOYED}


def _hex(dsl_hash: str | None) -> str | None:
    """The DSL writes hashes as ``sha256:<hex>``; the column keeps the 64 hex digits."""
    return dsl_hash.removeprefix("sha256:") if dsl_hash else None


class ConfigService:
    def __init__(self, db: Session) -> None:
        self.db = db

    def list(self, *, status: ConfigStatus | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[ConfigVersion], int]:
        """Newest version first."""
        query = sa.select(ConfigVersion).order_by(ConfigVersion.version.desc())
        if status is not None:
            query = query.where(ConfigVersion.status == status)
        return paginate(self.db, query, limit, offset)

    def get(self, version_id: uuid.UUID) -> ConfigVersion | None:
        return self.db.get(ConfigVersion, version_id)

    def deployed(self) -> ConfigVersion | None:
        """The version new interactions run on, if any."""
        return self.db.scalar(sa.select(ConfigVersion).where(
            ConfigVersion.status == ConfigStatus.DEPLOYED)
            .order_by(ConfigVersion.version.desc()).limit(1))

    def check(self, files: dict[str, str]) -> CheckResult:
        """The one place a version's status is decided: the DSL compiler checks the files;
        with no errors the version is valid and keeps its compiled IR and hash, otherwise it
        is invalid and keeps every diagnostic (warnings are kept either way)."""
        from kefu.dsl.api import build

        built = build(files)
        if not built.ok or built.ir_json is None:
            return CheckResult(ConfigStatus.INVALID, diagnostics=built.diagnostics)
        return CheckResult(ConfigStatus.VALID, diagnostics=built.diagnostics,
                           compiled=json.loads(built.ir_json), compiled_hash=_hex(built.hash))

    # ``builtins.list``: inside this class ``list`` names the method above.
    def plan(self, files: dict[str, str]) -> tuple[CheckResult, builtins.list[str]]:
        """What deploying ``files`` would change against the deployed version, in words an
        analyst reads ("queue repair: strategy round-robin → longest-idle")."""
        from kefu.dsl.api import plan

        deployed = self.deployed()
        deployed_json = (json.dumps(deployed.compiled)
                         if deployed is not None and deployed.compiled is not None else None)
        built, changes = plan(deployed_json, files)
        if not built.ok or built.ir_json is None:
            return CheckResult(ConfigStatus.INVALID, diagnostics=built.diagnostics), []
        return CheckResult(ConfigStatus.VALID, diagnostics=built.diagnostics,
                           compiled_hash=_hex(built.hash)), changes

    def store(self, files: dict[str, str], message: str,
              author_user_id: uuid.UUID | None) -> ConfigVersion:
        """Store the files as the tenant's next version, checked by ``check``."""
        result = self.check(files)
        version = ConfigVersion(
            source=dict(files), source_hash=source_hash(files), message=message,
            author_user_id=author_user_id, status=result.status,
            diagnostics=result.diagnostics, compiled=result.compiled,
            compiled_hash=result.compiled_hash,
        )
        version.version = next_in_tenant(self.db, ConfigVersion.version, "config_versions")
        self.db.add(version)
        self.db.flush()
        return version

    def deploy(self, version_id: uuid.UUID, *, jobs: JobQueue | None = None
               ) -> tuple[ConfigVersion, Sequence[int]] | None:
        """Deploy a version: returns it with the numbers of the versions it superseded, or
        None when there is no such version. Deploying the deployed version changes nothing.
        Raises ConfigError for a version whose status does not allow deploying. With
        ``jobs``, the version's static prompts are synthesized ahead by a job queued after
        the commit (``kefu.platform.speech.jobs``)."""
        version = self.get(version_id)
        if version is None:
            return None
        if version.status not in _DEPLOYABLE:
            raise ConfigError("status", f"version {version.version} is {version.status.value} "
                                        "and cannot be deployed; fix its diagnostics first")
        if version.status == ConfigStatus.DEPLOYED:
            return version, []
        # Two deployments of a tenant must not both leave their version deployed: take the
        # tenant's lock (PostgreSQL), then write before reading anything else (SQLite takes its
        # write lock at the first write), superseding whatever is deployed now.
        lock_in_tenant(self.db, "config_versions")
        superseded = self.db.execute(
            sa.update(ConfigVersion)
            .where(ConfigVersion.status == ConfigStatus.DEPLOYED, ConfigVersion.id != version.id)
            .values(status=ConfigStatus.SUPERSEDED)
            .returning(ConfigVersion.version)).scalars().all()
        version.status = ConfigStatus.DEPLOYED
        version.deployed_at = utcnow()
        self.db.flush()
        self._bind_channels(version)
        if jobs is not None:
            self._presynthesize(version, jobs)
        return version, sorted(superseded)

    def _presynthesize(self, version: ConfigVersion, jobs: JobQueue) -> None:
        """Queue the job that puts the version's prompts into the prompt cache (a rollback
        queues it again: prompts still cached are skipped)."""
        from kefu.platform.jobs import enqueue_after_commit
        from kefu.platform.speech.jobs import presynthesize_prompts

        tenant_id = current_tenant_id(self.db)
        if tenant_id is None:
            raise RuntimeError("deploy needs a tenant-scoped session")
        enqueue_after_commit(self.db, jobs, presynthesize_prompts, str(tenant_id),
                             str(version.id))

    def _bind_channels(self, version: ConfigVersion) -> None:
        """Point the config's channel addresses at this tenant (inbound mail, SMS and chat
        find their tenant by them)."""
        from kefu.platform.messaging.bindings import sync_bindings

        tenant_id = current_tenant_id(self.db)
        if tenant_id is None:
            raise RuntimeError("deploy needs a tenant-scoped session")
        channels = (version.compiled or {}).get("channels") or []
        sync_bindings(self.db, tenant_id, [(c["kind"], c["address"], c.get("flow"))
                                           for c in channels])
