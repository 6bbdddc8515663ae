"""The `campaign` operator command, run as the real console script against the test database:
its outputs (token, id on the last stdout line) are a contract, and every error is one line on
stderr, a non-zero exit and no change."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlalchemy import create_engine, func, select

from campaign import MIGRATIONS_DIRECTORY
from campaign.extensions import db, redis_store
from campaign.models import Account, ApiToken, NumberAllotment, PhoneNumber
from campaign.workers.queues import DISPATCH_QUEUE, QUEUE_NAMES
from campaign.workers.sweep import sweep
from tests.client import ApiClient
from tests.databases import throwaway_database
from tests.factories import Credentials, make_phone_number, resource


def campaign_command() -> list[str]:
    """The installed console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "campaign"
    if script.exists():
        return [str(script)]
    found = shutil.which("campaign")
    return [found] if found else [sys.executable, "-m", "campaign.cli"]


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


Campaign = Callable[..., Outcome]


@pytest.fixture
def campaign(app: Flask, app_environment: dict[str, str]) -> Campaign:
    """Runs `campaign ARGS...` in a child process on the test database and Redis."""

    def run(*args: str, env: dict[str, str] | None = None) -> Outcome:
        environment = {**os.environ, **app_environment, **(env or {})}
        completed = subprocess.run(
            [*campaign_command(), *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Outcome(completed.returncode, completed.stdout, completed.stderr)

    return run


def succeeded(outcome: Outcome) -> Outcome:
    assert outcome.code == 0, outcome
    return outcome


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Account, ApiToken, PhoneNumber, NumberAllotment)
        }
        db.session.remove()
    return counts


def api_as(app: Flask, key: str, token: str) -> ApiClient:
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.key == key))
        db.session.remove()
    return ApiClient(app.test_client(), Credentials(account_id, key, token))


def test_help_lists_the_operator_commands(campaign: Campaign) -> None:
    outcome = succeeded(campaign("--help"))

    for command in ("db", "accounts", "tokens", "phone-numbers", "worker", "run"):
        assert f"  {command} " in outcome.stdout, command
    assert outcome.stderr == ""


