"""Worst cases of every allowed filter, test and operator: refused at compile when constant, a
RenderError at render when they come from meta, never long CPU work."""

from __future__ import annotations

import pytest

from campaign.templates_engine import ALLOWED_FILTERS, RenderError, TemplateError, compile_template
from campaign.templates_engine.bounds import FILTER_ARGUMENTS, MAX_INTERMEDIATE_LENGTH

# Magnitudes take about a second each before the bounds (10**2_000_000), hours at the review's.
COMPILE_REFUSALS = [
    ("{{ 1|round(-2000000) }}", "filter 'round': precision"),
    ("{{ 1|round(-999999999) }}", "filter 'round': precision"),
    ("{{ n|round(-999999999) }}", "filter 'round': precision"),
    ("{{ 1|round(precision=16) }}", "filter 'round': precision"),
    ("{{ 1|round(1.5) }}", "filter 'round': precision"),
    ("{{ 1|round(2000000, 'ceil') }}", "filter 'round': precision"),
    ("{{ 1|round(-2000000, 'floor') }}", "filter 'round': precision"),
    ("{{ 1|round(2, 'up') }}", "filter 'round': method"),
    ("{{ x|truncate(999999999999) }}", "filter 'truncate': length"),
    ("{{ x|truncate(5, leeway=-1) }}", "filter 'truncate': leeway"),
    ("{{ x|trim('" + "ab" * 40 + "') }}", "filter 'trim': chars"),
    ("{{ x|int(0, 37) }}", "filter 'int': base"),
    ("{{ x is divisibleby 0 }}", "test 'divisibleby': num"),
    ("{{ " + "9" * 400 + " }}", "numbers are limited to 1024 bits"),
]


@pytest.mark.parametrize(("body", "reason"), COMPILE_REFUSALS)
def test_out_of_range_constant_is_refused_at_compile(body: str, reason: str) -> None:
    with pytest.raises(TemplateError, match="unsafe construct at line 1") as caught:
        compile_template(body)
    assert reason in caught.value.message


HUGE = 2**1000
RENDER_REFUSALS = [
    ("{{ 1|round(p) }}", {"p": -2000000}, "filter 'round': precision"),
    ("{{ n|round(p, 'floor') }}", {"n": 1, "p": 2000000}, "filter 'round': precision"),
    ("{{ n * n * n % 7 }}", {"n": HUGE}, "the * operator: numbers are limited"),
    ("{{ n + n * n - 1 > 0 }}", {"n": HUGE}, "the * operator: numbers are limited"),
    ("{{ n // 3 }}", {"n": 2**5000}, "variable 'n' is too large"),
    ("{{ x|int(base=16) % 7 }}", {"x": "f" * 1000}, "filter 'int': numbers are limited"),
    ("{{ x|urlencode|urlencode|length }}", {"x": "é" * 2000}, "filter 'urlencode': text"),
    ("{{ (x|upper) ~ (x|upper|lower|length) }}", {"x": "ß" * 9000}, "filter 'upper': text"),
    ("{{ x|trim(y) }}", {"x": "a", "y": "b" * 65}, "filter 'trim': chars"),
    ("{{ x|truncate(n) }}", {"x": "a", "n": 10**30}, "filter 'truncate': length"),
    ("{{ 10 is divisibleby(n) }}", {"n": 0.0}, "test 'divisibleby': num"),
    ("{{ (x|replace('a', y)) + (x|replace('a', y)) }}", {"x": "a" * 100, "y": "b" * 90},
     "the + operator: text"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "meta", "reason"), RENDER_REFUSALS)
def test_out_of_range_value_from_meta_is_a_render_error(
    body: str, meta: dict[str, object], reason: str
) -> None:
    template = compile_template(body)
    with pytest.raises(RenderError) as caught:
        template.render(meta)
    assert reason in caught.value.message


# The largest work each filter may do, at its bound: all render, so the bounds refuse nothing
# a real template needs.
WITHIN_BOUNDS = [
    ("{{ n|round(-15) }}", {"n": 2**1023}, str(round(2**1023, -15))),
    ("{{ n|round(15, 'ceil') }}", {"n": 0.5}, "0.5"),
    ("{{ n|round(-15, 'floor') }}", {"n": 1.5e20}, "1.5e+20"),
    ("{{ (n * 2 - n) // n % 7 }}", {"n": 2**1022}, "1"),
    ("{{ x|int(base=2)|abs == n }}", {"x": "1" * 1024, "n": 2**1024 - 1}, "True"),
    ("{{ x|float > 1 }}", {"x": "9" * 4000}, "True"),
    ("{{ x|truncate(16000)|length }}", {"x": "a" * 20000}, "16000"),
    ("{{ x|trim(y)|length }}", {"x": "a" * 20000, "y": "b" * 63 + "a"}, "0"),
    ("{{ x|upper|length }}", {"x": "ß" * 8000}, "16000"),
    ("{{ x|lower|title|capitalize|string|length }}", {"x": "A" * 20000}, "20000"),
    ("{{ x|default('')|first ~ x|last ~ x|count }}", {"x": "ab" * 10000}, "ab20000"),
    ("{{ x|urlencode|length }}", {"x": "é" * 2666}, str(12 * 2666 // 2)),
    ("{{ x|replace('a', 'bb')|length }}", {"x": "a" * 8000}, "16000"),
    ("{{ n is divisibleby(m) }}", {"n": 2**1024 - 1, "m": 2**1023 + 1}, "False"),
]


def test_every_filter_has_a_worst_case_here() -> None:
    used = {name for body, _, _ in WITHIN_BOUNDS for name in ALLOWED_FILTERS if f"|{name}" in body}
    assert used >= ALLOWED_FILTERS - {"d", "length"}
    assert set(FILTER_ARGUMENTS) <= ALLOWED_FILTERS


@pytest.mark.parametrize(("body", "meta", "expected"), WITHIN_BOUNDS)
def test_work_at_the_bounds_renders(body: str, meta: dict[str, object], expected: str) -> None:
    assert compile_template(body).render(meta, max_length=MAX_INTERMEDIATE_LENGTH) == expected
