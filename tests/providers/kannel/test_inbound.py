"""providers/kannel/inbound.py: the sms-service get-url (a token of SECRET_KEY and Kannel's
escape codes) and what smsbox fetches there, read into an InboundText or refused; then MO texts
through the real gateway (bearerbox + smsbox + fakesmsc) to the app on loopback, stored once,
linked, keywords honoured and their confirmations sent back through Kannel."""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import select

from campaign.compliance.keywords import Keyword
from campaign.errors import ApiError, Forbidden
from campaign.extensions import db
from campaign.models import Text
from campaign.models.account_reply import DEFAULT_REPLIES
from campaign.providers.incoming import InboundText, IncomingRequest
from campaign.providers.kannel.inbound import (
    INBOUND,
    inbound_token,
    inbound_url,
    parse_inbound,
)
from campaign.providers.kannel.receipts import kannel_signature
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, LoopbackClient, Reply, assert_jsonapi
from tests.factories import allot, scheduled_seed_campaign
from tests.jobs import drain
from tests.kannel_gateway import KannelGateway, require_kannel
from tests.servers import configured, serve

SENDER = "+15197566220"
OURS = "+15195550100"
MESSAGE_ID = "4ec23dbc-1214-4dbd-aee2-54e35f950fe4"  # as Kannel's %I fills it
CONFIG = {"PUBLIC_BASE_URL": "https://sms.example", "SECRET_KEY": "s3cret", "DEFAULT_REGION": "US"}
TOKEN = "02494aba91d821a9bacc31774727a02b"  # inbound_token("s3cret"), computed once


def kannel_values(
    text: str = "STOP",
    charset: str = "UTF-8",
    *,
    sender: str = SENDER,
    receiver: str = OURS,
    message_id: str = MESSAGE_ID,
) -> dict[str, str]:
    """The escape codes as Kannel fills them for an MO message (`ESCAPES`), already encoded:
    a UCS-2 message's bytes are UTF-16BE, a 7-bit one's UTF-8."""
    return {
        "q": urllib.parse.quote_plus(sender, safe=""),
        "Q": urllib.parse.quote_plus(receiver, safe=""),
        "e": hexed(text, "utf-16-be" if charset == "UTF-16BE" else "utf-8"),
        "C": charset,
        "I": message_id,
    }


def fill(get_url: str, values: dict[str, str]) -> str:
    """What smsbox fetches for `get_url`: each `%x` escape code replaced by its value, `%%` by
    `%`, and any other `%x` left as it is (Kannel's urltrans_fill_escape_codes)."""
    filled, index = [], 0
    while index < len(get_url):
        if get_url[index] == "%" and index + 1 < len(get_url):
            code = get_url[index + 1]
            filled.append("%" if code == "%" else values.get(code, "%" + code))
            index += 2
        else:
            filled.append(get_url[index])
            index += 1
    return "".join(filled)


def fetched(query: dict[str, str]) -> IncomingRequest:
    return IncomingRequest(full_path=INBOUND.path, query=query, form={}, headers={})


