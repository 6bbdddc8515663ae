"""Sender numbers: a tenant cannot take another's number or raise its cap, two rows can never
double a number's rate, concurrent creates are 409s, and texts leave from their own `from`."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from flask import Flask
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campaign.extensions import db, redis_store
from campaign.models import PhoneNumber, Text
from campaign.workers.queues import DISPATCH_QUEUE, QUEUE_NAMES
from campaign.workers.runner import InProcessWorker
from campaign.workers.throttle import SenderThrottle
from tests.client import ApiClient
from tests.factories import allot, build_seed_campaign, make_phone_number, resource
from tests.jobs import drain
from tests.servers import configured, serve
from tests.sinks.twilio import TwilioSink

URL = "/api/v1/phone-numbers"
A_NUMBER = "+15195550100"


def _rows_of(app: Flask, number: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(PhoneNumber).where(PhoneNumber.number == number)
        )


def _schedule(api: ApiClient, engagement_id: str) -> None:
    reply = api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource(
            "engagements",
            {"status": "scheduled", "delivery-type": "immediately"},
            id_=engagement_id,
        ),
    )
    assert reply.status == 202, reply.document


def test_tenant_cannot_post_another_tenants_number(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    with app.app_context():
        make_phone_number(account_id=api.credentials.account_id, number=A_NUMBER, throughput=1)
    reply = other_api.post(
        URL, resource("phone-numbers", {"number": A_NUMBER, "throughput": 10_000})
    )
    assert reply.status == 403
    assert reply.pointers() == ["/data/attributes/number"]
    assert other_api.get(URL).data == []
    assert _rows_of(app, A_NUMBER) == 1


def test_tenant_cannot_post_an_unallotted_number(app: Flask, api: ApiClient) -> None:
    reply = api.post(URL, resource("phone-numbers", {"number": "+15195550199"}))
    assert reply.status == 403
    assert reply.pointers() == ["/data/attributes/number"]
    assert _rows_of(app, "+15195550199") == 0


def test_throughput_above_the_cap_is_refused_and_lowering_is_fine(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=A_NUMBER, max_throughput=10)
    over = api.post(URL, resource("phone-numbers", {"number": A_NUMBER, "throughput": 11}))
    assert over.status == 403
    assert over.pointers() == ["/data/attributes/throughput"]
    assert _rows_of(app, A_NUMBER) == 0

    created = api.post(URL, resource("phone-numbers", {"number": A_NUMBER, "throughput": 10}))
    assert created.status == 201
    phone_id = created.data["id"]
    raised = api.patch(
        f"{URL}/{phone_id}", resource("phone-numbers", {"throughput": 10_000}, id_=phone_id)
    )
    assert raised.status == 403
    assert raised.pointers() == ["/data/attributes/throughput"]
    lowered = api.patch(
        f"{URL}/{phone_id}", resource("phone-numbers", {"throughput": 2}, id_=phone_id)
    )
    assert lowered.status == 200
    assert api.get(f"{URL}/{phone_id}").data["attributes"]["throughput"] == 2


def test_a_missing_throughput_is_the_default_or_the_cap_if_lower(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=A_NUMBER, max_throughput=1)
    with configured(app, DEFAULT_THROUGHPUT=5):
        created = api.post(URL, resource("phone-numbers", {"number": A_NUMBER}))
    assert created.status == 201
    assert created.data["attributes"]["throughput"] == 1


def test_the_database_refuses_a_second_accounts_row_for_a_number(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    with app.app_context():
        make_phone_number(account_id=api.credentials.account_id, number=A_NUMBER)
        db.session.add(
            PhoneNumber(account_id=other_api.credentials.account_id, number=A_NUMBER, throughput=1)
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
    assert _rows_of(app, A_NUMBER) == 1


def test_concurrent_creates_of_one_number_are_one_201_and_409s(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=A_NUMBER)
    body = json.dumps(resource("phone-numbers", {"number": A_NUMBER}))
    with serve(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:

        def post(_: int) -> httpx.Response:
            return client.post(URL, content=body, headers=api.headers())

        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(post, range(8)))
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [201] + [409] * 7
    for reply in replies:
        if reply.status_code == 409:
            error = reply.json()["errors"][0]
            assert (error["status"], error["source"]) == (
                "409",
                {"pointer": "/data/attributes/number"},
            )
    assert _rows_of(app, A_NUMBER) == 1


def test_a_number_booked_by_any_row_defers_the_send(app: Flask, api: ApiClient) -> None:
    # The number's budget is spent far ahead (as another row of the same number would): the
    # worker must wait its turn, not start a second budget keyed by its own row.
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1)
        SenderThrottle(redis_store.connection).reserve_many(A_NUMBER, 1, [1] * 60, max_wait=120)
    seed = build_seed_campaign(api, phone_id)
    _schedule(api, seed.engagement_id)
    with app.app_context():
        connection = redis_store.connection
        worker = InProcessWorker(
            [Queue(name, connection=connection) for name in QUEUE_NAMES], connection=connection
        )
        worker.app, worker.parent_pid = app, os.getpid()
        worker.work(burst=True)
        statuses = db.session.scalars(
            select(Text.status).where(Text.engagement_id == seed.engagement_id)
        ).all()
    assert sorted(statuses) == ["queued", "queued"]


def test_the_number_cannot_change_while_an_engagement_sends_from_it(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
        allot(account_id=api.credentials.account_id, number="+15195550101")
    seed = build_seed_campaign(api, phone_id)
    _schedule(api, seed.engagement_id)
    refused = api.patch(
        f"{URL}/{phone_id}", resource("phone-numbers", {"number": "+15195550101"}, id_=phone_id)
    )
    assert refused.status == 409
    assert refused.pointers() == ["/data/attributes/number"]
    assert api.get(f"{URL}/{phone_id}").data["attributes"]["number"] == A_NUMBER


def test_texts_leave_from_their_own_from(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
        allot(account_id=api.credentials.account_id, number="+15195550101")
    seed = build_seed_campaign(api, phone_id)
    _schedule(api, seed.engagement_id)
    with app.app_context():
        connection = redis_store.connection
        dispatcher = InProcessWorker(
            [Queue(DISPATCH_QUEUE, connection=connection)], connection=connection
        )
        dispatcher.app, dispatcher.parent_pid = app, os.getpid()
        dispatcher.work(burst=True)
        # A change that reached the row after dispatch (the API refuses it; an operator's SQL
        # or an older release did not) must not reach texts already dispatched.
        phone = db.session.get(PhoneNumber, phone_id)
        phone.number = "+15195550101"
        db.session.commit()
    with TwilioSink() as sink, serve(app) as base_url:
        settings = {
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": sink.account_sid,
            "TWILIO_AUTH_TOKEN": sink.auth_token,
            "TWILIO_API_BASE": sink.url,
            "PUBLIC_BASE_URL": base_url,
        }
        with configured(app, **settings):
            drain(app)
        senders = {message.from_ for message in sink.messages}
    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
    assert {text["attributes"]["from"] for text in texts} == {A_NUMBER}
    assert senders == {A_NUMBER}
