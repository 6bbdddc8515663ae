"""Idempotency-Key on POST and PATCH against the real stack: a repeat replays the first answer
and does nothing again, another request under the key is 422, one in flight 409, a failed
request gives its key back, a claim left by a killed process ends with its lease, keys are per
account and kept a day; bad keys are 400s that store nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import delete, update

from campaign.extensions import db
from campaign.models import IdempotentRequest, TextTemplate, utcnow
from campaign.workers.sweep import sweep
from tests.assertions import assert_error, row_count, unchanged
from tests.client import ApiClient
from tests.factories import BULK, envelope, resource

TEMPLATES = "/api/v1/text-templates"


def _template(name: str = "Weekly", body: str = "Hi {{first-name}}") -> dict:
    return resource("text-templates", {"name": name, "body": body})


def _post(api: ApiClient, key: str, document: dict, path: str = TEMPLATES, **headers: str):
    return api.post(path, document, headers={"Idempotency-Key": key, **headers})


def test_a_repeated_post_replays_the_first_answer_and_creates_nothing_more(
    app: Flask, api: ApiClient
) -> None:
    first = _post(api, "order-1", _template())
    again = _post(api, "order-1", _template())
    assert (first.status, again.status) == (201, 201)
    assert again.document == first.document
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert row_count(app, "text_templates") == 1


def test_a_bulk_upload_and_a_patch_replay_too(app: Flask, api: ApiClient) -> None:
    engagement = api.post(
        "/api/v1/engagements", resource("engagements", {"name": "E", "direction": "outbound"})
    )
    engagement_id = engagement.data["id"]
    bulk = {"data": [envelope(engagement_id, f"+1519{7000000 + i:07d}") for i in range(20)]}
    uploads = [_post(api, "upload-1", bulk, "/api/v1/envelopes", **BULK) for _ in range(2)]
    assert [u.status for u in uploads] == [201, 201]
    assert uploads[1].headers["Idempotent-Replayed"] == "true"
    assert row_count(app, "envelopes") == 20
    rename = resource("engagements", {"name": "Renamed"}, id_=engagement_id)
    path = f"/api/v1/engagements/{engagement_id}"
    patched = [api.patch(path, rename, headers={"Idempotency-Key": "rename-1"}) for _ in range(2)]
    assert [p.status for p in patched] == [200, 200]
    assert patched[1].headers["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_request_is_422_and_changes_nothing(
    app: Flask, api: ApiClient
) -> None:
    assert _post(api, "k", _template()).status == 201
    with unchanged(app):
        other = _post(api, "k", _template(name="Other"))
        assert_error(other, 422, header="Idempotency-Key", detail="another request")
        elsewhere = _post(api, "k", {"data": {"type": "engagements"}}, "/api/v1/engagements")
        assert_error(elsewhere, 422, header="Idempotency-Key")


def _claim_in_flight(app: Flask, api: ApiClient, key: str, document: dict, *, lease: float) -> None:
    """What a request holding `key` leaves while it works, or after its process died: its claim
    (the same request's fingerprint) without an answer, and none of its work committed."""
    assert _post(api, key, document).status == 201
    with app.app_context():
        db.session.execute(
            update(IdempotentRequest).values(
                status=None, body=None, headers={}, locked_until=utcnow() + timedelta(seconds=lease)
            )
        )
        db.session.execute(delete(TextTemplate))
        db.session.commit()


def test_a_repeat_while_the_first_is_in_flight_is_409(app: Flask, api: ApiClient) -> None:
    _claim_in_flight(app, api, "busy", _template(), lease=60)
    with unchanged(app):
        assert_error(_post(api, "busy", _template()), 409, header="Idempotency-Key")


def test_a_claim_left_by_a_killed_process_ends_with_its_lease(app: Flask, api: ApiClient) -> None:
    """What a gunicorn worker killed mid-request leaves: a claim with no answer. Once its lease
    has passed, the retry is done (once) and answered."""
    _claim_in_flight(app, api, "orphan", _template(), lease=-1)
    retried = _post(api, "orphan", _template())
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert _post(api, "orphan", _template()).headers["Idempotent-Replayed"] == "true"
    assert row_count(app, "text_templates") == 1


def test_a_failed_request_stores_nothing_and_gives_its_key_back(app: Flask, api: ApiClient) -> None:
    with unchanged(app):
        refused = _post(api, "fix-me", _template(body="{{ broken"))
        assert refused.status == 400
    fixed = _post(api, "fix-me", _template())
    assert fixed.status == 201 and "Idempotent-Replayed" not in fixed.headers


def test_keys_are_per_account_and_ignored_where_nothing_is_written(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    assert _post(api, "one-key-two-accounts", _template()).status == 201
    theirs = _post(other_api, "one-key-two-accounts", _template())
    assert theirs.status == 201 and "Idempotent-Replayed" not in theirs.headers
    listed = api.get(TEMPLATES, headers={"Idempotency-Key": "one-key-two-accounts"})
    assert listed.status == 200 and "Idempotent-Replayed" not in listed.headers
    assert row_count(app, "idempotent_requests") == 2


def test_an_answer_is_kept_a_day_and_then_forgotten(app: Flask, api: ApiClient) -> None:
    assert _post(api, "daily", _template()).status == 201
    with app.app_context():
        db.session.execute(
            update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    fresh = _post(api, "daily", _template(name="Tomorrow"))  # the key is as new
    assert fresh.status == 201 and "Idempotent-Replayed" not in fresh.headers
    with app.app_context():
        db.session.execute(
            update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
        sweep()
    assert row_count(app, "idempotent_requests") == 0


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "two words", "tab\there"], ids=repr)
def test_a_malformed_key_is_400_at_the_header_and_stores_nothing(
    app: Flask, api: ApiClient, key: str
) -> None:
    with unchanged(app):
        assert_error(_post(api, key, _template()), 400, header="Idempotency-Key")


def test_the_longest_key_is_taken(api: ApiClient) -> None:
    assert _post(api, "k" * 255, _template()).status == 201
