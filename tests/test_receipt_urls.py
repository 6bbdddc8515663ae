"""campaign/receipt_urls.py: the callback paths carry our text id, and the Kannel signature is an
HMAC of it under SECRET_KEY: fixed for one text, different for any other text or key."""

from __future__ import annotations

import re

import pytest

from campaign.receipt_urls import KANNEL_PATH, TWILIO_PATH, kannel_signature

TEXT_ID = "yrbCdxqV2ZMdQBCszhA7TZ"


@pytest.mark.parametrize(
    ("template", "path"),
    [
        (TWILIO_PATH, f"/callbacks/twilio/{TEXT_ID}"),
        (KANNEL_PATH, f"/callbacks/kannel/{TEXT_ID}"),
    ],
    ids=["twilio", "kannel"],
)
def test_each_path_carries_the_text_id(template: str, path: str) -> None:
    assert template.format(text_id=TEXT_ID) == path


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
