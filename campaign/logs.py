"""Logging of the web and worker processes: one JSON object per line, the same in both.

Every line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; the ids a line is about
ride along as fields (`engagement_id`, `text_id`, `job_id`, passed as `extra=`), gunicorn's
access lines carry the request's `method`, `path`, `status`, `bytes`, `duration_s` and `agent`,
and a traceback is the `exc_info` field of its line, never lines of its own. python-json-logger
writes the objects.

Two rules keep the log worth reading:
- No secret: the values of secret settings and the passwords in DATABASE_URL and REDIS_URL are
  masked in every line, whoever wrote it (an exception message that quotes a URL included).
  Query strings never reach a line: the access log shows the path alone (web_server.py).
- No chatter: RQ writes four INFO lines per job. For the housekeeping jobs (a sweep every
  CAMPAIGN_SWEEP_INTERVAL, a progress recount every second per sending engagement) those were
  most of the worker's log, so they are dropped; the housekeeping logs what it finds instead.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import rq.logutils
from gunicorn.glogging import Logger as GunicornBaseLogger
from pythonjsonlogger.json import JsonFormatter
from rq import get_current_job

from campaign.config import current_environ, load_config, secret_values
from campaign.workers import job_ids

MASK = "[secret]"

# The housekeeping jobs, as RQ's INFO lines name them: by job id or by function.
_HOUSEKEEPING_JOB = job_ids.housekeeping_pattern()
_HOUSEKEEPING_FUNCTION = re.compile(
    r"campaign\.workers\.(?:sweep\.sweep|progress\.refresh_engagement)\("
)
# gunicorn's access atoms (see web_server.access_log_format), by the field they become.
_ACCESS_FIELDS = {
    "remote": "h",
    "method": "m",
    "path": "U",
    "status": "s",
    "bytes": "B",
    "duration_s": "L",
    "agent": "a",
}


class CampaignJsonFormatter(JsonFormatter):
    """JSON lines with campaign's field names, gunicorn's access atoms as fields, secrets masked."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        # A secret may appear as written or JSON-escaped (quotes, backslashes, control bytes).
        variants = {variant for secret in secrets for variant in (secret, _escaped(secret))}
        self._secrets = sorted(variants, key=len, reverse=True)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            atoms = {field: _number(record.args[atom]) for field, atom in _ACCESS_FIELDS.items()}
            log_data.update(atoms)
            log_data["message"] = f"{atoms['method']} {atoms['path']} {atoms['status']}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, MASK)
        return line


def _number(atom: Any) -> Any:
    """gunicorn's atoms are text ("200", "0.001234"); numbers are numbers in the log."""
    for kind in (int, float):
        try:
            return kind(atom)
        except (TypeError, ValueError):
            continue
    return atom


def _escaped(secret: str) -> str:
    return json.dumps(secret, ensure_ascii=False)[1:-1]


class JobFilter(logging.Filter):
    """Adds the `job_id` of the RQ job being worked, to every line written while it runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "job_id"):
            job = get_current_job()
            if job is not None:
                record.job_id = job.id
        return True


class HousekeepingFilter(logging.Filter):
    """Drops RQ's per-job INFO lines about the sweep and the progress recounts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("rq.") or record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not (_HOUSEKEEPING_JOB.search(message) or _HOUSEKEEPING_FUNCTION.search(message))


def handler(config: Mapping[str, Any]) -> logging.Handler:
    """A stderr handler writing campaign's JSON lines for the settings in `config`."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(CampaignJsonFormatter(secret_values(config)))
    stream.addFilter(HousekeepingFilter())
    stream.addFilter(JobFilter())
    return stream


def configure(config: Mapping[str, Any]) -> None:
    """Route every logger of this process (RQ's, gunicorn's, Flask's, ours) to one JSON handler
    on stderr at CAMPAIGN_LOG_LEVEL."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler(config))
    root.setLevel(config["LOG_LEVEL"])
    # RQ colours job ids and queue names when stdout is a terminal: escape codes in JSON.
    rq.logutils.colorizer.notty = True


class GunicornLogger(GunicornBaseLogger):
    """gunicorn's error and access logs as campaign's JSON lines (`logger_class` in
    web_server.py); the root logger, which the app's loggers reach, gets the same handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        config = load_config(current_environ())
        configure(config)
        for log in (self.error_log, self.access_log):
            for existing in list(log.handlers):
                log.removeHandler(existing)
            log.propagate = True
