"""Fixtures of the tests that run real `campaign worker` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign_runs import Workers, worker_environment
from tests.loopback_twilio import TwilioSetup


@pytest.fixture
def workers(
    app_environment: dict[str, str], twilio: TwilioSetup, tmp_path: Path
) -> Iterator[Workers]:
    """Starts `campaign worker` processes (sending through the Twilio sink) on demand; stops
    whatever is left at the end. A module whose workers need other settings defines its own."""
    started = Workers(worker_environment(app_environment, twilio), tmp_path)
    yield started
    started.stop_all()
