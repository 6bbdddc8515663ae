"""Accounts (tenants, addressed by their `X-Account-Key`) and their API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.models.base import ID_LENGTH, Timestamps, UTCDateTime, id_column, new_id


class Account(Timestamps, db.Model):
    __tablename__ = "accounts"

    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # The operator's override of CAMPAIGN_API_RATE_LIMIT for this account ("100/minute",
    # "off"; limits/rates.py reads it); null: the setting.
    rate_limit: Mapped[str | None] = mapped_column(String(32))


def hash_secret(secret: str) -> str:
    """SHA-256 of a token secret: secrets are 256 random bits, so a slow KDF would add nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


# Compared against when the token key is unknown, so both paths do the same work.
_UNKNOWN_TOKEN_HASH = hash_secret("unknown-token")


class ApiToken(Timestamps, db.Model):
    """A `TOKENKEY:SECRET` pair; only a hash of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(lazy="joined")

    @classmethod
    def issue(cls, account: Account) -> tuple[ApiToken, str]:
        """A new token for `account` and its secret, which is shown once and never stored."""
        secret = secrets.token_urlsafe(32)
        token = cls(id=new_id(), account_id=account.id, secret_hash=hash_secret(secret))
        return token, secret

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(secret)) and (
            self.revoked_at is None
        )


def verify_token(token: ApiToken | None, secret: str) -> bool:
    """Constant-time check of `secret`, doing the same work whether or not the token exists."""
    if token is None:
        hmac.compare_digest(_UNKNOWN_TOKEN_HASH, hash_secret(secret))
        return False
    return token.matches(secret)
