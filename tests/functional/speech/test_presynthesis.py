"""Deploying a config version synthesizes its static prompts ahead, as a background job (the
in-process runner embedded, an RQ worker in production), with the tenant's engine choice
and the offline engine when edge-tts is unreachable."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from kefu.channels.speech.audio import read_wav
from kefu.dsl.api import load_ir
from kefu.platform.context import Platform
from kefu.platform.identity.models import Role
from kefu.platform.jobs import JobContext
from kefu.platform.speech import static_prompts, synthesizer_for
from kefu.platform.speech.jobs import presynthesize_prompts
from tests.factories import Factory, TokenClient
from tests.waiting import wait_until

CONFIG = """\
tenant gas {
  name "Gas"
  locales zh_CN, en_US
}
speech {
  tts edge "zh-CN-XiaoxiaoNeural" for zh_CN    # preferred, but the network is unreachable
  tts espeak for en_US
}
prompt welcome {
  zh_CN "您好,欢迎致电港湾燃气。"
  en_US "Welcome to Harbour Gas."
}
prompt sorry {
  zh_CN "抱歉,没有听清。"
  en_US "Sorry, I did not catch that."
}
prompt press {
  zh_CN "订气请按1。"
  en_US "For gas press 1."
}
prompt balance {
  zh_CN "您的余额为{caller.number}元。"
  en_US "Your balance is {caller.number}."
}
prompt goodbye {
  zh_CN "再见。"
  en_US "Goodbye."
}
channel voice "95598" -> main
flow main {
  on noinput 3 -> bye
  on nomatch 3 -> bye
  say hello welcome
  menu choice {
    prompt press
    option 1, "订气" -> balance
    on nomatch reprompt sorry
  }
  say balance balance
  hangup bye goodbye
}
"""


def deploy(app: Any, factory: Factory, files: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    tenant = factory.tenant()
    admin = factory.user(tenant, Role.ADMIN)
    client = TokenClient(app, factory.token(admin, tenant))
    version = client.api("POST", "/configs", {"files": files, "message": "speech"},
                         status=201).json
    assert version["status"] == "valid", version
    client.api("POST", f"/configs/{version['id']}/deploy", status=200)
    return tenant, version


def compiled(platform: Platform, tenant: Any, version_id: str) -> Any:
    from kefu.platform.configs.models import ConfigVersion
    from kefu.platform.tenancy.scope import bind_tenant

    with platform.session() as db:
        bind_tenant(db, tenant.id)
        row = db.get(ConfigVersion, uuid.UUID(version_id))
        assert row is not None
        return load_ir(json.dumps(row.compiled))


def test_deploy_synthesizes_static_prompts(speech_platform: Platform, speech_app: Any,
                                           factory: Factory, prompt_cache: Path) -> None:
    files = {"tenant.kefu": CONFIG}
    tenant, version = deploy(speech_app, factory, files)
    config = compiled(speech_platform, tenant, version["id"])
    prompts = static_prompts(config)
    texts = {text for text, _ in prompts}
    # named prompts, step prompts, reprompts and goodbyes in both languages; not the
    # balance, which depends on the call
    assert {"您好,欢迎致电港湾燃气。", "Welcome to Harbour Gas.", "订气请按1。", "For gas press 1.",
            "抱歉,没有听清。", "Sorry, I did not catch that.", "再见。", "Goodbye."} <= texts
    assert not any("{" in text for text in texts)

    synthesizer = synthesizer_for(speech_platform.settings, config)

    def all_cached() -> list[Path] | None:
        found = [synthesizer.cached(text, locale=locale) for text, locale in prompts]
        return found if all(found) else None  # type: ignore[return-value]

    paths = wait_until(all_cached, "the deploy job to synthesize every static prompt")
    for path in paths:
        assert path.is_relative_to(prompt_cache)
        assert path.parts[-3] == "espeak"  # edge-tts was unreachable
        assert read_wav(path).seconds > 0.3
    # a call of the new version gets them from the cache: nothing left to synthesize
    for text, locale in prompts:
        synthesizer.prompt_sync(text, locale=locale)
    assert not synthesizer.synthesized


def test_the_job_reads_only_its_tenants_version(speech_platform: Platform, speech_app: Any,
                                                 factory: Factory) -> None:
    _tenant, version = deploy(speech_app, factory, {"tenant.kefu": CONFIG})
    other = factory.tenant()
    ctx = JobContext(settings=speech_platform.settings, job_id="t", job_name="t", attempt=1,
                     max_attempts=1, session_factory=speech_platform.session_factory)
    assert presynthesize_prompts(ctx, str(other.id), version["id"]) == {"status": "gone"}


def test_the_job_reports_what_it_did(speech_platform: Platform, speech_app: Any,
                                     factory: Factory) -> None:
    tenant, version = deploy(speech_app, factory, {"tenant.kefu": CONFIG})
    ctx = JobContext(settings=speech_platform.settings, job_id="t", job_name="t", attempt=1,
                     max_attempts=1, session_factory=speech_platform.session_factory)
    prompts = static_prompts(compiled(speech_platform, tenant, version["id"]))
    result = presynthesize_prompts(ctx, str(tenant.id), version["id"])
    # the deploy's own job may have run first; together they synthesized each prompt once
    assert result["prompts"] == len(prompts)
    assert result["synthesized"] + result["cached"] == len(prompts)
    assert result["failed"] == []
