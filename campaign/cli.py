"""The `campaign` command: database, accounts, tokens, phone numbers, workers, a quick start, and
a faked inbound text for the console carrier.

Output lines that scripts read (a token, an id) are always the last line of stdout; errors are
one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from campaign import transaction
from campaign.errors import ApiError
from campaign.extensions import db
from campaign.models import Account, ApiToken, PhoneNumber, utcnow


def _account(key: str) -> Account:
    account = db.session.scalar(select(Account).where(Account.key == key))
    if account is None:
        raise click.ClickException(f"no account with key {key!r}")
    return account


def _oldest_first(model: type[ApiToken] | type[PhoneNumber], account: Account) -> list[Any]:
    """The account's rows of `model`, in the order they were made (what the list commands print)."""
    query = select(model).where(model.account_id == account.id).order_by(model.created_at, model.id)
    return list(db.session.scalars(query))


def _database_failure(exc: DBAPIError) -> click.ClickException:
    """The one line an operator sees for a database failure, instead of a traceback."""
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    reason = lines[0] if lines else type(exc).__name__
    if isinstance(exc, IntegrityError):
        # Lost a race with a concurrent command: the checks passed, the row did not.
        return click.ClickException(f"the database refused the change: {reason}")
    if "no such table" in reason or reason.startswith("relation "):
        return click.ClickException(f"database error: {reason} (has `campaign db upgrade` run?)")
    return click.ClickException(f"database error: {reason}")


def register_commands(app: Flask) -> None:
    """Attach the operator commands to the app's CLI group (Flask-Migrate adds `db`)."""
    app.cli.add_command(accounts)
    app.cli.add_command(tokens)
    app.cli.add_command(phone_numbers)
    app.cli.add_command(inbound)
    app.cli.add_command(inbound_url_command)
    app.cli.add_command(worker)
    app.cli.add_command(run)
    # flask-smorest's group, named for what it does: `campaign openapi print|write FILE`.
    app.cli.commands["openapi"].help = "Print or write the API's OpenAPI document (JSON or YAML)."


@click.group(help="Manage accounts (tenants).")
def accounts() -> None:
    pass


@accounts.command("list")
def list_accounts() -> None:
    """One line per account, oldest first: KEY<TAB>NAME."""
    for account in db.session.scalars(select(Account).order_by(Account.created_at, Account.id)):
        click.echo(f"{account.key}\t{account.name}")


@accounts.command("create")
@click.argument("key")
@click.option("--name", required=True, help="Display name of the account.")
def create_account(key: str, name: str) -> None:
    """Create an account whose X-Account-Key is KEY."""
    if not key.strip() or len(key) > 64 or any(c.isspace() for c in key):
        raise click.ClickException("the account key must be 1-64 characters without spaces")
    if db.session.scalar(select(Account.id).where(Account.key == key)):
        raise click.ClickException(f"an account with key {key!r} already exists")
    account = Account(key=key, name=name)
    db.session.add(account)
    transaction.commit()
    click.echo(f"created account {key}")
    click.echo(account.id)


@accounts.command("update")
@click.argument("key")
@click.option(
    "--rate-limit",
    required=True,
    help='Requests the account may make: "N/second", "N/minute", "N/hour", "off", or '
    '"default" for CAMPAIGN_API_RATE_LIMIT.',
)
def update_account(key: str, rate_limit: str) -> None:
    """Change the account whose X-Account-Key is KEY (its API rate limit)."""
    from campaign.limits.rates import parse_rate

    account = _account(key)
    if rate_limit.strip().lower() == "default":
        account.rate_limit = None
    else:
        try:
            rate = parse_rate(rate_limit)
        except ValueError as exc:
            raise click.ClickException(f"--rate-limit {exc}") from None
        account.rate_limit = "off" if rate is None else str(rate)
    transaction.commit()
    shown = account.rate_limit or f"the default ({current_app.config['API_RATE_LIMIT'] or 'off'})"
    click.echo(f"account {key}: rate limit {shown}")


@click.group(help="Manage API tokens.")
def tokens() -> None:
    pass


@tokens.command("create")
@click.argument("key")
def create_token(key: str) -> None:
    """Issue a token for account KEY; prints TOKENKEY:SECRET (the secret is not stored)."""
    token, secret = ApiToken.issue(_account(key))
    db.session.add(token)
    transaction.commit()
    click.echo(f"{token.id}:{secret}")


@tokens.command("list")
@click.argument("key")
def list_tokens(key: str) -> None:
    """One line per token of account KEY, oldest first: TOKENKEY<TAB>CREATED-AT<TAB>active|revoked
    (the token's key only: its secret is never stored, so never shown)."""
    for token in _oldest_first(ApiToken, _account(key)):
        state = "revoked" if token.revoked_at is not None else "active"
        click.echo(f"{token.id}\t{token.created_at.isoformat()}\t{state}")


