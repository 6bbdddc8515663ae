"""Twilio's request signatures (X-Twilio-Signature), made and checked.

The twilio package's RequestValidator is the oracle for these functions in the tests; it is not
a runtime dependency (it brings the whole REST client along).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

# X-Twilio-Signature, as Twilio documents it (https://www.twilio.com/docs/usage/security,
# "Validating requests are coming from Twilio"): take the full URL Twilio requested, append each
# POST parameter sorted by name as name + value with no delimiters, HMAC-SHA1 it with the auth
# token and base64 the digest. A name sent more than once contributes each of its values, sorted
# (twilio-python's RequestValidator.compute_signature: `for param_name in sorted(set(params))`,
# then `for value in sorted(set(values))`). The documentation's example (token 12345,
# https://mycompany.com/myapp.php?foo=1&bar=2) signs to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
# Webhooks signed with a SharedKey carry `X-Twilio-Webhooks-Signature-Settings:
# key=<key id>,algorithm=<HMAC_SHA1|HMAC_SHA256>`; without it, the signature is HMAC-SHA1 with
# the account's auth token. twilio-python's RequestValidator is the oracle (tests only).
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
HMAC_SHA1, HMAC_SHA256 = "HMAC_SHA1", "HMAC_SHA256"
_DIGESTS = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm a signature-settings header names (HMAC_SHA1 when it names none)."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def twilio_signature(
    secret: str, url: str, params: Mapping[str, str], algorithm: str = HMAC_SHA1
) -> str:
    """Base64 HMAC of the URL followed by the sorted parameters, keyed by `secret`."""
    signed = url + "".join(
        name + value for name in sorted(set(params)) for value in sorted(set(_values(params, name)))
    )
    digest = hmac.new(secret.encode(), signed.encode(), _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(
    secret: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    algorithm: str = HMAC_SHA1,
) -> bool:
    """True when `signature` is Twilio's signature of this URL and these parameters under
    `algorithm` (an algorithm we do not know is never valid).

    Like Twilio's own validator, the URL is also tried without its port (or with the default one
    added), because Twilio is inconsistent about ports when signing; the HMAC still needs the
    secret.
    """
    if not signature or algorithm not in _DIGESTS:
        return False
    candidates = {url, *_port_variants(url)}
    # Bytes, because compare_digest refuses a str with non-ASCII characters (a forged header).
    given = signature.encode("utf-8", "replace")
    # Compare against every candidate (no early exit), in constant time each.
    matches = [
        hmac.compare_digest(twilio_signature(secret, candidate, params, algorithm).encode(), given)
        for candidate in sorted(candidates)
    ]
    return any(matches)


def _values(params: Mapping[str, str], name: str) -> Iterable[str]:
    # werkzeug's MultiDict (Flask's request.form) maps a repeated name to its first value only.
    getlist = getattr(params, "getlist", None)
    return getlist(name) if callable(getlist) else [params[name]]


def _port_variants(url: str) -> list[str]:
    # twilio-python's RequestValidator.validate tries the URL without its port and with the
    # scheme's default port; do the same.
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return []
    if default is None or not parts.hostname:
        return []
    userinfo, _, hostport = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    port_text = "" if port is not None else f":{default}"
    return [urlunsplit(parts._replace(netloc=f"{prefix}{host}{port_text}"))]
