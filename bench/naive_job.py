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


def run_one_flow(
    order_url: str,
    messages_url: str,
    account_sid: str,
    auth_token: str,
    to: str,
    from_: str,
    bodies: dict[str, str],
) -> str:
    """One run as a newcomer would write it: a blocking GET of the order's status, its body
    chosen by that status (else `Other`), one blocking POST of the text; the message sid."""
    status = httpx.get(order_url, timeout=15).json().get("status")
    return send_one_text(
        messages_url, account_sid, auth_token, to, from_, bodies.get(status, bodies["Other"])
    )
