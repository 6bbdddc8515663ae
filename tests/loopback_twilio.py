"""The `twilio` fixture: the app sends through a loopback Twilio sink and receives its callbacks
over HTTP. Registered in tests/conftest.py, so every test module may ask for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from tests.servers import configured, serve
from tests.sinks.twilio import TwilioSink


@dataclass(frozen=True)
class TwilioSetup:
    sink: TwilioSink
    base_url: str

    def settings(self) -> dict[str, object]:
        """The settings that point the service at this sink and this callback address."""
        return {
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": self.sink.account_sid,
            "TWILIO_AUTH_TOKEN": self.sink.auth_token,
            "TWILIO_API_BASE": self.sink.url,
            "PUBLIC_BASE_URL": self.base_url,
        }


@pytest.fixture
def twilio(app: Flask) -> Iterator[TwilioSetup]:
    """The app sends through a loopback Twilio sink and receives its callbacks over HTTP."""
    with TwilioSink() as sink, serve(app) as base_url:
        setup = TwilioSetup(sink, base_url)
        with configured(app, **setup.settings(), RETRY_BACKOFF=0.2, PROVIDER_READ_TIMEOUT=1.0):
            yield setup
