"""gunicorn settings of the web process, the one place the Procfile, `campaign run` and the
benchmarks take them from: `gunicorn -c python:campaign.web_server wsgi:app`."""

from __future__ import annotations

import sys

from campaign.config import ConfigError, check_provider, current_environ, load_config

try:
    _config = load_config(current_environ())
    check_provider(_config)
except ConfigError as exc:
    # One line and exit 1: gunicorn prints a traceback for an Exception raised by its config
    # file, but lets SystemExit through.
    sys.exit(f"Error: {exc}")

bind = [f"0.0.0.0:{_config['PORT']}"]
workers: int = _config["WEB_CONCURRENCY"]
worker_class = "campaign.web_worker.DeadlineThreadWorker"
threads: int = _config["WEB_THREADS"]
# A runtime control interface nobody uses, at one fixed path per user: two servers on one host
# (`campaign run`, tests, benchmarks) would fight over it.
control_socket_disable = True
# Kannel delivers an incoming text in the get-url's query, its bytes in hex: a 1,600-character
# UCS-2 text is 6,400 hex digits, beyond gunicorn's default 4,094-byte request line.
limit_request_line = 8190
accesslog = "-"
# One JSON object per line, as the worker writes them (campaign/logs.py).
logger_class = "campaign.logs.GunicornLogger"
# The path without its query string, and no Referer: query strings carry secrets (the `sig` of
# a Kannel delivery report), and an access log is read by more people than the database.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s "%(a)s"'