def test_help_is_campaigns_own_without_flasks_options(campaign: Campaign) -> None:
    outcome = succeeded(campaign("--help"))

    for flask_option in ("--env-file", "--app", "--debug"):
        assert flask_option not in outcome.stdout
    assert "  openapi  " in outcome.stdout and "OpenAPI document" in outcome.stdout
    assert campaign("--app", "elsewhere:app", "accounts", "list").code == 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("{postgres}/campaign_no_such_database", 'database "campaign_no_such_database" does not'),
        ("postgresql://postgres@127.0.0.1:{closed}/test", "Connection refused"),
        ("sqlite:///{tmp}/no/such/folder/campaign.db", "unable to open database file"),
    ],
    ids=["missing-postgres-database", "closed-port", "missing-sqlite-folder"],
)
def test_db_upgrade_against_a_missing_database_fails_with_one_line(
    campaign: Campaign, tmp_path: Path, url: str, reason: str
) -> None:
    """The Procfile's release step: what is wrong, in one line, not a traceback."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if "{postgres}" in url and not server.startswith("postgresql"):
        pytest.skip("needs a PostgreSQL server (TEST_DATABASE_URL)")
    target = url.format(
        postgres=server.rsplit("/", 1)[0], closed=_closed_port(), tmp=tmp_path.as_posix()
    )

    outcome = campaign("db", "upgrade", env={"DATABASE_URL": target})

    assert outcome.code == 1
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert outcome.error_lines[0].startswith("Error: database error: ")
    assert reason in outcome.error_lines[0]


def test_db_upgrade_builds_a_fresh_database_to_head(campaign: Campaign, tmp_path: Path) -> None:
    with throwaway_database(tmp_path) as url:
        succeeded(campaign("db", "upgrade", env={"DATABASE_URL": url}))

        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                revision = MigrationContext.configure(connection).get_current_revision()
        finally:
            engine.dispose()

    assert revision == ScriptDirectory(MIGRATIONS_DIRECTORY).get_current_head()


def test_accounts_create_makes_the_account_and_prints_its_id(
    app: Flask, campaign: Campaign
) -> None:
    outcome = succeeded(campaign("accounts", "create", "firstbank", "--name", "First Bank"))

    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.key == "firstbank"))
        assert account is not None
        assert account.name == "First Bank"
        assert outcome.last_line == account.id


def test_tokens_create_prints_a_token_that_authenticates(app: Flask, campaign: Campaign) -> None:
    succeeded(campaign("accounts", "create", "firstbank", "--name", "First Bank"))

    token = succeeded(campaign("tokens", "create", "firstbank")).last_line

    token_key, _, secret = token.partition(":")
    assert token_key and secret
    reply = api_as(app, "firstbank", token).get("/api/v1/phone-numbers")
    assert reply.status == 200, reply.document
    assert reply.data == []


def test_tokens_create_stores_only_a_hash_of_the_secret(app: Flask, campaign: Campaign) -> None:
    succeeded(campaign("accounts", "create", "firstbank", "--name", "First Bank"))

    token_key, _, secret = succeeded(campaign("tokens", "create", "firstbank")).last_line.partition(
        ":"
    )

    with app.app_context():
        stored = db.session.get(ApiToken, token_key)
        assert stored is not None
        values = [str(getattr(stored, column.key)) for column in ApiToken.__table__.columns]
    assert not any(secret in value for value in values)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_each_token_create_issues_a_new_token(
    app: Flask, campaign: Campaign, account: Credentials
) -> None:
    first = succeeded(campaign("tokens", "create", account.key)).last_line
    second = succeeded(campaign("tokens", "create", account.key)).last_line

    assert first.partition(":")[0] != second.partition(":")[0]
    for token in (first, second):
        assert api_as(app, account.key, token).get("/api/v1/phone-numbers").status == 200


def test_tokens_revoke_makes_only_that_token_unauthorized(
    app: Flask, campaign: Campaign, account: Credentials, api: ApiClient
) -> None:
    token = succeeded(campaign("tokens", "create", account.key)).last_line
    revoked = api_as(app, account.key, token)
    assert revoked.get("/api/v1/phone-numbers").status == 200

    succeeded(campaign("tokens", "revoke", token.partition(":")[0]))

    reply = revoked.get("/api/v1/phone-numbers")
    assert reply.status == 401
    assert reply.headers.get("WWW-Authenticate", "").startswith("Basic ")
    # The account's other token keeps working.
    assert api.get("/api/v1/phone-numbers").status == 200


def test_revoking_a_revoked_token_again_succeeds_and_keeps_the_first_revocation_time(
    app: Flask, campaign: Campaign, account: Credentials
) -> None:
    token_key = account.token.partition(":")[0]
    succeeded(campaign("tokens", "revoke", token_key))
    with app.app_context():
        first = db.session.get(ApiToken, token_key).revoked_at
        db.session.remove()

    succeeded(campaign("tokens", "revoke", token_key))

    with app.app_context():
        assert first is not None
        assert db.session.get(ApiToken, token_key).revoked_at == first


def test_phone_numbers_create_prints_an_id_readable_through_the_api(
    campaign: Campaign, account: Credentials, api: ApiClient
) -> None:
    outcome = succeeded(
        campaign("phone-numbers", "create", account.key, "+15195550100", "--throughput", "7")
    )

    reply = api.get(f"/api/v1/phone-numbers/{outcome.last_line}")
    assert reply.status == 200, reply.document
    assert reply.data["attributes"]["number"] == "+15195550100"
    assert reply.data["attributes"]["throughput"] == 7


def test_phone_numbers_create_stores_a_national_number_in_e164_with_default_throughput(
    campaign: Campaign, account: Credentials, api: ApiClient
) -> None:
    phone_id = succeeded(
        campaign("phone-numbers", "create", account.key, "(519) 555-0100")
    ).last_line

    attributes = api.get(f"/api/v1/phone-numbers/{phone_id}").data["attributes"]
    assert attributes["number"] == "+15195550100"
    assert attributes["throughput"] == 1


def test_phone_numbers_create_default_throughput_comes_from_the_configuration(
    campaign: Campaign, account: Credentials, api: ApiClient
) -> None:
    phone_id = succeeded(
        campaign(
            "phone-numbers",
            "create",
            account.key,
            "+15195550100",
            env={"CAMPAIGN_DEFAULT_THROUGHPUT": "3"},
        )
    ).last_line

    assert api.get(f"/api/v1/phone-numbers/{phone_id}").data["attributes"]["throughput"] == 3


@pytest.fixture
def existing(app: Flask, account: Credentials) -> Credentials:
    """Account `firstbank` with one token and the sender +15195550100."""
    with app.app_context():
        make_phone_number(account_id=account.account_id, number="+15195550100")
        db.session.remove()
    return account


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        pytest.param(
            ["accounts", "create", "firstbank", "--name", "Again"],
            {},
            "already exists",
            id="duplicate-account-key",
        ),
        pytest.param(
            ["accounts", "create", "first bank", "--name", "Spaced"],
            {},
            "without spaces",
            id="account-key-with-space",
        ),
        pytest.param(["tokens", "create", "nobank"], {}, "no account", id="token-unknown-account"),
        pytest.param(["tokens", "revoke", "notatoken"], {}, "no token", id="revoke-unknown-token"),
        pytest.param(
            ["phone-numbers", "create", "nobank", "+15195550101"],
            {},
            "no account",
            id="number-unknown-account",
        ),
        pytest.param(
            ["phone-numbers", "create", "firstbank", "12345"],
            {},
            "not a valid phone number",
            id="invalid-number",
        ),
        pytest.param(
            ["phone-numbers", "create", "firstbank", "call me"],
            {},
            "not a phone number",
            id="not-a-number",
        ),
        pytest.param(
            ["phone-numbers", "create", "firstbank", "+1 519-555-0100"],
            {},
            "already one of",
            id="duplicate-number",
        ),
        pytest.param(
            ["accounts", "create", "newbank", "--name", "New"],
            {"CAMPAIGN_MAX_BULK": "lots"},
            "CAMPAIGN_MAX_BULK",
            id="malformed-setting",
        ),
        pytest.param(
            ["accounts", "create", "newbank", "--name", "New"],
            {"CAMPAIGN_ENV": "production", "SECRET_KEY": ""},
            "SECRET_KEY",
            id="production-without-secret",
        ),
    ],
)
def test_operator_error_is_one_line_on_stderr_and_changes_nothing(
    app: Flask,
    campaign: Campaign,
    existing: Credentials,
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    before = row_counts(app)

    outcome = campaign(*args, env=env)

    assert outcome.code == 1, outcome
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert says in outcome.error_lines[0]
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""
    assert row_counts(app) == before


def test_allot_lets_the_account_add_the_number_over_the_api_up_to_its_cap(
    campaign: Campaign, account: Credentials, api: ApiClient
) -> None:
    succeeded(
        campaign("phone-numbers", "allot", account.key, "+15195550111", "--max-throughput", "5")
    )
    number = {"number": "+15195550111"}

    over = api.post("/api/v1/phone-numbers", resource("phone-numbers", {**number, "throughput": 6}))
    at_cap = api.post(
        "/api/v1/phone-numbers", resource("phone-numbers", {**number, "throughput": 5})
    )

    assert over.status == 403
    assert over.pointers() == ["/data/attributes/throughput"]
    assert at_cap.status == 201, at_cap.document
    assert at_cap.data["attributes"]["throughput"] == 5


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["phone-numbers", "allot", "secondbank", "+15195550100"], id="allot"),
        pytest.param(["phone-numbers", "create", "secondbank", "+15195550100"], id="create"),
    ],
)
def test_a_number_allotted_to_one_account_is_refused_to_another(
    app: Flask,
    campaign: Campaign,
    existing: Credentials,
    other_account: Credentials,
    args: list[str],
) -> None:
    before = row_counts(app)

    outcome = campaign(*args)

    assert outcome.code == 1, outcome
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert row_counts(app) == before


def test_revoke_deletes_the_sender_and_the_account_can_no_longer_add_it(
    app: Flask, campaign: Campaign, existing: Credentials, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = db.session.scalar(select(PhoneNumber.id))
        db.session.remove()

    succeeded(campaign("phone-numbers", "revoke", "+15195550100"))

    assert api.get(f"/api/v1/phone-numbers/{phone_id}").status == 404
    again = api.post("/api/v1/phone-numbers", resource("phone-numbers", {"number": "+15195550100"}))
    assert again.status == 403
    assert again.pointers() == ["/data/attributes/number"]
    assert row_counts(app)["number_allotments"] == 0


def test_command_on_a_database_without_schema_says_to_upgrade(
    campaign: Campaign, tmp_path: Path
) -> None:
    with throwaway_database(tmp_path) as url:
        outcome = campaign(
            "accounts", "create", "firstbank", "--name", "First", env={"DATABASE_URL": url}
        )

    assert outcome.code == 1, outcome
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "campaign db upgrade" in outcome.error_lines[0]


def test_throughput_out_of_range_is_refused_and_creates_nothing(
    app: Flask, campaign: Campaign, account: Credentials
) -> None:
    before = row_counts(app)

    outcome = campaign("phone-numbers", "create", account.key, "+15195550100", "--throughput", "0")

    # A usage error: click explains the option (with the usage line) and exits 2.
    assert outcome.code == 2
    assert "--throughput" in outcome.stderr
    assert row_counts(app) == before


def test_worker_burst_exits_cleanly_on_empty_queues(app: Flask, campaign: Campaign) -> None:
    outcome = campaign("worker", "--burst")

    assert outcome.code == 0, outcome.stderr
    with app.app_context():
        connection = redis_store.connection
        # It worked the test Redis and deregistered on the way out.
        assert Worker.all(connection=connection) == []
        assert all(Queue(name, connection=connection).count == 0 for name in QUEUE_NAMES)


def test_worker_burst_runs_a_queued_job_with_the_app_context(
    app: Flask, campaign: Campaign
) -> None:
    with app.app_context():
        # The sweep reads the database, so it only finishes inside the app context.
        Queue(DISPATCH_QUEUE, connection=redis_store.connection).enqueue(sweep, job_id="cli-sweep")

    outcome = campaign("worker", "--burst")

    assert outcome.code == 0, outcome.stderr
    with app.app_context():
        job = Job.fetch("cli-sweep", connection=redis_store.connection)
        assert job.get_status() == JobStatus.FINISHED


def test_help_with_a_malformed_setting_names_it_in_one_line_and_still_helps(
    campaign: Campaign,
) -> None:
    outcome = campaign("--help", env={"CAMPAIGN_BATCH_SIZE": "lots"})

    assert outcome.code == 0
    assert outcome.error_lines == ["Error: CAMPAIGN_BATCH_SIZE must be an integer, got 'lots'"]
    assert "Traceback" not in outcome.stderr
    assert "Usage: campaign" in outcome.stdout


def test_run_serves_with_the_web_process_settings(
    app: Flask, app_environment: dict[str, str], tmp_path: Path
) -> None:
    """`campaign run` serves the API with the Procfile's server settings: an idle connection is
    closed after CAMPAIGN_REQUEST_TIMEOUT instead of holding a worker."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **app_environment, "CAMPAIGN_REQUEST_TIMEOUT": "2"}
    with open(tmp_path / "run.log", "wb") as log:
        process = subprocess.Popen(
            [*campaign_command(), "run", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
                time.sleep(0.2)
        assert response.status_code == 200
        with socket.create_connection(("127.0.0.1", port), timeout=15) as idle:
            assert idle.recv(1) == b""
        assert "DeadlineThreadWorker" in (tmp_path / "run.log").read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_version_is_campaigns_own(campaign: Campaign) -> None:
    outcome = succeeded(campaign("--version"))

    assert outcome.stdout.strip() == "campaign 0.1.0"
    assert "Flask" not in outcome.stdout


def test_python_dash_m_campaign_is_the_cli(app_environment: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "campaign", "--help"],
        env={**os.environ, **app_environment},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 0, completed.stderr
    assert "  phone-numbers " in completed.stdout


def test_list_commands_print_one_tab_separated_line_each_and_never_a_secret(
    campaign: Campaign,
) -> None:
    succeeded(campaign("accounts", "create", "firstbank", "--name", "First Bank"))
    succeeded(campaign("accounts", "create", "second", "--name", "Second Bank"))
    first = succeeded(campaign("tokens", "create", "firstbank")).last_line
    second = succeeded(campaign("tokens", "create", "firstbank")).last_line
    succeeded(campaign("tokens", "revoke", first.partition(":")[0]))
    sender = succeeded(
        campaign("phone-numbers", "create", "firstbank", "+15195550100", "--name", "Main")
    ).last_line

    accounts = succeeded(campaign("accounts", "list")).stdout.splitlines()
    tokens = succeeded(campaign("tokens", "list", "firstbank")).stdout.splitlines()
    senders = succeeded(campaign("phone-numbers", "list", "firstbank")).stdout.splitlines()

    assert accounts == ["firstbank\tFirst Bank", "second\tSecond Bank"]
    assert [line.split("\t")[::2] for line in tokens] == [
        [first.partition(":")[0], "revoked"],
        [second.partition(":")[0], "active"],
    ]
    for secret in (first.partition(":")[2], second.partition(":")[2]):
        assert secret not in "\n".join(tokens)
    assert senders == [f"{sender}\t+15195550100\t1\tMain"]
    assert succeeded(campaign("phone-numbers", "list", "second")).stdout == ""


def test_list_commands_of_an_unknown_account_fail_with_one_line(campaign: Campaign) -> None:
    for command in ("tokens", "phone-numbers"):
        outcome = campaign(command, "list", "nobody")

        assert outcome.code == 1, outcome
        assert outcome.error_lines == ["Error: no account with key 'nobody'"], outcome


GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"SMS_PROVIDER": "twilio"}, "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL"),
        (
            {"SMS_PROVIDER": "kannel", "KANNEL_SENDSMS_URL": "http://127.0.0.1:9/cgi-bin/sendsms"},
            "KANNEL_USERNAME, KANNEL_PASSWORD, PUBLIC_BASE_URL",
        ),
    ],
    ids=["twilio", "kannel"],
)
def test_worker_and_web_process_refuse_to_start_without_their_carriers_settings(
    campaign: Campaign, app_environment: dict[str, str], settings: dict[str, str], missing: str
) -> None:
    """Found at start in one line, not as a ConfigError at the first send while the API says
    `sending`. The web process is started as the Procfile's `web:` line starts it."""
    worker = campaign("worker", "--burst", env=settings)
    web = subprocess.run(
        [GUNICORN, "--config", "python:campaign.web_server", "--bind", "127.0.0.1:0", "wsgi:app"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **app_environment, **settings},
        capture_output=True,
        text=True,
        timeout=60,
    )

    expected = [f"Error: SMS_PROVIDER={settings['SMS_PROVIDER']} needs {missing}"]
    for outcome in (worker, Outcome(web.returncode, web.stdout, web.stderr)):
        assert outcome.code == 1
        assert outcome.error_lines == expected, outcome.stderr


