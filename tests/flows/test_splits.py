"""Split tests: every test with values that match and values that do not, first-match ordering,
the `Other` fallback, refused arguments and the scan cap."""

from __future__ import annotations

import re

import pytest

from campaign.flows.splits import (
    ARGUMENTS,
    MAX_ARGUMENT_CHARS,
    MAX_SCAN_CHARS,
    OTHER,
    TESTS,
    Rule,
    bad_arguments,
    categorise,
    matches,
)

# (test, arguments, value, matches?)
CASES = [
    # equals: trimmed, case-insensitive, whole value
    ("equals", ("yes",), "yes", True),
    ("equals", ("yes",), "  YES \n", True),
    ("equals", (" Yes ",), "yEs", True),
    ("equals", ("yes",), "yes please", False),
    ("equals", ("yes",), "yes!", False),
    ("equals", ("yes",), "ye s", False),
    ("equals", ("Straße",), "STRASSE", True),
    ("equals", ("\uff59\uff45\uff53",), "YES", True),  # fullwidth
    ("equals", ("",), "   ", True),
    ("equals", ("",), "", True),
    ("equals", ("true",), True, True),
    ("equals", ("false",), False, True),
    ("equals", ("1",), True, False),
    ("equals", ("12",), 12, True),
    ("equals", ("84.0",), 84.0, True),
    ("equals", ("84",), 84.0, False),
    ("equals", ("none",), None, False),
    ("equals", ("",), None, False),
    # contains-any: any word of the argument is a word of the value
    ("contains-any", ("yes y ok",), "ok then", True),
    ("contains-any", ("yes y ok",), "OK!!", True),
    ("contains-any", ("yes, ok",), "well... YES.", True),
    ("contains-any", ("yes ok",), "yesterday okay", False),
    ("contains-any", ("yes ok",), "no", False),
    ("contains-any", ("stop",), "please-stop-now", True),
    ("contains-any", ("stop",), "stop_now", False),  # `_` is a word character
    ("contains-any", ("don't",), "I DON\u2019T want it", True),
    ("contains-any", ("don't",), "don t", False),
    ("contains-any", ("'quoted'",), "a quoted word", True),
    ("contains-any", ("café",), "CAFE\u0301 au lait", True),  # combining acute, NFKC composes
    ("contains-any", ("नमस्ते",), "नमस्ते दोस्त", True),
    ("contains-any", ("नम",), "नमस्ते दोस्त", False),  # vowel signs stay inside the word
    ("contains-any", ("12",), "room 12b or 12", True),
    ("contains-any", ("12",), 12, True),
    ("contains-any", ("true",), True, True),
    ("contains-any", ("yes",), "", False),
    ("contains-any", ("yes",), None, False),
    # contains-all: every word of the argument is a word of the value
    ("contains-all", ("red blue",), "Blue, then RED!", True),
    ("contains-all", ("red blue",), "red only", False),
    ("contains-all", ("red red",), "red", True),
    ("contains-all", ("red, blue.",), "blue/red", True),
    ("contains-all", ("red blue",), "reddish blue", False),
    ("contains-all", ("red",), None, False),
    # starts-with: trimmed, case-insensitive prefix
    ("starts-with", ("stop",), "  STOP all texts", True),
    ("starts-with", ("stop",), "Stopping", True),
    ("starts-with", (" Stop ",), "stop", True),
    ("starts-with", ("stop",), "please stop", False),
    ("starts-with", ("stop now",), "stop", False),
    ("starts-with", ("tr",), True, True),
    ("starts-with", ("4",), 42, True),
    ("starts-with", ("stop",), None, False),
    # has-text: any non-whitespace
    ("has-text", (), "a", True),
    ("has-text", (), "  .  ", True),
    ("has-text", (), "", False),
    ("has-text", (), " \t\n\u00a0\u2003", False),
    ("has-text", (), 0, True),
    ("has-text", (), False, True),
    ("has-text", (), 0.0, True),
    ("has-text", (), None, False),
    ("has-text", (), ["a"], False),
    ("has-text", (), {"a": 1}, False),
    # has-number: a number that is a whole word of the value
    ("has-number", (), "I have 12 apples", True),
    ("has-number", (), "12", True),
    ("has-number", (), "-3", True),
    ("has-number", (), "about 4.50 each", True),
    ("has-number", (), ".5", True),
    ("has-number", (), "$12", True),
    ("has-number", (), "12%", True),
    ("has-number", (), "(-5)", True),
    ("has-number", (), "I have 12.", True),
    ("has-number", (), "\uff11\uff12", True),  # fullwidth digits
    ("has-number", (), "\u0663 items", True),  # Arabic-Indic three
    ("has-number", (), "12kg", False),
    ("has-number", (), "3rd", False),
    ("has-number", (), "1e5", False),
    ("has-number", (), "v1.2.3", False),
    ("has-number", (), "1.2.3", False),
    ("has-number", (), "NaN", False),
    ("has-number", (), "Infinity", False),
    ("has-number", (), "twelve", False),
    ("has-number", (), "", False),
    ("has-number", (), 0, True),
    ("has-number", (), -7.5, True),
    ("has-number", (), 1e20, True),
    ("has-number", (), float("nan"), False),
    ("has-number", (), float("inf"), False),
    ("has-number", (), True, False),
    ("has-number", (), None, False),
    # number-lt / lte / gt / gte / eq: the first number of the value against the argument
    ("number-lt", ("10",), "9", True),
    ("number-lt", ("10",), "10", False),
    ("number-lt", ("10",), "I am 9.99 years", True),
    ("number-lt", ("0",), "-0.5", True),
    ("number-lt", ("-2",), "-3", True),
    ("number-lt", ("-2",), "-1", False),
    ("number-lt", ("10",), "about 20, maybe 5", False),  # the first number decides
    ("number-lt", ("10",), "no number", False),
    ("number-lt", ("10",), 9, True),
    ("number-lt", ("10",), False, False),
    ("number-lt", ("10",), None, False),
    ("number-lte", ("10",), "10", True),
    ("number-lte", ("10",), "10.0", True),
    ("number-lte", ("10",), "10.01", False),
    ("number-lte", (" 10.5 ",), 10.5, True),
    ("number-gt", ("100",), "101 please", True),
    ("number-gt", ("100",), "100", False),
    ("number-gt", ("100",), "1000kg", False),  # not a whole word: no number
    ("number-gt", ("-1",), "0", True),
    ("number-gt", ("0.1",), 0.1, False),  # 0.1 exactly, not the binary float above it
    ("number-gte", ("18",), "18", True),
    ("number-gte", ("18",), "17.999", False),
    ("number-gte", ("18",), "+18", True),
    ("number-gte", ("18",), 1e20, True),
    ("number-eq", ("12",), "12", True),
    ("number-eq", ("12",), "12.00", True),
    ("number-eq", ("12",), " 12 ", True),
    ("number-eq", ("12",), "I have 12 apples", True),
    ("number-eq", ("12",), "I have 3 boxes of 12", False),
    ("number-eq", ("12",), "1,2", False),  # `,` separates: the first number is 1
    ("number-eq", ("1",), "1,000", True),
    ("number-eq", ("0.1",), 0.1, True),
    ("number-eq", ("-0",), "0", True),
    ("number-eq", ("12",), 12, True),
    ("number-eq", ("\uff11\uff12",), "12", True),
    ("number-eq", ("1",), True, False),
    ("number-eq", ("0",), None, False),
    # number-between: inclusive at both ends
    ("number-between", ("1", "5"), "1", True),
    ("number-between", ("1", "5"), "5", True),
    ("number-between", ("1", "5"), "3.5 stars", True),
    ("number-between", ("1", "5"), "0.99", False),
    ("number-between", ("1", "5"), "5.01", False),
    ("number-between", ("-5", "-1"), "it is -3 outside", True),
    ("number-between", ("-5", "-1"), "3", False),
    ("number-between", ("2", "2"), "2", True),
    ("number-between", ("1", "5"), 4, True),
    ("number-between", ("1", "5"), 4.0, True),
    ("number-between", ("1", "5"), "four", False),
    ("number-between", ("1", "5"), None, False),
]