def query_of(url: str) -> dict[str, str]:
    """The query as the route reads it (the first of a repeated name, like Flask's args)."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    query: dict[str, str] = {}
    for name, value in pairs:
        query.setdefault(name, value)
    return query


def kannel_query(**changes: str | None) -> dict[str, str]:
    """The query of a good fetch under CONFIG, with parameters changed (None: left out)."""
    url = inbound_url(CONFIG)
    assert url is not None
    return changed(query_of(fill(url, kannel_values())), changes)


def changed(query: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """`query` with each change made: a value set, or the parameter left out (None)."""
    merged: dict[str, str | None] = {**query, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def hexed(text: str, codec: str = "utf-8") -> str:
    return text.encode(codec).hex().upper()


REPORT_SIG = kannel_signature("s3cret", "inbound")  # a delivery report's, for a text "inbound"
UCS2_1601 = {"hex": hexed("é" * 1601, "utf-16-be"), "charset": "UTF-16BE"}


# -- the get-url and its token -------------------------------------------------------------------


def test_kannel_fetches_the_inbound_path_and_gets_an_empty_text_back() -> None:
    assert (INBOUND.path, INBOUND.method, INBOUND.answer, INBOUND.content_type) == (
        "/inbound/kannel",
        "GET",
        "",
        "text/plain",
    )


def test_the_get_url_carries_the_token_and_kannels_escape_codes() -> None:
    assert inbound_url(CONFIG) == (
        f"https://sms.example/inbound/kannel?token={TOKEN}&from=%q&to=%Q&hex=%e&charset=%C&id=%I"
    )
    assert inbound_url({**CONFIG, "PUBLIC_BASE_URL": None}) is None


def test_the_get_url_doubles_our_own_percent_signs_for_kannel() -> None:
    url = inbound_url({**CONFIG, "PUBLIC_BASE_URL": "https://sms.example/a%2Fb"})
    assert url is not None and url.startswith("https://sms.example/a%%2Fb/inbound/kannel?")
    assert fill(url, kannel_values()).startswith("https://sms.example/a%2Fb/inbound/kannel?")


@pytest.mark.parametrize(
    ("secret_key", "token"),
    [
        # Computed once from the definition: HMAC-SHA256("kannel-inbound"), first 32 hex digits.
        ("s3cret", TOKEN),
        ("other", "1a6c893ce0c9d937364bcd9c13602498"),
    ],
)
def test_the_token_is_fixed_per_key(secret_key: str, token: str) -> None:
    assert inbound_token(secret_key) == token


def test_the_token_is_no_delivery_report_signature() -> None:
    # A report's sig signs "kannel:" + a text id; the token's label has no colon after "kannel".
    assert inbound_token("s3cret") not in {
        kannel_signature("s3cret", text_id) for text_id in ("", "inbound", "-inbound", TOKEN)
    }


# -- reading what smsbox fetched -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, InboundText(MESSAGE_ID, SENDER, OURS, "STOP")),
        # A UCS-2 text comes as its UTF-16BE bytes, in any case of hex digits and charset name.
        ({"hex": hexed("Стоп 🚫", "utf-16-be"), "charset": "UTF-16BE"},
         InboundText(MESSAGE_ID, SENDER, OURS, "Стоп 🚫")),
        ({"hex": hexed("Привет", "utf-16-be").lower(), "charset": "utf-16be"},
         InboundText(MESSAGE_ID, SENDER, OURS, "Привет")),
        # smsbox's mo-recode makes a UCS-2 text UTF-8.
        ({"hex": hexed("ça va ? 👋")}, InboundText(MESSAGE_ID, SENDER, OURS, "ça va ? 👋")),
        # Blanks and line breaks stay as sent (Kannel's %a would squeeze them).
        ({"hex": hexed("  two  spaces\nand a break ")},
         InboundText(MESSAGE_ID, SENDER, OURS, "  two  spaces\nand a break ")),
        # The 1,600-character bound is accepted in either charset; an empty text too.
        ({"hex": hexed("x" * 1600)}, InboundText(MESSAGE_ID, SENDER, OURS, "x" * 1600)),
        ({"hex": hexed("é" * 1600, "utf-16-be"), "charset": "UTF-16BE"},
         InboundText(MESSAGE_ID, SENDER, OURS, "é" * 1600)),
        ({"hex": ""}, InboundText(MESSAGE_ID, SENDER, OURS, "")),
        # Control characters other than tab and line breaks (a NUL cannot be stored) are spaces.
        ({"hex": hexed("a\x00b\tc\r\nd")}, InboundText(MESSAGE_ID, SENDER, OURS, "a b\tc\r\nd")),
        # Numbers in other forms become E.164; a To that is no number is kept for the service.
        ({"from": "5197566220", "to": "15195550100"},
         InboundText(MESSAGE_ID, SENDER, OURS, "STOP")),
        ({"to": "ALPHA"}, InboundText(MESSAGE_ID, SENDER, "ALPHA", "STOP")),
    ],
)  # fmt: skip
def test_a_fetch_with_the_token_is_read(changes: dict[str, str], expected: InboundText) -> None:
    assert parse_inbound(fetched(kannel_query(**changes)), CONFIG) == expected


@pytest.mark.parametrize(
    ("changes", "error", "parameter"),
    [
        pytest.param({"token": None}, Forbidden, "token", id="unsigned"),
        pytest.param({"token": inbound_token("other")}, Forbidden, "token", id="other-keys"),
        pytest.param({"token": TOKEN.upper()}, Forbidden, "token", id="token-case"),
        pytest.param({"token": "é" * 32}, Forbidden, "token", id="non-ascii-token"),
        pytest.param({"token": REPORT_SIG}, Forbidden, "token", id="a-report-signature"),
        pytest.param({"id": None}, ApiError, "id", id="no-id"),
        pytest.param({"id": "x" * 65}, ApiError, "id", id="over-long-id"),
        pytest.param({"id": "an id"}, ApiError, "id", id="id-with-a-space"),
        pytest.param({"from": None}, ApiError, "from", id="no-sender"),
        pytest.param({"from": "12"}, ApiError, "from", id="sender-no-number"),
        pytest.param({"charset": None}, ApiError, "charset", id="no-charset"),
        pytest.param({"charset": "8-BIT"}, ApiError, "charset", id="binary-message"),
        pytest.param({"charset": "ISO-8859-1"}, ApiError, "charset", id="not-kannels"),
        pytest.param({"hex": "ABC"}, ApiError, "hex", id="odd-hex"),
        pytest.param({"hex": "ZZ"}, ApiError, "hex", id="not-hex"),
        pytest.param({"hex": "53 54"}, ApiError, "hex", id="spaced-hex"),
        pytest.param({"hex": "C3"}, ApiError, "hex", id="not-utf-8"),
        pytest.param({"hex": "D83D", "charset": "UTF-16BE"}, ApiError, "hex", id="lone-surrogate"),
        pytest.param({"hex": hexed("x" * 1601)}, ApiError, "hex", id="1601-gsm-characters"),
        pytest.param(UCS2_1601, ApiError, "hex", id="1601-ucs-2-characters"),
    ],
)  # fmt: skip
def test_a_forged_or_malformed_fetch_is_refused(
    changes: dict[str, str | None], error: type[ApiError], parameter: str
) -> None:
    with pytest.raises(ApiError) as refused:
        parse_inbound(fetched(kannel_query(**changes)), CONFIG)
    assert type(refused.value) is error
    assert refused.value.status == (403 if error is Forbidden else 400)
    assert refused.value.source == {"parameter": parameter}


# -- the route of the app on loopback ------------------------------------------------------------


@pytest.fixture(scope="module")
def served(app: Flask) -> Iterator[str]:
    """The app over HTTP on loopback, for this module's tests (settings are per test)."""
    with serve(app) as base_url:
        yield base_url


