"""Authentication: `X-Account-Key` with a `TOKENKEY:SECRET` token (Basic or `Token`), 401 with
`WWW-Authenticate` for missing or bad credentials, 403 for a token of another account."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from campaign.models import ApiToken, Engagement, utcnow
from tests.client import ApiClient, Reply
from tests.factories import Credentials, resource

ENGAGEMENTS = "/api/v1/engagements"


def b64(raw: bytes | str) -> str:
    return base64.b64encode(raw.encode() if isinstance(raw, str) else raw).decode()


def token_key(credentials: Credentials) -> str:
    return credentials.token.partition(":")[0]


def assert_auth_error(reply: Reply, status: int, header: str) -> None:
    """One JSON:API error with the given status that blames `header`."""
    assert reply.status == status, reply.document
    assert len(reply.errors) == 1
    assert reply.errors[0]["status"] == str(status)
    assert reply.errors[0]["source"] == {"header": header}
    assert "data" not in reply.document


def assert_unauthorized(reply: Reply, header: str = "Authorization") -> None:
    assert_auth_error(reply, 401, header)
    # RFC 9110: a 401 must tell the client which scheme to use.
    assert reply.headers.get("WWW-Authenticate", "").startswith("Basic ")


def run_cli(app: Flask, *args: str) -> str:
    """Run a `campaign` command as the console script would (it pushes an app context)."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
        db.session.remove()
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def engagement_count(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Engagement.id)).all())


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(lambda token: "Basic " + b64(token), id="basic"),
        pytest.param(lambda token: f"Token {token}", id="token"),
        # Schemes are case-insensitive (RFC 9110 section 11.1).
        pytest.param(lambda token: "basic " + b64(token), id="basic-lowercase"),
        pytest.param(lambda token: f"TOKEN {token}", id="token-uppercase"),
    ],
)
def test_both_authorization_forms_authenticate_reads_and_writes(
    app: Flask, api: ApiClient, authorization: Callable[[str], str]
) -> None:
    headers = {"Authorization": authorization(api.credentials.token)}

    created = api.post(ENGAGEMENTS, resource("engagements", {"name": "Spring"}), headers=headers)
    listed = api.get(ENGAGEMENTS, headers=headers)

    assert created.status == 201, created.document
    assert listed.status == 200
    assert [item["id"] for item in listed.data] == [created.data["id"]]


