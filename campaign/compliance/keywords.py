"""Opt-out, opt-in and help keywords (Twilio's defaults), matched on the whole trimmed message.

Pure: no database, no network, no Flask.
"""

import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Keyword(StrEnum):
    """What a keyword message asks for; the values are the wire words."""

    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

KEYWORDS: Mapping[str, Keyword] = MappingProxyType(
    {word: Keyword.OPT_OUT for word in OPT_OUT_WORDS}
    | {word: Keyword.OPT_IN for word in OPT_IN_WORDS}
    | {word: Keyword.HELP for word in HELP_WORDS}
)
"""Upper-case word -> keyword; the only table `classify` reads."""

MAX_KEYWORD_BODY = 64
"""Longer bodies are never keywords; checked before any other work (hostile 1,600-char bodies)."""

_TRAILING_PUNCTUATION = ".!"


def classify(body: str) -> Keyword | None:
    """Return the keyword the whole message is, or None if it is not exactly one keyword.

    The whole message must be the keyword, as carriers and Twilio rule, so an ordinary reply
    that contains "stop" ("please stop texting me", "STOP NOW") is not an opt-out. Before the
    comparison the body is NFKC-normalised (fullwidth U+FF33 U+FF34 U+FF2F U+FF30 is "STOP"),
    stripped of Unicode whitespace at both ends (NBSP, tabs, newlines), and stripped of one
    trailing run of "." and "!" because people end a one-word reply with them ("STOP.", "Stop!")
    and mean the keyword. Nothing inside is removed, and "?" is kept: "STOP?" is a question, not
    an instruction. Case is ignored.
    """
    if len(body) > MAX_KEYWORD_BODY:
        return None
    word = unicodedata.normalize("NFKC", body).strip().rstrip(_TRAILING_PUNCTUATION)
    return KEYWORDS.get(word.upper())
