"""A flow's definitions as the API receives them, validated (pure): web-call and split settings,
and a trigger against the activity it fires on. Every problem is an `InvalidAttribute` whose `at`
is the exact member (`attributes/rules/0/test`), several at once an `ApiErrors`.

- Settings and secrets are returned apart: settings are what the API shows back and what may be
  logged; secrets (`basic-auth-password`, `oauth2-client-secret`) are write-only, kept in their own
  column so no serializer can dump them by accident. `shown()` rebuilds what it returns from named
  members only, so not even a stray key in stored settings comes out.
- A PATCH gives only what changes, merged over the stored settings. Clients read an activity back
  without its secrets and PATCH it as read, so `basic-auth` or `oauth2` without the password or
  client-secret keeps the stored one. One exception: a changed `token-url` needs the client-secret
  again, since the secret is only ever sent there and keeping it would hand it to a new host.
  `null` removes `basic-auth` or `oauth2` and its secret, and gives any other attribute its default
  (`url` has none: it stays required).
- Names (response variables, a split's variable) are what a template can read as `{{ name }}`:
  letters, digits, `-` and `_`, and the template engine must read the name back whole (so not `1st`,
  `count-1`, `true` or `loop`). A name no template could read is refused at the door.
- Templates (url, header values, body) are compiled here; a URL that reads no variable is rendered
  and checked in full, one that does only for its start (a variable may supply the rest: the call
  checks what it renders). Each list and object has a bound, checked before its members are read.
- An `Authorization` header beside basic-auth or oauth2, or a `Content-Type` header beside
  `content-type`, is refused: which one would win is not something a flow author should guess.
- Top-level attributes of the other kind (`variable` on a web-call) are refused; the rest of an
  activity's attributes (`kind`, ...) belong to its resource and are not looked at here.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from campaign.errors import ApiError, ApiErrors, InvalidAttribute, escape
from campaign.flows import extraction, oauth2, splits, steps, web_calls
from campaign.templates_engine import RenderError, TemplateError, compile_template

WEB_CALL_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "method",
        "url",
        "headers",
        "basic-auth",
        "oauth2",
        "content-type",
        "body",
        "timeout",
        "response-variables",
    }
)
SPLIT_ATTRIBUTES: frozenset[str] = frozenset({"variable", "rules"})
BASIC_AUTH_PASSWORD = "basic-auth-password"
OAUTH2_CLIENT_SECRET = "oauth2-client-secret"

MAX_RESPONSE_VARIABLES = 100
MAX_RULES = 100
MAX_CATEGORY_LENGTH = 64
MAX_CONTENT_TYPE_LENGTH = 255
MAX_CREDENTIAL_LENGTH = 4096
MAX_DELAY_IN_SECONDS = 30 * 24 * 3600
# Unknown members named per object: enough to fix a typo, bounded for a hostile document.
MAX_UNKNOWN_NAMED = 5

_WEB_CALL_DEFAULTS: Mapping[str, Any] = {
    "method": "GET",
    "url": None,
    "headers": {},
    "basic-auth": None,
    "oauth2": None,
    "content-type": None,
    "body": None,
    "timeout": web_calls.DEFAULT_TIMEOUT,
    "response-variables": [],
}
_BASIC_AUTH_SHOWN = ("username",)
_OAUTH2_SHOWN = ("token-url", "client-id", "scope")
_RULE_MEMBERS = ("category", "test", "arguments")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_LINE_BREAKS = ("\r", "\n", "\x00")

_Errors = list[ApiError]


def web_call_settings(
    given: Mapping[str, Any],
    stored: Mapping[str, Any] | None = None,
    stored_secrets: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A web-call's (settings, secrets): `given` alone on a create, merged over `stored` on a PATCH.

    The secrets returned replace the stored ones: those still set, nothing else.
    """
    errors: _Errors = []
    _refuse_foreign(given, WEB_CALL_ATTRIBUTES, errors)
    base = stored or {}
    kept = stored_secrets or {}

    def value(name: str) -> Any:
        found = given[name] if name in given else base.get(name)
        return _WEB_CALL_DEFAULTS[name] if found is None else found

    settings: dict[str, Any] = {
        "method": _method(value("method"), errors),
        "url": _url(value("url"), errors),
        "headers": _headers(value("headers"), errors),
        "content-type": _content_type(value("content-type"), errors),
        "body": _template(value("body"), "body", web_calls.MAX_BODY_TEMPLATE_LENGTH, errors),
        "timeout": _timeout(value("timeout"), errors),
        "response-variables": _response_variables(value("response-variables"), errors),
    }
    secrets: dict[str, str] = {}
    settings["basic-auth"], password = _basic_auth(
        value("basic-auth"), kept.get(BASIC_AUTH_PASSWORD), errors
    )
    if password is not None:
        secrets[BASIC_AUTH_PASSWORD] = password
    settings["oauth2"], client_secret = _oauth2(
        value("oauth2"), base.get("oauth2"), kept.get(OAUTH2_CLIENT_SECRET), errors
    )
    if client_secret is not None:
        secrets[OAUTH2_CLIENT_SECRET] = client_secret
    _check_together(settings, given, errors)
    _raise(errors)
    return {name: settings[name] for name in _WEB_CALL_DEFAULTS}, secrets