def kannel_settings(base_url: str, gateway: KannelGateway | None = None) -> dict[str, Any]:
    sendsms = gateway.sendsms_url if gateway else "http://127.0.0.1:9/cgi-bin/sendsms"
    return {
        "SMS_PROVIDER": "kannel",
        "KANNEL_SENDSMS_URL": sendsms,
        "KANNEL_USERNAME": gateway.username if gateway else "campaign",
        "KANNEL_PASSWORD": gateway.password if gateway else "kannel-secret",
        "PUBLIC_BASE_URL": base_url,
    }


@pytest.fixture
def kannel_app(app: Flask, served: str) -> Iterator[str]:
    """The app serving Kannel's routes at `served`, which is its PUBLIC_BASE_URL."""
    with configured(app, **kannel_settings(served)):
        yield served


def kannel_fetch(app: Flask, text: str = "STOP", charset: str = "UTF-8", **values: Any) -> str:
    """The URL smsbox would fetch for an MO message, from the app's own get-url."""
    url = inbound_url(app.config)
    assert url is not None
    return fill(url, kannel_values(text, charset, **values))


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)


def reply_of(base_url: str, url: str) -> Reply:
    """GET `url` over loopback as Kannel does; the error document checked against JSON:API."""
    client = LoopbackClient(base_url)
    try:
        response = client.open(url.removeprefix(base_url), method="GET", data=None, headers={})
    finally:
        client.close()
    return Reply(response.status_code, response.headers, assert_jsonapi(response))


def inbound_texts(app: Flask) -> list[Text]:
    with app.app_context():
        texts = db.session.scalars(select(Text).where(Text.direction == "inbound")).all()
        db.session.expunge_all()
        return list(texts)


