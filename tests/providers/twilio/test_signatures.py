"""providers/twilio/signatures.py: against the official `twilio` package's RequestValidator, the
oracle (a test-only dependency: too heavy for the service), on thousands of generated requests of
both algorithms, forged ones included; and against Twilio's documented examples."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string

import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm
from werkzeug.datastructures import MultiDict

from campaign.providers.twilio.signatures import (
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


# --- Twilio's documented examples and hand-made cases ---

# The example on Twilio's "Webhooks security" page (twilio.com/docs/usage/security).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_signature_matches_twilios_documented_example() -> None:
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_signature_matches_twilio_python_test_vectors_with_and_without_port() -> None:
    params = {**DOC_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}
    assert twilio_signature("12345", DOC_URL, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    # Twilio may sign with the default port spelled out, or we may see one it did not sign.
    assert valid_signature("12345", DOC_URL, params, "kvajT1Ptam85bY51eRf/AJRuM3w=")
    assert valid_signature(
        "12345", DOC_URL.replace(".com", ".com:1234"), params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


def test_signature_does_not_depend_on_parameter_order() -> None:
    reversed_params = dict(reversed(list(DOC_PARAMS.items())))
    assert twilio_signature("12345", DOC_URL, reversed_params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_repeated_parameter_values_are_signed_in_sorted_order() -> None:
    class MultiDict(dict[str, str]):
        """The getlist() shape of werkzeug's MultiDict, without importing it."""

        def __init__(self, items: list[tuple[str, str]]) -> None:
            super().__init__(items)
            self._items = items

        def getlist(self, key: str) -> list[str]:
            return [v for k, v in self._items if k == key]

    signed = "https://x.test/cb" + "MediaUrla" + "MediaUrlb" + "To+1"
    expected = base64.b64encode(hmac.new(b"t", signed.encode(), hashlib.sha1).digest()).decode()
    forwards = MultiDict([("To", "+1"), ("MediaUrl", "a"), ("MediaUrl", "b")])
    backwards = MultiDict([("MediaUrl", "b"), ("To", "+1"), ("MediaUrl", "a")])
    assert twilio_signature("t", "https://x.test/cb", forwards) == expected
    assert twilio_signature("t", "https://x.test/cb", backwards) == expected


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (DOC_URL.replace("foo=1", "foo=2"), DOC_PARAMS, "12345"),
        ("https://evil.example/myapp.php?foo=1&bar=2", DOC_PARAMS, "12345"),
        (DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, "12345"),
        (DOC_URL, {**DOC_PARAMS, "Extra": ""}, "12345"),
        (DOC_URL, DOC_PARAMS, "54321"),
    ],
    ids=["tampered-query", "other-host", "tampered-param", "added-param", "other-token"],
)
def test_tampered_request_fails_signature_validation(
    url: str, params: dict[str, str], token: str
) -> None:
    assert valid_signature("12345", DOC_URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    signature = twilio_signature(token, url, params)
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, signature)


def test_missing_or_garbage_signature_is_invalid() -> None:
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, None)
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, "")
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ")
