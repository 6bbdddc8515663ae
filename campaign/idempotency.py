"""`Idempotency-Key` on POST and PATCH (Stripe's and Telnyx's semantics), at the request
boundary (`CampaignFlask.dispatch_request`).

The first request with a key claims it (a row of `idempotent_requests`, committed before the
work begins, with a lease), does its work, and stores its answer in the same transaction as
that work; a repeat with the same key and the same request (method, path, query and body)
within KEEP gets the stored answer again with `Idempotent-Replayed: true` and does nothing; the
same key with another request is 422; a repeat while the first is still in flight is 409. A
request that fails (an error answer, a crash) stores nothing and gives its key back, so the
client may retry it: only what was done is replayed. A process killed mid-request leaves its
claim behind; once its lease (CAMPAIGN_IDEMPOTENCY_LEASE, longer than any request runs:
gunicorn kills a worker after its timeout) has passed the key may be claimed again, so no key
stays stuck.
Keys are per account, 1 to 255 visible ASCII characters.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import Request, Response, current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from campaign import transaction
from campaign.auth import current_account
from campaign.errors import ApiError, Conflict, UnprocessableContent
from campaign.extensions import db
from campaign.models import IdempotentRequest, new_id, utcnow
from campaign.models.base import insert_new
from campaign.models.idempotent_request import MAX_KEY_LENGTH

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PATCH"})
# How long an answer is kept for its key, as Stripe keeps them.
KEEP = timedelta(hours=24)
# The answer's headers that are part of it (the rest are the server's of the moment).
STORED_HEADERS = ("Content-Type", "Location")


@dataclass(frozen=True)
class Claim:
    """This request holds its key: `row_id` gets its answer."""

    row_id: str


def _key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None or request.method not in METHODS:
        return None
    if (
        not 1 <= len(key) <= MAX_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
        or (" " in key)
    ):
        raise ApiError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters", header=HEADER
        )
    return key


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.full_path.rstrip('?')}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def claim(request: Request) -> Claim | Response | None:
    """Claim the request's key: a Claim to go on with, the stored answer to replay, or None
    when the request carries no key (or is not a POST or PATCH). Raises 409 or 422."""
    key = _key(request)
    if key is None:
        return None
    account_id, fingerprint, now = current_account().id, _fingerprint(request), utcnow()
    lease = timedelta(seconds=current_app.config["IDEMPOTENCY_LEASE"])
    # A key's answer is kept KEEP; after it the key is as new.
    db.session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.account_id == account_id,
            IdempotentRequest.key == key,
            IdempotentRequest.created_at < now - KEEP,
        )
    )
    row_id = new_id()
    insert_new(
        IdempotentRequest,
        [
            {
                "id": row_id,
                "account_id": account_id,
                "key": key,
                "fingerprint": fingerprint,
                "headers": {},
                "locked_until": now + lease,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    held = db.session.scalars(
        select(IdempotentRequest).where(
            IdempotentRequest.account_id == account_id, IdempotentRequest.key == key
        )
    ).one()
    if held.id == row_id:
        transaction.commit()  # the claim is seen by a repeat before the work begins
        return Claim(row_id)
    if held.fingerprint != fingerprint:
        transaction.rollback()
        raise UnprocessableContent(
            f"this {HEADER} was used for another request; use a new key for this one",
            header=HEADER,
        )
    if held.status is not None:
        transaction.rollback()
        return _replay(held)
    if held.locked_until is not None and held.locked_until > now:
        transaction.rollback()
        raise Conflict(
            f"the first request with this {HEADER} is still being processed; retry later",
            header=HEADER,
        )
    # Its first request died mid-way (its lease ran out): this one takes the key over.
    taken = db.session.execute(
        update(IdempotentRequest)
        .where(IdempotentRequest.id == held.id, IdempotentRequest.locked_until == held.locked_until)
        .values(locked_until=now + lease, updated_at=now)
    ).rowcount
    transaction.commit()
    if not taken:
        raise Conflict(
            f"another request with this {HEADER} took it over; retry later", header=HEADER
        )
    return Claim(held.id)


def _replay(held: IdempotentRequest) -> Response:
    response = Response(held.body or b"", status=held.status)
    for name, value in held.headers.items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def store(claimed: Claim, response: Response) -> None:
    """Keep the answer of the claimed request, in the transaction of its work."""
    db.session.execute(
        update(IdempotentRequest)
        .where(IdempotentRequest.id == claimed.row_id)
        .values(
            status=response.status_code,
            headers={
                name: response.headers[name] for name in STORED_HEADERS if name in response.headers
            },
            body=response.get_data(),
            locked_until=None,
            updated_at=utcnow(),
        )
    )


def release(claimed: Claim) -> None:
    """Give the key back after a request that failed: nothing was done, nothing is replayed.
    When the database itself failed, the claim stays until its lease ends (logged)."""
    try:
        db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == claimed.row_id))
        transaction.commit()
    except SQLAlchemyError:
        transaction.rollback()
        log.warning("could not give an Idempotency-Key back; its lease will", exc_info=True)


def forget_expired(limit: int = 10_000) -> int:
    """Delete up to `limit` answers older than KEEP (the sweep calls it); how many."""
    cutoff = utcnow() - KEEP
    ids = db.session.scalars(
        select(IdempotentRequest.id).where(IdempotentRequest.created_at < cutoff).limit(limit)
    ).all()
    if ids:
        db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id.in_(ids)))
    return len(ids)
