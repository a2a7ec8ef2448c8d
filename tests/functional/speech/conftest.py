"""Fixtures for speech hosting tests: a platform whose jobs really run (the in-process runner
in the embedded pass; a real ``kefu worker`` child process on a queue of its own in the
production pass), with a prompt cache of its own and edge-tts made unreachable by setting."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kefu.platform.context import Platform

UNREACHABLE = "http://127.0.0.1:1"


@pytest.fixture(scope="session")
def prompt_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prompt-cache")


@pytest.fixture(scope="session")
def speech_platform(settings: Any, platform: Any, backend: str, redis_url: str,
                    prompt_cache: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    queue = f"kefu-speech-{uuid.uuid4().hex[:10]}"
    own = Platform(settings.with_overrides(jobs_queue=queue, prompt_cache_dir=prompt_cache,
                                           speech_edge_tts_proxy=UNREACHABLE),
                   engine=platform.engine)
    worker = None
    if backend == "production":
        from kefu.platform.jobs.testing import WorkerProcess

        worker = WorkerProcess({
            "KEFU_REDIS_URL": redis_url, "KEFU_DATABASE_URL": settings.database_url,
            "KEFU_JOBS_QUEUE": queue, "KEFU_DATA_DIR": str(tmp_path_factory.mktemp("worker")),
            "KEFU_PROMPT_CACHE_DIR": str(prompt_cache),
            "KEFU_SPEECH_EDGE_TTS_PROXY": UNREACHABLE,
            "KEFU_LOG_FORMAT": "text"}, tmp_path_factory.mktemp("log") / "worker.log").start()
    else:
        own.jobs.start()
    yield own
    own.jobs.close()
    if worker is not None:
        from kefu.platform.jobs.testing import purge_queue

        worker.stop()
        purge_queue(own.jobs.connection, queue)  # type: ignore[attr-defined]
    own.bus.close()


@pytest.fixture(scope="session")
def speech_app(speech_platform: Platform) -> Any:
    from kefu.platform.web.app import make_wsgi_app

    return make_wsgi_app(speech_platform)