@tokens.command("revoke")
@click.argument("token_key")
def revoke_token(token_key: str) -> None:
    """Revoke the token TOKENKEY."""
    token = db.session.get(ApiToken, token_key)
    if token is None:
        raise click.ClickException(f"no token with key {token_key!r}")
    token.revoked_at = token.revoked_at or utcnow()
    transaction.commit()
    click.echo(f"revoked token {token_key}")


@click.group("phone-numbers", help="Manage sender phone numbers.")
def phone_numbers() -> None:
    pass


THROUGHPUT = click.IntRange(1, 10_000)


@phone_numbers.command("list")
@click.argument("key")
def list_phone_numbers(key: str) -> None:
    """One line per sender of account KEY, oldest first: ID<TAB>+E164<TAB>THROUGHPUT<TAB>NAME."""
    for sender in _oldest_first(PhoneNumber, _account(key)):
        click.echo(f"{sender.id}\t{sender.number}\t{sender.throughput}\t{sender.name or ''}")


@phone_numbers.command("create")
@click.argument("key")
@click.argument("number")
@click.option(
    "--throughput",
    type=THROUGHPUT,
    default=None,
    help="Messages per second this sender may send (default CAMPAIGN_DEFAULT_THROUGHPUT, "
    "or the cap if lower).",
)
@click.option(
    "--max-throughput",
    type=THROUGHPUT,
    default=None,
    help="The account's cap for this number (default: --throughput, else the current cap).",
)
@click.option("--name", default=None, help="A label for the number.")
def create_phone_number_command(
    key: str, number: str, throughput: int | None, max_throughput: int | None, name: str | None
) -> None:
    """Allot NUMBER to account KEY and add it as a sender; prints the phone number's id."""
    from campaign.services.phone_numbers import allot_number, create_phone_number

    account = _account(key)
    try:
        allot_number(account, number, max_throughput or throughput)
        phone = create_phone_number(account, number, name=name, throughput=throughput)
    except ApiError as exc:
        transaction.rollback()
        raise click.ClickException(exc.detail) from None
    transaction.commit()
    click.echo(f"created phone number {phone.number} ({phone.throughput}/s)")
    click.echo(phone.id)


@phone_numbers.command("allot")
@click.argument("key")
@click.argument("number")
@click.option(
    "--max-throughput",
    type=THROUGHPUT,
    default=None,
    help="Messages per second the account may set (default CAMPAIGN_DEFAULT_THROUGHPUT, "
    "or the current cap); a lower cap lowers the sender too.",
)
def allot_number_command(key: str, number: str, max_throughput: int | None) -> None:
    """Allot NUMBER to account KEY, which may then add it as a sender over the API."""
    from campaign.services.phone_numbers import allot_number

    try:
        allotment = allot_number(_account(key), number, max_throughput)
    except ApiError as exc:
        transaction.rollback()
        raise click.ClickException(exc.detail) from None
    transaction.commit()
    click.echo(f"allotted {allotment.number} to {key} (at most {allotment.max_throughput}/s)")


@phone_numbers.command("revoke")
@click.argument("number")
def revoke_number_command(number: str) -> None:
    """Take NUMBER back from its account, deleting its sender (refused while it sends)."""
    from campaign.services.phone_numbers import revoke_number

    try:
        revoke_number(number)
    except ApiError as exc:
        transaction.rollback()
        raise click.ClickException(exc.detail) from None
    transaction.commit()
    click.echo(f"revoked {number}")


@click.command()
@click.argument("sender")
@click.argument("number")
@click.argument("body")
def inbound(sender: str, number: str, body: str) -> None:
    """Fake a text from SENDER to our NUMBER saying BODY, as a carrier would deliver it
    (console carrier only): stored, keywords honoured, replies sent by the workers."""
    from campaign.e164 import InvalidNumber, to_e164
    from campaign.models import new_id
    from campaign.providers import fields
    from campaign.providers.incoming import InboundText
    from campaign.services.inbound import receive

    if current_app.config["SMS_PROVIDER"] != "console":
        raise click.ClickException("campaign inbound fakes texts for the console carrier only")
    region = current_app.config["DEFAULT_REGION"]
    try:
        sender, number = to_e164(sender, region), to_e164(number, region)
    except InvalidNumber as exc:
        raise click.ClickException(str(exc)) from None
    stored_body = fields.inbound_body(body)
    if stored_body is None:
        raise click.ClickException(f"BODY is longer than {fields.MAX_INBOUND_BODY} characters")
    received = receive(InboundText(f"console-{new_id()}", sender, number, stored_body))
    if received is None:
        raise click.ClickException(f"no account holds {number}")
    transaction.commit()
    click.echo(f"received from {sender} to {number}")
    click.echo(received.id)


