import pytest

from campaign.compliance.keywords import (
    HELP_WORDS,
    KEYWORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
    classify,
)

_EXPECTED = (
    [(word, Keyword.OPT_OUT) for word in sorted(OPT_OUT_WORDS)]
    + [(word, Keyword.OPT_IN) for word in sorted(OPT_IN_WORDS)]
    + [(word, Keyword.HELP) for word in sorted(HELP_WORDS)]
)

_VARIANTS = {
    "as-is": lambda w: w,
    "lower": str.lower,
    "mixed": lambda w: w[0] + w[1:].lower(),
    "spaces": lambda w: f"  {w}  ",
    "tab-newline": lambda w: f"\t{w}\r\n",
    "nbsp": lambda w: f"\u00a0{w}\u00a0",
    "trailing-dot": lambda w: f"{w}.",
    "trailing-bang": lambda w: f"{w}!",
    "trailing-run-and-space": lambda w: f"{w.lower()}!!. \n",
}

_KEYWORD_CASES = [
    pytest.param(variant(word), keyword, id=f"{word}-{name}")
    for word, keyword in _EXPECTED
    for name, variant in _VARIANTS.items()
]


def test_the_three_word_sets_are_disjoint_and_all_in_the_table() -> None:
    assert len(OPT_OUT_WORDS) + len(OPT_IN_WORDS) + len(HELP_WORDS) == len(KEYWORDS)


@pytest.mark.parametrize(("body", "keyword"), _KEYWORD_CASES)
def test_a_keyword_alone_is_classified(body: str, keyword: Keyword) -> None:
    assert classify(body) is keyword


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("STOP NOW", id="keyword-then-word"),
        pytest.param("please stop", id="word-then-keyword"),
        pytest.param("please stop texting me", id="sentence-with-stop"),
        pytest.param("stopp", id="misspelt"),
        pytest.param("S TOP", id="space-inside"),
        pytest.param("ST.OP", id="dot-inside"),
        pytest.param("STOP?", id="question"),
        pytest.param("STOP !", id="space-before-bang"),
        pytest.param(".STOP", id="leading-dot"),
        pytest.param("STOP" + " " * 1596, id="1600-chars-of-stop-and-spaces"),
        pytest.param("x" * 1600, id="1600-chars"),
        pytest.param("停止", id="non-gsm-chinese-stop"),
    ],
)
def test_anything_but_a_lone_keyword_is_not_a_keyword(body: str) -> None:
    assert classify(body) is None


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        pytest.param("\uff33\uff34\uff2f\uff30", Keyword.OPT_OUT, id="fullwidth-stop"),
        pytest.param(
            "\uff53\uff54\uff41\uff52\uff54\uff01", Keyword.OPT_IN, id="fullwidth-start-and-bang"
        ),
        pytest.param("\u3000HELP\u3000", Keyword.HELP, id="ideographic-space"),
    ],
)
def test_compatibility_forms_are_normalised_with_nfkc(body: str, keyword: Keyword) -> None:
    assert classify(body) is keyword


def test_a_keyword_is_its_wire_word() -> None:
    assert [str(k) for k in Keyword] == ["opt-out", "opt-in", "help"]
