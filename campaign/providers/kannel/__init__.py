"""Kannel: texts out through smsbox's sendsms interface (`sending.py`), delivery reports in
(`receipts.py`) and incoming texts in through an `sms-service` get-url (`inbound.py`), both at
URLs signed with SECRET_KEY. The registry (`providers/__init__.py`) reaches it through these
names only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.providers.base import Provider, connection_settings
from campaign.providers.kannel.inbound import INBOUND, inbound_url, parse_inbound
from campaign.providers.kannel.receipts import RECEIPTS, parse_receipt, receipt_url

__all__ = [
    "INBOUND",
    "OPT_OUT_CODES",
    "RECEIPTS",
    "build",
    "inbound_url",
    "parse_inbound",
    "parse_receipt",
    "receipt_url",
]

# Kannel's reports name no reason a recipient refused us.
OPT_OUT_CODES: frozenset[str] = frozenset()


def build(config: Mapping[str, Any]) -> Provider:
    """The provider for these settings; the HTTP stack is imported only where texts are sent."""
    from campaign.providers.kannel.sending import KannelProvider

    return KannelProvider(
        sendsms_url=config["KANNEL_SENDSMS_URL"],
        username=config["KANNEL_USERNAME"],
        password=config["KANNEL_PASSWORD"],
        **connection_settings(config),
    )