@pytest.mark.parametrize(("test", "arguments", "value", "expected"), CASES)
def test_matches(test: str, arguments: tuple[str, ...], value: object, expected: bool) -> None:
    assert matches(test, arguments, value) is expected


def test_every_test_has_a_matching_and_a_non_matching_case() -> None:
    outcomes = {(test, expected) for test, _, _, expected in CASES}
    assert outcomes == {(test, expected) for test in TESTS for expected in (True, False)}


@pytest.mark.parametrize("test", sorted(TESTS))
def test_a_missing_variable_matches_no_test(test: str) -> None:
    arguments = ("1",) * ARGUMENTS[test]
    assert matches(test, arguments, None) is False
    assert categorise(None, [Rule("any", test, arguments)]) == OTHER


def test_an_int_too_long_to_print_matches_nothing() -> None:
    assert matches("has-text", (), 10**5000) is False
    assert matches("number-gt", ("1",), 10**5000) is False


def test_the_tests_are_the_ones_flows_offer_with_their_argument_counts() -> None:
    assert TESTS == frozenset(ARGUMENTS) == {
        "equals", "contains-any", "contains-all", "starts-with", "has-text", "has-number",
        "number-lt", "number-lte", "number-gt", "number-gte", "number-eq", "number-between",
    }  # fmt: skip
    counts = {count: sorted(test for test in TESTS if ARGUMENTS[test] == count) for count in (0, 2)}
    assert counts == {0: ["has-number", "has-text"], 2: ["number-between"]}


