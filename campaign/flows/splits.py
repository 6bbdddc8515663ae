"""Split tests: which category a run variable's value falls in (pure: no I/O).

A `split` activity names a `variable` and ordered `rules` `[{category, test, arguments}]`; the
first rule whose test matches the value names the category, else it is `Other` (TextIt's rules on
a custom variable). The tests follow RapidPro's `has_*` semantics where those are defined:

- Text is compared after NFKC normalisation and case folding, so `YES`, `yes` and fullwidth
  `yes` (U+FF59 U+FF45 U+FF53) are equal. `equals` and `starts-with` trim both sides first.
- Words are runs of letters, digits, combining marks and `_`; an apostrophe (' or U+2019)
  between two such characters stays inside the word, so `don't` is one word whichever apostrophe
  it was typed with. Everything else (whitespace, punctuation, symbols, emoji) separates words,
  in the value and in the argument alike: `contains-any "yes, ok"` is the words `yes` and `ok`,
  and the value `"OK!!"` has the word `ok`.
- A number is a whole word of decimal digits with an optional sign and one `.` fraction:
  `12`, `-3`, `+4.50`, `.5`. `12kg`, `3rd`, `1e5` and `1.2.3` hold no number; `$12` and `12%`
  hold 12; `,` is not a decimal separator (`1,5` holds 1 and 5). Numbers are `Decimal`, so
  `0.1` is exactly 0.1; NaN and Infinity are never numbers. `has-number` and the `number-*`
  tests read the *first* number in the value: `"I have 12 apples, 3 pears"` is 12.
- Values are text, as runs keep them (`"84"`, `"true"`). An `int` or `float` is also its own
  number (a float's text is its `repr`: `84.0`); a non-finite float is text with no number; a
  `bool` is the text `true`/`false`, never the number 1 or 0.
- A missing variable (`None`), a value that is not a scalar, or an int too long to print
  (Python's int-to-text digit limit) matches no test at all, so it always falls to `Other`:
  a split cannot route on what it cannot read. An empty string is a value: it `equals ""`, and
  has no text, words or number.
- Only the first `MAX_SCAN_CHARS` characters of a value are read, by every test: values are
  already within the meta limit (at most 64 KiB), this bounds the work if one is not.
  Arguments are bounded by `MAX_ARGUMENT_CHARS` and refused beyond it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from types import MappingProxyType

OTHER = "Other"

# How many characters of a value any test reads: the largest meta limit (CAMPAIGN_MAX_META_BYTES).
MAX_SCAN_CHARS = 65_536
# The longest argument a rule may carry; longer ones are refused by `bad_arguments`.
MAX_ARGUMENT_CHARS = 1_000

# How many arguments each test takes; the one owner of the test names.
ARGUMENTS: Mapping[str, int] = MappingProxyType(
    {
        "equals": 1,
        "contains-any": 1,
        "contains-all": 1,
        "starts-with": 1,
        "has-text": 0,
        "has-number": 0,
        "number-lt": 1,
        "number-lte": 1,
        "number-gt": 1,
        "number-gte": 1,
        "number-eq": 1,
        "number-between": 2,
    }
)
TESTS: frozenset[str] = frozenset(ARGUMENTS)
NUMBER_TESTS: frozenset[str] = frozenset(name for name in TESTS if name.startswith("number-"))
WORD_TESTS: frozenset[str] = frozenset({"contains-any", "contains-all"})

_NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
# A number as a whole word: not glued to a word character or another `.fraction` either side.
_NUMBER_IN_TEXT = re.compile(rf"(?<![\w.]){_NUMBER}(?!\w|\.\d)")
_NUMBER_ARGUMENT = re.compile(_NUMBER)
_APOSTROPHES = frozenset("'\u2019")


@dataclass(frozen=True)
class Rule:
    """One rule of a split; refuses an unknown test or unusable arguments at construction."""

    category: str
    test: str
    arguments: tuple[str, ...] = ()
    _check: Callable[[_Value], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Settings arrive as JSON lists; keep the rule hashable and immutable.
        object.__setattr__(self, "arguments", tuple(self.arguments))
        object.__setattr__(self, "_check", _compile(self.test, self.arguments))


def bad_arguments(test: str, arguments: Sequence[object]) -> str | None:
    """Why `arguments` cannot be used with `test` (for a 400's detail), or None when they can."""
    if test not in ARGUMENTS:
        return f"unknown test {test!r}; the tests are {', '.join(sorted(TESTS))}"
    expected = ARGUMENTS[test]
    if len(arguments) != expected:
        return f"{test} takes {_count(expected)}, not {len(arguments)}"
    for argument in arguments:
        if not isinstance(argument, str):
            return f"{test} takes text arguments"
        if len(argument) > MAX_ARGUMENT_CHARS:
            return f"{test}: an argument is longer than {MAX_ARGUMENT_CHARS} characters"
    if test in WORD_TESTS and not _words(_fold(arguments[0])):
        return f"{test} needs at least one word (letters or digits)"
    if test == "starts-with" and not arguments[0].strip():
        return "starts-with needs text to start with"
    if test in NUMBER_TESTS:
        numbers = [_parse_argument(argument) for argument in arguments]
        if None in numbers:
            return f"{test} takes decimal numbers such as 12, -3 or 4.5"
        if test == "number-between" and numbers != sorted(numbers):
            return "number-between's first number is above its second"
    return None


def matches(test: str, arguments: Sequence[str], value: object) -> bool:
    """Whether `value` passes `test`; ValueError when `bad_arguments` would refuse them."""
    return _compile(test, tuple(arguments))(_Value(value))


def categorise(value: object, rules: Sequence[Rule]) -> str:
    """The category of the first rule that `value` matches, else `OTHER`."""
    read = _Value(value)
    for rule in rules:
        if rule._check(read):
            return rule.category
    return OTHER


class _Value:
    """A value read once for every rule of a split: its text, words and first number."""

    def __init__(self, value: object) -> None:
        self.missing = False
        self.own_number: Decimal | None = None
        if isinstance(value, str):
            raw = value[:MAX_SCAN_CHARS]
        elif isinstance(value, bool):
            raw = "true" if value else "false"
        elif isinstance(value, int):
            try:
                raw = str(value)
            except ValueError:  # past the interpreter's int-to-text digit limit
                raw, self.missing = "", True
            else:
                self.own_number = Decimal(value)
        elif isinstance(value, float):
            raw = repr(value)
            self.own_number = Decimal(raw) if math.isfinite(value) else None
        else:
            raw, self.missing = "", True
        self.raw = raw

    @cached_property
    def folded(self) -> str:
        return _fold(self.raw)

    @cached_property
    def stripped(self) -> str:
        return self.folded.strip()

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(_words(self.folded))

    @cached_property
    def number(self) -> Decimal | None:
        if self.own_number is not None:
            return self.own_number
        # Case folding leaves digits, signs and `.` alone, so the folded text serves.
        found = _NUMBER_IN_TEXT.search(self.folded)
        return Decimal(found.group()) if found else None


def _compile(test: str, arguments: tuple[str, ...]) -> Callable[[_Value], bool]:
    reason = bad_arguments(test, arguments)
    if reason is not None:
        raise ValueError(reason)
    check = _test(test, arguments)
    return lambda value: not value.missing and check(value)


def _test(test: str, arguments: tuple[str, ...]) -> Callable[[_Value], bool]:
    if test == "has-text":
        return lambda value: bool(value.stripped)
    if test == "has-number":
        return lambda value: value.number is not None
    if test in NUMBER_TESTS:
        # bad_arguments has passed, so every argument parses.
        low, *rest = (Decimal(_parse_argument(argument) or 0) for argument in arguments)
        if test == "number-between":
            high = rest[0]
            return lambda value: value.number is not None and low <= value.number <= high
        compare: Callable[[Decimal], bool] = {
            "number-lt": lambda number: number < low,
            "number-lte": lambda number: number <= low,
            "number-gt": lambda number: number > low,
            "number-gte": lambda number: number >= low,
            "number-eq": lambda number: number == low,
        }[test]
        return lambda value: value.number is not None and compare(value.number)
    text = _fold(arguments[0])
    if test == "equals":
        wanted = text.strip()
        return lambda value: value.stripped == wanted
    if test == "starts-with":
        prefix = text.strip()
        return lambda value: value.stripped.startswith(prefix)
    words = frozenset(_words(text))
    if test == "contains-any":
        return lambda value: not words.isdisjoint(value.words)
    return lambda value: words <= value.words  # contains-all


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _parse_argument(argument: str) -> Decimal | None:
    text = unicodedata.normalize("NFKC", argument).strip()
    return Decimal(text) if _NUMBER_ARGUMENT.fullmatch(text) else None


@lru_cache(maxsize=4096)
def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_" or unicodedata.category(character)[0] == "M"


def _words(text: str) -> list[str]:
    """Split folded text into words; an apostrophe joins two word characters."""
    words: list[str] = []
    current: list[str] = []
    last = len(text) - 1
    for index, character in enumerate(text):
        if _is_word_character(character):
            current.append(character)
        elif (
            character in _APOSTROPHES
            and current
            and index < last
            and _is_word_character(text[index + 1])
        ):
            current.append("'")
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _count(expected: int) -> str:
    return {0: "no arguments", 1: "one argument"}.get(expected, f"{expected} arguments")
