"""Configuration from the environment: URL rewriting, strict parsers that name the variable,
defaults, and the production flag that refuses the embedded defaults."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign import create_app
from campaign.config import (
    SETTINGS,
    ConfigError,
    check_production,
    current_environ,
    database_url,
    load_config,
)

PRODUCTION = {
    "CAMPAIGN_ENV": "production",
    "SECRET_KEY": "a-long-production-secret",
    "DATABASE_URL": "postgres://campaign:pw@db.internal:5432/campaign",
    "REDIS_URL": "redis://cache.internal:6379/0",
}
NUMERIC_SETTINGS = [
    setting.env
    for setting in SETTINGS
    if isinstance(setting.default, int | float) and not isinstance(setting.default, bool)
]


@pytest.fixture
def empty_instance() -> Iterator[str]:
    """An instance folder that must stay empty when the app refuses to start."""
    with tempfile.TemporaryDirectory(prefix="cmp-cfg-") as path:
        yield path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@db:5432/campaign", "postgresql+psycopg://u:p@db:5432/campaign"),
        ("postgresql://u:p@db:5432/campaign", "postgresql+psycopg://u:p@db:5432/campaign"),
        ("  postgres://u@db/campaign\n", "postgresql+psycopg://u@db/campaign"),
        ("postgresql+psycopg://u@db/campaign", "postgresql+psycopg://u@db/campaign"),
        ("sqlite:////srv/campaign/campaign.db", "sqlite:////srv/campaign/campaign.db"),
    ],
)
def test_database_url_uses_the_psycopg_driver_for_every_postgres_scheme(
    raw: str, expected: str
) -> None:
    assert database_url(raw) == expected
    assert load_config({"DATABASE_URL": raw})["SQLALCHEMY_DATABASE_URI"] == expected


def test_defaults_apply_when_nothing_is_set() -> None:
    config = load_config({})

    assert config["CAMPAIGN_ENV"] == "development"
    assert config["MAX_BULK"] == 10_000
    assert config["MAX_META_BYTES"] == 2048
    assert config["PAGE_SIZE"] == 50
    assert config["MAX_PAGE_SIZE"] == 1000
    assert config["DEFAULT_REGION"] == "US"
    assert config["DEFAULT_THROUGHPUT"] == 1
    assert config["PORT"] == 5000
    assert config["SMS_PROVIDER"] == "console"
    # Unset means "use the embedded defaults", decided by create_app.
    assert config["SQLALCHEMY_DATABASE_URI"] is None
    assert config["REDIS_URL"] is None
    assert config["SECRET_KEY"] is None


def test_every_setting_fills_its_config_key() -> None:
    config = load_config({})

    assert {setting.key for setting in SETTINGS} <= set(config)


def test_empty_variable_counts_as_unset() -> None:
    config = load_config({"CAMPAIGN_MAX_BULK": "", "DATABASE_URL": "", "SMS_PROVIDER": ""})

    assert config["MAX_BULK"] == 10_000
    assert config["SQLALCHEMY_DATABASE_URI"] is None
    assert config["SMS_PROVIDER"] == "console"


def test_values_are_parsed_and_normalised() -> None:
    config = load_config(
        {
            "CAMPAIGN_MAX_BULK": "250",
            "PORT": "8080",
            "CAMPAIGN_ENV": " Production ",
            "CAMPAIGN_DEFAULT_REGION": "ca",
            "PROVIDER_READ_TIMEOUT": "2.5",
            "PUBLIC_BASE_URL": "https://sms.example.com/",
            "SMS_PROVIDER": "Kannel",
        }
    )

    assert config["MAX_BULK"] == 250
    assert config["PORT"] == 8080
    assert config["CAMPAIGN_ENV"] == "production"
    assert config["DEFAULT_REGION"] == "CA"
    assert config["PROVIDER_READ_TIMEOUT"] == 2.5
    assert config["PUBLIC_BASE_URL"] == "https://sms.example.com"
    assert config["SMS_PROVIDER"] == "kannel"


@pytest.mark.parametrize("name", NUMERIC_SETTINGS)
def test_malformed_number_is_a_config_error_naming_the_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: "ten thousand"})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("CAMPAIGN_MAX_BULK", "0"),
        ("CAMPAIGN_MAX_BULK", "-5"),
        ("PORT", "70000"),
        ("CAMPAIGN_MAX_PAGE_SIZE", "1e3"),
        ("PROVIDER_CONNECT_TIMEOUT", "0"),
        ("CAMPAIGN_ENV", "staging"),
        ("SMS_PROVIDER", "carrier-pigeon"),
        ("CAMPAIGN_DEFAULT_REGION", "USA"),
    ],
)
def test_out_of_range_or_unknown_value_is_a_config_error_naming_the_variable(
    name: str, raw: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({name: raw})


@pytest.mark.parametrize("raw", ["ftp://sms.example.com", "sms.example.com"])
def test_public_base_url_must_be_http(raw: str) -> None:
    with pytest.raises(ConfigError, match="http"):
        load_config({"PUBLIC_BASE_URL": raw})


def test_production_without_secret_database_and_redis_is_refused() -> None:
    config = load_config({"CAMPAIGN_ENV": "production"})

    with pytest.raises(ConfigError) as raised:
        check_production(config)

    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        assert name in str(raised.value)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_production_names_exactly_the_missing_setting(missing: str) -> None:
    config = load_config({**PRODUCTION, missing: ""})

    with pytest.raises(ConfigError) as raised:
        check_production(config)

    message = str(raised.value)
    assert missing in message
    assert [name for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL") if name in message] == [
        missing
    ]


def test_production_secret_of_only_whitespace_counts_as_missing() -> None:
    config = load_config({**PRODUCTION, "SECRET_KEY": "   "})

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production(config)


def test_production_with_everything_set_is_accepted() -> None:
    check_production(load_config(PRODUCTION))


def test_development_runs_on_embedded_defaults() -> None:
    check_production(load_config({}))


def test_overrides_win_over_the_process_environment() -> None:
    name = next(iter(os.environ))

    environ = current_environ({name: "overridden", "CAMPAIGN_TEST_ONLY": "1"})

    assert environ[name] == "overridden"
    assert environ["CAMPAIGN_TEST_ONLY"] == "1"
    assert os.environ[name] != "overridden"


def test_create_app_refuses_production_before_starting_embedded_services(
    empty_instance: str,
) -> None:
    # Empty strings, so a SECRET_KEY or DATABASE_URL in the runner's environment cannot leak in.
    overrides = {
        "CAMPAIGN_ENV": "production",
        "SECRET_KEY": "",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "CAMPAIGN_INSTANCE_PATH": empty_instance,
    }

    with pytest.raises(ConfigError, match="production"):
        create_app(overrides)

    # No embedded Redis started, no SQLite file or development secret written.
    assert os.listdir(empty_instance) == []


def test_create_app_refuses_a_malformed_setting(app_environment: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="CAMPAIGN_PAGE_SIZE"):
        create_app({**app_environment, "CAMPAIGN_PAGE_SIZE": "fifty"})


def test_create_app_in_production_uses_the_given_settings(app_environment: dict[str, str]) -> None:
    app = create_app(
        {
            **app_environment,
            "CAMPAIGN_ENV": "production",
            "SECRET_KEY": "a-long-production-secret",
            "DATABASE_URL": "postgres://campaign:pw@db.internal:5432/campaign",
        }
    )

    assert app.config["SECRET_KEY"] == "a-long-production-secret"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://campaign:pw@db.internal:5432/campaign"
    )
    assert app.config["REDIS_URL"] == app_environment["REDIS_URL"]


def test_development_defaults_live_in_the_instance_folder(
    empty_instance: str, app_environment: dict[str, str]
) -> None:
    # The test Redis stands in for the embedded one; test_embedded_redis covers that default.
    overrides = {
        "CAMPAIGN_ENV": "development",
        "SECRET_KEY": "",
        "DATABASE_URL": "",
        "REDIS_URL": app_environment["REDIS_URL"],
        "CAMPAIGN_INSTANCE_PATH": empty_instance,
    }

    first = create_app(overrides)
    second = create_app(overrides)

    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{empty_instance}/campaign.db"
    # Web process and workers must agree on the secret that signs callback URLs.
    assert first.config["SECRET_KEY"]
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_bulk_limit_sets_the_request_body_limit(app_environment: dict[str, str]) -> None:
    small = create_app({**app_environment, "CAMPAIGN_MAX_BULK": "10"})
    large = create_app({**app_environment, "CAMPAIGN_MAX_BULK": "10000"})

    assert small.config["MAX_BULK"] == 10
    assert small.config["MAX_CONTENT_LENGTH"] < large.config["MAX_CONTENT_LENGTH"]


def test_stuck_after_shorter_than_a_legitimate_send_is_refused() -> None:
    """The sweep would call a text in its sender's queue 'interrupted' and mark it unknown."""
    from campaign.config import check_timing

    config = load_config({"CAMPAIGN_STUCK_AFTER": "10", "PROVIDER_READ_TIMEOUT": "15"})
    with pytest.raises(ConfigError, match="CAMPAIGN_STUCK_AFTER must exceed 25"):
        check_timing(config)
    check_timing(
        load_config(
            {
                "CAMPAIGN_STUCK_AFTER": "9",
                "PROVIDER_CONNECT_TIMEOUT": "1",
                "PROVIDER_READ_TIMEOUT": "2",
            }
        )
    )


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_settings() -> dict[str, str | None]:
    """The README's configuration table: each variable and the default it shows (the
    backticked value in its column, None when the column shows none)."""
    text = README.read_text()
    start = text.index("| variable | default | meaning |")
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    shown: dict[str, str | None] = {}
    for row in rows:
        names_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", names_cell)
        defaults = re.findall(r"`([^`]*)`", default_cell)
        if len(defaults) == len(names):
            shown.update(zip(names, defaults, strict=True))
        else:  # no default shown, or a description of one
            shown.update(dict.fromkeys(names))
    return shown


def _as_shown(default: object) -> str:
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def test_the_readme_lists_every_setting_with_its_default() -> None:
    shown = _readme_settings()

    assert set(shown) == {setting.env for setting in SETTINGS}
    for setting in SETTINGS:
        if shown[setting.env] is not None:
            assert shown[setting.env] == _as_shown(setting.default), setting.env
        else:
            assert setting.default is None, setting.env


def test_every_carrier_the_settings_allow_has_a_module_and_no_other() -> None:
    from campaign.config import PROVIDER_SETTINGS
    from campaign.providers import CARRIERS

    assert set(CARRIERS) == set(PROVIDER_SETTINGS)
