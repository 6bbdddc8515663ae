"""The project's outbound HTTP client (see pool.py for why it is hand-written)."""

from campaign.http_client.answers import MAX_ANSWER, AnswerTooLarge, Headers, Response
from campaign.http_client.guard import (
    Refused,
    Target,
    check_address,
    check_url,
    parse_allow_hosts,
    resolve,
)
from campaign.http_client.pool import (
    DEFAULT_IDLE_TIMEOUT,
    USER_AGENT,
    HttpTransport,
    NoAnswer,
    NotSent,
    default_ssl_context,
)

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "MAX_ANSWER",
    "USER_AGENT",
    "AnswerTooLarge",
    "Headers",
    "HttpTransport",
    "NoAnswer",
    "NotSent",
    "Refused",
    "Response",
    "Target",
    "check_address",
    "check_url",
    "default_ssl_context",
    "parse_allow_hosts",
    "resolve",
]
