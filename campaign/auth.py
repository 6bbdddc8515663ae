"""Authentication: `X-Account-Key` plus a `TOKENKEY:SECRET` token gives the current account.

The token travels as HTTP Basic (`base64(TOKENKEY:SECRET)`, as Omnigage documents) or as
`Authorization: Token TOKENKEY:SECRET` (TextIt's form). A valid token of another account than the
one named by `X-Account-Key` is a 403, never a view into that account.
"""

from __future__ import annotations

import base64

from flask import Request, g

from campaign.errors import Forbidden, Unauthorized
from campaign.extensions import db
from campaign.models import Account, ApiToken
from campaign.models.account import verify_token
from campaign.models.base import ID_ALPHABET, ID_LENGTH

_ID_CHARACTERS = frozenset(ID_ALPHABET)


def _could_be_token_id(token_key: str) -> bool:
    """Only ids `new_id` can produce reach the database: Postgres rejects a NUL byte in a text
    parameter with an error (a 500), and a lookup of anything else could only miss."""
    return len(token_key) == ID_LENGTH and _ID_CHARACTERS.issuperset(token_key)


def _credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        # binascii.Error and UnicodeDecodeError are ValueErrors, and so is what b64decode
        # raises for a header with non-ASCII characters.
        except ValueError:
            raise Unauthorized(
                "the Basic credentials are not valid base64", header="Authorization"
            ) from None
    elif scheme == "token":
        decoded = value.strip()
    else:
        raise Unauthorized(
            "send Authorization: Basic base64(TOKENKEY:SECRET) or Token TOKENKEY:SECRET",
            header="Authorization",
        )
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret:
        raise Unauthorized("the token must have the form TOKENKEY:SECRET", header="Authorization")
    return key, secret


def authenticate(request: Request) -> Account:
    """The account the request acts for; raise Unauthorized or Forbidden."""
    account_key = request.headers.get("X-Account-Key", "").strip()
    if not account_key:
        raise Unauthorized("the X-Account-Key header is required", header="X-Account-Key")
    token_key, secret = _credentials(request)
    token = db.session.get(ApiToken, token_key) if _could_be_token_id(token_key) else None
    if not verify_token(token, secret):
        raise Unauthorized("the API token is unknown, revoked or wrong", header="Authorization")
    assert token is not None
    if token.account.key != account_key:
        raise Forbidden(
            "this token does not belong to the account named by X-Account-Key",
            header="X-Account-Key",
        )
    g.account = token.account
    return token.account


def current_account() -> Account:
    return g.account
