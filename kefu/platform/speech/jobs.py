"""The deploy-time job: synthesize a config version's static prompts into the prompt cache.

``ConfigService.deploy(…, jobs=queue)`` enqueues :func:`presynthesize_prompts` once per
deployed version, after the deploy commits; it runs on the in-process runner (``kefu
serve``) or an RQ worker (``kefu worker``). Calls of the new version then find their fixed
prompts already synthesized; a prompt the job has not reached yet is synthesized when said.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from kefu.platform.jobs import JobContext, job
from kefu.platform.tenancy.scope import bind_tenant

log = logging.getLogger(__name__)


@job(retries=2, retry_delays=[10, 60], timeout=1800)
def presynthesize_prompts(ctx: JobContext, tenant_id: str, version_id: str) -> dict[str, Any]:
    """Synthesize every static prompt of the tenant's config version (see
    :func:`kefu.platform.speech.static_prompts`) with the tenant's engines and voices.

    Returns:
        ``{"prompts": n, "synthesized": n, "cached": n, "failed": [text…], "engines":
        {engine: n}}``; ``{"status": "gone"}`` when the version no longer exists.
    """
    import json

    from kefu.channels.speech.tts import SpeechError
    from kefu.dsl.api import load_ir
    from kefu.platform.configs.models import ConfigVersion
    from kefu.platform.speech import static_prompts, synthesizer_for

    with ctx.session() as db:
        bind_tenant(db, uuid.UUID(tenant_id))
        row = db.get(ConfigVersion, uuid.UUID(version_id))  # another tenant's: not found
        if row is None or row.compiled is None:
            return {"status": "gone"}
        config = load_ir(json.dumps(row.compiled))
    synthesizer = synthesizer_for(ctx.settings, config)
    prompts = static_prompts(config)
    cached = 0
    failed: list[str] = []
    for text, locale in prompts:
        if synthesizer.cached(text, locale=locale) is not None:
            cached += 1
            continue
        try:
            synthesizer.prompt_sync(text, locale=locale)
        except SpeechError as exc:
            # One prompt that cannot be spoken must not keep the others from the cache; it
            # is tried again when a call says it.
            log.warning("prompt %r (%s) of config %s not synthesized: %s", text[:40], locale,
                        version_id, exc)
            failed.append(text)
    synthesized = sum(synthesizer.synthesized.values())
    log.info("config %s: %d prompt(s), %d synthesized, %d already cached, %d failed",
             version_id, len(prompts), synthesized, cached, len(failed))
    return {"prompts": len(prompts), "synthesized": synthesized, "cached": cached,
            "failed": failed, "engines": dict(synthesizer.synthesized)}
