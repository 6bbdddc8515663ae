"""limits/rates.py: the rate setting parsed, and a GCRA's stored arrival time read into the
response's numbers, table-driven (pure)."""

from __future__ import annotations

import pytest

from campaign.limits.rates import Decision, Rate, decision, parse_rate


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("3600/hour", Rate(3600, 3600)),
        ("100/minute", Rate(100, 60)),
        (" 5 / SECOND ", Rate(5, 1)),
        ("1/second", Rate(1, 1)),
        ("1000000/hour", Rate(1_000_000, 3600)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_a_rate_is_read(raw: str, rate: Rate | None) -> None:
    assert parse_rate(raw) == rate
    if rate is not None:
        assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", '"N/second"'),
        ("100", '"N/second"'),
        ("100/day", '"N/second"'),
        ("-1/second", '"N/second"'),
        ("1.5/second", '"N/second"'),
        ("0/minute", "1 to 1,000,000"),
        ("1000001/hour", "1 to 1,000,000"),
        ("99999999/hour", '"N/second"'),
        ("x" * 5000, "xxxx"),
    ],
)
def test_a_malformed_rate_says_what_is_wrong(raw: str, words: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_rate(raw)
    assert words in str(refused.value)
    assert len(str(refused.value)) < 200


RATE = Rate(4, 60)  # 4 at once, then one every 15 s


@pytest.mark.parametrize(
    ("allowed", "ahead", "expected"),
    [
        # The first request of a full bucket: the TAT moves one interval ahead of now.
        (True, 15.0, Decision(True, 4, 3, 15, 0)),
        (True, 30.0, Decision(True, 4, 2, 30, 0)),
        # The fourth at once empties the bucket: nothing left, full again in a minute.
        (True, 60.0, Decision(True, 4, 0, 60, 0)),
        # Refused with the bucket empty: one request is allowed once one interval has passed.
        (False, 60.0, Decision(False, 4, 0, 60, 15)),
        (False, 50.5, Decision(False, 4, 0, 51, 6)),
        # A refusal never says "retry in 0 s".
        (False, 45.0001, Decision(False, 4, 0, 46, 1)),
    ],
)
def test_the_stored_arrival_time_gives_the_answer(
    allowed: bool, ahead: float, expected: Decision
) -> None:
    now = 1_000_000.0
    assert decision(RATE, allowed, now + ahead, now) == expected


def test_a_burst_of_n_is_allowed_then_one_per_interval() -> None:
    """The limiter's step, as the Redis script takes it, over a simulated clock."""
    rate, tat, now = Rate(3, 3), 0.0, 100.0
    answers = []
    for at in [0, 0, 0, 0, 0.5, 1.0, 1.0, 2.0]:
        clock = now + at
        pushed = max(tat, clock) + rate.interval
        allowed = pushed - clock <= rate.period
        if allowed:
            tat = pushed
        answers.append(decision(rate, allowed, tat, clock).allowed)
    assert answers == [True, True, True, False, False, True, False, True]


def test_headers_state_the_limit_and_a_refusal_when_to_retry() -> None:
    assert Decision(True, 4, 3, 15, 0).headers() == {
        "RateLimit-Limit": "4",
        "RateLimit-Remaining": "3",
        "RateLimit-Reset": "15",
    }
    assert Decision(False, 4, 0, 60, 15).headers()["Retry-After"] == "15"
