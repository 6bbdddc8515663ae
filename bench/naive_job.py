"""The naive dispatch's RQ job, alone in a lean module: each forked work horse imports it anew,
and the baseline should pay for httpx, not for the benchmark's own imports."""

from __future__ import annotations

import httpx


def send_one_text(
    url: str, account_sid: str, auth_token: str, to: str, from_: str, body: str
) -> str:
    """One blocking POST of one text to Twilio's Messages API; the message sid."""
    response = httpx.post(
        url,
        data={"To": to, "From": from_, "Body": body},
        auth=(account_sid, auth_token),
        timeout=15,
    )
    response.raise_for_status()
    return str(response.json().get("sid"))
