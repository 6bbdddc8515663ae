"""campaign/logs.py without processes: the JSON line, the masking of secrets, gunicorn's access
atoms as fields, and which RQ lines the housekeeping filter leaves out."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from campaign.config import load_config, secret_values
from campaign.logs import MASK, CampaignJsonFormatter, HousekeepingFilter

SECRETS = ["s3cret-token", 'quote"and\\slash']


def _record(
    message: str,
    *args: object,
    name: str = "campaign.workers.send",
    level: int = logging.INFO,
    **extra: object,
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, args or None, None)
    record.__dict__.update(extra)
    return record


def _line(record: logging.LogRecord, secrets: list[str] = SECRETS) -> dict[str, object]:
    line = CampaignJsonFormatter(secrets).format(record)
    assert "\n" not in line
    return json.loads(line)


def test_a_line_is_one_json_object_with_its_ids_as_fields() -> None:
    line = _line(_record("sent %d texts", 3, engagement_id="E1", text_id="T1"))

    assert line["message"] == "sent 3 texts"
    assert line["level"] == "INFO" and line["logger"] == "campaign.workers.send"
    assert line["engagement_id"] == "E1" and line["text_id"] == "T1"
    assert str(line["time"]).endswith("+00:00")


def test_a_traceback_stays_inside_its_line() -> None:
    try:
        raise RuntimeError("carrier exploded")
    except RuntimeError:
        record = _record("the provider raised unexpectedly", level=logging.ERROR)
        record.exc_info = sys.exc_info()

    line = _line(record)

    assert "RuntimeError: carrier exploded" in str(line["exc_info"])


@pytest.mark.parametrize(
    "record",
    [
        _record("token is %s", "s3cret-token"),
        _record("url postgresql://u:s3cret-token@db/x"),
        _record("found it", detail='quote"and\\slash'),  # JSON-escaped in the line
        _record("listed", values=["s3cret-token"]),
    ],
    ids=["argument", "inside-a-url", "json-escaped-extra", "nested-extra"],
)
def test_secrets_are_masked_wherever_they_appear(record: logging.LogRecord) -> None:
    raw = CampaignJsonFormatter(SECRETS).format(record)

    assert "s3cret-token" not in raw and "slash" not in raw
    assert MASK in raw


def test_the_secrets_are_the_secret_settings_and_the_url_passwords() -> None:
    config = load_config(
        {
            "SECRET_KEY": "flask-secret",
            "TWILIO_AUTH_TOKEN": "twilio-token",
            "KANNEL_PASSWORD": "kannel-pass",
            "RQ_DASHBOARD_PASSWORD": "dash-pass",
            "DATABASE_URL": "postgres://user:db-pass@db.example/campaign",
            "REDIS_URL": "rediss://:redis-pass@cache.example:6380",
            "TWILIO_ACCOUNT_SID": "AC123",
        }
    )

    assert sorted(secret_values(config)) == sorted(
        ["flask-secret", "twilio-token", "kannel-pass", "dash-pass", "db-pass", "redis-pass"]
    )


def test_gunicorns_access_atoms_become_fields_and_the_query_string_is_not_one() -> None:
    atoms = {"h": "127.0.0.1", "m": "GET", "U": "/api/v1/texts", "q": "sig=abc", "s": "200"}
    atoms |= {"B": "164", "L": "0.001198", "a": "curl/8"}
    record = _record("%(h)s %(m)s %(U)s", name="gunicorn.access")
    record.args = atoms

    line = _line(record)

    assert line["message"] == "GET /api/v1/texts 200"
    assert (line["method"], line["path"], line["status"], line["bytes"]) == (
        "GET",
        "/api/v1/texts",
        200,
        164,
    )
    assert line["duration_s"] == 0.001198 and line["agent"] == "curl/8"
    assert "sig=abc" not in json.dumps(line)


@pytest.mark.parametrize(
    ("name", "level", "message", "kept"),
    [
        (
            "rq.worker",
            logging.INFO,
            "Worker w: dispatch: campaign.workers.sweep.sweep() (sweep-59)",
            False,
        ),
        (
            "rq.worker",
            logging.INFO,
            "Successfully completed campaign.workers.sweep.sweep() job in 0:00:00.01s",
            False,
        ),
        ("rq.worker", logging.INFO, "Worker w: dispatch: Job OK (sweep-59)", False),
        (
            "rq.worker",
            logging.INFO,
            "Worker w: job sweep-59 result is kept for 3600 seconds",
            False,
        ),
        (
            "rq.worker",
            logging.INFO,
            "Worker w: dispatch: Job OK (progress-2JaPYmeypq-1796256761)",
            False,
        ),
        (
            "rq.worker",
            logging.INFO,
            "Successfully completed campaign.workers.progress.refresh_engagement('E') job",
            False,
        ),
        ("rq.worker", logging.INFO, "Worker w: send: Job OK (send-E-17-T)", True),
        ("rq.worker", logging.INFO, "*** Listening on dispatch, send...", True),
        ("rq.worker", logging.ERROR, "Worker w: job sweep-59 failed", True),
        ("campaign.workers.sweep", logging.INFO, "about sweep-59", True),
    ],
)
def test_rqs_lines_about_housekeeping_jobs_are_left_out(
    name: str, level: int, message: str, kept: bool
) -> None:
    assert HousekeepingFilter().filter(_record(message, name=name, level=level)) is kept