@pytest.mark.parametrize("account_key", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_missing_account_key_is_unauthorized(api: ApiClient, account_key: str | None) -> None:
    reply = api.get(ENGAGEMENTS, headers={"X-Account-Key": account_key})

    assert_unauthorized(reply, header="X-Account-Key")


# Each builds an Authorization header from the account's valid `TOKENKEY:SECRET`.
BAD_AUTHORIZATIONS: dict[str, Callable[[str], str | None]] = {
    "absent": lambda token: None,
    "empty": lambda token: "",
    "basic-without-value": lambda token: "Basic",
    "basic-not-base64": lambda token: "Basic !!not*base64!!",
    "basic-unencoded-token": lambda token: f"Basic {token}",
    "basic-not-utf8": lambda token: "Basic " + b64(b"\xff\xfe:\xfd"),
    "basic-no-colon": lambda token: "Basic " + b64(token.replace(":", "")),
    "basic-empty-key": lambda token: "Basic " + b64(":" + token.partition(":")[2]),
    "basic-empty-secret": lambda token: "Basic " + b64(token.partition(":")[0] + ":"),
    "token-no-colon": lambda token: "Token " + token.replace(":", ""),
    "token-without-value": lambda token: "Token",
    "bearer-scheme": lambda token: f"Bearer {token}",
    "digest-scheme": lambda token: "Digest " + b64(token),
    "no-scheme": lambda token: token,
    "unknown-token-key": lambda token: "Basic " + b64("Zz" * 11 + ":" + token.partition(":")[2]),
    "over-long-token-key": lambda token: "Token " + "k" * 200 + ":" + token.partition(":")[2],
    "nul-in-token-key": lambda token: "Basic " + b64("abc\x00def:" + token.partition(":")[2]),
    "wrong-secret": lambda token: "Basic " + b64(token.partition(":")[0] + ":not-the-secret"),
    "secret-of-other-case": lambda token: (
        "Basic " + b64(token.partition(":")[0] + ":" + token.partition(":")[2].swapcase())
    ),
    "secret-with-suffix": lambda token: f"Token {token}x",
}


@pytest.mark.parametrize("build", BAD_AUTHORIZATIONS.values(), ids=BAD_AUTHORIZATIONS.keys())
def test_missing_or_bad_authorization_is_unauthorized_with_challenge(
    api: ApiClient, build: Callable[[str], str | None]
) -> None:
    reply = api.get(ENGAGEMENTS, headers={"Authorization": build(api.credentials.token)})

    assert_unauthorized(reply)


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_unauthenticated_writes_are_refused_before_anything_changes(
    app: Flask, api: ApiClient, method: str
) -> None:
    created = api.post(ENGAGEMENTS, resource("engagements", {"name": "Spring"}))
    engagement_id = created.data["id"]
    path = ENGAGEMENTS if method == "POST" else f"{ENGAGEMENTS}/{engagement_id}"
    body = resource(
        "engagements", {"name": "Changed"}, id_=None if method == "POST" else engagement_id
    )

    reply = api.request(
        method,
        path,
        None if method == "DELETE" else body,
        headers={"Authorization": "Basic " + b64("nobody:nothing")},
    )

    assert_unauthorized(reply)
    assert engagement_count(app) == 1
    assert api.get(f"{ENGAGEMENTS}/{engagement_id}").data["attributes"]["name"] == "Spring"


def test_unauthenticated_request_for_unknown_path_is_401_not_404(api: ApiClient) -> None:
    # Authentication comes first, so an anonymous caller cannot probe which ids or routes exist.
    reply = api.get(f"{ENGAGEMENTS}/yrbCdxqV2ZMdQBCszhA7TZ", headers={"Authorization": None})

    assert_unauthorized(reply)


def test_token_revoked_on_the_model_is_unauthorized(app: Flask, api: ApiClient) -> None:
    assert api.get(ENGAGEMENTS).status == 200
    with app.app_context():
        token = db.session.get(ApiToken, token_key(api.credentials))
        assert token is not None
        token.revoked_at = utcnow()
        db.session.commit()

    for authorization in ("Basic " + b64(api.credentials.token), f"Token {api.credentials.token}"):
        assert_unauthorized(api.get(ENGAGEMENTS, headers={"Authorization": authorization}))


def test_token_revoked_with_the_cli_is_unauthorized_and_other_tokens_still_work(
    app: Flask, api: ApiClient
) -> None:
    second_token = run_cli(app, "tokens", "create", api.credentials.key)

    run_cli(app, "tokens", "revoke", token_key(api.credentials))

    assert_unauthorized(api.get(ENGAGEMENTS))
    reply = api.get(ENGAGEMENTS, headers={"Authorization": "Basic " + b64(second_token)})
    assert reply.status == 200, reply.document


def test_token_of_another_account_is_forbidden(api: ApiClient, other_api: ApiClient) -> None:
    # firstbank's valid token, naming secondbank's account.
    mine = other_api.post(ENGAGEMENTS, resource("engagements", {"name": "Second's"}))
    assert mine.status == 201

    for authorization in ("Basic " + b64(api.credentials.token), f"Token {api.credentials.token}"):
        reply = other_api.get(ENGAGEMENTS, headers={"Authorization": authorization})
        assert_auth_error(reply, 403, "X-Account-Key")
    written = other_api.post(
        ENGAGEMENTS,
        resource("engagements", {"name": "Planted"}),
        headers={"Authorization": "Basic " + b64(api.credentials.token)},
    )
    assert_auth_error(written, 403, "X-Account-Key")
    assert [item["id"] for item in other_api.get(ENGAGEMENTS).data] == [mine.data["id"]]
    assert api.get(ENGAGEMENTS).data == []


def test_unknown_account_key_with_valid_token_is_forbidden_like_a_foreign_one(
    api: ApiClient, other_account: Credentials
) -> None:
    unknown = api.get(ENGAGEMENTS, headers={"X-Account-Key": "nosuchbank"})
    foreign = api.get(ENGAGEMENTS, headers={"X-Account-Key": other_account.key})

    assert_auth_error(unknown, 403, "X-Account-Key")
    # Identical answers, so a token holder cannot learn which account keys exist.
    assert unknown.document == foreign.document
    assert "nosuchbank" not in unknown.errors[0]["detail"]
    assert other_account.key not in foreign.errors[0]["detail"]


def test_token_names_its_own_account_even_with_a_padded_account_key(api: ApiClient) -> None:
    reply = api.get(ENGAGEMENTS, headers={"X-Account-Key": f" {api.credentials.key} "})

    assert reply.status == 200, reply.document


def test_only_a_hash_of_the_secret_is_stored(app: Flask, account: Credentials) -> None:
    key, _, secret = account.token.partition(":")
    with app.app_context():
        token = db.session.get(ApiToken, key)
        assert token is not None
        stored = [str(value) for value in (token.id, token.account_id, token.secret_hash)]

    assert token.secret_hash != secret
    assert all(secret not in value for value in stored)
    assert len(token.secret_hash) == 64
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()


def test_cli_token_prints_a_working_secret_that_is_not_stored(
    app: Flask, account: Credentials
) -> None:
    printed = run_cli(app, "tokens", "create", account.key)
    key, _, secret = printed.partition(":")

    with app.app_context():
        token = db.session.get(ApiToken, key)
        assert token is not None
        assert token.account_id == account.account_id
        assert token.secret_hash != secret
        assert secret not in token.secret_hash
    client = ApiClient(app.test_client(), Credentials(account.account_id, account.key, printed))
    assert client.get(ENGAGEMENTS).status == 200