def split_settings(
    given: Mapping[str, Any], stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A split's settings: `variable` and `rules`, `given` merged over `stored` on a PATCH."""
    errors: _Errors = []
    _refuse_foreign(given, SPLIT_ATTRIBUTES, errors)
    base = stored or {}
    variable = given["variable"] if "variable" in given else base.get("variable")
    rules = given["rules"] if "rules" in given else base.get("rules")
    if variable is None:
        errors.append(_bad("variable", "variable is required: the name the split reads"))
    elif problem := _bad_name(variable):
        errors.append(_bad("variable", f"variable: {problem}"))
    settings = {"variable": variable, "rules": _rules(rules, errors)}
    _raise(errors)
    return settings


def shown(kind: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes an activity of `kind` dumps: its settings as stored, never a secret."""
    if kind == "text":
        return {}
    if kind == "split":
        return {name: copy.deepcopy(settings.get(name)) for name in sorted(SPLIT_ATTRIBUTES)}
    if kind != "web-call":
        raise ValueError(f"no settings for activities of kind {kind!r}")
    attributes: dict[str, Any] = {}
    for name in sorted(WEB_CALL_ATTRIBUTES):
        found = settings.get(name)
        attributes[name] = copy.deepcopy(_WEB_CALL_DEFAULTS[name] if found is None else found)
    # Rebuilt from named members: whatever else a stored object holds is not shown.
    for name, members in (("basic-auth", _BASIC_AUTH_SHOWN), ("oauth2", _OAUTH2_SHOWN)):
        if isinstance(attributes[name], Mapping):
            attributes[name] = {member: attributes[name].get(member) for member in members}
    return attributes


def web_call_of(settings: Mapping[str, Any], secrets: Mapping[str, str]) -> web_calls.WebCall:
    """The `WebCall` that stored web-call settings and secrets describe."""
    basic_auth = None
    if settings.get("basic-auth") is not None:
        if BASIC_AUTH_PASSWORD not in secrets:
            raise ValueError("the web call's basic-auth has no stored password")
        basic_auth = (settings["basic-auth"]["username"], secrets[BASIC_AUTH_PASSWORD])
    return web_calls.WebCall(
        url=settings["url"],
        method=settings.get("method") or "GET",
        headers=dict(settings.get("headers") or {}),
        basic_auth=basic_auth,
        content_type=settings.get("content-type"),
        body=settings.get("body"),
        timeout=settings.get("timeout") or web_calls.DEFAULT_TIMEOUT,
    )


def oauth2_client_of(
    settings: Mapping[str, Any], secrets: Mapping[str, str]
) -> oauth2.Client | None:
    """The OAuth 2.0 client of stored web-call settings, or None when it has none."""
    found = settings.get("oauth2")
    if found is None:
        return None
    if OAUTH2_CLIENT_SECRET not in secrets:
        raise ValueError("the web call's oauth2 has no stored client-secret")
    return oauth2.Client(
        token_url=found["token-url"],
        client_id=found["client-id"],
        client_secret=secrets[OAUTH2_CLIENT_SECRET],
        scope=found.get("scope"),
    )


def response_variables_of(settings: Mapping[str, Any]) -> list[extraction.ResponseVariable]:
    """The response variables of stored web-call settings, in their order."""
    return [
        extraction.ResponseVariable(item["name"], item["query"])
        for item in settings.get("response-variables") or []
    ]


def split_of(settings: Mapping[str, Any]) -> tuple[str, list[splits.Rule]]:
    """The variable a stored split reads and its rules, in order."""
    rules = [
        splits.Rule(rule["category"], rule["test"], tuple(rule["arguments"]))
        for rule in settings["rules"]
    ]
    return settings["variable"], rules


def check_trigger(
    *,
    on_event: object,
    category: object,
    delay_in_seconds: object,
    source_kind: str,
    categories: Collection[str] | None,
) -> tuple[steps.Event, str | None, int]:
    """A trigger's (on-event, category, delay-in-seconds) against its activity, normalised.

    `categories`: the rule categories of the split it fires on (None for other kinds). The
    category comes back as the split spells it, `Other` as `splits.OTHER`.
    """
    allowed = steps.EVENTS_BY_KIND.get(source_kind)
    if allowed is None:
        raise ValueError(f"activities of kind {source_kind!r} have no events")
    errors: _Errors = []
    event = next((event for event in allowed if event.value == on_event), None)
    if on_event is None:
        errors.append(
            _bad("on-event", f"on-event is required: one of {', '.join(sorted(allowed))}")
        )
    elif event is None:
        names = ", ".join(sorted(allowed))
        errors.append(
            _bad(
                "on-event",
                f"{str(on_event)[:40]!r} is not an event of a {source_kind} activity; "
                f"use one of {names}",
            )
        )
    found_category = None
    if event == steps.Event.SPLIT:
        found_category = _category_of(category, categories, errors)
    elif event is not None and category is not None:
        errors.append(_bad("category", "category is only for on-event split"))
    delay = 0 if delay_in_seconds is None else _whole(delay_in_seconds)
    if delay is None or not 0 <= delay <= MAX_DELAY_IN_SECONDS:
        errors.append(
            _bad(
                "delay-in-seconds",
                f"delay-in-seconds is a whole number from 0 to {MAX_DELAY_IN_SECONDS} (30 days)",
            )
        )
    _raise(errors)
    assert event is not None and delay is not None  # _raise refused them otherwise
    return event, found_category, delay


def _category_of(
    category: object, categories: Collection[str] | None, errors: _Errors
) -> str | None:
    if categories is None:
        raise ValueError("a trigger on a split needs the split's categories")
    offered = [*categories, splits.OTHER]
    if not isinstance(category, str) or not category.strip():
        errors.append(
            _bad("category", f"category is required with on-event split: {_listed(offered)}")
        )
        return None
    by_fold = {_fold(name): name for name in offered}
    found = by_fold.get(_fold(category))
    if found is None:
        errors.append(
            _bad(
                "category",
                f"{category[:40]!r} is not a category of the split; use one of {_listed(offered)}",
            )
        )
    return found


def _refuse_foreign(given: Mapping[str, Any], own: frozenset[str], errors: _Errors) -> None:
    for name in sorted((WEB_CALL_ATTRIBUTES | SPLIT_ATTRIBUTES) - own):
        if name in given:
            kind = "split" if name in SPLIT_ATTRIBUTES else "web-call"
            errors.append(_bad(name, f"{name} is an attribute of a {kind} activity"))


def _method(method: Any, errors: _Errors) -> str | None:
    if isinstance(method, str) and method.upper() in web_calls.METHODS:
        return method.upper()
    errors.append(_bad("method", f"method is one of {', '.join(web_calls.METHODS)}"))
    return None


def _url(url: Any, errors: _Errors) -> str | None:
    if url is None:
        errors.append(_bad("url", "url is required: the URL of the service to call"))
        return None
    if not isinstance(url, str) or not url:
        errors.append(_bad("url", "url is a non-empty string"))
        return None
    if len(url) > web_calls.MAX_URL_LENGTH:
        errors.append(_bad("url", f"url is at most {web_calls.MAX_URL_LENGTH} characters"))
        return None
    try:
        compiled = compile_template(url, max_length=web_calls.MAX_URL_LENGTH)
        rendered = None if compiled.variables else compiled.render({})
    except (TemplateError, RenderError) as exc:
        errors.append(_bad("url", f"url is not a valid template: {exc}"))
        return None
    if rendered is not None:
        if problem := _bad_url(rendered):
            errors.append(_bad("url", f"url {problem}"))
            return None
    elif not url.lower().startswith(("http://", "https://", "{{", "{%")):
        errors.append(_bad("url", "url starts with http:// or https:// (or a variable)"))
        return None
    return url


def _bad_url(url: str) -> str | None:
    if any(character.isspace() or ord(character) < 32 for character in url):
        return "has a space or control character; use | urlencode for variables"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port out of range raises here)
    except ValueError:
        return "is not a URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be http:// or https:// with a host"
    return None


def _headers(headers: Any, errors: _Errors) -> dict[str, str]:
    if not isinstance(headers, Mapping):
        errors.append(_bad("headers", "headers is an object of header names to values"))
        return {}
    if len(headers) > web_calls.MAX_HEADERS:
        errors.append(_bad("headers", f"at most {web_calls.MAX_HEADERS} headers"))
        return {}
    found: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        at = f"headers/{escape(str(name))}"
        if problem := web_calls.bad_header_name(name):
            errors.append(_bad(at, problem))
        elif name.lower() in seen:
            errors.append(_bad(at, f"the header {name} is given twice (names ignore case)"))
        elif not isinstance(value, str):
            errors.append(_bad(at, f"the header {name}'s value is a string"))
        elif any(character in value for character in _LINE_BREAKS):
            errors.append(_bad(at, f"the header {name}'s value has a line break or NUL"))
        elif (
            template := _template(value, at, web_calls.MAX_HEADER_VALUE_LENGTH, errors)
        ) is not None:
            found[name] = template
        seen.add(str(name).lower())
    return found


def _template(value: Any, at: str, max_length: int, errors: _Errors) -> str | None:
    if value is None:
        return None
    what = at.replace("headers/", "header ")
    if not isinstance(value, str):
        errors.append(_bad(at, f"the {what} is a string"))
        return None
    if len(value) > max_length:
        errors.append(_bad(at, f"the {what} is at most {max_length} characters"))
        return None
    try:
        compile_template(value, max_length=max_length)
    except TemplateError as exc:
        errors.append(_bad(at, f"the {what} is not a valid template: {exc}"))
        return None
    return value


def _content_type(content_type: Any, errors: _Errors) -> str | None:
    if content_type is None:
        return None
    if (
        not isinstance(content_type, str)
        or not content_type.strip()
        or len(content_type) > MAX_CONTENT_TYPE_LENGTH
        or any(character in content_type for character in _LINE_BREAKS)
    ):
        errors.append(
            _bad(
                "content-type",
                "content-type is a media type such as application/json, at most "
                f"{MAX_CONTENT_TYPE_LENGTH} characters on one line",
            )
        )
        return None
    return content_type


def _timeout(timeout: Any, errors: _Errors) -> int | None:
    seconds = _whole(timeout)
    if seconds is None or not web_calls.MIN_TIMEOUT <= seconds <= web_calls.MAX_TIMEOUT:
        errors.append(
            _bad(
                "timeout",
                f"timeout is a whole number of seconds from {web_calls.MIN_TIMEOUT} to "
                f"{web_calls.MAX_TIMEOUT}",
            )
        )
        return None
    return seconds


def _response_variables(variables: Any, errors: _Errors) -> list[dict[str, str]]:
    at = "response-variables"
    if not isinstance(variables, list):
        errors.append(_bad(at, "response-variables is a list of {name, query}"))
        return []
    if len(variables) > MAX_RESPONSE_VARIABLES:
        errors.append(_bad(at, f"at most {MAX_RESPONSE_VARIABLES} response-variables"))
        return []
    found: list[dict[str, str]] = []
    names: set[str] = set()
    for index, item in enumerate(variables):
        item_at = f"{at}/{index}"
        if not _object(item, item_at, ("name", "query"), errors):
            continue
        name, query = item.get("name"), item.get("query")
        if name is None or name == "":
            errors.append(_bad(f"{item_at}/name", "name is required: the variable's name"))
        elif problem := _bad_name(name):
            errors.append(_bad(f"{item_at}/name", problem))
        elif name in names:
            errors.append(_bad(f"{item_at}/name", f"{name!r} is named twice"))
        if problem := extraction.bad_query(query):
            errors.append(_bad(f"{item_at}/query", problem))
        if isinstance(name, str):
            names.add(name)
        found.append({"name": name, "query": query})
    return found


def _basic_auth(
    given: Any, kept_password: str | None, errors: _Errors
) -> tuple[dict[str, str] | None, str | None]:
    at = "basic-auth"
    if given is None:
        return None, None
    if not _object(given, at, ("username", "password"), errors):
        return None, None
    username = given.get("username")
    if _credential(username, f"{at}/username", "username", errors) and ":" in username:
        errors.append(_bad(f"{at}/username", "a basic-auth username cannot hold ':'"))
    if "password" in given:
        password = given["password"]
        if not _credential(password, f"{at}/password", "password", errors, empty=True):
            password = None
    elif kept_password is None:
        errors.append(_bad(f"{at}/password", "password is required (none is stored)"))
        password = None
    else:
        password = kept_password
    return {"username": username}, password


def _oauth2(
    given: Any, stored: Any, kept_secret: str | None, errors: _Errors
) -> tuple[dict[str, str | None] | None, str | None]:
    at = "oauth2"
    if given is None:
        return None, None
    if not _object(given, at, ("token-url", "client-id", "client-secret", "scope"), errors):
        return None, None
    token_url = given.get("token-url")
    if not isinstance(token_url, str) or not token_url:
        errors.append(_bad(f"{at}/token-url", "token-url is required: the URL giving tokens"))
    elif len(token_url) > web_calls.MAX_URL_LENGTH or "{{" in token_url or "{%" in token_url:
        errors.append(
            _bad(
                f"{at}/token-url",
                f"token-url is a plain URL (not a template) of at most "
                f"{web_calls.MAX_URL_LENGTH} characters",
            )
        )
    elif problem := _bad_url(token_url):
        errors.append(_bad(f"{at}/token-url", f"token-url {problem}"))
    _credential(given.get("client-id"), f"{at}/client-id", "client-id", errors)
    scope = given.get("scope")
    scope = None if scope == "" else scope
    if scope is not None and (
        not isinstance(scope, str)
        or len(scope) > MAX_CREDENTIAL_LENGTH
        or any(ord(character) < 32 for character in scope)
    ):
        errors.append(_bad(f"{at}/scope", "scope is space-separated text on one line"))
    secret: str | None
    if "client-secret" in given:
        secret = given["client-secret"]
        if not _credential(secret, f"{at}/client-secret", "client-secret", errors):
            secret = None
    elif kept_secret is None:
        errors.append(_bad(f"{at}/client-secret", "client-secret is required (none is stored)"))
        secret = None
    elif not isinstance(stored, Mapping) or stored.get("token-url") != token_url:
        errors.append(
            _bad(
                f"{at}/client-secret",
                "client-secret is required again when the token-url changes: the stored one "
                "is only ever sent to the token-url it was given for",
            )
        )
        secret = None
    else:
        secret = kept_secret
    shown = {"token-url": token_url, "client-id": given.get("client-id"), "scope": scope}
    return shown, secret


def _check_together(settings: dict[str, Any], given: Mapping[str, Any], errors: _Errors) -> None:
    if settings["basic-auth"] is not None and settings["oauth2"] is not None:
        at = "oauth2" if "oauth2" in given or "basic-auth" not in given else "basic-auth"
        errors.append(
            _bad(at, "a web call has basic-auth or oauth2, not both; set the other to null")
        )
    for name in settings["headers"]:
        if name.lower() == "authorization" and (settings["basic-auth"] or settings["oauth2"]):
            errors.append(
                _bad(
                    f"headers/{escape(name)}",
                    "basic-auth or oauth2 sets the Authorization header; leave it out of headers",
                )
            )
        if name.lower() == "content-type" and settings["content-type"] is not None:
            errors.append(
                _bad(
                    f"headers/{escape(name)}",
                    "the content-type attribute sets Content-Type; leave it out of headers",
                )
            )


def _rules(rules: Any, errors: _Errors) -> list[dict[str, Any]]:
    if rules is None:
        errors.append(_bad("rules", "rules is required: a list of {category, test, arguments}"))
        return []
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        errors.append(
            _bad("rules", f"rules is a list of 1 to {MAX_RULES} {{category, test, arguments}}")
        )
        return []
    found: list[dict[str, Any]] = []
    folded: set[str] = set()
    for index, rule in enumerate(rules):
        at = f"rules/{index}"
        if not _object(rule, at, _RULE_MEMBERS, errors):
            continue
        category, test = rule.get("category"), rule.get("test")
        arguments = rule.get("arguments")
        arguments = [] if arguments is None else arguments
        if not isinstance(category, str) or not category.strip():
            errors.append(_bad(f"{at}/category", "category is required: a non-empty string"))
        elif len(category := category.strip()) > MAX_CATEGORY_LENGTH:
            errors.append(
                _bad(f"{at}/category", f"a category is at most {MAX_CATEGORY_LENGTH} characters")
            )
        elif _fold(category) == _fold(splits.OTHER):
            errors.append(
                _bad(
                    f"{at}/category",
                    f"{splits.OTHER} is the category of values no rule matches; name this one "
                    "otherwise",
                )
            )
        elif _fold(category) in folded:
            errors.append(
                _bad(f"{at}/category", f"the category {category!r} is given twice (ignoring case)")
            )
        else:
            folded.add(_fold(category))
        if not isinstance(test, str) or test not in splits.TESTS:
            errors.append(
                _bad(
                    f"{at}/test",
                    f"{str(test)[:40]!r} is not a test; the tests are "
                    f"{', '.join(sorted(splits.TESTS))}",
                )
            )
        elif not isinstance(arguments, list):
            errors.append(_bad(f"{at}/arguments", "arguments is a list of text"))
        elif problem := splits.bad_arguments(test, arguments):
            errors.append(_bad(f"{at}/arguments", problem))
        found.append(
            {
                "category": category,
                "test": test,
                "arguments": list(arguments) if isinstance(arguments, list) else arguments,
            }
        )
    return found


def _object(value: Any, at: str, members: Collection[str], errors: _Errors) -> bool:
    """Whether `value` is an object; each unknown member of it is an error (the first few)."""
    if not isinstance(value, Mapping):
        errors.append(_bad(at, f"{at} is an object of {', '.join(members)}"))
        return False
    unknown = [name for name in value if name not in members]
    for name in unknown[:MAX_UNKNOWN_NAMED]:
        errors.append(
            _bad(
                f"{at}/{escape(str(name))}",
                f"{str(name)[:40]!r} is not a member of {at}; use {', '.join(members)}",
            )
        )
    return True


def _credential(value: Any, at: str, what: str, errors: _Errors, *, empty: bool = False) -> bool:
    if isinstance(value, str) and (value or empty) and len(value) <= MAX_CREDENTIAL_LENGTH:
        return True
    errors.append(
        _bad(at, f"{what} is required: a string of at most {MAX_CREDENTIAL_LENGTH} characters")
    )
    return False


def _bad_name(name: Any) -> str | None:
    """Why `name` cannot be a variable a template reads as {{ name }}, or None."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "a variable name is letters, digits, - and _"
    if len(name) > extraction.MAX_NAME_LENGTH:
        return f"a variable name is at most {extraction.MAX_NAME_LENGTH} characters"
    try:
        readable = compile_template(f"{{{{ {name} }}}}").variables == (name,)
    except TemplateError:
        readable = False
    if not readable:
        return (
            f"{name!r} cannot be read as {{{{ {name} }}}}: each part between hyphens starts with "
            "a letter, and reserved words (true, none, loop, ...) are not names"
        )
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _listed(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _bad(at: str, detail: str) -> InvalidAttribute:
    return InvalidAttribute(detail, at=f"attributes/{at}")


def _raise(errors: _Errors) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ApiErrors(errors)