RULES = [
    Rule("stop", "starts-with", ("stop",)),
    Rule("yes", "contains-any", ("yes y ok",)),
    Rule("no", "contains-any", ("no nope",)),
    Rule("young", "number-lt", ("18",)),
    Rule("adult", "number-between", ("18", "120")),
    Rule("said something", "has-text", ()),
]


@pytest.mark.parametrize(
    ("value", "category"),
    [
        ("STOP, yes", "stop"),  # the first rule that matches wins
        ("yes, no", "yes"),
        ("Nope.", "no"),
        ("I am 12", "young"),
        (42, "adult"),
        ("121", "said something"),
        ("   ", OTHER),
        ("", OTHER),
        (None, OTHER),
        (True, "said something"),
    ],
)
def test_categorise_takes_the_first_rule_that_matches(value: object, category: str) -> None:
    assert categorise(value, RULES) == category


def test_categorise_without_rules_is_other() -> None:
    assert OTHER == "Other"
    assert categorise("anything", []) == OTHER


def test_a_later_rule_for_the_same_category_still_counts() -> None:
    rules = [Rule("cold", "number-lt", ("10",)), Rule("cold", "contains-any", ("freezing",))]
    assert categorise("freezing at 12", rules) == "cold"
    assert categorise("warm at 12", rules) == OTHER


def test_a_rule_keeps_its_arguments_as_a_tuple() -> None:
    rule = Rule("yes", "equals", ["yes"])  # type: ignore[arg-type]
    assert rule.arguments == ("yes",)
    assert rule == Rule("yes", "equals", ("yes",))
    assert hash(rule) == hash(Rule("yes", "equals", ("yes",)))