@click.command("inbound-url")
def inbound_url_command() -> None:
    """Print the URL the configured carrier should deliver incoming texts to (Twilio: a
    number's "A message comes in" webhook; Kannel: the sms-service get-url, token included)."""
    from campaign.providers import inbound_url

    _check_provider()
    url = inbound_url(current_app.config)
    if url is None:
        provider = current_app.config["SMS_PROVIDER"]
        if provider == "console":
            raise click.ClickException(
                "the console carrier takes no incoming texts; fake one with campaign inbound"
            )
        raise click.ClickException(f"{provider} needs PUBLIC_BASE_URL to deliver incoming texts")
    click.echo(url)


def _check_provider() -> None:
    """A worker or web process refuses to start without its carrier's settings."""
    from campaign.config import ConfigError, check_provider

    try:
        check_provider(current_app.config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--in-process", is_flag=True, help="Run jobs in this process instead of a forked child per job."
)
def worker(burst: bool, in_process: bool) -> None:
    """Run an RQ worker on the reply, dispatch and send queues, with the app context."""
    from campaign.workers.runner import run_worker

    _check_provider()
    run_worker(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        burst=burst,
        in_process=in_process,
    )


@click.command()
@click.option("--port", type=int, default=None, help="HTTP port (default: PORT).")
def run(port: int | None) -> None:
    """Quick start: migrate, then serve the API and run a worker together until Ctrl-C."""
    from flask_migrate import upgrade

    from campaign import quickstart
    from campaign.embedded_redis import started_here, stop_embedded_redis
    from campaign.resources.base import API_PREFIX

    instance_path = current_app.instance_path
    port = port or current_app.config["PORT"]
    try:
        _check_provider()
        quickstart.check_port_free(port)
        upgrade()
        env = dict(os.environ)
        # The children find the same SQLite file and embedded Redis through the instance folder.
        env["CAMPAIGN_INSTANCE_PATH"] = instance_path
        env.setdefault("DATABASE_URL", current_app.config["SQLALCHEMY_DATABASE_URI"])
        env.setdefault("REDIS_URL", current_app.config["REDIS_URL"])
        server = [sys.executable, "-m", "gunicorn", "--config", "python:campaign.web_server"]
        quickstart.supervise(
            {
                "worker": [sys.executable, "-m", "campaign", "worker"],
                "web server": [*server, "--bind", f"127.0.0.1:{port}", "campaign:create_web_app()"],
            },
            env,
            ready_url=f"http://127.0.0.1:{port}/api/openapi.json",
            announce=f"campaign is serving http://127.0.0.1:{port}{API_PREFIX} (Ctrl-C stops it)",
        )
    finally:
        # Started by this run (not found running): it goes with the run, whatever ended it.
        if started_here(instance_path):
            stop_embedded_redis(instance_path)


class CampaignGroup(FlaskGroup):
    """Flask's group, except that `--help` with a malformed setting shows the one-line error
    (Flask prints the traceback of any app that fails to load while listing commands), and a
    database failure in any command, `db upgrade` included, ends in one line on stderr."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DBAPIError as exc:
            raise _database_failure(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as exc:
            exc.show()
            return sorted(click.Group.list_commands(self, ctx))
        return super().list_commands(ctx)


def _create_app() -> Flask:
    from campaign import create_app
    from campaign.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A bad setting is the operator's to fix: one clear line and exit 1, not a traceback.
        raise click.ClickException(str(exc)) from None


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"campaign {metadata.version('campaign')}")
        ctx.exit()


_FLASK_OPTIONS = {"env_file", "app", "debug"}


def main() -> None:
    """Entry point of the `campaign` console script (and of `python -m campaign`)."""
    group = CampaignGroup(
        create_app=_create_app,
        add_default_commands=False,
        add_version_option=False,  # Flask's prints Flask's and Werkzeug's versions
        load_dotenv=False,
        help="campaign: bulk SMS campaign engine",
    )
    # Flask's own options (--env-file, --app, --debug) choose another app or settings file:
    # campaign has one app and takes its settings from the environment only.
    group.params = [param for param in group.params if param.name not in _FLASK_OPTIONS]
    group.params.append(
        click.Option(
            ["--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_print_version,
            help="Print campaign's version and exit.",
        )
    )
    group.main(prog_name="campaign")


if __name__ == "__main__":
    main()