@pytest.mark.parametrize(
    "text",
    ["x" * 1600, ("Привет, как дела? " * 89)[:1600], "👋🏽 emoji, 中文, ελληνικά"],
    ids=["1600-gsm-characters", "1600-cyrillic-characters", "emoji-and-scripts"],
)
def test_any_text_of_up_to_1600_characters_is_stored_exactly(
    app: Flask, api: ApiClient, kannel_app: str, text: str
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    charset = "UTF-8" if text.isascii() else "UTF-16BE"
    answered = get(kannel_fetch(app, text, charset))

    assert (answered.status_code, answered.text) == (200, "")
    assert answered.headers["Content-Type"].startswith("text/plain")
    [stored] = inbound_texts(app)
    assert (stored.body, stored.from_, stored.to) == (text, SENDER, OURS)


@pytest.mark.parametrize(
    ("change", "status", "parameter"),
    [
        ({"token": inbound_token("another key")}, 403, "token"),
        ({"token": None}, 403, "token"),
        ({"hex": hexed("x" * 1601)}, 400, "hex"),
        ({"hex": hexed("Ж" * 1601, "utf-16-be"), "charset": "UTF-16BE"}, 400, "hex"),
        ({"charset": "8-BIT"}, 400, "charset"),
        ({"from": "12"}, 400, "from"),
    ],
    ids=["forged", "unsigned", "1601-gsm", "1601-cyrillic", "binary", "sender-no-number"],
)
def test_a_bad_fetch_is_a_clear_error_and_stores_nothing(
    app: Flask,
    api: ApiClient,
    kannel_app: str,
    change: dict[str, str | None],
    status: int,
    parameter: str,
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    parts = urllib.parse.urlsplit(kannel_fetch(app))
    query = changed(query_of(parts.geturl()), change)
    url = parts._replace(query=urllib.parse.urlencode(query)).geturl()
    with unchanged(app):
        reply = reply_of(kannel_app, url)
    assert_error(reply, status, parameter=parameter)


def test_a_text_to_a_number_no_account_holds_is_answered_200_logged_and_not_stored(
    app: Flask, api: ApiClient, kannel_app: str, caplog: pytest.LogCaptureFixture
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    with unchanged(app), caplog.at_level(logging.WARNING, "campaign.services.inbound"):
        answered = get(kannel_fetch(app, receiver="+15195550199"))
    assert (answered.status_code, answered.text) == (200, "")
    assert "'+15195550199', a number no account holds" in caplog.text


def test_the_route_answers_only_while_kannel_is_the_carrier(
    app: Flask, api: ApiClient, kannel_app: str
) -> None:
    url = kannel_fetch(app)
    with configured(app, SMS_PROVIDER="twilio"), unchanged(app):
        reply = reply_of(kannel_app, url)
    assert_error(reply, 404, detail="kannel incoming texts are not enabled")


# -- MO texts through the real gateway -------------------------------------------------------------


@dataclass(frozen=True)
class Fetch:
    path: str  # what Kannel requested, query included
    status: int  # what Kannel was answered


class KannelSide:
    """The network between Kannel and the app: a loopback hop that forwards each of Kannel's
    fetches as it came, records it with the answer Kannel got, and can lose the app's answer on
    its way back (`lose_next_answer`: Kannel then sees a 503, after the app has acted)."""

    def __init__(self, app_url: str) -> None:
        self.fetches: list[Fetch] = []
        self._lose = 0
        self._condition = threading.Condition()
        side = self

        class Forward(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = httpx.get(app_url + self.path, timeout=10)
                status, body = answer.status_code, answer.content
                with side._condition:
                    if side._lose and self.path.startswith(INBOUND.path):
                        side._lose -= 1
                        status, body = 503, b""
                    side.fetches.append(Fetch(self.path, status))
                    side._condition.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def lose_next_answer(self) -> None:
        with self._condition:
            self._lose += 1

    def inbound(self, count: int, timeout: float = 10.0) -> list[Fetch]:
        """Wait until Kannel has fetched the inbound route `count` times since the last reset."""
        with self._condition:
            found = self._condition.wait_for(lambda: len(self._inbound()) >= count, timeout)
            assert found, f"Kannel fetched the inbound route {len(self._inbound())} of {count}"
            return self._inbound()

    def reset(self) -> None:
        with self._condition:
            self.fetches.clear()
            self._lose = 0

    def _inbound(self) -> list[Fetch]:
        return [fetch for fetch in self.fetches if fetch.path.startswith(INBOUND.path)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Stack:
    gateway: KannelGateway
    side: KannelSide


@pytest.fixture(scope="module")
def stack(app: Flask, served: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kannel whose sms-service fetches the app's get-url through `KannelSide`."""
    require_kannel()
    side = KannelSide(served)
    get_url = inbound_url({**app.config, "PUBLIC_BASE_URL": side.base_url})
    try:
        with KannelGateway(tmp_path_factory.mktemp("kannel"), inbound_url=get_url) as gateway:
            yield Stack(gateway, side)
    finally:
        side.close()


@pytest.fixture
def kannel(app: Flask, stack: Stack) -> Iterator[Stack]:
    """The stack with the app sending through Kannel and giving it the hop's URLs."""
    stack.side.reset()
    with configured(app, **kannel_settings(stack.side.base_url, stack.gateway)):
        yield stack


def api_texts(api: ApiClient, direction: str) -> list[dict[str, Any]]:
    reply = api.get(f"/api/v1/texts?filter[direction]={direction}")
    assert reply.status == 200
    return list(reply.data)


def test_an_mo_text_is_stored_inbound_and_linked_to_the_envelope_that_texted_the_sender(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    seed = scheduled_seed_campaign(app, api)
    drain(app)
    kannel.gateway.wait_for(2, timeout=10)

    kannel.gateway.send_mo(SENDER, OURS, "Yes please")
    [fetch] = kannel.side.inbound(1)

    assert fetch.status == 200
    [text] = api_texts(api, "inbound")
    attributes = text["attributes"]
    assert (attributes["direction"], attributes["status"], attributes["body"]) == (
        "inbound",
        "received",
        "Yes please",
    )
    assert (attributes["from"], attributes["to"]) == (SENDER, OURS)
    assert text["relationships"]["engagement"]["data"]["id"] == seed.engagement_id
    envelope_id = text["relationships"]["envelope"]["data"]["id"]
    envelope = api.get(f"/api/v1/envelopes/{envelope_id}").data
    assert envelope["attributes"]["phone-number"] == SENDER
    # Kannel's own id of the message (%I), which a retried fetch repeats.
    assert attributes["provider-message-id"] in fetch.path


def test_stop_through_kannel_opts_the_sender_out_and_the_confirmation_goes_back_through_it(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    before = len(kannel.gateway.received)

    kannel.gateway.send_mo(SENDER, OURS, "STOP")
    assert [fetch.status for fetch in kannel.side.inbound(1)] == [200]
    [opt_out] = api.get("/api/v1/opt-outs").data
    assert (opt_out["attributes"]["phone-number"], opt_out["attributes"]["source"]) == (
        SENDER,
        "keyword",
    )
    drain(app)

    [confirmation] = kannel.gateway.wait_for(before + 1, timeout=10)[before:]
    assert (confirmation.sender, confirmation.receiver) == (OURS, SENDER)
    assert confirmation.text == DEFAULT_REPLIES[Keyword.OPT_OUT]


def test_a_fetch_kannel_makes_again_stores_one_text_and_sends_one_confirmation(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    before = len(kannel.gateway.received)
    kannel.side.lose_next_answer()  # the app stores it; Kannel sees a 503 and fetches again

    kannel.gateway.send_mo(SENDER, OURS, "STOP")
    first, again = kannel.side.inbound(2)
    drain(app)

    assert (first.status, again.status) == (503, 200)
    assert again.path == first.path  # the same URL, so the same %I
    assert len(api_texts(api, "inbound")) == 1
    assert len(api.get("/api/v1/opt-outs").data) == 1
    replies = [text["attributes"]["body"] for text in api_texts(api, "outbound")]
    assert replies == [DEFAULT_REPLIES[Keyword.OPT_OUT]]
    [confirmation] = kannel.gateway.wait_for(before + 1, timeout=10)[before:]
    assert confirmation.receiver == SENDER


def test_an_mo_text_to_a_number_no_account_holds_is_answered_200_and_not_stored(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    with unchanged(app):
        kannel.gateway.send_mo(SENDER, "+15195550199", "STOP")
        [fetch] = kannel.side.inbound(1)
    assert fetch.status == 200  # answered as stored: Kannel does not fetch it again


def test_a_non_gsm_text_through_kannel_is_stored_exactly(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    body = "Привет 👋🏽 ça va?\n中文"

    kannel.gateway.send_mo(SENDER, OURS, body)
    [fetch] = kannel.side.inbound(1)

    assert fetch.status == 200
    assert "charset=UTF-16BE" in fetch.path  # Kannel held it as UCS-2
    [text] = api_texts(api, "inbound")
    assert text["attributes"]["body"] == body


def test_a_fetch_with_a_forged_token_through_kannel_is_refused_and_stores_nothing(
    app: Flask, api: ApiClient, kannel: Stack
) -> None:
    with app.app_context():
        allot(account_id=api.credentials.account_id, number=OURS)
    # Kannel's get-url carries the token of the key the app had; under another key it is forged.
    with configured(app, SECRET_KEY="another key"), unchanged(app):
        kannel.gateway.send_mo(SENDER, OURS, "STOP")
        fetches = kannel.side.inbound(2)  # refused, fetched again, refused again
    assert [fetch.status for fetch in fetches] == [403, 403]