@pytest.mark.parametrize(
    ("test", "arguments", "reason"),
    [
        ("is-yes", ("yes",), "unknown test 'is-yes'; the tests are contains-all, "),
        ("equals", (), "equals takes one argument, not 0"),
        ("equals", ("a", "b"), "equals takes one argument, not 2"),
        ("has-text", ("a",), "has-text takes no arguments, not 1"),
        ("has-number", ("1",), "has-number takes no arguments, not 1"),
        ("number-between", ("1",), "number-between takes 2 arguments, not 1"),
        ("number-between", ("1", "2", "3"), "number-between takes 2 arguments, not 3"),
        ("number-lt", (10,), "number-lt takes text arguments"),
        ("equals", (None,), "equals takes text arguments"),
        ("equals", ("x" * (MAX_ARGUMENT_CHARS + 1),), "equals: an argument is longer than 1000"),
        ("contains-any", ("",), "contains-any needs at least one word (letters or digits)"),
        ("contains-any", (" ,.!? ",), "contains-any needs at least one word"),
        ("contains-all", ("\U0001f44d",), "contains-all needs at least one word"),
        ("starts-with", ("  ",), "starts-with needs text to start with"),
        ("number-lt", ("ten",), "number-lt takes decimal numbers such as 12, -3 or 4.5"),
        ("number-lte", ("",), "number-lte takes decimal numbers"),
        ("number-gt", ("NaN",), "number-gt takes decimal numbers"),
        ("number-gte", ("Infinity",), "number-gte takes decimal numbers"),
        ("number-eq", ("-inf",), "number-eq takes decimal numbers"),
        ("number-eq", ("1e5",), "number-eq takes decimal numbers"),
        ("number-eq", ("1_000",), "number-eq takes decimal numbers"),
        ("number-eq", ("1,5",), "number-eq takes decimal numbers"),
        ("number-eq", ("12kg",), "number-eq takes decimal numbers"),
        ("number-between", ("1", "x"), "number-between takes decimal numbers"),
        ("number-between", ("5", "1"), "number-between's first number is above its second"),
    ],
)
def test_bad_arguments_says_why(test: str, arguments: tuple[object, ...], reason: str) -> None:
    found = bad_arguments(test, arguments)
    assert found is not None
    assert found.startswith(reason)
    with pytest.raises(ValueError, match=re.escape(found)):
        Rule("category", test, arguments)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(found)):
        matches(test, arguments, "12")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("test", "arguments"),
    [
        ("equals", ("",)),
        ("equals", ("x" * MAX_ARGUMENT_CHARS,)),
        ("contains-any", ("yes",)),
        ("contains-all", ("a b c",)),
        ("starts-with", ("s",)),
        ("has-text", ()),
        ("has-number", ()),
        ("number-lt", ("-3",)),
        ("number-lte", (" 4.5 ",)),
        ("number-gt", ("+2",)),
        ("number-gte", (".5",)),
        ("number-eq", ("0",)),
        ("number-between", ("2", "2")),
        ("number-between", ("-1.5", "1.5")),
    ],
)
def test_bad_arguments_is_none_when_usable(test: str, arguments: tuple[str, ...]) -> None:
    assert bad_arguments(test, arguments) is None
    assert Rule("category", test, arguments).arguments == arguments


@pytest.mark.parametrize(
    ("test", "arguments", "before"),
    [
        ("has-text", (), "a"),
        ("contains-any", ("needle",), " needle"),
        ("contains-all", ("needle",), " needle"),
        ("has-number", (), " 7"),
        ("number-eq", ("7",), " 7"),
        ("starts-with", ("needle",), "needle"),
    ],
)
def test_only_the_first_scan_chars_are_read(
    test: str, arguments: tuple[str, ...], before: str
) -> None:
    assert matches(test, arguments, " " * (MAX_SCAN_CHARS - len(before)) + before) is True
    assert matches(test, arguments, " " * MAX_SCAN_CHARS + before) is False


def test_a_word_cut_by_the_scan_cap_is_the_part_read() -> None:
    value = " " * (MAX_SCAN_CHARS - 3) + "needle"
    assert matches("contains-any", ("nee",), value) is True
    assert matches("contains-any", ("needle",), value) is False


def test_a_long_run_of_digits_with_no_number_is_refused_whole() -> None:
    # The worst case for the number scan: one digit run that is not a whole word.
    assert matches("has-number", (), "1" * (MAX_SCAN_CHARS - 1) + "x") is False
    assert matches("number-gt", ("0",), "1" * MAX_SCAN_CHARS) is True
    assert matches("has-number", (), "1." * (MAX_SCAN_CHARS // 2)) is False
