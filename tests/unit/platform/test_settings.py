"""Settings: defaults, ini file, environment, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kefu.platform.settings import (
    SPECS,
    SettingsError,
    ensure_secret_key,
    load_settings,
    settings_reference_markdown,
)


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings(environ={})
    assert settings.embedded
    assert settings.redis_url is None
    assert settings.database_url == "sqlite:///var/kefu.sqlite3"
    assert settings["http.bind"] == "127.0.0.1"
    assert settings["http.port"] == 8080
    assert settings["recordings_dir"] == Path("var/recordings")
    assert settings["prompt_cache_dir"] == Path("var/prompt-cache")


def test_environment_beats_ini_beats_defaults(tmp_path: Path) -> None:
    ini = tmp_path / "kefu.ini"
    ini.write_text("[kefu]\nhttp.port = 9000\nsip.port = 5070\ndata_dir = /srv/kefu\n")
    settings = load_settings(ini, environ={"KEFU_HTTP_PORT": "9100",
                                           "KEFU_REDIS_URL": "redis://127.0.0.1:6379/1"})
    assert settings["http.port"] == 9100
    assert settings.sources["http.port"] == "environment KEFU_HTTP_PORT"
    assert settings["sip.port"] == 5070
    assert settings.sources["sip.port"] == str(ini)
    assert settings.database_url == "sqlite:////srv/kefu/kefu.sqlite3"
    assert not settings.embedded


def test_kefu_config_variable_names_the_ini_file(tmp_path: Path) -> None:
    ini = tmp_path / "prod.ini"
    ini.write_text("[kefu]\ndatabase.url = postgresql+psycopg://kefu@db/kefu\n")
    settings = load_settings(environ={"KEFU_CONFIG": str(ini)})
    assert settings.database_url == "postgresql+psycopg://kefu@db/kefu"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"KEFU_HTTP_PROT": "1"}, "unknown setting KEFU_HTTP_PROT (did you mean 'http.port'?)"),
        ({"KEFU_HTTP_PORT": "eighty"}, "'http.port' from environment KEFU_HTTP_PORT: expected a port number"),
        ({"KEFU_SIP_PORT": "70000"}, "'sip.port' from environment KEFU_SIP_PORT: port must be 0-65535"),
        ({"KEFU_DATABASE_URL": "mysql://x"}, "'database.url' from environment KEFU_DATABASE_URL"),
        ({"KEFU_REDIS_URL": "http://x"}, "expected a redis:// URL"),
        ({"KEFU_HTTP_SECURE_COOKIES": "maybe"}, "'http.secure_cookies'"),
        ({"KEFU_LOG_FORMAT": "xml"}, "expected one of json, text"),
        ({"KEFU_RTP_PORT_MIN": "30000", "KEFU_RTP_PORT_MAX": "20000"}, "'rtp.port_min' (30000) is above"),
    ],
)
def test_bad_environment_fails_naming_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ)
    assert message in str(caught.value)


def test_unknown_ini_key_and_section_fail_naming_them(tmp_path: Path) -> None:
    ini = tmp_path / "kefu.ini"
    ini.write_text("[kefu]\ndatabse.url = sqlite:///x\n")
    with pytest.raises(SettingsError, match=r"unknown setting 'databse.url' \(did you mean 'database.url'\?\)"):
        load_settings(ini, environ={})
    ini.write_text("[server]\nhttp.port = 1\n")
    with pytest.raises(SettingsError, match=r"unknown section \[server\]"):
        load_settings(ini, environ={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.ini", environ={})


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(environ={"KEFU_DATA_DIR": str(tmp_path)})
    first = ensure_secret_key(settings)
    second = ensure_secret_key(settings)
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    explicit = ensure_secret_key(load_settings(environ={"KEFU_SECRET_KEY": "s3cret"}))
    assert explicit.secret_key == "s3cret"


def test_configuration_reference_lists_every_setting(repo_root: Path) -> None:
    doc = (repo_root / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings_reference_markdown() in doc, "regenerate with `kefu settings --markdown`"
    for spec in SPECS:
        assert spec.env_name in doc