@pytest.mark.parametrize("port", [None, "", "8123"], ids=["unset", "empty", "set"])
def test_the_procfiles_web_process_binds_port_or_5000(
    app_environment: dict[str, str], port: str | None
) -> None:
    """The Procfile's `web:` takes its bind from campaign.web_server, which reads PORT through
    the settings (default 5000), so no shell expansion of an unset $PORT can break it."""
    procfile = (Path(__file__).resolve().parent.parent / "Procfile").read_text()
    [web] = [line for line in procfile.splitlines() if line.startswith("web:")]
    assert "$PORT" not in web and "python:campaign.web_server" in web
    env = {key: value for key, value in {**os.environ, **app_environment}.items() if key != "PORT"}
    if port is not None:
        env["PORT"] = port
    completed = subprocess.run(
        [sys.executable, "-c", "import campaign.web_server as s; print(s.bind)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"['0.0.0.0:{port or 5000}']"


def test_inbound_fakes_a_text_for_the_console_carrier(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    with app.app_context():
        make_phone_number(account_id=api.credentials.account_id)
    console = {"SMS_PROVIDER": "console"}
    done = campaign("inbound", "(519) 756-6220", "+15195550100", "STOP", env=console)
    assert done.code == 0, done.stderr
    [received] = api.get("/api/v1/texts?filter[direction]=inbound").data
    assert done.last_line == received["id"]
    assert (received["attributes"]["from"], received["attributes"]["body"]) == (
        "+15197566220",
        "STOP",
    )
    [opt_out] = api.get("/api/v1/opt-outs").data
    assert opt_out["attributes"]["source"] == "keyword"
    unknown = campaign("inbound", "+15197566220", "+18005550199", "hi", env=console)
    assert (unknown.code, unknown.error_lines[-1]) == (1, "Error: no account holds +18005550199")
    invalid = campaign("inbound", "12", "+15195550100", "hi", env=console)
    assert invalid.code == 1 and "not a valid phone number" in invalid.stderr
    twilio = {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    refused = campaign("inbound", "+15197566220", "+15195550100", "hi", env=twilio)
    assert refused.code == 1 and "console carrier only" in refused.stderr


@pytest.mark.parametrize(
    ("settings", "last_line", "error"),
    [
        (
            {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t",
             "PUBLIC_BASE_URL": "https://sms.example"},
            "https://sms.example/inbound/twilio",
            None,
        ),
        (
            {"SMS_PROVIDER": "kannel", "KANNEL_SENDSMS_URL": "http://127.0.0.1:13013/cgi-bin/sendsms",
             "KANNEL_USERNAME": "u", "KANNEL_PASSWORD": "p", "PUBLIC_BASE_URL": "https://sms.example"},
            "https://sms.example/inbound/kannel?token=",
            None,
        ),
        ({"SMS_PROVIDER": "console"}, "", "fake one with campaign inbound"),
    ],
)  # fmt: skip
def test_inbound_url_prints_where_the_carrier_delivers_incoming_texts(
    campaign: Campaign, settings: dict[str, str], last_line: str, error: str | None
) -> None:
    printed = campaign("inbound-url", env=settings)
    if error is None:
        assert printed.code == 0, printed.stderr
        assert printed.last_line.startswith(last_line)
    else:
        assert printed.code == 1 and error in printed.stderr


def test_accounts_update_sets_and_clears_an_accounts_rate_limit(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    key = api.credentials.key
    limited = campaign("accounts", "update", key, "--rate-limit", "2/minute")
    assert (limited.code, limited.last_line) == (0, f"account {key}: rate limit 2/minute")
    assert [api.get("/api/v1/text-templates").status for _ in range(3)] == [200, 200, 429]
    cleared = campaign("accounts", "update", key, "--rate-limit", "default")
    assert (cleared.code, cleared.last_line) == (
        0,
        f"account {key}: rate limit the default (3600/hour)",
    )
    assert api.get("/api/v1/text-templates").status == 200
    bad = campaign("accounts", "update", key, "--rate-limit", "2/fortnight")
    assert bad.code == 1 and bad.error_lines == [
        'Error: --rate-limit must be "N/second", "N/minute", "N/hour" or "off", got \'2/fortnight\''
    ]
    unknown = campaign("accounts", "update", "nobody", "--rate-limit", "off")
    assert (unknown.code, unknown.error_lines) == (1, ["Error: no account with key 'nobody'"])
