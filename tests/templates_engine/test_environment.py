"""Unit tests for the sandboxed message template environment."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from campaign.templates_engine import (
    ALLOWED_FILTERS,
    MAX_RENDERED_LENGTH,
    MAX_TEMPLATE_LENGTH,
    RenderError,
    TemplateError,
    compile_template,
    template_variables,
)
from campaign.templates_engine.environment import _ENV

SEED_BODY = "Hello {{first-name}}, text templates support variables."
SEED_META = {"first-name": "Alexander", "last-name": "Bell"}

SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ request }}",
    "{{ lipsum.__globals__ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{% endfor %}",
    "{{ 9**9**9 }}",
    "{{ 'a'*10000000 }}",
    '{{ "%s"|format(first-name) }}',
    "{{ '%999999999d' % 1 }}",
    "{% set x = 'a' %}{{ x }}",
    "{% for i in range(10) %}{{ i }}{% endfor %}",
    "{% include 'other.txt' %}",
    "{% extends 'base.txt' %}",
    "{% import 'macros.txt' as m %}",
    "{% from 'macros.txt' import m %}",
    "{% macro m() %}x{% endmacro %}",
    "{% call m() %}x{% endcall %}",
    "{% filter upper %}x{% endfilter %}",
    "{% with a = 1 %}{{ a }}{% endwith %}",
    "{% block b %}x{% endblock %}",
    "{{ range(99999999) }}",
    "{{ lipsum() }}",
    "{{ namespace }}",
    "{{ first-name.upper() }}",
    "{{ first-name[0] }}",
    "{{ first-name|attr('__class__') }}",
    "{{ first-name|default(*args) }}",
    "{{ {'a': 1} }}",
    "{{ _private }}",
]


def test_seed_template_renders_first_name() -> None:
    template = compile_template(SEED_BODY)
    assert template.render(SEED_META) == "Hello Alexander, text templates support variables."
    assert template.variables == ("first-name",)
    assert template.required_variables == ("first-name",)


def test_hyphenated_variable_reads_meta_key() -> None:
    assert compile_template("{{last-name}}").render({"last-name": "Bell", "last": "x"}) == "Bell"


def test_multi_part_hyphenated_variable_reads_meta_key() -> None:
    template = compile_template("{{ home-phone-ext }}")
    assert template.variables == ("home-phone-ext",)
    assert template.render({"home-phone-ext": "12"}) == "12"


def test_subtraction_with_spaces_is_not_a_variable() -> None:
    template = compile_template("{{ a - b }}|{{ a -b }}|{{ a- b }}|{{a-b}}")
    assert template.variables == ("a", "b", "a-b")
    assert template.render({"a": 5, "b": 2, "a-b": "key"}) == "3|3|3|key"


def test_hyphen_before_a_digit_stays_subtraction() -> None:
    template = compile_template("{{count-1}}")
    assert template.variables == ("count",)
    assert template.render({"count": 3}) == "2"


def test_text_and_string_literals_keep_their_hyphens() -> None:
    body = "Call x-y now {{ 'a-b' }} {% raw %}{{c-d}}{% endraw %} {# e-f #}done"
    template = compile_template(body)
    assert template.variables == ()
    assert template.render({}) == "Call x-y now a-b {{c-d}} done"


def test_default_filter_supplies_fallback_for_missing_variable() -> None:
    template = compile_template('Hi {{ first-name | default("there") }}')
    assert template.render({}) == "Hi there"
    assert template.render({"first-name": "Al"}) == "Hi Al"


def test_if_else_on_hyphenated_variable() -> None:
    template = compile_template("{% if first-name %}Hi {{first-name}}{% else %}Hi{% endif %}")
    assert template.render({"first-name": "Al"}) == "Hi Al"
    assert template.render({"first-name": ""}) == "Hi"


def test_truthiness_test_on_missing_variable_fails() -> None:
    template = compile_template("{% if first-name %}Hi {{first-name}}{% else %}Hi{% endif %}")
    assert template.required_variables == ("first-name",)
    with pytest.raises(RenderError) as caught:
        template.render({})
    assert caught.value.missing == ["first-name"]


def test_upper_filter_and_plain_variable() -> None:
    template = compile_template("{{ last-name | upper }} of {{ city }}")
    assert template.render({"last-name": "Bell", "city": "Boston"}) == "BELL of Boston"


def test_allowed_filters_render() -> None:
    template = compile_template(
        "{{ name|title }} {{ name|replace('a', 'o') }} "
        "{{ name|truncate(5, killwords=true, leeway=0) }} {{ n|round(1) }}"
    )
    assert template.render({"name": "alexander", "n": 2.46}) == "Alexander olexonder al... 2.5"


def test_variables_in_first_appearance_order() -> None:
    body = "{{ b }}{{ a-x }}{{ b }}{{ c if d else e }}{{ f | default(h) }}"
    assert compile_template(body).variables == ("b", "a-x", "c", "d", "e", "f", "h")


def test_default_filter_makes_variable_optional() -> None:
    template = compile_template('{{ first-name | d("friend") }} {{ last-name }}')
    assert template.variables == ("first-name", "last-name")
    assert template.required_variables == ("last-name",)
    assert template.missing({"last-name": "Bell"}) == []


def test_is_defined_guard_makes_variable_optional() -> None:
    body = (
        "{% if nick is defined %}{{ nick }}{% endif %}"
        "{% if title is undefined %}-{% else %}{{ title }}{% endif %}"
        "{{ city if city is defined and city else 'nowhere' }}"
    )
    template = compile_template(body)
    assert template.required_variables == ()
    assert template.render({}) == "-nowhere"
    assert template.render({"nick": "Al", "title": "Dr", "city": "Rome"}) == "AlDrRome"


def test_guard_on_one_variable_does_not_cover_another() -> None:
    template = compile_template("{% if nick is defined %}{{ nick }} {{ city }}{% endif %}")
    assert template.required_variables == ("city",)


def test_missing_variable_names_the_key() -> None:
    with pytest.raises(RenderError) as caught:
        compile_template(SEED_BODY).render({"last-name": "Bell"})
    assert caught.value.missing == ["first-name"]
    assert str(caught.value) == "missing variable 'first-name'"


def test_missing_variables_are_all_listed() -> None:
    with pytest.raises(RenderError) as caught:
        compile_template("{{ first-name }} {{ last-name }}").render({})
    assert caught.value.missing == ["first-name", "last-name"]
    assert "'first-name', 'last-name'" in caught.value.message


def test_missing_method_checks_required_keys_without_rendering() -> None:
    template = compile_template("{{ first-name }} {{ last-name|default('') }} {{ city }}")
    assert template.missing({"city": "Rome"}) == ["first-name"]
    assert template.missing({"first-name": None, "city": "Rome"}) == ["first-name"]
    assert template.missing({"first-name": "Al", "city": "Rome"}) == []


def test_none_value_counts_as_missing_at_render() -> None:
    with pytest.raises(RenderError):
        compile_template("{{ city }}").render({"city": None})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, "42"), (3.5, "3.5"), (True, "True"), (False, "False"), ("text", "text")],
)
def test_scalar_meta_values_render_with_python_str(value: object, expected: str) -> None:
    assert compile_template("{{ v }}").render({"v": value}) == expected  # type: ignore[dict-item]


def test_numbers_in_meta_support_arithmetic() -> None:
    assert compile_template("{{ n + 1 }} {{ n * 2 }}").render({"n": 20}) == "21 40"


def test_non_scalar_meta_value_is_rejected() -> None:
    with pytest.raises(RenderError, match="must be text, a number or a boolean"):
        compile_template("{{ v }}").render({"v": {"nested": 1}})  # type: ignore[dict-item]


@pytest.mark.parametrize("payload", SSTI_PAYLOADS)
def test_ssti_payload_rejected_at_compile(payload: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template(payload)
    assert caught.value.message.startswith("unsafe construct at line 1: ")
    assert caught.value.lineno == 1


def test_attribute_access_message_is_human_readable() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("{{ first-name.upper }}")
    assert str(caught.value) == "unsafe construct at line 1: attribute access is not allowed"


def test_unknown_filter_is_rejected_by_name() -> None:
    with pytest.raises(TemplateError, match="filter 'center' is not allowed"):
        compile_template("{{ first-name|center(999999999) }}")


def test_every_allowed_filter_compiles() -> None:
    for name in sorted(ALLOWED_FILTERS):
        assert compile_template(f"{{{{ v|{name} }}}}").variables == ("v",)


def test_for_loop_rejected_with_line_number() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("Hi\n{% for c in city %}{{ c }}{% endfor %}")
    assert caught.value.lineno == 2
    assert caught.value.message == "unsafe construct at line 2: for loops are not allowed"


def test_syntax_error_reports_line() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("Hi\n\n{{ first-name }")
    assert caught.value.lineno == 3
    assert caught.value.message.startswith("syntax error at line 3: ")


def test_syntax_error_names_hyphenated_variable_as_written() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("{{ first-name last-name }}")
    assert "got 'last-name'" in caught.value.message


def test_line_numbers_survive_whitespace_control() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template("a\n\n{{- x.y }}")
    assert caught.value.lineno == 3


def test_whitespace_control_still_strips() -> None:
    assert compile_template("a \n {{- x -}} \n b").render({"x": "X"}) == "aXb"


def test_trailing_newline_is_kept() -> None:
    assert compile_template("Hi {{ x }}\n").render({"x": "Al"}) == "Hi Al\n"


def test_template_over_length_limit_rejected() -> None:
    compile_template("a" * MAX_TEMPLATE_LENGTH)
    with pytest.raises(TemplateError, match="over the limit of 1600"):
        compile_template("a" * (MAX_TEMPLATE_LENGTH + 1))
    with pytest.raises(TemplateError, match="over the limit of 10"):
        compile_template("a" * 11, max_length=10)


def test_rendered_output_over_limit_raises() -> None:
    template = compile_template("{{ v }}")
    assert template.render({"v": "x" * MAX_RENDERED_LENGTH}) == "x" * MAX_RENDERED_LENGTH
    with pytest.raises(RenderError, match="over the limit of 1600"):
        template.render({"v": "x" * (MAX_RENDERED_LENGTH + 1)})
    with pytest.raises(RenderError, match="over the limit of 5"):
        template.render({"v": "abcdef"}, max_length=5)


def test_repeating_meta_text_is_refused_at_render() -> None:
    template = compile_template("{{ v * 1000000 }}")
    assert template.render({"v": 2}) == "2000000"
    with pytest.raises(RenderError, match="not allowed"):
        template.render({"v": "ab"})


def test_percent_formatting_of_meta_text_is_refused() -> None:
    with pytest.raises(RenderError, match="not allowed"):
        compile_template("{{ v % 1 }}").render({"v": "%999999999d"})


def test_chained_replace_cannot_blow_up_memory() -> None:
    body = "{{ v" + "|replace('', 'aaaaaaaaaa')" * 10 + " }}"
    with pytest.raises(RenderError, match="length limit"):
        compile_template(body).render({"v": "abc"})


def test_deeply_nested_template_rejected() -> None:
    with pytest.raises(TemplateError, match="nested too deeply"):
        compile_template("{{ " + "(" * 500 + "1" + ")" * 500 + " }}")


def test_division_by_zero_is_a_render_error() -> None:
    with pytest.raises(RenderError) as caught:
        compile_template("{{ 10 / n }}").render({"n": 0})
    assert caught.value.missing == []


def test_compile_template_is_cached() -> None:
    assert compile_template(SEED_BODY) is compile_template(SEED_BODY)


def test_template_variables_helper_returns_list() -> None:
    assert template_variables("{{ a-b }} {{ c }} {{ a-b }}") == ["a-b", "c"]


def test_sandbox_refuses_power_even_without_validation() -> None:
    with pytest.raises(SecurityError):
        _ENV.from_string("{{ 2 ** 3 }}").render()


def test_sandbox_has_no_globals() -> None:
    assert dict(_ENV.globals) == {}
