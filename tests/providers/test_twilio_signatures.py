"""Our Twilio signature check against the official `twilio` package's RequestValidator, the
oracle (a test-only dependency: too heavy for the service): both algorithms, the auth-token
and SharedKey paths, on thousands of generated requests, forged ones included."""

from __future__ import annotations

import random
import string

import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm
from werkzeug.datastructures import MultiDict

from campaign.providers.twilio import (
    HMAC_SHA1,
    HMAC_SHA256,
    signature_algorithm,
    twilio_signature,
    valid_signature,
)

CASES = 2_500  # per algorithm: 5,000 in all
ALPHABET = string.ascii_letters + string.digits + " +-_.~%&=?/:é€😀"


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _request(rng: random.Random) -> tuple[str, MultiDict[str, str]]:
    scheme = rng.choice(["https", "http"])
    port = rng.choice(["", ":443", ":80", ":8443"])
    query = rng.choice(["", "?sig=abc", "?a=1&b=2"])
    # Text ids are base-58: a path of letters and digits, as our callback URLs have.
    text_id = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(22))
    url = f"{scheme}://example.test{port}/callbacks/twilio/texts/{text_id}{query}"
    params: MultiDict[str, str] = MultiDict()
    for _ in range(rng.randint(0, 6)):
        name = rng.choice(["MessageStatus", "ErrorCode", "To", "From", "Body", _text(rng, 5)])
        params.add(name, _text(rng, 12))
    return url, params


@pytest.mark.parametrize("algorithm", [HMAC_SHA1, HMAC_SHA256])
def test_signatures_and_verdicts_agree_with_twilios_validator(algorithm: str) -> None:
    rng = random.Random(f"twilio-{algorithm}")
    for _ in range(CASES):
        secret = _text(rng, 20) or "x"
        url, params = _request(rng)
        oracle = RequestValidator(secret)
        expected = oracle.compute_signature(url, params, algorithm)

        assert twilio_signature(secret, url, params, algorithm) == expected, (url, params)
        forged = rng.choice([expected, expected[:-2] + "AA", _text(rng, 28), ""])
        verdict = oracle.validate(url, params, forged, algorithm) if forged else False
        assert valid_signature(secret, url, params, forged, algorithm) == verdict, (url, forged)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
        "algorithm=HMAC_SHA1,key=k",
        " key = k , algorithm = HMAC_SHA256 ",
        "key=k",
        "algorithm=",
        "algorithm=HMAC_SHA512",
    ],
)
def test_the_settings_header_names_the_algorithm_as_twilio_reads_it(header: str | None) -> None:
    assert signature_algorithm(header) == get_signature_algorithm(header).upper()


def test_an_algorithm_we_do_not_know_is_never_valid() -> None:
    signature = RequestValidator("s").compute_signature("https://x.test/a", {}, HMAC_SHA256)
    assert not valid_signature("s", "https://x.test/a", {}, signature, "HMAC_SHA512")
