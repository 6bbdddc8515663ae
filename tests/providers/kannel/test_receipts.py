"""providers/kannel/receipts.py: the delivery-report URL carries our text id and an HMAC of it
under SECRET_KEY (fixed for one text, different for any other text or key), and what Kannel
fetches there is read into a Receipt or refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from campaign.errors import ApiError, Forbidden
from campaign.providers.incoming import IncomingRequest, Receipt
from campaign.providers.kannel.receipts import (
    KANNEL_DLR_STATUSES,
    RECEIPTS,
    kannel_dlr_url,
    kannel_signature,
    parse_receipt,
    receipt_url,
)

TEXT_ID = "yrbCdxqV2ZMdQBCszhA7TZ"


def test_the_path_carries_the_text_id() -> None:
    assert RECEIPTS.path.format(text_id=TEXT_ID) == f"/callbacks/kannel/{TEXT_ID}"
    assert RECEIPTS.method == "GET"


def test_the_receipt_url_is_signed_and_absent_without_a_public_base() -> None:
    config = {"PUBLIC_BASE_URL": "https://sms.example", "SECRET_KEY": "s3cret"}
    assert receipt_url(config, "t1") == (
        "https://sms.example/callbacks/kannel/t1?sig=6c29b4d77df4687da95a0f7a69fd8107"
    )
    assert receipt_url({**config, "PUBLIC_BASE_URL": None}, "t1") is None


@pytest.mark.parametrize(
    ("secret_key", "text_id", "signature"),
    [
        # Computed once from the definition: HMAC-SHA256("kannel:" + id), first 32 hex digits.
        ("s3cret", "t1", "6c29b4d77df4687da95a0f7a69fd8107"),
        ("s3cret", "t2", "eb0de52de0f8fa7dae1773f2b7aa9d5d"),
        ("other", "t1", "c234368956b26f6775d20aad365f671b"),
    ],
)
def test_the_kannel_signature_is_fixed_per_key_and_text(
    secret_key: str, text_id: str, signature: str
) -> None:
    assert kannel_signature(secret_key, text_id) == signature


@pytest.mark.parametrize(
    ("secret_key", "text_id"),
    [("s3cret", TEXT_ID), ("", TEXT_ID), ("ключ", "t1"), ("s3cret", "")],
    ids=["plain", "empty key", "non-ascii key", "empty id"],
)
def test_a_kannel_signature_is_32_lowercase_hex_digits(secret_key: str, text_id: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", kannel_signature(secret_key, text_id))


def test_a_signature_is_good_for_its_own_text_and_key_only() -> None:
    signatures = {
        kannel_signature(key, text_id)
        for key in ("s3cret", "s3cret2", "S3CRET")
        for text_id in (TEXT_ID, TEXT_ID[:-1], TEXT_ID + "x", TEXT_ID.lower())
    }
    assert len(signatures) == 12


@pytest.mark.parametrize(
    ("dlr_type", "status"),
    [(1, "delivered"), (2, "undelivered"), (4, "sent"), (8, "sent"), (16, "failed")],
)
def test_each_kannel_dlr_type_maps_to_the_documented_status(dlr_type: int, status: str) -> None:
    assert KANNEL_DLR_STATUSES[dlr_type] == status


def test_dlr_statuses_cover_exactly_kannels_five_report_types() -> None:
    assert sorted(KANNEL_DLR_STATUSES) == [1, 2, 4, 8, 16]


def test_dlr_url_doubles_our_percent_signs_and_appends_the_type_escape() -> None:
    assert kannel_dlr_url("https://x.test/cb?t=1&s=a%2F") == "https://x.test/cb?t=1&s=a%%2F&type=%d"
    assert kannel_dlr_url("https://x.test/cb/7") == "https://x.test/cb/7?type=%d"


CONFIG = {"SECRET_KEY": "s3cret"}
GOOD_SIG = "6c29b4d77df4687da95a0f7a69fd8107"  # t1 under s3cret, as above


def fetched(**query: str) -> IncomingRequest:
    return IncomingRequest(full_path="/callbacks/kannel/t1", query=query, form={}, headers={})


@pytest.mark.parametrize(
    ("query", "receipt"),
    [
        ({"sig": GOOD_SIG, "type": "1"}, Receipt("t1", "delivered")),
        ({"sig": GOOD_SIG, "type": "8"}, Receipt("t1", "sent")),
        (
            {"sig": GOOD_SIG, "type": "2"},
            Receipt("t1", "undelivered", "kannel-dlr-2", "Kannel reported the message undelivered"),
        ),
        (
            {"sig": GOOD_SIG, "type": "16"},
            Receipt("t1", "failed", "kannel-dlr-16", "Kannel reported the message undelivered"),
        ),
    ],
    ids=["delivered", "smsc-accepted", "undelivered", "smsc-refused"],
)
def test_a_signed_report_is_read_into_a_receipt(query: dict[str, str], receipt: Receipt) -> None:
    assert parse_receipt(fetched(**query), "t1", CONFIG) == receipt


@pytest.mark.parametrize(
    ("query", "text_id", "refusal", "source"),
    [
        ({"type": "1"}, "t1", Forbidden, {"parameter": "sig"}),
        ({"sig": GOOD_SIG.upper(), "type": "1"}, "t1", Forbidden, {"parameter": "sig"}),
        ({"sig": GOOD_SIG, "type": "1"}, "t2", Forbidden, {"parameter": "sig"}),
        ({"sig": "é" * 32, "type": "1"}, "t1", Forbidden, {"parameter": "sig"}),
        ({"sig": GOOD_SIG}, "t1", ApiError, {"parameter": "type"}),
        ({"sig": GOOD_SIG, "type": "3"}, "t1", ApiError, {"parameter": "type"}),
        ({"sig": GOOD_SIG, "type": "٨"}, "t1", ApiError, {"parameter": "type"}),
        ({"sig": GOOD_SIG, "type": "0001"}, "t1", ApiError, {"parameter": "type"}),
        ({"sig": GOOD_SIG, "type": "4"}, "t1", Forbidden, {"parameter": "type"}),
    ],
    ids=[
        "unsigned",
        "signature-case",
        "another-texts-signature",
        "non-ascii-signature",
        "no-type",
        "not-a-dlr-type",
        "non-ascii-digit",
        "padded-type",
        "type-never-asked-for",
    ],
)
def test_a_report_that_cannot_be_kannels_is_refused(
    query: dict[str, str], text_id: str, refusal: type[ApiError], source: dict[str, Any]
) -> None:
    with pytest.raises(ApiError) as caught:
        parse_receipt(fetched(**query), text_id, CONFIG)
    assert type(caught.value) is refusal
    assert caught.value.source == source
